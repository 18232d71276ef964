"""What a model card says about each dataset and model family (the numbers come from the run itself)."""

# What a model card says about a dataset beyond what its builder holds: the Hub id of the data, widget examples, and how
# this package's recipes split it, what models trained on it are for and where they fail. The dataset's description,
# citation, licence, pretty name and language come from its builder (`dataset_card_info`), never from a copy here.
DATASET_INFO = {
    "tweet_eval_emotion": {
        "hub_id": "cardiffnlp/tweet_eval",
        "widget": [
            {"text": "Cannot believe they cancelled my flight AGAIN. Worst airline ever #furious"},
            {"text": "Just got the job!!! Best day of my life 😂"},
            {"text": "Tomorrow is a new day, keep believing and things will get better #hope"},
        ],
        "split_protocol": (
            "The official TweetEval train / validation / test split is used unchanged (`train_*`, `val_*`, `test_*` "
            "files of `datasets/emotion/`). The vocabulary is built on the training split only; model selection "
            "(best epoch, early stopping) uses the validation split; the test split is evaluated once, with the "
            "best-validation weights."
        ),
        "intended_use": (
            "Research and prototyping of emotion recognition on short English social-media text, and a fast, "
            "interpretable baseline to compare transformer models against."
        ),
        "limitations": (
            "The labels are the majority emotion of a few annotators on 2017-era tweets; many tweets express "
            "several emotions or none. Classes are imbalanced (optimism is rare), so look at macro-F1 and per-class "
            "F1, not only accuracy. A word-level model knows only the words of its training vocabulary (and, when "
            "used, of its word vectors): slang, misspellings and new emoji map to `[UNK]`. Not suitable for "
            "decisions about individuals."
        ),
    },
    "meld": {
        "hub_id": "declare-lab/MELD",
        "widget": [
            {"text": "Oh my God, you guys are getting married?!"},
            {"text": "I just don't think I can do this anymore."},
        ],
        "split_protocol": (
            "The official train / dev / test CSVs are used as train / validation / test. Model selection uses the "
            "validation (dev) split only; the test split is evaluated once, with the best-validation weights. "
            "Weighted-F1 is MELD's customary headline metric."
        ),
        "intended_use": (
            "Research on emotion recognition in conversation (text, voice and face of each utterance)."
        ),
        "limitations": (
            "Scripted sitcom dialogue is not natural conversation; the emotion of many utterances depends on context, "
            "tone of voice and facial expression that text-only models do not see. The minority "
            "classes (fear, disgust) are small and their F1 is unstable. Not suitable for decisions about "
            "individuals."
        ),
    },
    # ----- voice datasets (issue 3) -----
    "emodb": {
        "hub_id": None,  # distributed by its authors at emodb.bilderbar.info, not on the Hub
        "split_protocol": (
            "Speaker-independent: leave-one-speaker-out cross-validation (10 folds, each tested on one speaker's "
            "utterances and never trained on them), each fold's model chosen on two validation speakers held out of "
            "its nine training speakers. Reported figures are the mean and standard deviation over the 10 folds; the "
            "confusion matrix pools every utterance's out-of-fold prediction."
        ),
        "intended_use": "Research on speech emotion recognition in German acted speech.",
        "limitations": (
            "Posed emotions by 10 actors reading 10 sentences in a studio: models learn acting conventions and "
            "transfer poorly to spontaneous speech, other languages or noisy recordings. One held-out speaker per "
            "fold (about 50 utterances) makes per-fold accuracy vary by several points. Not suitable for decisions "
            "about individuals."
        ),
    },
    "ravdess": {
        "hub_id": None,  # no Hub repository by the RAVDESS authors; the data is on Zenodo (record 1188976)
        "split_protocol": (
            "RAVDESS has no official split. Actors are assigned to K folds balanced by gender (`actor_folds`: "
            "deterministic, women then men dealt round-robin in increasing id order); with the builder's default "
            "K=6 the test split is actors 11, 12, 23, 24, validation 9, 10, 21, 22 and train the other 16, so no "
            "actor's voice is in two splits. Cross-validated results hold out each fold in turn (a fresh model per "
            "fold) and report the mean and standard deviation over folds. Model selection uses validation only."
        ),
        "intended_use": (
            "Research on speech emotion recognition and a reproducible actor-independent benchmark for acted "
            "English speech."
        ),
        "limitations": (
            "Posed emotions by 24 actors with one accent and two sentences: models learn acting conventions and "
            "transfer poorly to spontaneous speech, other accents, noisy or far-field recordings. With 4 held-out "
            "actors per fold, accuracy varies by several points between folds. Calm and neutral are close by design. "
            "The non-commercial licence of the data applies to models trained on it. Not suitable for decisions "
            "about individuals."
        ),
    },
    "tess": {
        "hub_id": None,  # distributed on Borealis (doi:10.5683/SP2/E8H2MF), no Hub repository by the authors
        "split_protocol": (
            "With two speakers, three speaker-disjoint splits are impossible. Default: the test split is every file "
            "of the younger speaker (YAF); the older speaker's files are split by word into train and validation "
            "(validation: one word fold of ten). The alternative `split_by=\"word\"` gives word-disjoint splits "
            "holding both speakers. Model selection uses validation only."
        ),
        "intended_use": "Research on speech emotion recognition; a component of the merged acted-speech corpus.",
        "limitations": (
            "Two female speakers, single words in one carrier phrase, very stereotyped acted prosody: within-corpus "
            "accuracy is near ceiling and says little about other voices, male speakers or natural speech. The "
            "test split is a single speaker. Not suitable for decisions about individuals."
        ),
    },
    "savee": {
        "hub_id": None,  # distributed by the University of Surrey after registration
        "split_protocol": (
            "Speaker-disjoint: one speaker per fold; by default train DC and JE, validation JK, test KL. With four "
            "speakers, leave-one-speaker-out cross-validation gives a far more reliable estimate than one split."
        ),
        "intended_use": "Research on speech emotion recognition; a component of the merged acted-speech corpus.",
        "limitations": (
            "Four male speakers from one university, acted emotions: no female voices and almost no speaker "
            "diversity; a single test speaker makes the test figure very noisy. Not suitable for decisions about "
            "individuals."
        ),
    },
    "crema_d": {
        "hub_id": None,  # the authors publish on GitHub (CheyneyComputerScience/CREMA-D, Git LFS), not on the Hub
        "split_protocol": (
            "Actor-disjoint: actors are assigned to 10 folds balanced by gender (from the repository's "
            "VideoDemographics.csv); test = fold 9, validation = fold 8, train = the others (about 73 / 9 / 9 actors). "
            "Model selection uses validation only."
        ),
        "intended_use": "Research on speech emotion recognition across many speakers and demographics.",
        "limitations": (
            "Acted emotions on 12 sentences; the labels are the emotions the actors were asked to portray, and raters "
            "often perceived another emotion from the voice alone, so the targets are noisy. Demographic groups are "
            "unevenly represented. Not suitable for decisions about individuals."
        ),
    },
    "vivae": {
        "hub_id": None,  # published on Zenodo (record 4066235)
        "split_protocol": (
            "No official split. Speaker-disjoint: the speakers are dealt round-robin over 5 folds; test = fold 4 "
            "(full set: S05, S10), validation = fold 3 (S04, S09), train = the other seven speakers. Cross-validated "
            "results hold out each fold in turn with a fresh model; selection on validation only."
        ),
        "intended_use": "Research on emotion and intensity recognition from nonverbal vocalisations.",
        "limitations": (
            "Eleven speakers and posed studio vocalisations: a small corpus whose test folds hold two speakers, so "
            "fold-to-fold variance is large. Low-intensity vocalisations of different emotions are hard to tell "
            "apart, also for human listeners. Not suitable for decisions about individuals."
        ),
    },
    "speech_emotion": {
        "hub_id": None,  # built locally from the corpora
        "split_protocol": (
            "Speaker-disjoint, speakers prefixed by their corpus: each corpus is dealt on its own over 5 folds, "
            "balanced by gender, starting at the test fold, so every corpus has a speaker in the test split and "
            "corpora with fewer speakers than folds (TESS, SAVEE) keep their other speakers in train. Test = fold 4, "
            "validation = fold 3. Selection on validation only."
        ),
        "intended_use": ("Research on speech emotion recognition across several acted corpora, and on how models "
                         "trained on some corpora do on the recordings of another (leave-one-corpus-out)."),
        "limitations": (
            "All corpora are acted studio speech with few sentences; their recording conditions differ, so a model "
            "can learn to recognise the corpus rather than the emotion: check accuracy per source, and the "
            "cross-corpus figures (recordings of a corpus the model never heard) before trusting a model on your "
            "own recordings. TESS and SAVEE "
            "contribute many files but only 2 and 4 speakers. The licences of all four corpora apply (several are "
            "non-commercial). Not suitable for decisions about individuals."
        ),
    },
    "fer2013": {
        "hub_id": None,
        "split_protocol": (
            "The official `Usage` split: Training (28,709 images) for training, PublicTest (3,589) for model "
            "selection (best epoch, learning-rate reduction, early stopping) and PrivateTest (3,589) as the test set, "
            "evaluated once with the best-validation weights. Augmentation (flips, small rotations, shifts and zooms) "
            "is applied to training batches only."
        ),
        "intended_use": (
            "Research and teaching on facial-expression recognition from small, roughly aligned grayscale face crops, "
            "and a light CPU baseline to compare larger models against. The input should be a tight crop of one "
            "face (run a face detector first); whole photographs give meaningless predictions."
        ),
        "limitations": (
            "A facial expression is not an emotion: the labels describe posed or spontaneous expressions judged "
            "by annotators, not what a person feels. The images come from web search, with the demographic and "
            "cultural biases that implies, and accuracy differs between groups and between classes (disgust and "
            "fear are the least reliable; neutral and sad are often confused). Not suitable for decisions about "
            "individuals, surveillance, hiring, education or any assessment of a person's state of mind."
        ),
    },
    "_default": {
        "pretty_name": "a custom dataset",
        "hub_id": None,
        "description": "A dataset built by one of the package's builders.",
        "split_protocol": "Train / validation / test as provided by the builder; selection on validation only.",
        "intended_use": "Research on emotion recognition.",
        "limitations": "See the dataset's card for its biases and licence.",
        "citation": "",
        "license_id": "other",
    },
}


