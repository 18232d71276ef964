"""Every model family of the package, declared once.

A family is a `ModelFamily`: its `model_type` (the recipe's, and its config's), its config, the model class it trains,
the Auto class that loads that model (and the base model `AutoModel` loads), its default processor, its training task
and what its model card says. Everything else is derived from the declaration:

- `import emotion_hub` registers the config and models with the transformers Auto classes (`register_auto_classes`,
  called by `modeling/__init__.py`), and the pipelines its config ships for tasks transformers does not know;
- train.py accepts the `model_type`, checks the recipe's `model` block against the config's typed fields and builds
  the task (`training/registry.py`, `training/recipe.py`);
- the model card states the family's description, training summary, tags, usage and citation (`model_cards`).

Classes are named by import path, `.module.Class` inside the `emotion_hub` package or `package.module.Class` outside
it, or, for a family's config and models, by class name alone: they are then those of its own files,
`modeling/configuration_<model_type>.py` and `modeling/modeling_<model_type>.py`. They are imported when first used:
this module imports only the standard library, so train.py reads it to check a recipe before torch is imported. No
saved model folder imports it (the configuration and modeling files do not).

A family of your own, declared in your module, is added with `register_family(ModelFamily(...))` (classes may be
given as objects there); train.py then trains it like ours.
"""

import dataclasses
import importlib
import textwrap
from typing import Optional, Union


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a model card says about a family (the figures come from the run itself). `usage` is a code snippet with
    `{repo}` and `{example}` fields (literal braces doubled)."""

    description: str
    training_summary: str
    tags: tuple = ()
    usage: str = ""
    citation: str = ""


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """One model family.

    Args:
        model_type (`str`): the recipe's `model_type` (the config's `model_type` too, for our own models).
        config (`str` or class): the config class; its typed fields are what a recipe's `model` block may set. A
            name alone is a class of `modeling/configuration_<model_type>.py`.
        task (`str` or class): the `training.task.Task` subclass train.py trains the family with.
        card (`ModelCard`): what the model card says.
        model (`str` or class, *optional*): the model class the task trains and saves. A name alone is a class of
            `modeling/modeling_<model_type>.py`, as for `base_model`.
        auto_class (`str`, *optional*): the transformers Auto class `model` is registered for (its saved `auto_map`
            names it). None: `model` is a stock class transformers loads by itself, and nothing is registered.
        base_model (`str` or class, *optional*): the class registered for `AutoModel`, before `model`.
        processor (`str` or class, *optional*): the processor class the task builds by default.
    """

    model_type: str
    config: Union[str, type]
    task: Union[str, type]
    card: ModelCard
    model: Union[str, type, None] = None
    auto_class: Optional[str] = None
    base_model: Union[str, type, None] = None
    processor: Union[str, type, None] = None

    @property
    def config_class(self) -> type:
        return _resolve(self.config, f".modeling.configuration_{self.model_type}")

    @property
    def task_class(self) -> type:
        return _resolve(self.task)

    @property
    def model_class(self) -> Optional[type]:
        return _resolve(self.model, f".modeling.modeling_{self.model_type}")

    @property
    def base_model_class(self) -> Optional[type]:
        return _resolve(self.base_model, f".modeling.modeling_{self.model_type}")

    @property
    def processor_class(self) -> Optional[type]:
        return _resolve(self.processor)

    def register_auto_classes(self):
        """Register the config and models with the transformers Auto classes, so that `Auto*.from_pretrained(folder)`
        loads the family's folders, and `register_for_auto_class` so that `save_pretrained` writes `auto_map` and
        copies the code. A custom pipeline the config ships (`default_custom_pipelines`) for a task transformers does
        not know is registered too, so that `pipeline(task, model=folder)` finds it."""
        if self.auto_class is None:
            return
        import transformers
        from transformers.pipelines import PIPELINE_REGISTRY

        config_class = self.config_class
        transformers.AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        config_class.register_for_auto_class()
        # The base model first: the last class registered is the one `auto_map` names.
        for auto_name, model_class in (("AutoModel", self.base_model_class), (self.auto_class, self.model_class)):
            if model_class is not None:
                getattr(transformers, auto_name).register(config_class, model_class, exist_ok=True)
                model_class.register_for_auto_class(auto_name)
        for task, spec in getattr(config_class, "default_custom_pipelines", {}).items():
            if task not in PIPELINE_REGISTRY.get_supported_tasks():
                module, _, name = spec["impl"].rpartition(".")
                package = config_class.__module__.rpartition(".")[0]
                pipeline_class = getattr(importlib.import_module(f"{package}.{module}"), name)
                models = tuple(getattr(transformers, auto_name) for auto_name in spec["pt"])
                PIPELINE_REGISTRY.register_pipeline(task, pipeline_class=pipeline_class, pt_model=models,
                                                    type=spec.get("type"))


def _resolve(reference, home: Optional[str] = None):
    """The object a reference names: `.module.Name` inside `emotion_hub`, `package.module.Name`, a name alone (in the
    module `home`), or the object itself."""
    if not isinstance(reference, str):
        return reference
    module, _, name = reference.rpartition(".") if "." in reference else (home, "", reference)
    return getattr(importlib.import_module(module, package="emotion_hub" if module.startswith(".") else None), name)


FAMILIES: dict = {}  # model_type -> ModelFamily, the package's own first


def declare(family: ModelFamily) -> ModelFamily:
    """Add one of the package's own families to `FAMILIES` (`emotion_hub.modeling` registers their Auto classes)."""
    FAMILIES[family.model_type] = family
    return family


