"""FER CNN configuration."""

from transformers import PretrainedConfig

from .losses import validate_loss_arguments


class FERCNNConfig(PretrainedConfig):
    r"""
    Configuration of a VGG-style facial-expression CNN for small grayscale face crops (FER2013: 48x48). Convolutional
    blocks (3x3 convolutions with zero padding, batch norm, ReLU, 2x2 max pooling, dropout) are followed by fully
    connected blocks (linear, batch norm, ReLU, dropout) and a linear classifier. The defaults are the best network of
    the source report: four blocks of 64, 128, 512 and 512 filters, then fully connected layers of 256 and 512 units.

    Args:
        num_channels (`int`, *optional*, defaults to 1): channels the first convolution reads. With 1 (grayscale),
            the model also accepts 3-channel (RGB) `pixel_values` and turns them into luminance with the fixed
            ITU-R BT.601 weights (0.299, 0.587, 0.114), so an image and its grayscale version give the same logits.
        image_size (`int`, *optional*, defaults to 48): height and width of the square input; the flattened
            feature map after the last block has `block_channels[-1] * s * s` values, `s = image_size // 2**blocks`.
        block_channels (`list[int]`, *optional*, defaults to `[64, 128, 512, 512]`): output channels of each
            convolutional block; their number is the number of blocks (each halves the resolution).
        convs_per_block (`int`, *optional*, defaults to 1): 3x3 convolutions (each with batch norm and ReLU) per block
            before its pooling; 2 gives a VGG-style double-conv block.
        kernel_size (`int`, *optional*, defaults to 3): odd convolution kernel size ("same" zero padding).
        conv_dropout (`float`, *optional*, defaults to 0.25): dropout after each block's pooling.
        fc_sizes (`list[int]`, *optional*, defaults to `[256, 512]`): widths of the fully connected blocks.
        fc_dropout (`float`, *optional*, defaults to 0.25): dropout after each fully connected block.
        batch_norm_eps (`float`, *optional*, defaults to 1e-5): epsilon of the batch norm layers.
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, `"weighted_ce"`, `"focal"` or `"dice"`, the loss of
            single-label classification.
        problem_type (`str`, *optional*): `"single_label_classification"` (int label ids, `loss_type`),
            `"multi_label_classification"` (0/1 float targets per label, binary cross-entropy; the pipeline gives
            independent sigmoid scores) or `"regression"` (float targets, mean squared error); inferred from the labels
            at the first loss when unset, as in transformers' stock heads.
        class_weights (`list[float]`, *optional*): one weight per label in label-id order, used by `"weighted_ce"`
            (required there) and, when given, by `"focal"` and `"dice"`.
        focal_gamma (`float`, *optional*, defaults to 2.0): focusing parameter of the focal loss.
        dice_smooth (`float`, *optional*, defaults to 1.0): smoothing term of the Dice loss.
    """

    model_type = "fer_cnn"

    def __init__(
        self,
        num_channels=1,
        image_size=48,
        block_channels=(64, 128, 512, 512),
        convs_per_block=1,
        kernel_size=3,
        conv_dropout=0.25,
        fc_sizes=(256, 512),
        fc_dropout=0.25,
        batch_norm_eps=1e-5,
        loss_type="ce",
        class_weights=None,
        focal_gamma=2.0,
        dice_smooth=1.0,
        **kwargs,
    ):
        block_channels, fc_sizes = [int(c) for c in block_channels], [int(s) for s in fc_sizes]
        if num_channels not in (1, 3):
            raise ValueError(f"`num_channels` must be 1 (grayscale) or 3 (RGB), got {num_channels}")
        if not block_channels or min(block_channels) < 1:
            raise ValueError(f"`block_channels` must be a non-empty list of positive ints, got {block_channels}")
        if image_size < 2 ** len(block_channels):
            raise ValueError(
                f"`image_size` must be >= 2**len(block_channels) = {2 ** len(block_channels)} (each block halves the "
                f"resolution), got {image_size}"
            )
        if convs_per_block < 1:
            raise ValueError(f"`convs_per_block` must be >= 1, got {convs_per_block}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be a positive odd int (same padding), got {kernel_size}")
        if min(fc_sizes, default=1) < 1:
            raise ValueError(f"`fc_sizes` must be positive ints (an empty list: no hidden layer), got {fc_sizes}")
        for name, p in (("conv_dropout", conv_dropout), ("fc_dropout", fc_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {p}")
        super().__init__(**kwargs)
        validate_loss_arguments(loss_type, class_weights, focal_gamma, dice_smooth, self.num_labels)
        self.num_channels = num_channels
        self.image_size = image_size
        self.block_channels = block_channels
        self.convs_per_block = convs_per_block
        self.kernel_size = kernel_size
        self.conv_dropout = conv_dropout
        self.fc_sizes = fc_sizes
        self.fc_dropout = fc_dropout
        self.batch_norm_eps = batch_norm_eps
        self.loss_type = loss_type
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.focal_gamma = focal_gamma
        self.dice_smooth = dice_smooth

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
