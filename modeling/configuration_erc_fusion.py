"""ERCFusion configuration: multimodal emotion recognition in conversation (text + audio + video frames)."""

import dataclasses
from typing import Literal, Optional

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from .configuration_utils import (EmotionClassifierConfig, EmotionConfig, TripletMining, non_negative, positive_int,
                                  positive_ints, probability)
from .speech_encoders import (check_speech_encoder_config, is_whisper, minimum_input_length,
                              speech_encoder_config_from_dict)


TextBranch = Literal["transformer", "mean_embedding", "none"]
AudioBranch = Literal["speech_encoder", "waveform_mlp", "none"]
VisionBranch = Literal["timm", "none"]
TEXT_BRANCHES, AUDIO_BRANCHES, VISION_BRANCHES = TextBranch.__args__, AudioBranch.__args__, VisionBranch.__args__
TextPooling = Literal["last", "cls", "mean", "target"]
TEXT_POOLINGS = TextPooling.__args__
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


@strict
class ERCTimmVisionConfig(EmotionConfig):
    r"""
    The timm image model of an [`ERCFusionConfig`]'s vision branch, applied to every video frame.

    Args:
        model_name (`str`, *optional*, defaults to `"resnet50"`): any `timm.create_model` name (`timm.list_models()`).
        model_kwargs (`dict`, *optional*, defaults to `{}`): extra `timm.create_model` arguments, e.g.
            `{"drop_path_rate": 0.05}`. The model is always created with `pretrained=False` and `num_classes=0`;
            pretrained weights come from [`~ERCFusionForEmotionRecognition.from_pretrained_backbones`].
    """

    model_type = "erc_timm_vision"

    model_name: str = "resnet50"
    model_kwargs: dict = dataclasses.field(default_factory=dict)

    def validate_model_name(self):
        if not self.model_name:
            raise ValueError(f"`vision_config.model_name` must be a timm model name, got {self.model_name!r}")

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
    if value.is_encoder_decoder:
        raise ValueError(f"`text_config` must be an encoder-only or decoder-only text model, got the encoder-decoder "
                         f"{value.model_type!r}")
    return value


def _vision_config(value):
    """An `ERCTimmVisionConfig` from one, a dict (a recipe's, a saved sub-config, the former plain dict) or None."""
    if not isinstance(value, dict):
        return ERCTimmVisionConfig() if value is None else value
    # A dict written by hand (a recipe, the former format) is checked; a saved sub-config keeps its extras.
    unknown = set(value) - {"model_name", "model_kwargs"} - _COMMON_CONFIG_KEYS
    if unknown and value.get("model_type") != ERCTimmVisionConfig.model_type:
        raise ValueError(f"`vision_config` accepts the keys 'model_name' and 'model_kwargs', got {sorted(unknown)}")
    return ERCTimmVisionConfig(**{k: v for k, v in value.items() if k not in ("model_type", "transformers_version")})


def default_text_pooling(text_config) -> str:
    """`"cls"` for bidirectional encoders (the model types with a masked-LM head: BERT, RoBERTa, MiniLM...), `"last"`
    for causal decoders (GPT2, Llama...), whose last token is the only one that has read the whole prompt."""
    return "cls" if text_config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES else "last"


def _three_sizes():
    def check(values):
        if len(values) != 3 or min(values) < 1:
            raise ValueError(f"must be three positive ints, got {list(values)!r}")

    return dataclasses.field(default=(512, 256, 256), metadata={"validator": [check]})