def dataset_card_info(name: str) -> dict:
    """What the model card of a model trained on dataset `name` says about the data: its builder's `description`,
    `citation`, `license` and `homepage` and its dataset card's `pretty_name`, `language` and `license_id`
    (`datasets_scripts.builder_texts`), with this module's `DATASET_INFO` entry (`_default`'s texts for a dataset that
    has none, and for a name that is not one of the package's builders)."""
    from emotion_hub.datasets_scripts import BUILDERS, builder_texts

    if name not in BUILDERS:
        return dict(DATASET_INFO["_default"])
    return {**DATASET_INFO["_default"], "pretty_name": name, **DATASET_INFO.get(name, {}),
            **{key: value for key, value in builder_texts(name).items() if value is not None}}

MODEL_INFO = {
    "text_cnn": {
        "description": (
            "A word-level convolutional text classifier (Kim, 2014): word embeddings, parallel 1-D convolutions with "
            "several kernel sizes, pooling over time of each feature map (padding masked), dropout and a linear "
            "layer. The tokenizer is a stock `tokenizers` word-level model whose normalizer does the text cleaning "
            "(HTML, case, digits, punctuation, emoji)."
        ),
        "training_summary": (
            "Trained from scratch (embeddings optionally initialised from GloVe vectors) with the loss, optimizer "
            "and schedule below; early stopping on the validation metric."
        ),
        "tags": ["text-cnn"],
        "usage": """
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
""",
        "citation": (
            "@inproceedings{kim2014convolutional,\n  title={Convolutional Neural Networks for Sentence "
            "Classification},\n  author={Kim, Yoon},\n  booktitle={EMNLP},\n  year={2014}\n}"
        ),
    },
    "auto_sequence_classification": {
        "description": (
            "A pretrained transformers encoder (`pretrained_backbone` in the saved recipe.yaml) fine-tuned as a text "
            "classifier: the stock `AutoModelForSequenceClassification` head of its family over the checkpoint's own "
            "tokenizer. The folder is a stock transformers folder: it needs no custom code and runs in the Hub's "
            "hosted widget. Text cleaning used in training (escaped newlines, emoji spelled as words) is part of the "
            "saved tokenizer's normalizer, so inference cleans the same way."
        ),
        "training_summary": (
            "Fine-tuned end to end from the pretrained checkpoint (`pretrained_backbone` in the recipe), the "
            "classification head from random weights, with the optimizer and schedule below; early stopping on the "
            "validation metric."
        ),
        "tags": ["transformer"],
        "usage": """
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
""",
        "citation": (
            "@inproceedings{wang2020minilm,\n  title={MiniLM: Deep Self-Attention Distillation for Task-Agnostic "
            "Compression of Pre-Trained Transformers},\n  author={Wang, Wenhui and Wei, Furu and Dong, Li and Bao, "
            "Hangbo and Yang, Nan and Zhou, Ming},\n  booktitle={NeurIPS},\n  year={2020}\n}"
        ),
    },
    "erc_fusion": {
        "description": (
            "A multimodal model for emotion recognition in conversation (ERC). Per utterance it encodes the text "
            "(any transformers text model, GPT2 by default, over a prompt holding the dialogue so far, one "
            "`speaker: utterance` line per turn with the target turn marked, pooled at the last token, at `[CLS]` or "
            "by the mean over the tokens (`config.text_pooling`); or a mean word embedding of the target and context "
            "utterances), the voice (any speech encoder, wav2vec2 by default, HuBERT, WavLM, data2vec-audio or "
            "Whisper, its frame states pooled with mean and max; or an MLP over raw-waveform frames) and the face "
            "(any timm model, ResNet50 by default, over equidistant video frames), projects each modality to a common "
            "width, fuses them by concatenation or multi-head attention over the modality vectors, then applies "
            "feed-forward layers, optional L2 normalisation and a linear classifier. This checkpoint reads the "
            "modalities listed in `config.modalities`. The processor (`ERCProcessor`) builds the prompt (truncated "
            "from the oldest turn so the target turn always stays), the audio features and the frame tensors; the "
            "`emotion-recognition-in-conversation` pipeline ships in the repository."
        ),
        "training_summary": (
            "Encoders start from the pretrained backbones named in `erc_backbones` (none: trained from scratch, the "
            "mean embeddings optionally from GloVe vectors), the fusion and classifier from random weights; trained "
            "with the loss below (class weights, when used, come from the training split's label counts in "
            "label-id order), optionally plus a batch-hard triplet loss on class-balanced batches; early stopping "
            "on the validation (dev) weighted-F1."
        ),
        "tags": ["emotion-recognition-in-conversation", "multimodal", "meld"],
        "usage": """
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
""",
        "citation": (
            "@article{radford2019language,\n  title={Language Models are Unsupervised Multitask Learners},\n  "
            "author={Radford, Alec and Wu, Jeffrey and Child, Rewon and Luan, David and Amodei, Dario and Sutskever, "
            "Ilya},\n  year={2019}\n}\n@inproceedings{baevski2020wav2vec,\n  title={wav2vec 2.0: A Framework for "
            "Self-Supervised Learning of Speech Representations},\n  author={Baevski, Alexei and Zhou, Henry and "
            "Mohamed, Abdelrahman and Auli, Michael},\n  booktitle={NeurIPS},\n  year={2020}\n}\n"
            "@inproceedings{he2016deep,\n  title={Deep Residual Learning for Image Recognition},\n  author={He, "
            "Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},\n  booktitle={CVPR},\n  year={2016}\n}"
        ),
    },
}

