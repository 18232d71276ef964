"""ERCFusion configuration: multimodal emotion recognition in conversation (text + audio + video frames)."""

import copy
from typing import Optional

from transformers import AutoConfig, PretrainedConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from .losses import validate_loss_arguments, validate_triplet_arguments
from .speech_encoders import (check_speech_encoder_config, is_whisper, minimum_input_length,
                              speech_encoder_config_from_dict)


TEXT_BRANCHES = ("transformer", "mean_embedding", "none")
AUDIO_BRANCHES = ("speech_encoder", "waveform_mlp", "none")
VISION_BRANCHES = ("timm", "none")
TEXT_POOLINGS = ("last", "cls", "mean", "target")
FUSIONS = ("concat", "mha")
AUDIO_POOLINGS = ("mean", "mean_max")
FRAME_POOLINGS = ("mean", "mean_max")
# The config format before any encoder of a kind was accepted: `text_encoder="gpt2"` etc. (recipes, saved folders).
LEGACY_BRANCHES = {
    "text_encoder": ("text_branch", {"gpt2": "transformer", "mean_embedding": "mean_embedding", "none": "none"}),
    "audio_encoder": ("audio_branch", {"wav2vec2": "speech_encoder", "waveform_mlp": "waveform_mlp", "none": "none"}),
    "vision_encoder": ("vision_branch", {"timm": "timm", "none": "none"}),
}
# Text models whose position ids start after the padding index (RoBERTa's `create_position_ids_from_input_ids`).
PADDING_OFFSET_POSITION_MODEL_TYPES = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "roberta-prelayernorm",
                                       "data2vec-text", "longformer", "ibert", "mpnet", "luke", "markuplm")
ERC_TASK = "emotion-recognition-in-conversation"
# Saved in every config: `pipeline(ERC_TASK, model=repo, trust_remote_code=True)` then finds the pipeline class in the
# repository's `pipeline_erc.py`, which `save_pretrained` copies next to the model code.
CUSTOM_PIPELINES = {
    ERC_TASK: {"impl": "pipeline_erc.EmotionRecognitionInConversationPipeline",
               "pt": ["AutoModelForSequenceClassification"], "tf": [], "type": "multimodal"}
}


# Keys every saved config holds (a sub-config saved as a dict has them too).
_COMMON_CONFIG_KEYS = set(PretrainedConfig().to_dict()) | {"model_type", "transformers_version", "_name_or_path"}


class ERCTimmVisionConfig(PretrainedConfig):
    r"""
    The timm image model of an [`ERCFusionConfig`]'s vision branch, applied to every video frame.

    Args:
        model_name (`str`, *optional*, defaults to `"resnet50"`): any `timm.create_model` name (`timm.list_models()`).
        model_kwargs (`dict`, *optional*, defaults to `{}`): extra `timm.create_model` arguments, e.g.
            `{"drop_path_rate": 0.05}`. The model is always created with `pretrained=False` and `num_classes=0`;
            pretrained weights come from [`~ERCFusionForEmotionRecognition.from_pretrained_backbones`].
    """

    model_type = "erc_timm_vision"

    def __init__(self, model_name="resnet50", model_kwargs=None, **kwargs):
        if not isinstance(model_name, str) or not model_name:
            raise ValueError(f"`vision_config.model_name` must be a timm model name, got {model_name!r}")
        if model_kwargs is not None and not isinstance(model_kwargs, dict):
            raise ValueError(f"`vision_config.model_kwargs` must be a dict, got {model_kwargs!r}")
        super().__init__(**kwargs)
        self.model_name = model_name
        self.model_kwargs = dict(model_kwargs or {})

    def __getitem__(self, key):
        """Dict-style reading (`vision_config["model_name"]`), as when `vision_config` was a plain dict."""
        if key not in ("model_name", "model_kwargs"):
            raise KeyError(key)
        return getattr(self, key)


def _text_config(value):
    """Any transformers text model's config, from a config, a dict (with `model_type`, GPT2 without) or None (GPT2)."""
    if value is None:
        value = {"model_type": "gpt2"}
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "transformers_version"}
        value = AutoConfig.for_model(value.pop("model_type", "gpt2"), **value)
    if not isinstance(value, PretrainedConfig):
        raise ValueError(f"`text_config` must be a dict or a transformers config, got {type(value).__name__}")
    if value.is_encoder_decoder:
        raise ValueError(f"`text_config` must be an encoder-only or decoder-only text model, got the encoder-decoder "
                         f"{value.model_type!r}")
    return value