def register_family(family: ModelFamily) -> ModelFamily:
    """Add a family declared outside the package and register its Auto classes: train.py then trains it, and its
    folders load through the Auto classes, as the package's own."""
    if family.model_type in PACKAGE_MODEL_TYPES and family != FAMILIES[family.model_type]:
        raise ValueError(f"model_type {family.model_type!r} is one of the package's families; give yours another name")
    declare(family).register_auto_classes()
    return family


def family_of(model_type: str) -> ModelFamily:
    """The family of `model_type` (a `ValueError` naming the known ones otherwise)."""
    if model_type not in FAMILIES:
        raise ValueError(f"`model_type` must be one of {sorted(FAMILIES)}, got {model_type!r}")
    return FAMILIES[model_type]


def prose(block: str) -> str:
    """A card paragraph written as an indented block of lines: its words, one space apart."""
    return " ".join(block.split())


def bibtex(block: str) -> str:
    """A citation written as an indented block: its lines as they are, the common indentation removed."""
    return textwrap.dedent(block).strip()


# ---------------------------------------------------------------------------------------------------------------------
# What the cards of several families share
# ---------------------------------------------------------------------------------------------------------------------
TEXT_USAGE = """
from transformers import pipeline

classifier = pipeline("text-classification", model="{repo}", trust_remote_code=True)
print(classifier({example}, top_k=None))

# or step by step (AutoTokenizer reads config.json, hence trust_remote_code there too)
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{repo}", trust_remote_code=True)
model = AutoModelForSequenceClassification.from_pretrained("{repo}", trust_remote_code=True)
with torch.no_grad():
    logits = model(**tokenizer([{example}], padding=True, truncation=True, return_tensors="pt")).logits
print(model.config.id2label[int(logits.argmax(-1))])
"""
STOCK_TEXT_USAGE = """
from transformers import pipeline

classifier = pipeline("text-classification", model="{repo}")
print(classifier({example}, top_k=None))

# or step by step
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{repo}")
model = AutoModelForSequenceClassification.from_pretrained("{repo}")
with torch.no_grad():
    logits = model(**tokenizer([{example}], padding=True, truncation=True, return_tensors="pt")).logits
print(model.config.id2label[int(logits.argmax(-1))])
"""
ERC_USAGE = """
from transformers import pipeline

erc = pipeline("emotion-recognition-in-conversation", model="{repo}", trust_remote_code=True)
dialogue = [
    {{"speaker": "Monica", "utterance": "Okay, everybody relax. This is not even a date."}},
    {{"speaker": "Joey", "utterance": "C'mon, you're going out with the guy! There's gotta be something wrong with him!"}},
]
print(erc(dialogue))  # emotion of the last turn: [{{"label": ..., "score": ...}}, ...]

# A model that reads audio and video also takes the last turn's 16 kHz mono waveform and frames (PIL images):
# erc({{"dialogue": dialogue, "audio": waveform, "frames": frames}})

# or step by step
import torch
from transformers import AutoModelForSequenceClassification, AutoProcessor

processor = AutoProcessor.from_pretrained("{repo}", trust_remote_code=True)
model = AutoModelForSequenceClassification.from_pretrained("{repo}", trust_remote_code=True).eval()
with torch.no_grad():
    outputs = model(**processor(dialogues=[dialogue]))
print(model.config.id2label[int(outputs.logits.argmax(-1))], outputs.fusion_attentions)
"""
IMAGE_USAGE = """
from transformers import pipeline

classifier = pipeline("image-classification", model="{repo}", trust_remote_code=True)
print(classifier("face.jpg", top_k=None))  # a path, a URL, a PIL image or a numpy array (grayscale or RGB)

# or step by step
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageClassification

processor = AutoImageProcessor.from_pretrained("{repo}", trust_remote_code=True)
model = AutoModelForImageClassification.from_pretrained("{repo}", trust_remote_code=True)
with torch.no_grad():
    logits = model(**processor(Image.open("face.jpg"), return_tensors="pt")).logits
print(model.config.id2label[int(logits.argmax(-1))])
"""
AUDIO_USAGE = """
from transformers import pipeline

classifier = pipeline("audio-classification", model="{repo}", trust_remote_code=True)
print(classifier("speech.wav", top_k=None))  # any sampling rate and channel count (decoded by ffmpeg)
# also: {{"raw": waveform, "sampling_rate": rate}} (float or int16, mono or stereo), a datasets row with an "audio"
# column, or a long recording scored in overlapping windows: classifier("long.wav", window_seconds=2.0, hop_seconds=1.0)

# or step by step
import soundfile as sf
import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

feature_extractor = AutoFeatureExtractor.from_pretrained("{repo}", trust_remote_code=True)
model = AutoModelForAudioClassification.from_pretrained("{repo}", trust_remote_code=True).eval()
waveform, rate = sf.read("speech.wav", dtype="float32")  # the extractor refuses another rate unless resample=True
inputs = feature_extractor(waveform, sampling_rate=rate, return_tensors="pt")
with torch.no_grad():
    logits = model(**inputs).logits
print(model.config.id2label[int(logits.argmax(-1))])
"""
AUDIO_TRAINING = prose("""
    Trained from scratch on the training split with the loss, optimizer and schedule below; early stopping on the
    validation metric. Training clips are random crops of `max_length_seconds` (`random_crop`), validation and test
    clips deterministic crops; the feature extractor's normalisation statistics, when global, come from the training
    split.
""")