MODEL_INFO["fer_cnn"] = {
    "description": (
        "A VGG-style convolutional network for facial-expression recognition on 48x48 grayscale faces: "
        "convolutional blocks (3x3 convolutions with zero padding, batch norm, ReLU, 2x2 max pooling, dropout), "
        "fully connected blocks (linear, batch norm, ReLU, dropout) and a linear classifier. The image processor "
        "(`FERImageProcessor`) takes a PIL image, a file path, a numpy array or a tensor, grayscale or colour, of any "
        "size, and resizes and normalises it; RGB input is turned into luminance (ITU-R BT.601) inside the model."
    ),
    "training_summary": (
        "Trained from scratch on the training split with cross-entropy, the optimizer below and the learning rate "
        "reduced when the validation metric stops improving; early stopping on the validation metric. Training "
        "batches are augmented on the fly (settings under `augmentation.*`), validation and test images are not."
    ),
    "tags": ["fer-cnn", "facial-expression-recognition", "image-classification"],
    "usage": """
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
""",
    "citation": "",
}

MODEL_INFO["fer_timm"] = {
    "description": (
        "A timm image model (EfficientNet, ResNet, ConvNeXt, ViT...) for facial-expression recognition, its "
        "classifier sized for the expression labels. Faces are resized to the backbone's input size and normalised "
        "with the backbone's own mean and standard deviation; a grey model (one input channel) reads colour images "
        "as their ITU-R BT.601 luminance. Exported as the stock `TimmWrapperForImageClassification` (no custom code) "
        "or as the package's `FERTimmForImageClassification` with `FERImageProcessor`."
    ),
    "training_summary": (
        "Fine-tuned from the pretrained backbone given by `pretrained_backbone` (ImageNet weights; the first "
        "convolution summed over RGB for grey input) with a new classifier, or trained from scratch without it; the "
        "optimizer and schedule below; model selection on the validation metric. Training batches are augmented on "
        "the fly (settings under `augmentation.*`), validation and test images are not."
    ),
    "tags": ["fer-timm", "timm", "facial-expression-recognition", "image-classification"],
    "usage": MODEL_INFO["fer_cnn"]["usage"],
    "citation": "",
}

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
AUDIO_TRAINING = (
    "Trained from scratch on the training split with the loss, optimizer and schedule below; early stopping on the "
    "validation metric. Training clips are random crops of `max_length_seconds` (`random_crop`), validation and test "
    "clips deterministic crops; the feature extractor's normalisation statistics, when global, come from the "
    "training split."
)

