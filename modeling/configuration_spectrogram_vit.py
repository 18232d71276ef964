"""SpectrogramViT configuration."""

import copy

from transformers import PretrainedConfig

from .losses import validate_loss_arguments
from .pipeline_audio_classification import AUDIO_CUSTOM_PIPELINES


POOLING_TYPES = ("cls", "mean", "mean_std")
BACKBONES = ("vit", "timm")


def _pair(value, name):
    pair = [value, value] if isinstance(value, int) else list(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"`{name}` must be a positive int or a [height, width] pair of positive ints, got {value!r}")
    return pair


class SpectrogramViTConfig(PretrainedConfig):
    r"""
    Configuration of a Vision Transformer over a log-mel spectrogram, trained from scratch (`backbone="vit"`) or
    started from a timm ImageNet ViT fed the spectrogram repeated to 3 channels and resized (`backbone="timm"`).

    The defaults are the source report's: a `[1, 64, 690]` log-mel image (1 s at 44.1 kHz, hop 64, 64 mels) cut into
    non-square 32x30 patches, width 200, depth 5, 16 heads of 64 dimensions, MLP 300, dropout 0.05.

    Args:
        num_mel_bins (`int`, *optional*, defaults to 64): height of the input spectrogram (mel bands).
        max_frames (`int`, *optional*, defaults to 690): width of the input spectrogram (time frames); the learned
            position embeddings cover the patch grid of a `num_mel_bins x max_frames` image, so inputs must have this
            size (the feature extractor pads or crops clips to a fixed length).
        num_channels (`int`, *optional*, defaults to 1): channels of the input image.
        patch_size (`int` or `list[int]`, *optional*, defaults to `[32, 30]`): patch `[height, width]` in mel bands x
            frames (an int for square patches). Patches do not overlap; a remainder that fills no patch is dropped.
        hidden_size (`int`, *optional*, defaults to 200): width of the token embeddings.
        num_hidden_layers (`int`, *optional*, defaults to 5): transformer layers.
        num_attention_heads (`int`, *optional*, defaults to 16): attention heads per layer.
        attention_head_dim (`int`, *optional*, defaults to 64): width of each head; `num_attention_heads *
            attention_head_dim` need not equal `hidden_size` (the report's 16 x 64 heads over 200-d tokens). `None`
            gives `hidden_size // num_attention_heads`.
        intermediate_size (`int`, *optional*, defaults to 300): hidden width of each layer's MLP.
        hidden_act (`str`, *optional*, defaults to `"gelu"`): MLP activation (a key of `transformers.activations.ACT2FN`).
        hidden_dropout_prob (`float`, *optional*, defaults to 0.05): dropout after attention and MLP blocks and on the
            embeddings.
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.0): dropout on the attention weights.
        qkv_bias (`bool`, *optional*, defaults to `True`): bias of the query/key/value projections.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5): epsilon of the layer norms.
        pooling (`str`, *optional*, defaults to `"cls"`): `"cls"` takes the class token (with `distillation_token`,
            the mean of the class and distillation tokens, as AST does), `"mean"` averages the patch tokens that hold
            audio, `"mean_std"` concatenates their mean and standard deviation (statistics pooling, twice the width).
        distillation_token (`bool`, *optional*, defaults to `False`): add AST's second special token. A model with
            square patches, `pooling="cls"`, `distillation_token=True` and `num_attention_heads * attention_head_dim
            == hidden_size` has exactly AST's architecture and exports to `ASTForAudioClassification`
            (`to_stock_model`).
        classifier_dropout (`float`, *optional*, defaults to 0.0): dropout before the classifier.
        initializer_range (`float`, *optional*, defaults to 0.02): standard deviation of the truncated-normal
            initialisation of linear layers and embeddings.
        backbone (`str`, *optional*, defaults to `"vit"`): `"vit"` (the architecture above) or `"timm"` (a timm
            model named `timm_model_name`; the sizes above are then unused).
        timm_model_name (`str`, *optional*, defaults to `"vit_base_patch16_224"`): timm model of `backbone="timm"`.
        timm_image_size (`int`, *optional*, defaults to 224): the spectrogram is resized (bilinear) to this square
            size and repeated to 3 channels for the timm model.
        timm_model_kwargs (`dict`, *optional*): extra `timm.create_model` arguments.
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, `"weighted_ce"`, `"focal"` or `"dice"`, the loss of
            single-label classification.
        problem_type (`str`, *optional*): `"single_label_classification"` (int label ids, `loss_type`),
            `"multi_label_classification"` (0/1 float targets per label, binary cross-entropy; the pipeline gives
            independent sigmoid scores) or `"regression"` (float targets, mean squared error); inferred from the labels
            at the first loss when unset, as in transformers' stock heads.
        class_weights (`list[float]`, *optional*): one weight per label in label-id order (required by `"weighted_ce"`).
        focal_gamma (`float`, *optional*, defaults to 2.0): focusing parameter of the focal loss.
        dice_smooth (`float`, *optional*, defaults to 1.0): smoothing term of the Dice loss.
    """

    model_type = "spectrogram_vit"

    def __init__(
        self,
        num_mel_bins=64,
        max_frames=690,
        num_channels=1,
        patch_size=(32, 30),
        hidden_size=200,
        num_hidden_layers=5,
        num_attention_heads=16,
        attention_head_dim=64,
        intermediate_size=300,
        hidden_act="gelu",
        hidden_dropout_prob=0.05,
        attention_probs_dropout_prob=0.0,
        qkv_bias=True,
        layer_norm_eps=1e-5,
        pooling="cls",
        distillation_token=False,
        classifier_dropout=0.0,
        initializer_range=0.02,
        backbone="vit",
        timm_model_name="vit_base_patch16_224",
        timm_image_size=224,
        timm_model_kwargs=None,
        loss_type="ce",
        class_weights=None,
        focal_gamma=2.0,
        dice_smooth=1.0,
        **kwargs,
    ):
        patch_size = _pair(patch_size, "patch_size")
        for name, value in (("num_mel_bins", num_mel_bins), ("max_frames", max_frames),
                            ("num_channels", num_channels), ("hidden_size", hidden_size),
                            ("num_hidden_layers", num_hidden_layers), ("num_attention_heads", num_attention_heads),
                            ("intermediate_size", intermediate_size), ("timm_image_size", timm_image_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        if attention_head_dim is None:
            if hidden_size % num_attention_heads:
                raise ValueError(f"`hidden_size` ({hidden_size}) is not a multiple of `num_attention_heads` "
                                 f"({num_attention_heads}): set `attention_head_dim`")
            attention_head_dim = hidden_size // num_attention_heads
        if not isinstance(attention_head_dim, int) or attention_head_dim < 1:
            raise ValueError(f"`attention_head_dim` must be a positive int or None, got {attention_head_dim!r}")
        if backbone not in BACKBONES:
            raise ValueError(f"`backbone` must be one of {BACKBONES}, got {backbone!r}")
        if backbone == "vit" and (patch_size[0] > num_mel_bins or patch_size[1] > max_frames):
            raise ValueError(f"`patch_size` {patch_size} does not fit a {num_mel_bins}x{max_frames} spectrogram "
                             f"(`num_mel_bins` x `max_frames`)")
        if pooling not in POOLING_TYPES:
            raise ValueError(f"`pooling` must be one of {POOLING_TYPES}, got {pooling!r}")
        for name, p in (("hidden_dropout_prob", hidden_dropout_prob),
                        ("attention_probs_dropout_prob", attention_probs_dropout_prob),
                        ("classifier_dropout", classifier_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {p}")
        kwargs.setdefault("custom_pipelines", copy.deepcopy(AUDIO_CUSTOM_PIPELINES))
        super().__init__(**kwargs)
        validate_loss_arguments(loss_type, class_weights, focal_gamma, dice_smooth, self.num_labels)
        self.num_mel_bins = num_mel_bins
        self.max_frames = max_frames
        self.num_channels = num_channels
        self.patch_size = patch_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.attention_head_dim = attention_head_dim
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.qkv_bias = qkv_bias
        self.layer_norm_eps = layer_norm_eps
        self.pooling = pooling
        self.distillation_token = distillation_token
        self.classifier_dropout = classifier_dropout
        self.initializer_range = initializer_range
        self.backbone = backbone
        self.timm_model_name = timm_model_name
        self.timm_image_size = timm_image_size
        self.timm_model_kwargs = dict(timm_model_kwargs or {})
        self.loss_type = loss_type
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.focal_gamma = focal_gamma
        self.dice_smooth = dice_smooth

    @property
    def patch_grid(self) -> tuple[int, int]:
        """`(rows, columns)` of the patch grid: mel-band rows x time columns."""
        return self.num_mel_bins // self.patch_size[0], self.max_frames // self.patch_size[1]

    @property
    def pooled_size(self) -> int:
        """Width of the pooled clip vector fed to the head."""
        return 2 * self.hidden_size if self.pooling == "mean_std" else self.hidden_size

    @property
    def num_special_tokens(self) -> int:
        return 2 if self.distillation_token else 1

    @property
    def stock_exportable(self) -> list[str]:
        """Why this configuration cannot be written as `ASTForAudioClassification` (empty when it can)."""
        reasons = []
        if self.backbone != "vit":
            reasons.append(f"backbone is {self.backbone!r}, not 'vit'")
        if self.patch_size[0] != self.patch_size[1]:
            reasons.append(f"patches {self.patch_size} are not square")
        if self.pooling != "cls" or not self.distillation_token:
            reasons.append("AST pools the mean of a class and a distillation token: needs pooling='cls' and "
                           "distillation_token=True")
        if self.num_attention_heads * self.attention_head_dim != self.hidden_size:
            reasons.append(f"num_attention_heads x attention_head_dim ({self.num_attention_heads} x "
                           f"{self.attention_head_dim}) != hidden_size ({self.hidden_size})")
        if self.num_channels != 1:
            reasons.append("AST reads one-channel spectrograms")
        return reasons


__all__ = ["SpectrogramViTConfig"]