def default_text_pooling(text_config) -> str:
    """`"cls"` for bidirectional encoders (the model types with a masked-LM head: BERT, RoBERTa, MiniLM...), `"last"`
    for causal decoders (GPT2, Llama...), whose last token is the only one that has read the whole prompt."""
    return "cls" if text_config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES else "last"


class ERCFusionConfig(PretrainedConfig):
    r"""
    Configuration of [`ERCFusionForEmotionRecognition`]: one encoder per modality of an utterance in a dialogue (its
    text in context, its voice, its video frames), a projection of each to `fusion_out_features`, a fusion
    (concatenation or multi-head attention over the modality vectors), feed-forward layers, optional L2 normalisation
    and a linear classifier.

    A modality whose branch is `"none"` is absent: any subset of text, audio and vision is a valid model (unimodal
    ablations included), but at least one must be present. Each nested model is a sub-config (`text_config`,
    `audio_config`, `vision_config`), so `attn_implementation` and `get_text_config()` reach them.

    Configs written before any encoder of a kind was accepted still load: `text_encoder="gpt2"` becomes
    `text_branch="transformer"` (GPT2 `text_config`), `audio_encoder="wav2vec2"` becomes `audio_branch="speech_encoder"`
    (wav2vec2 `audio_config`), `vision_encoder` becomes `vision_branch`, and a plain-dict `vision_config` an
    [`ERCTimmVisionConfig`].

    Args:
        text_branch (`str`, *optional*, defaults to `"transformer"`): `"transformer"` (the transformers model of
            `text_config` over the dialogue prompt, pooled by `text_pooling`), `"mean_embedding"` (mean word embedding
            of the target utterance, optionally concatenated with the mean over the context utterances: the GloVe-mean
            baseline) or `"none"`.
        audio_branch (`str`, *optional*, defaults to `"speech_encoder"`): `"speech_encoder"` (the wav2vec2, HuBERT,
            WavLM, data2vec-audio or Whisper encoder of `audio_config`, its frame states pooled over the frames that
            hold audio), `"waveform_mlp"` (a 3-layer MLP applied to each `waveform_frame_length`-sample frame of the raw
            waveform, pooled with mean and max) or `"none"`.
        vision_branch (`str`, *optional*, defaults to `"timm"`): `"timm"` (the timm model of `vision_config` applied
            to each video frame, pooled over frames) or `"none"`.
        text_config (`dict` or [`PretrainedConfig`], *optional*, defaults to GPT2's): any transformers encoder-only or
            decoder-only text model (`AutoModel.from_config`); a dict without `model_type` is a GPT2 config. Its
            `vocab_size` is also the vocabulary of the `"mean_embedding"` branch.
        audio_config (`dict` or [`PretrainedConfig`], *optional*, defaults to wav2vec2-base's): the speech encoder; a
            dict without `model_type` is a wav2vec2 config. A waveform encoder's convolutions define the receptive field
            shorter audio is padded to.
        vision_config (`dict` or [`ERCTimmVisionConfig`], *optional*, defaults to ResNet50): `model_name` for
            `timm.create_model` and extra `model_kwargs`.
        text_pooling (`str`, *optional*): the prompt's token states -> one vector: `"last"` (the last real token, which
            the processor makes the tokenizer's end token: for causal decoders), `"cls"` (the first real token, the
            tokenizer's `[CLS]`/`<s>`), `"mean"` (mean over the real tokens, as sentence-transformers models are
            trained) or `"target"` (mean over the target turn's utterance tokens, which have read the context: the
            emotion to predict is theirs). Defaults to `"cls"` for model types with a masked-LM head, `"last"` otherwise.
        mean_embedding_dim (`int`, *optional*, defaults to 300): width of the `"mean_embedding"` word embeddings (50 to
            start from GloVe 6B 50d vectors).
        mean_embedding_context (`bool`, *optional*, defaults to `True`): concatenate the mean embedding of the context
            utterances to that of the target utterance.
        freeze_text_encoder (`bool`, *optional*, defaults to `False`): keep the text branch's weights fixed.
        freeze_audio_encoder (`bool`, *optional*, defaults to `False`): keep the whole audio branch fixed.
        freeze_audio_feature_encoder (`bool`, *optional*, defaults to `True`): keep a waveform encoder's convolutional
            feature encoder fixed (the customary fine-tuning setting).
        freeze_vision_encoder (`bool`, *optional*, defaults to `False`): keep the vision backbone fixed (its batch
            norm statistics too).
        audio_pooling (`str`, *optional*, defaults to `"mean_max"`): pooling of the speech encoder's frame states,
            `"mean"` or `"mean_max"` (mean and max concatenated).
        waveform_frame_length (`int`, *optional*, defaults to 400): samples per frame of the `"waveform_mlp"` branch
            (400 = 25 ms at 16 kHz); shorter audio is zero-padded to one frame.
        waveform_hidden_sizes (`list[int]`, *optional*, defaults to `[512, 256, 256]`): output sizes of the three
            layers of the `"waveform_mlp"` branch.
        frame_pooling (`str`, *optional*, defaults to `"mean"`): pooling of the per-frame vision features over the
            frames of a clip, `"mean"` or `"mean_max"`.
        fusion (`str`, *optional*, defaults to `"concat"`): `"concat"` concatenates the projected modality vectors;
            `"mha"` runs multi-head self-attention over them (one token per modality) and averages the outputs.
        fusion_out_features (`int`, *optional*, defaults to 512): width of every modality's projection.
        fusion_num_heads (`int`, *optional*, defaults to 4): attention heads of the `"mha"` fusion.
        feed_forward_sizes (`list[int]`, *optional*, defaults to `[256]`): hidden sizes of the feed-forward layers
            after the fusion; the last one is the width of the fused representation (`[]`: no layer).
        l2_normalize (`bool`, *optional*, defaults to `False`): L2-normalise the fused representation before the
            classifier (and the triplet loss).
        dropout (`float`, *optional*, defaults to 0.1): dropout after the projections and every feed-forward layer.
        initializer_range (`float`, *optional*, defaults to 0.02): standard deviation of the normal initialisation of
            the projections, fusion, feed-forward and classifier weights and of the mean-embedding table.
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, `"weighted_ce"`, `"focal"` or `"dice"` (single-label
            classification; `problem_type` `"multi_label_classification"` uses binary cross-entropy, `"regression"`
            the mean squared error, as the stock heads).
        class_weights (`list[float]`, *optional*): one weight per label in label-id order (required by
            `"weighted_ce"`; used by `"focal"` and `"dice"` when given).
        focal_gamma (`float`, *optional*, defaults to 2.0): focusing parameter of the focal loss.
        dice_smooth (`float`, *optional*, defaults to 1.0): smoothing term of the Dice loss.
        triplet_weight (`float`, *optional*, defaults to 0.0): weight of a triplet loss on the fused representation
            added to the classification loss (0: off); pair it with train.py's class-balanced batch sampler.
        triplet_margin (`float`, *optional*, defaults to 0.3): margin of the triplet loss.
        triplet_mining (`str`, *optional*, defaults to `"batch_hard"`): `"batch_hard"` or `"batch_all"`.
        word_vectors (`str`, *optional*): name of the word vectors the mean embeddings started from (for the card).
    """

    model_type = "erc_fusion"
    sub_configs = {"text_config": AutoConfig, "audio_config": AutoConfig, "vision_config": ERCTimmVisionConfig}

    def __init__(
        self,
        text_branch="transformer",
        audio_branch="speech_encoder",
        vision_branch="timm",
        text_config=None,
        audio_config=None,
        vision_config=None,
        text_pooling=None,
        mean_embedding_dim=300,
        mean_embedding_context=True,
        freeze_text_encoder=False,
        freeze_audio_encoder=False,
        freeze_audio_feature_encoder=True,
        freeze_vision_encoder=False,
        audio_pooling="mean_max",
        waveform_frame_length=400,
        waveform_hidden_sizes=(512, 256, 256),
        frame_pooling="mean",
        fusion="concat",
        fusion_out_features=512,
        fusion_num_heads=4,
        feed_forward_sizes=(256,),
        l2_normalize=False,
        dropout=0.1,
        initializer_range=0.02,
        loss_type="ce",
        class_weights=None,
        focal_gamma=2.0,
        dice_smooth=1.0,
        triplet_weight=0.0,
        triplet_margin=0.3,
        triplet_mining="batch_hard",
        word_vectors=None,
        **kwargs,
    ):
        branches = {"text_branch": text_branch, "audio_branch": audio_branch, "vision_branch": vision_branch}
        for legacy, (name, values) in LEGACY_BRANCHES.items():
            if legacy in kwargs:
                value = kwargs.pop(legacy)
                if value not in values:
                    raise ValueError(f"`{legacy}` (the former name of `{name}`) must be one of {tuple(values)}, "
                                     f"got {value!r}")
                branches[name] = values[value]
        text_branch, audio_branch, vision_branch = branches.values()
        for name, value, allowed in (("text_branch", text_branch, TEXT_BRANCHES),
                                     ("audio_branch", audio_branch, AUDIO_BRANCHES),
                                     ("vision_branch", vision_branch, VISION_BRANCHES),
                                     ("fusion", fusion, FUSIONS), ("audio_pooling", audio_pooling, AUDIO_POOLINGS),
                                     ("frame_pooling", frame_pooling, FRAME_POOLINGS)):
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}, got {value!r}")
        if text_branch == audio_branch == vision_branch == "none":
            raise ValueError("at least one of `text_branch`, `audio_branch`, `vision_branch` must not be 'none'")
        waveform_hidden_sizes = [int(s) for s in waveform_hidden_sizes]
        feed_forward_sizes = [int(s) for s in feed_forward_sizes]
        if len(waveform_hidden_sizes) != 3 or min(waveform_hidden_sizes) < 1:
            raise ValueError(f"`waveform_hidden_sizes` must be three positive ints, got {waveform_hidden_sizes}")
        if feed_forward_sizes and min(feed_forward_sizes) < 1:
            raise ValueError(f"`feed_forward_sizes` must be positive ints, got {feed_forward_sizes}")
        for name, value in (("mean_embedding_dim", mean_embedding_dim), ("waveform_frame_length", waveform_frame_length),
                            ("fusion_out_features", fusion_out_features), ("fusion_num_heads", fusion_num_heads)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        if fusion == "mha" and fusion_out_features % fusion_num_heads:
            raise ValueError(f"`fusion_out_features` ({fusion_out_features}) must be divisible by `fusion_num_heads` "
                             f"({fusion_num_heads}) for the 'mha' fusion")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout}")

        text_config = _text_config(text_config)
        audio_config = speech_encoder_config_from_dict(audio_config, "audio_config", default_type="wav2vec2")
        check_speech_encoder_config(audio_config, "audio_config")
        if isinstance(vision_config, dict):
            # A dict written by hand (a recipe, the former format) is checked; a saved sub-config keeps its extras.
            unknown = set(vision_config) - {"model_name", "model_kwargs"} - _COMMON_CONFIG_KEYS
            if unknown and vision_config.get("model_type") != ERCTimmVisionConfig.model_type:
                raise ValueError(f"`vision_config` accepts the keys 'model_name' and 'model_kwargs', got "
                                 f"{sorted(unknown)}")
            vision_config = ERCTimmVisionConfig(**{k: v for k, v in vision_config.items()
                                                   if k not in ("model_type", "transformers_version")})
        elif vision_config is None:
            vision_config = ERCTimmVisionConfig()
        elif not isinstance(vision_config, ERCTimmVisionConfig):
            raise ValueError(f"`vision_config` must be a dict or an ERCTimmVisionConfig, got {vision_config!r}")
        if text_pooling is None:
            text_pooling = default_text_pooling(text_config)
        if text_pooling not in TEXT_POOLINGS:
            raise ValueError(f"`text_pooling` must be one of {TEXT_POOLINGS}, got {text_pooling!r}")

        kwargs.setdefault("custom_pipelines", copy.deepcopy(CUSTOM_PIPELINES))
        # Set before `super().__init__`, which hands `attn_implementation` down to the sub-configs.
        self.text_config = text_config
        self.audio_config = audio_config
        self.vision_config = vision_config
        super().__init__(**kwargs)
        validate_loss_arguments(loss_type, class_weights, focal_gamma, dice_smooth, self.num_labels)
        validate_triplet_arguments(triplet_weight, triplet_margin, triplet_mining)
        self.text_branch = text_branch
        self.audio_branch = audio_branch
        self.vision_branch = vision_branch
        self.text_pooling = text_pooling
        self.mean_embedding_dim = mean_embedding_dim
        self.mean_embedding_context = mean_embedding_context
        self.freeze_text_encoder = freeze_text_encoder
        self.freeze_audio_encoder = freeze_audio_encoder
        self.freeze_audio_feature_encoder = freeze_audio_feature_encoder
        self.freeze_vision_encoder = freeze_vision_encoder
        self.audio_pooling = audio_pooling
        self.waveform_frame_length = waveform_frame_length
        self.waveform_hidden_sizes = waveform_hidden_sizes
        self.frame_pooling = frame_pooling
        self.fusion = fusion
        self.fusion_out_features = fusion_out_features
        self.fusion_num_heads = fusion_num_heads
        self.feed_forward_sizes = feed_forward_sizes
        self.l2_normalize = l2_normalize
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.loss_type = loss_type
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.focal_gamma = focal_gamma
        self.dice_smooth = dice_smooth
        self.triplet_weight = triplet_weight
        self.triplet_margin = triplet_margin
        self.triplet_mining = triplet_mining
        self.word_vectors = word_vectors

    def get_text_config(self, decoder=None, encoder=None) -> PretrainedConfig:
        """The text model's config (whose `vocab_size` `resize_token_embeddings` updates)."""
        return self.text_config

    @property
    def modalities(self) -> list[str]:
        """The modalities the model reads, in fusion order: a subset of `["text", "audio", "vision"]`."""
        branches = {"text": self.text_branch, "audio": self.audio_branch, "vision": self.vision_branch}
        return [name for name, branch in branches.items() if branch != "none"]

    @property
    def audio_input_name(self) -> str:
        """`"input_features"` for a Whisper audio branch, `"input_values"` (waveform) otherwise."""
        if self.audio_branch == "speech_encoder" and is_whisper(self.audio_config):
            return "input_features"
        return "input_values"

    @property
    def audio_receptive_field(self) -> int:
        """Samples a waveform branch needs for one output frame (shorter audio is zero-padded to this length); 1 for
        Whisper, whose feature extractor pads every clip to its window."""
        if self.audio_branch == "waveform_mlp":
            return self.waveform_frame_length
        if is_whisper(self.audio_config):
            return 1
        return minimum_input_length(self.audio_config)

    @property
    def text_position_offset(self) -> int:
        """First position id of the text model (`pad_token_id + 1` for RoBERTa-style position embeddings, else 0)."""
        if self.text_config.model_type in PADDING_OFFSET_POSITION_MODEL_TYPES:
            return (self.text_config.pad_token_id or 0) + 1
        return 0

    @property
    def max_text_positions(self):
        """Longest prompt in tokens the text model takes (`None`: no limit known); set the processor's
        `max_prompt_tokens` to at most this."""
        positions = getattr(self.text_config, "max_position_embeddings", None)
        return positions - self.text_position_offset if positions is not None else None

    # transformers' names for a composite model's encoder configs (its test helpers and `get_encoder` look for them):
    # read-only aliases of the sub-configs a branch uses, None otherwise. (In the former format they were strings.)
    @property
    def text_encoder(self) -> Optional[PretrainedConfig]:
        return self.text_config if self.text_branch == "transformer" else None

    @property
    def audio_encoder(self) -> Optional[PretrainedConfig]:
        return self.audio_config if self.audio_branch == "speech_encoder" else None

    @property
    def vision_encoder(self) -> Optional[PretrainedConfig]:
        return self.vision_config if self.vision_branch == "timm" else None


__all__ = ["AUDIO_BRANCHES", "ERC_TASK", "ERCFusionConfig", "ERCTimmVisionConfig", "FUSIONS", "TEXT_BRANCHES",
           "TEXT_POOLINGS", "VISION_BRANCHES"]