# ---------------------------------------------------------------------------------------------------------------------
# The families
# ---------------------------------------------------------------------------------------------------------------------
TEXT_CNN_CARD = ModelCard(
    citation=bibtex("""
        @inproceedings{kim2014convolutional,
          title={Convolutional Neural Networks for Sentence Classification},
          author={Kim, Yoon},
          booktitle={EMNLP},
          year={2014}
        }
    """),
    description=prose("""
        A word-level convolutional text classifier (Kim, 2014): word embeddings, parallel 1-D convolutions with
        several kernel sizes, pooling over time of each feature map (padding masked), dropout and a linear layer.
        The tokenizer is a stock `tokenizers` word-level model whose normalizer does the text cleaning (HTML,
        case, digits, punctuation, emoji).
    """),
    training_summary=prose("""
        Trained from scratch (embeddings optionally initialised from GloVe vectors) with the loss, optimizer and
        schedule below; early stopping on the validation metric.
    """),
    tags=("text-cnn",),
    usage=TEXT_USAGE,
)
declare(ModelFamily(model_type="text_cnn", config="TextCNNConfig", model="TextCNNForSequenceClassification",
                    auto_class="AutoModelForSequenceClassification", base_model="TextCNNModel",
                    processor="transformers.PreTrainedTokenizerFast", task=".training.text.TextClassificationTask",
                    card=TEXT_CNN_CARD))

