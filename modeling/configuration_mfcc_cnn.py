"""MFCC CNN configuration."""

from typing import Literal

from huggingface_hub.dataclasses import strict

from .configuration_utils import EmotionClassifierConfig, odd_kernel_size, positive_int, positive_ints, probability
from .pipeline_audio_classification import AUDIO_CUSTOM_PIPELINES


GlobalPool = Literal["flatten", "mean", "mean_std"]


@strict
class MFCCCNNConfig(EmotionClassifierConfig):
    r"""
    Configuration of a small CNN over an MFCC (+ delta + delta-delta) image, the source report's speech-emotion
    network: convolutional blocks (3x3 convolution, ReLU, 2x2 max pooling, dropout 0.2) of 32 and 64 filters, the
    feature map flattened, then fully connected layers of 256 and 128 units and a linear classifier.

    Args:
        num_channels (`int`, *optional*, defaults to 1): channels of the input image (1 when MFCC, delta and
            delta-delta are stacked along the feature axis, 3 when they are channels).
        input_height (`int`, *optional*, defaults to 120): feature rows of the input (`n_mfcc * (1 + deltas)` when
            stacked: 40 MFCC + deltas = 120).
        input_width (`int`, *optional*, defaults to 87): time frames of the input (2 s at 22.05 kHz, hop 512). With
            `global_pool="flatten"`, inputs must have exactly this width (the feature extractor pads or crops clips to
            a fixed length).
        conv_channels (`list[int]`, *optional*, defaults to `[32, 64]`): output channels of each convolutional block.
        kernel_size (`int`, *optional*, defaults to 3): odd kernel size of the convolutions ("same" zero padding).
        conv_dropout (`float`, *optional*, defaults to 0.2): dropout after each block's pooling.
        global_pool (`str`, *optional*, defaults to `"flatten"`): how the last feature map becomes a vector:
            `"flatten"` (the report's; needs a fixed input size), `"mean"` (mean over the time columns that hold
            audio, then flatten channels x rows; any input width) or `"mean_std"` (statistics pooling: mean and
            standard deviation over those columns, concatenated; the pooling that generalised best across speakers).
        fc_sizes (`list[int]`, *optional*, defaults to `[256, 128]`): widths of the fully connected layers (ReLU).
        fc_dropout (`float`, *optional*, defaults to 0.0): dropout after each fully connected layer.
        classifier_dropout (`float`, *optional*, defaults to 0.0): dropout on the pooled vector, before the fully
            connected layers (or the classifier when `fc_sizes` is empty).
        batch_norm (`bool`, *optional*, defaults to `False`): batch norm after each convolution (not in the report).
    """

    model_type = "mfcc_cnn"
    default_custom_pipelines = AUDIO_CUSTOM_PIPELINES

    num_channels: int = positive_int(default=1)
    input_height: int = positive_int(default=120)
    input_width: int = positive_int(default=87)
    conv_channels: list[int] | tuple[int, ...] = positive_ints(default=(32, 64), allow_empty=False)
    kernel_size: int = odd_kernel_size(default=3)
    conv_dropout: float | int = probability(default=0.2)
    global_pool: GlobalPool = "flatten"
    fc_sizes: list[int] | tuple[int, ...] = positive_ints(default=(256, 128))
    fc_dropout: float | int = probability(default=0.0)
    classifier_dropout: float | int = probability(default=0.0)
    batch_norm: bool = False

    def validate_input_size(self):
        smallest = 2 ** len(self.conv_channels)
        if self.input_height < smallest or (self.global_pool == "flatten" and self.input_width < smallest):
            raise ValueError(f"{len(self.conv_channels)} pooling blocks need inputs of at least {smallest} rows and "
                             f"frames, got `input_height` {self.input_height}, `input_width` {self.input_width}")

    @property
    def feature_map_size(self) -> tuple[int, int]:
        """`(rows, columns)` of the last feature map (each block halves both, flooring)."""
        blocks = len(self.conv_channels)
        return self.input_height // 2**blocks, self.input_width // 2**blocks

    @property
    def flat_size(self) -> int:
        """Width of the vector fed to the fully connected layers."""
        rows, columns = self.feature_map_size
        per_row = {"flatten": columns, "mean": 1, "mean_std": 2}[self.global_pool]
        return self.conv_channels[-1] * rows * per_row


__all__ = ["MFCCCNNConfig"]