MODEL_INFO["spectrogram_vit"] = {
    "description": (
        "A Vision Transformer over log-mel spectrograms: the spectrogram is cut into (possibly non-square) patches, "
        "each embedded linearly, with a class token and learned position embeddings, then pre-norm transformer layers "
        "and a layer-norm + linear head over the class token or the mean of the patch tokens (patches of padding are "
        "masked out). The feature extractor (`EmotionAudioFeatureExtractor`) mixes any input down to mono, pads or "
        "crops it to a fixed length and computes the log-mel image in batched torch code that matches librosa."
    ),
    "training_summary": AUDIO_TRAINING,
    "tags": ["spectrogram-vit", "speech-emotion-recognition", "audio-classification"],
    "usage": AUDIO_USAGE,
    "citation": (
        "@inproceedings{dosovitskiy2021image,\n  title={An Image is Worth 16x16 Words: Transformers for Image "
        "Recognition at Scale},\n  author={Dosovitskiy, Alexey and others},\n  booktitle={ICLR},\n  year={2021}\n}"
        "\n@inproceedings{gong2021ast,\n  title={AST: Audio Spectrogram Transformer},\n  author={Gong, Yuan and "
        "Chung, Yu-An and Glass, James},\n  booktitle={Interspeech},\n  year={2021}\n}"
    ),
}
MODEL_INFO["mfcc_cnn"] = {
    "description": (
        "A small convolutional network over an MFCC + delta + delta-delta image: convolutional blocks (3x3 "
        "convolution, ReLU, 2x2 max pooling, dropout), the feature map flattened (or averaged over time), fully "
        "connected layers and a linear classifier. The feature extractor (`EmotionAudioFeatureExtractor`) mixes any "
        "input down to mono, pads or crops it to a fixed length and computes the MFCC and their deltas in batched "
        "torch code that matches librosa."
    ),
    "training_summary": AUDIO_TRAINING,
    "tags": ["mfcc-cnn", "speech-emotion-recognition", "audio-classification"],
    "usage": AUDIO_USAGE,
    "citation": "",
}
MODEL_INFO["waveform_mlp"] = {
    "description": (
        "A raw-waveform baseline: the clip, scaled to [-1, 1] and padded or cropped to a fixed number of samples, goes "
        "through fully connected layers (none: multinomial logistic regression). It has no notion of time or "
        "frequency and is meant as the floor the spectral models must beat."
    ),
    "training_summary": AUDIO_TRAINING,
    "tags": ["waveform-mlp", "audio-classification", "baseline"],
    "usage": AUDIO_USAGE,
    "citation": "",
}