AUTO_SEQUENCE_CLASSIFICATION_CARD = ModelCard(
    citation=bibtex("""
        @inproceedings{wang2020minilm,
          title={MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of Pre-Trained Transformers},
          author={Wang, Wenhui and Wei, Furu and Dong, Li and Bao, Hangbo and Yang, Nan and Zhou, Ming},
          booktitle={NeurIPS},
          year={2020}
        }
    """),
    description=prose("""
        A pretrained transformers encoder (`pretrained_backbone` in the saved recipe.yaml) fine-tuned as a text
        classifier: the stock `AutoModelForSequenceClassification` head of its family over the checkpoint's own
        tokenizer. The folder is a stock transformers folder: it needs no custom code and runs in the Hub's hosted
        widget. Text cleaning used in training (escaped newlines, emoji spelled as words) is part of the saved
        tokenizer's normalizer, so inference cleans the same way.
    """),
    training_summary=prose("""
        Fine-tuned end to end from the pretrained checkpoint (`pretrained_backbone` in the recipe), the
        classification head from random weights, with the optimizer and schedule below; early stopping on the
        validation metric.
    """),
    tags=("transformer",),
    usage=STOCK_TEXT_USAGE,
)
# A pretrained checkpoint fine-tuned as its stock classifier: no class of ours to register (`auto_class` None).
declare(ModelFamily(model_type="auto_sequence_classification",
                    config=".training.text_transformer.AutoSequenceClassificationOptions",
                    model="transformers.AutoModelForSequenceClassification", processor="transformers.AutoTokenizer",
                    task=".training.text_transformer.TextTransformerTask", card=AUTO_SEQUENCE_CLASSIFICATION_CARD))

ERC_FUSION_CARD = ModelCard(
    citation=bibtex("""
        @article{radford2019language,
          title={Language Models are Unsupervised Multitask Learners},
          author={Radford, Alec and Wu, Jeffrey and Child, Rewon and Luan, David and Amodei, Dario and Sutskever, Ilya},
          year={2019}
        }
        @inproceedings{baevski2020wav2vec,
          title={wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations},
          author={Baevski, Alexei and Zhou, Henry and Mohamed, Abdelrahman and Auli, Michael},
          booktitle={NeurIPS},
          year={2020}
        }
        @inproceedings{he2016deep,
          title={Deep Residual Learning for Image Recognition},
          author={He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
          booktitle={CVPR},
          year={2016}
        }
    """),
    description=prose("""
        A multimodal model for emotion recognition in conversation (ERC). Per utterance it encodes the text (any
        transformers text model, GPT2 by default, over a prompt holding the dialogue so far, one `speaker:
        utterance` line per turn with the target turn marked, pooled at the last token, at `[CLS]` or by the mean
        over the tokens (`config.text_pooling`); or a mean word embedding of the target and context utterances),
        the voice (any speech encoder, wav2vec2 by default, HuBERT, WavLM, data2vec-audio or Whisper, its frame
        states pooled with mean and max; or an MLP over raw-waveform frames) and the face (any timm model,
        ResNet50 by default, over equidistant video frames), projects each modality to a common width, fuses them
        by concatenation or multi-head attention over the modality vectors, then applies feed-forward layers,
        optional L2 normalisation and a linear classifier. This checkpoint reads the modalities listed in
        `config.modalities`. The processor (`ERCProcessor`) builds the prompt (truncated from the oldest turn so
        the target turn always stays), the audio features and the frame tensors; the
        `emotion-recognition-in-conversation` pipeline ships in the repository.
    """),
    training_summary=prose("""
        Encoders start from the pretrained backbones named in `erc_backbones` (none: trained from scratch, the
        mean embeddings optionally from GloVe vectors), the fusion and classifier from random weights; trained
        with the loss below (class weights, when used, come from the training split's label counts in label-id
        order), optionally plus a batch-hard triplet loss on class-balanced batches; early stopping on the
        validation (dev) weighted-F1.
    """),
    tags=("emotion-recognition-in-conversation", "multimodal", "meld"),
    usage=ERC_USAGE,
)
# No Auto class fits a dialogue + audio + frames classifier better; the config ships the conversation pipeline.
declare(ModelFamily(model_type="erc_fusion", config="ERCFusionConfig", model="ERCFusionForEmotionRecognition",
                    auto_class="AutoModelForSequenceClassification", base_model="ERCFusionModel",
                    processor=".processing.processing_erc.ERCProcessor", task=".training.conversation.ERCTask",
                    card=ERC_FUSION_CARD))

