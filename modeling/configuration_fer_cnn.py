"""FER CNN configuration."""

from typing import Literal

from huggingface_hub.dataclasses import strict

from .configuration_utils import EmotionClassifierConfig, odd_kernel_size, positive_int, positive_ints, probability


@strict
class FERCNNConfig(EmotionClassifierConfig):
    r"""
    Configuration of a VGG-style facial-expression CNN for small grayscale face crops (FER2013: 48x48). Convolutional
    blocks (3x3 convolutions with zero padding, batch norm, ReLU, 2x2 max pooling, dropout) are followed by fully
    connected blocks (linear, batch norm, ReLU, dropout) and a linear classifier. The defaults are the best network of
    the source report: four blocks of 64, 128, 512 and 512 filters, then fully connected layers of 256 and 512 units.

    Args:
        num_channels (`int`, *optional*, defaults to 1): channels the first convolution reads, 1 or 3. With 1
            (grayscale), the model also accepts 3-channel (RGB) `pixel_values` and turns them into luminance with the
            fixed ITU-R BT.601 weights (0.299, 0.587, 0.114), so an image and its grayscale version give the same
            logits.
        image_size (`int`, *optional*, defaults to 48): height and width of the square input; the flattened
            feature map after the last block has `block_channels[-1] * s * s` values, `s = image_size // 2**blocks`.
        block_channels (`list[int]`, *optional*, defaults to `[64, 128, 512, 512]`): output channels of each
            convolutional block; their number is the number of blocks (each halves the resolution).
        convs_per_block (`int`, *optional*, defaults to 1): 3x3 convolutions (each with batch norm and ReLU) per block
            before its pooling; 2 gives a VGG-style double-conv block.
        kernel_size (`int`, *optional*, defaults to 3): odd convolution kernel size ("same" zero padding).
        conv_dropout (`float`, *optional*, defaults to 0.25): dropout after each block's pooling.
        fc_sizes (`list[int]`, *optional*, defaults to `[256, 512]`): widths of the fully connected blocks (an empty
            list: no hidden layer).
        fc_dropout (`float`, *optional*, defaults to 0.25): dropout after each fully connected block.
        batch_norm_eps (`float`, *optional*, defaults to 1e-5): epsilon of the batch norm layers.
    """

    model_type = "fer_cnn"

    num_channels: Literal[1, 3] = 1
    image_size: int = 48
    block_channels: list[int] | tuple[int, ...] = positive_ints(default=(64, 128, 512, 512), allow_empty=False)
    convs_per_block: int = positive_int(default=1)
    kernel_size: int = odd_kernel_size(default=3)
    conv_dropout: float | int = probability(default=0.25)
    fc_sizes: list[int] | tuple[int, ...] = positive_ints(default=(256, 512))
    fc_dropout: float | int = probability(default=0.25)
    batch_norm_eps: float = 1e-5

    def validate_image_size(self):
        if self.image_size < 2 ** len(self.block_channels):
            raise ValueError(f"`image_size` must be >= 2**len(block_channels) = {2 ** len(self.block_channels)} (each "
                             f"block halves the resolution), got {self.image_size}")

    @property
    def feature_map_size(self) -> int:
        """Height (= width) of the last block's output: each 2x2 max pooling floors the size by half."""
        size = self.image_size
        for _ in self.block_channels:
            size //= 2
        return size

    @property
    def hidden_size(self) -> int:
        """Width of the pooled representation fed to the classifier."""
        return self.fc_sizes[-1] if self.fc_sizes else self.block_channels[-1] * self.feature_map_size**2


__all__ = ["FERCNNConfig"]