MODEL_INFO["wav2vec2_emotion"] = {
    "description": (
        "A wav2vec2 speech-emotion classifier: the frame states of a wav2vec2 backbone (the last layer, or a learned "
        "softmax-weighted sum of all layers), an optional per-frame projector, a pooling over the frames that hold "
        "audio (`config.pooling`: mean, max, mean and max concatenated, or attentive statistics) and a linear "
        "classifier. With mean pooling it is the stock `Wav2Vec2ForSequenceClassification` and can be saved as one. "
        "The feature extractor is the stock `Wav2Vec2FeatureExtractor` (16 kHz)."
    ),
    "training_summary": (
        "The backbone starts from the pretrained checkpoint named in `pretrained_backbone` (none: random weights), "
        "the head from random weights; the convolutional feature encoder stays frozen unless configured otherwise. "
        "Training clips are random crops of `max_length_seconds` in batches grouped by length; validation and test "
        "clips are whole. With `lora_r`, only LoRA adapters and the head train, and the adapters are merged into "
        "the saved weights. Early stopping on the validation metric."
    ),
    "tags": ["wav2vec2", "speech-emotion-recognition", "audio-classification"],
    "usage": AUDIO_USAGE,
    "citation": (
        "@inproceedings{baevski2020wav2vec,\n  title={wav2vec 2.0: A Framework for Self-Supervised Learning of Speech "
        "Representations},\n  author={Baevski, Alexei and Zhou, Henry and Mohamed, Abdelrahman and Auli, Michael},"
        "\n  booktitle={NeurIPS},\n  year={2020}\n}"
    ),
}