FER_CNN_CARD = ModelCard(
    description=prose("""
        A VGG-style convolutional network for facial-expression recognition on 48x48 grayscale faces:
        convolutional blocks (3x3 convolutions with zero padding, batch norm, ReLU, 2x2 max pooling, dropout),
        fully connected blocks (linear, batch norm, ReLU, dropout) and a linear classifier. The image processor
        (`FERImageProcessor`) takes a PIL image, a file path, a numpy array or a tensor, grayscale or colour, of
        any size, and resizes and normalises it; RGB input is turned into luminance (ITU-R BT.601) inside the
        model.
    """),
    training_summary=prose("""
        Trained from scratch on the training split with cross-entropy, the optimizer below and the learning rate
        reduced when the validation metric stops improving; early stopping on the validation metric. Training
        batches are augmented on the fly (settings under `augmentation.*`), validation and test images are not.
    """),
    tags=("fer-cnn", "facial-expression-recognition", "image-classification"),
    usage=IMAGE_USAGE,
)
declare(ModelFamily(model_type="fer_cnn", config="FERCNNConfig", model="FERCNNForImageClassification",
                    auto_class="AutoModelForImageClassification", base_model="FERCNNModel",
                    processor=".processing.image_processing_fer.FERImageProcessor",
                    task=".training.image.ImageClassificationTask", card=FER_CNN_CARD))

FER_TIMM_CARD = ModelCard(
    description=prose("""
        A timm image model (EfficientNet, ResNet, ConvNeXt, ViT...) for facial-expression recognition, its
        classifier sized for the expression labels. Faces are resized to the backbone's input size and normalised
        with the backbone's own mean and standard deviation; a grey model (one input channel) reads colour images
        as their ITU-R BT.601 luminance. Exported as the stock `TimmWrapperForImageClassification` (no custom
        code) or as the package's `FERTimmForImageClassification` with `FERImageProcessor`.
    """),
    training_summary=prose("""
        Fine-tuned from the pretrained backbone given by `pretrained_backbone` (ImageNet weights; the first
        convolution summed over RGB for grey input) with a new classifier, or trained from scratch without it; the
        optimizer and schedule below; model selection on the validation metric. Training batches are augmented on
        the fly (settings under `augmentation.*`), validation and test images are not.
    """),
    tags=("fer-timm", "timm", "facial-expression-recognition", "image-classification"),
    usage=IMAGE_USAGE,
)
# Faces on any timm backbone; `save_stock_pretrained` writes a stock timm folder.
declare(ModelFamily(model_type="fer_timm", config="FERTimmConfig", model="FERTimmForImageClassification",
                    auto_class="AutoModelForImageClassification",
                    processor=".processing.image_processing_fer.FERImageProcessor",
                    task=".training.image.TimmImageClassificationTask", card=FER_TIMM_CARD))

