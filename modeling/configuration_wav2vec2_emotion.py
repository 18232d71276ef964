"""Wav2Vec2Emotion configuration: a wav2vec2 backbone, an optional per-frame projector, a pooling over frames and a
linear emotion classifier."""

import copy
import math

from transformers import PretrainedConfig, Wav2Vec2Config

from .losses import validate_loss_arguments
from .pipeline_audio_classification import AUDIO_CUSTOM_PIPELINES


POOLINGS = ("mean", "max", "mean_max", "attentive_stats")
# wav2vec2 checkpoints are all trained on 16 kHz audio; used to state lengths in seconds in error messages.
SAMPLING_RATE = 16000


class Wav2Vec2EmotionConfig(PretrainedConfig):
    r"""
    Configuration of [`Wav2Vec2EmotionForAudioClassification`]: a [`Wav2Vec2Model`] (the nested `wav2vec2_config`),
    optionally a softmax-weighted sum of its hidden layers, an optional per-frame linear projector, a pooling over the
    unpadded frames, dropout and a linear classifier.

    With `pooling="mean"` the model computes exactly what [`Wav2Vec2ForSequenceClassification`] computes, and
    [`~Wav2Vec2EmotionForAudioClassification.to_stock_model`] exports it as that stock class.

    Args:
        wav2vec2_config (`dict` or [`Wav2Vec2Config`], *optional*): the wav2vec2 architecture (defaults to
            `Wav2Vec2Config()`, wav2vec2-base sized). Its `feat_extract_norm` matters for batching: with `"layer"`
            (wav2vec2-large-lv60 style) a clip's logits do not depend on the padding of its batch when the
            `attention_mask` is given; with `"group"` (wav2vec2-base style) the first convolution normalises every
            channel over the whole padded time axis, so only unpadded input (one clip, or clips of equal length) gives a
            clip's own result. `add_adapter=True` is refused, as in `Wav2Vec2ForSequenceClassification`.
        pooling (`str`, *optional*, defaults to `"mean"`): pooling of the frame vectors over the unpadded frames:
            `"mean"`, `"max"`, `"mean_max"` (mean and max concatenated, twice the width) or `"attentive_stats"`
            (attentive statistics pooling as in x-vector / ECAPA-TDNN: a channel-wise softmax attention over frames
            gives an attention-weighted mean and standard deviation, concatenated, twice the width).
        use_weighted_layer_sum (`bool`, *optional*, defaults to `False`): pool a learned softmax-weighted sum of all
            hidden states (the input embeddings and every transformer layer) instead of the last layer, as
            `Wav2Vec2ForSequenceClassification` does with the same option.
        projector_size (`int`, *optional*, defaults to 256): width of a linear projection applied to every frame before
            the pooling (the stock `classifier_proj_size`); `None` or 0: no projector, the frames keep the backbone's
            `hidden_size`.
        classifier_dropout (`float`, *optional*, defaults to 0.0): dropout on the pooled vector, before the classifier
            (0.0 matches the stock class, which has none).
        attention_hidden_size (`int`, *optional*, defaults to 128): bottleneck width of the `"attentive_stats"`
            attention (ECAPA-TDNN's `attention_channels`); unused by the other poolings.
        freeze_feature_encoder (`bool`, *optional*, defaults to `True`): keep wav2vec2's convolutional feature encoder
            fixed (the customary fine-tuning setting).
        freeze_backbone (`bool`, *optional*, defaults to `False`): keep the whole wav2vec2 model fixed and train only
            the head (layer weights, projector, pooling attention, classifier).
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, `"weighted_ce"`, `"focal"` or `"dice"`.
        class_weights (`list[float]`, *optional*): one weight per label in label-id order, used by `"weighted_ce"`
            (required there) and, when given, by `"focal"` and `"dice"`.
        focal_gamma (`float`, *optional*, defaults to 2.0): focusing parameter of the focal loss.
        dice_smooth (`float`, *optional*, defaults to 1.0): smoothing term of the Dice loss.

    The head's weights are initialised with a normal of standard deviation `wav2vec2_config.initializer_range`, as in
    the stock class.
    """

    model_type = "wav2vec2_emotion"
    sub_configs_defaults = {"wav2vec2_config": Wav2Vec2Config}

    def __init__(
        self,
        wav2vec2_config=None,
        pooling="mean",
        use_weighted_layer_sum=False,
        projector_size=256,
        classifier_dropout=0.0,
        attention_hidden_size=128,
        freeze_feature_encoder=True,
        freeze_backbone=False,
        loss_type="ce",
        class_weights=None,
        focal_gamma=2.0,
        dice_smooth=1.0,
        **kwargs,
    ):
        if isinstance(wav2vec2_config, dict):
            ignored = ("model_type", "transformers_version")
            wav2vec2_config = Wav2Vec2Config(**{k: v for k, v in wav2vec2_config.items() if k not in ignored})
        elif wav2vec2_config is None:
            wav2vec2_config = Wav2Vec2Config()
        elif not isinstance(wav2vec2_config, Wav2Vec2Config):
            raise ValueError(f"`wav2vec2_config` must be a dict or a Wav2Vec2Config, got {type(wav2vec2_config).__name__}")
        if wav2vec2_config.add_adapter:
            raise ValueError("`wav2vec2_config.add_adapter=True` is not supported: the adapter downsamples the frames of "
                             "a sequence-to-sequence decoder, and Wav2Vec2ForSequenceClassification refuses it too")
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}, got {pooling!r}")
        for name, value in (("use_weighted_layer_sum", use_weighted_layer_sum),
                            ("freeze_feature_encoder", freeze_feature_encoder), ("freeze_backbone", freeze_backbone)):
            if not isinstance(value, bool):
                raise ValueError(f"`{name}` must be True or False, got {value!r}")
        if projector_size is not None and (isinstance(projector_size, bool) or not isinstance(projector_size, int)
                                           or projector_size < 0):
            raise ValueError(f"`projector_size` must be a positive int, or None / 0 for no projector, got {projector_size!r}")
        if isinstance(attention_hidden_size, bool) or not isinstance(attention_hidden_size, int) or attention_hidden_size < 1:
            raise ValueError(f"`attention_hidden_size` must be a positive int, got {attention_hidden_size!r}")
        if not (isinstance(classifier_dropout, (int, float)) and math.isfinite(classifier_dropout)
                and 0.0 <= classifier_dropout < 1.0):
            raise ValueError(f"`classifier_dropout` must be in [0, 1), got {classifier_dropout!r}")

        # Set before `super().__init__`: its `__post_init__` resolves the sub-configs named in `sub_configs_defaults`.
        self.wav2vec2_config = wav2vec2_config
        kwargs.setdefault("custom_pipelines", copy.deepcopy(AUDIO_CUSTOM_PIPELINES))
        super().__init__(**kwargs)
        validate_loss_arguments(loss_type, class_weights, focal_gamma, dice_smooth, self.num_labels)
        self.pooling = pooling
        self.use_weighted_layer_sum = use_weighted_layer_sum
        self.projector_size = projector_size or None
        self.classifier_dropout = float(classifier_dropout)
        self.attention_hidden_size = attention_hidden_size
        self.freeze_feature_encoder = freeze_feature_encoder
        self.freeze_backbone = freeze_backbone
        self.loss_type = loss_type
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.focal_gamma = focal_gamma
        self.dice_smooth = dice_smooth

    @property
    def frame_size(self) -> int:
        """Width of the frame vectors that are pooled (the projector's, else the backbone's hidden size)."""
        return self.projector_size or self.wav2vec2_config.hidden_size

    @property
    def pooled_size(self) -> int:
        """Width of the pooled vector the classifier reads."""
        return self.frame_size * (2 if self.pooling in ("mean_max", "attentive_stats") else 1)

    @property
    def receptive_field(self) -> int:
        """Samples the convolutional feature encoder needs for one frame (400 = 25 ms at 16 kHz for wav2vec2-base)."""
        field = 1
        for kernel, stride in reversed(list(zip(self.wav2vec2_config.conv_kernel, self.wav2vec2_config.conv_stride))):
            field = (field - 1) * stride + kernel
        return field


__all__ = ["POOLINGS", "SAMPLING_RATE", "Wav2Vec2EmotionConfig"]