MODEL_INFO["speech_emotion"] = {
    "description": (
        "A speech-emotion classifier over a pretrained transformers speech encoder (`config.audio_config`: wav2vec2, "
        "HuBERT, WavLM, data2vec-audio or the Whisper encoder): every layer's frame states, optionally normalised and "
        "combined by learned softmax weights (or concatenated, `concatenate_layers`), an optional per-frame "
        "projector, a pooling over the frames that hold audio (mean, max, both, or attentive statistics), optionally "
        "standardised with running statistics (`standardize_pooled`: `python -m emotion_hub.adapt` re-estimates "
        "them on your own unlabelled recordings) and a linear classifier. Whisper runs on a short window "
        "(`config.window_seconds`, its position table cut to that length) instead of 30 s of padding; this "
        "folder's audio pipeline scores longer recordings in windows (a stock export's pipeline does not: see the "
        "README's \"Which folder to pick\"). The feature extractor is the encoder's stock one."
    ),
    "training_summary": (
        "The encoder starts from the checkpoint named in `pretrained_backbone`, the head from random weights. With "
        "`freeze_backbone` the encoder is run once per clip and the head trains from its cached hidden states "
        "(the same weights as running the encoder every epoch, since nothing changes a clip between epochs). With "
        "`trainable_encoder_layers` only the top layers of the encoder train with the head: the layers below are "
        "fixed, run once per clip and cached likewise. Early stopping on the validation speakers' metric."
    ),
    "tags": ["speech-emotion-recognition", "audio-classification", "whisper", "wav2vec2"],
    "usage": AUDIO_USAGE,
    "citation": (
        "@inproceedings{radford2023whisper,\n  title={Robust Speech Recognition via Large-Scale Weak Supervision},\n  "
        "author={Radford, Alec and Kim, Jong Wook and Xu, Tao and Brockman, Greg and McLeavey, Christine and "
        "Sutskever, Ilya},\n  booktitle={ICML},\n  year={2023}\n}"
    ),
}

__all__ = ["DATASET_INFO", "MODEL_INFO", "dataset_card_info"]