# Voice: each config saves `custom_pipelines` for "audio-classification" (EmotionAudioClassificationPipeline), so
# `pipeline("audio-classification", model=folder, trust_remote_code=True)` takes datasets rows and stereo audio.
VOICE = dict(auto_class="AutoModelForAudioClassification", task=".training.audio.AudioClassificationTask")
EMOTION_AUDIO_FEATURES = ".processing.feature_extraction_emotion_audio.EmotionAudioFeatureExtractor"

SPECTROGRAM_VIT_CARD = ModelCard(
    citation=bibtex("""
        @inproceedings{dosovitskiy2021image,
          title={An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale},
          author={Dosovitskiy, Alexey and others},
          booktitle={ICLR},
          year={2021}
        }
        @inproceedings{gong2021ast,
          title={AST: Audio Spectrogram Transformer},
          author={Gong, Yuan and Chung, Yu-An and Glass, James},
          booktitle={Interspeech},
          year={2021}
        }
    """),
    description=prose("""
        A Vision Transformer over log-mel spectrograms: the spectrogram is cut into (possibly non-square) patches,
        each embedded linearly, with a class token and learned position embeddings, then pre-norm transformer
        layers and a layer-norm + linear head over the class token or the mean of the patch tokens (patches of
        padding are masked out). The feature extractor (`EmotionAudioFeatureExtractor`) mixes any input down to
        mono, pads or crops it to a fixed length and computes the log-mel image in batched torch code that matches
        librosa.
    """),
    training_summary=AUDIO_TRAINING,
    tags=("spectrogram-vit", "speech-emotion-recognition", "audio-classification"),
    usage=AUDIO_USAGE,
)
declare(ModelFamily(model_type="spectrogram_vit", config="SpectrogramViTConfig",
                    model="SpectrogramViTForAudioClassification", base_model="SpectrogramViTModel",
                    processor=EMOTION_AUDIO_FEATURES, **VOICE, card=SPECTROGRAM_VIT_CARD))

MFCC_CNN_CARD = ModelCard(
    description=prose("""
        A small convolutional network over an MFCC + delta + delta-delta image: convolutional blocks (3x3
        convolution, ReLU, 2x2 max pooling, dropout), the feature map flattened (or averaged over time), fully
        connected layers and a linear classifier. The feature extractor (`EmotionAudioFeatureExtractor`) mixes any
        input down to mono, pads or crops it to a fixed length and computes the MFCC and their deltas in batched
        torch code that matches librosa.
    """),
    training_summary=AUDIO_TRAINING,
    tags=("mfcc-cnn", "speech-emotion-recognition", "audio-classification"),
    usage=AUDIO_USAGE,
)
declare(ModelFamily(model_type="mfcc_cnn", config="MFCCCNNConfig", model="MFCCCNNForAudioClassification",
                    base_model="MFCCCNNModel", processor=EMOTION_AUDIO_FEATURES, **VOICE, card=MFCC_CNN_CARD))

WAVEFORM_MLP_CARD = ModelCard(
    description=prose("""
        A raw-waveform baseline: the clip, scaled to [-1, 1] and padded or cropped to a fixed number of samples,
        goes through fully connected layers (none: multinomial logistic regression). It has no notion of time or
        frequency and is meant as the floor the spectral models must beat.
    """),
    training_summary=AUDIO_TRAINING,
    tags=("waveform-mlp", "audio-classification", "baseline"),
    usage=AUDIO_USAGE,
)
declare(ModelFamily(model_type="waveform_mlp", config="WaveformMLPConfig", model="WaveformMLPForAudioClassification",
                    processor=EMOTION_AUDIO_FEATURES, **VOICE, card=WAVEFORM_MLP_CARD))

