"""SpectrogramViT configuration."""

import dataclasses
from typing import Literal

from huggingface_hub.dataclasses import strict

from .configuration_utils import EmotionClassifierConfig, positive_int, probability
from .pipeline_audio_classification import AUDIO_CUSTOM_PIPELINES


def _patch_size(value):
    pair = [value, value] if isinstance(value, int) else list(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"must be a positive int or a [height, width] pair of positive ints, got {value!r}")


@strict
class SpectrogramViTConfig(EmotionClassifierConfig):
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
            frames (an int for square patches, saved as a pair). Patches do not overlap; a remainder that fills no
            patch is dropped.
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
    """

    model_type = "spectrogram_vit"
    default_custom_pipelines = AUDIO_CUSTOM_PIPELINES

    num_mel_bins: int = positive_int(default=64)
    max_frames: int = positive_int(default=690)
    num_channels: int = positive_int(default=1)
    patch_size: int | list[int] | tuple[int, ...] = dataclasses.field(default=(32, 30),
                                                                        metadata={"validator": [_patch_size]})
    hidden_size: int = positive_int(default=200)
    num_hidden_layers: int = positive_int(default=5)
    num_attention_heads: int = positive_int(default=16)
    attention_head_dim: int | None = positive_int(default=64)
    intermediate_size: int = positive_int(default=300)
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = probability(default=0.05)
    attention_probs_dropout_prob: float | int = probability(default=0.0)
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-5
    pooling: Literal["cls", "mean", "mean_std"] = "cls"
    distillation_token: bool = False
    classifier_dropout: float | int = probability(default=0.0)
    initializer_range: float | int = 0.02
    backbone: Literal["vit", "timm"] = "vit"
    timm_model_name: str = "vit_base_patch16_224"
    timm_image_size: int = positive_int(default=224)
    timm_model_kwargs: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self, **kwargs):
        if isinstance(self.patch_size, int):
            self.patch_size = [self.patch_size, self.patch_size]
        if self.attention_head_dim is None:
            if self.hidden_size % self.num_attention_heads:
                raise ValueError(f"`hidden_size` ({self.hidden_size}) is not a multiple of `num_attention_heads` "
                                 f"({self.num_attention_heads}): set `attention_head_dim`")
            self.attention_head_dim = self.hidden_size // self.num_attention_heads
        super().__post_init__(**kwargs)

    def validate_patch_size(self):
        if self.backbone == "vit" and (self.patch_size[0] > self.num_mel_bins or self.patch_size[1] > self.max_frames):
            raise ValueError(f"`patch_size` {self.patch_size} does not fit a {self.num_mel_bins}x{self.max_frames} "
                             f"spectrogram (`num_mel_bins` x `max_frames`)")

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