@strict
class ERCFusionConfig(EmotionClassifierConfig):
    r"""
    Configuration of [`ERCFusionForEmotionRecognition`]: one encoder per modality of an utterance in a dialogue (its
    text in context, its voice, its video frames), a projection of each to `fusion_out_features`, a fusion
    (concatenation or multi-head attention over the modality vectors), feed-forward layers, optional L2 normalisation
    and a linear classifier.

    A modality whose branch is `"none"` is absent: any subset of text, audio and vision is a valid model (unimodal
    ablations included), but at least one must be present. Each nested model is a sub-config (`text_config`,
    `audio_config`, `vision_config`), so `attn_implementation` and `get_text_config()` reach them.

    Configs written before any encoder of a kind was accepted still load: a plain-dict `vision_config` becomes an
    [`ERCTimmVisionConfig`], and the former branch names are read (`text_encoder`, `audio_encoder`, `vision_encoder`
    below).

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
        triplet_weight (`float`, *optional*, defaults to 0.0): weight of a triplet loss on the fused representation
            added to the classification loss (0: off); pair it with train.py's class-balanced batch sampler.
        triplet_margin (`float`, *optional*, defaults to 0.3): margin of the triplet loss.
        triplet_mining (`str`, *optional*, defaults to `"batch_hard"`): `"batch_hard"` or `"batch_all"`.
        word_vectors (`str`, *optional*): name of the word vectors the mean embeddings started from (for the card).
        text_encoder (`str`, *optional*): the former name of `text_branch`: `"gpt2"` is `"transformer"` (a GPT2
            `text_config`), `"mean_embedding"` and `"none"` are themselves. Read, not saved.
        audio_encoder (`str`, *optional*): the former name of `audio_branch`: `"wav2vec2"` is `"speech_encoder"` (a
            wav2vec2 `audio_config`), `"waveform_mlp"` and `"none"` are themselves. Read, not saved.
        vision_encoder (`str`, *optional*): the former name of `vision_branch` (`"timm"` or `"none"`). Read, not saved.
    """

    model_type = "erc_fusion"
    sub_configs_defaults = {"text_config": SubConfigSpec(AutoConfig, model_type="gpt2"),
                            "audio_config": SubConfigSpec(AutoConfig, model_type="wav2vec2"),
                            "vision_config": ERCTimmVisionConfig}
    default_custom_pipelines = CUSTOM_PIPELINES

    text_branch: TextBranch = "transformer"
    audio_branch: AudioBranch = "speech_encoder"
    vision_branch: VisionBranch = "timm"
    text_config: dict | PretrainedConfig | None = None
    audio_config: dict | PretrainedConfig | None = None
    vision_config: dict | ERCTimmVisionConfig | None = None
    text_pooling: TextPooling | None = None
    mean_embedding_dim: int = positive_int(default=300)
    mean_embedding_context: bool = True
    freeze_text_encoder: bool = False
    freeze_audio_encoder: bool = False
    freeze_audio_feature_encoder: bool = True
    freeze_vision_encoder: bool = False
    audio_pooling: Literal["mean", "mean_max"] = "mean_max"
    waveform_frame_length: int = positive_int(default=400)
    waveform_hidden_sizes: list[int] | tuple[int, ...] = _three_sizes()
    frame_pooling: Literal["mean", "mean_max"] = "mean"
    fusion: Literal["concat", "mha"] = "concat"
    fusion_out_features: int = positive_int(default=512)
    fusion_num_heads: int = positive_int(default=4)
    feed_forward_sizes: list[int] | tuple[int, ...] = positive_ints(default=(256,))
    l2_normalize: bool = False
    dropout: float | int = probability(default=0.1)
    initializer_range: float | int = 0.02
    triplet_weight: float | int = non_negative(default=0.0)
    triplet_margin: float | int = non_negative(default=0.3)
    triplet_mining: TripletMining = "batch_hard"
    word_vectors: str | None = None

    def __post_init__(self, text_encoder: Literal["gpt2", "mean_embedding", "none"] | None = None,
                      audio_encoder: Literal["wav2vec2", "waveform_mlp", "none"] | None = None,
                      vision_encoder: VisionBranch | None = None, **kwargs):
        for legacy, value in (("text_encoder", text_encoder), ("audio_encoder", audio_encoder),
                              ("vision_encoder", vision_encoder)):
            if value is not None:
                name, values = LEGACY_BRANCHES[legacy]
                setattr(self, name, values[value])
        # Set before `super().__post_init__`, which hands `attn_implementation` down to the sub-configs.
        self.text_config = _text_config(self.text_config)
        self.audio_config = speech_encoder_config_from_dict(self.audio_config, "audio_config", default_type="wav2vec2")
        check_speech_encoder_config(self.audio_config, "audio_config")
        self.vision_config = _vision_config(self.vision_config)
        if self.text_pooling is None:
            self.text_pooling = default_text_pooling(self.text_config)
        super().__post_init__(**kwargs)

    def validate_branches(self):
        if self.text_branch == self.audio_branch == self.vision_branch == "none":
            raise ValueError("at least one of `text_branch`, `audio_branch`, `vision_branch` must not be 'none'")
        if self.fusion == "mha" and self.fusion_out_features % self.fusion_num_heads:
            raise ValueError(f"`fusion_out_features` ({self.fusion_out_features}) must be divisible by "
                             f"`fusion_num_heads` ({self.fusion_num_heads}) for the 'mha' fusion")

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


__all__ = ["AUDIO_BRANCHES", "ERC_TASK", "ERCFusionConfig", "ERCTimmVisionConfig", "TEXT_BRANCHES", "TEXT_POOLINGS",
           "VISION_BRANCHES"]