WAV2VEC2_EMOTION_CARD = ModelCard(
    citation=bibtex("""
        @inproceedings{baevski2020wav2vec,
          title={wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations},
          author={Baevski, Alexei and Zhou, Henry and Mohamed, Abdelrahman and Auli, Michael},
          booktitle={NeurIPS},
          year={2020}
        }
    """),
    description=prose("""
        A wav2vec2 speech-emotion classifier: the frame states of a wav2vec2 backbone (the last layer, or a
        learned softmax-weighted sum of all layers), an optional per-frame projector, a pooling over the frames
        that hold audio (`config.pooling`: mean, max, mean and max concatenated, or attentive statistics) and a
        linear classifier. With mean pooling it is the stock `Wav2Vec2ForSequenceClassification` and can be saved
        as one. The feature extractor is the stock `Wav2Vec2FeatureExtractor` (16 kHz).
    """),
    training_summary=prose("""
        The backbone starts from the pretrained checkpoint named in `pretrained_backbone` (none: random weights),
        the head from random weights; the convolutional feature encoder stays frozen unless configured otherwise.
        Training clips are random crops of `max_length_seconds` in batches grouped by length; validation and test
        clips are whole. With `lora_r`, only LoRA adapters and the head train, and the adapters are merged into
        the saved weights. Early stopping on the validation metric.
    """),
    tags=("wav2vec2", "speech-emotion-recognition", "audio-classification"),
    usage=AUDIO_USAGE,
)
# No separate base model (the stock Wav2Vec2ForSequenceClassification has none either): AutoModel gives the classifier.
declare(ModelFamily(model_type="wav2vec2_emotion", config="Wav2Vec2EmotionConfig",
                    model="Wav2Vec2EmotionForAudioClassification", base_model="Wav2Vec2EmotionForAudioClassification",
                    processor="transformers.Wav2Vec2FeatureExtractor", **VOICE, card=WAV2VEC2_EMOTION_CARD))

SPEECH_EMOTION_CARD = ModelCard(
    citation=bibtex("""
        @inproceedings{radford2023whisper,
          title={Robust Speech Recognition via Large-Scale Weak Supervision},
          author={Radford, Alec and Kim, Jong Wook and Xu, Tao and Brockman, Greg and McLeavey, Christine and Sutskever, Ilya},
          booktitle={ICML},
          year={2023}
        }
    """),
    description=prose("""
        A speech-emotion classifier over a pretrained transformers speech encoder (`config.audio_config`:
        wav2vec2, HuBERT, WavLM, data2vec-audio or the Whisper encoder): every layer's frame states, optionally
        normalised and combined by learned softmax weights (or concatenated, `concatenate_layers`), an optional
        per-frame projector, a pooling over the frames that hold audio (mean, max, both, or attentive statistics),
        optionally standardised with running statistics (`standardize_pooled`: `python -m emotion_hub.adapt`
        re-estimates them on your own unlabelled recordings) and a linear classifier. Whisper runs on a short
        window (`config.window_seconds`, its position table cut to that length) instead of 30 s of padding; this
        folder's audio pipeline scores longer recordings in windows (a stock export's pipeline does not: see the
        README's "Which folder to pick"). The feature extractor is the encoder's stock one.
    """),
    training_summary=prose("""
        The encoder starts from the checkpoint named in `pretrained_backbone`, the head from random weights. With
        `freeze_backbone` the encoder is run once per clip and the head trains from its cached hidden states (the
        same weights as running the encoder every epoch, since nothing changes a clip between epochs). With
        `trainable_encoder_layers` only the top layers of the encoder train with the head: the layers below are
        fixed, run once per clip and cached likewise. Early stopping on the validation speakers' metric.
    """),
    tags=("speech-emotion-recognition", "audio-classification", "whisper", "wav2vec2"),
    usage=AUDIO_USAGE,
)
declare(ModelFamily(model_type="speech_emotion", config="SpeechEmotionConfig",
                    model="SpeechEmotionForAudioClassification", base_model="SpeechEmotionForAudioClassification",
                    processor="transformers.Wav2Vec2FeatureExtractor", **VOICE, card=SPEECH_EMOTION_CARD))

PACKAGE_MODEL_TYPES = frozenset(FAMILIES)

__all__ = ["FAMILIES", "PACKAGE_MODEL_TYPES", "ModelCard", "ModelFamily", "declare", "family_of", "register_family"]
