"""MFCC CNN configuration."""

import copy

from transformers import PretrainedConfig

from .losses import validate_loss_arguments
from .pipeline_audio_classification import AUDIO_CUSTOM_PIPELINES


GLOBAL_POOLS = ("flatten", "mean", "mean_std")


class MFCCCNNConfig(PretrainedConfig):
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

    model_type = "mfcc_cnn"

    def __init__(
        self,
        num_channels=1,
        input_height=120,
        input_width=87,
        conv_channels=(32, 64),
        kernel_size=3,
        conv_dropout=0.2,
        global_pool="flatten",
        fc_sizes=(256, 128),
        fc_dropout=0.0,
        classifier_dropout=0.0,
        batch_norm=False,
        loss_type="ce",
        class_weights=None,
        focal_gamma=2.0,
        dice_smooth=1.0,
        **kwargs,
    ):
        conv_channels, fc_sizes = [int(c) for c in conv_channels], [int(s) for s in fc_sizes]
        for name, value in (("num_channels", num_channels), ("input_height", input_height),
                            ("input_width", input_width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        if not conv_channels or min(conv_channels) < 1:
            raise ValueError(f"`conv_channels` must be a non-empty list of positive ints, got {conv_channels}")
        if fc_sizes and min(fc_sizes) < 1:
            raise ValueError(f"`fc_sizes` must be positive ints, got {fc_sizes}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be a positive odd int, got {kernel_size}")
        if global_pool not in GLOBAL_POOLS:
            raise ValueError(f"`global_pool` must be one of {GLOBAL_POOLS}, got {global_pool!r}")
        smallest = 2 ** len(conv_channels)
        if input_height < smallest or (global_pool == "flatten" and input_width < smallest):
            raise ValueError(f"{len(conv_channels)} pooling blocks need inputs of at least {smallest} rows and frames, "
                             f"got `input_height` {input_height}, `input_width` {input_width}")
        for name, p in (("conv_dropout", conv_dropout), ("fc_dropout", fc_dropout),
                        ("classifier_dropout", classifier_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {p}")
        kwargs.setdefault("custom_pipelines", copy.deepcopy(AUDIO_CUSTOM_PIPELINES))
        super().__init__(**kwargs)
        validate_loss_arguments(loss_type, class_weights, focal_gamma, dice_smooth, self.num_labels)
        self.num_channels = num_channels
        self.input_height = input_height
        self.input_width = input_width
        self.conv_channels = conv_channels
        self.kernel_size = kernel_size
        self.conv_dropout = conv_dropout
        self.global_pool = global_pool
        self.fc_sizes = fc_sizes
        self.fc_dropout = fc_dropout
        self.classifier_dropout = classifier_dropout
        self.batch_norm = batch_norm
        self.loss_type = loss_type
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.focal_gamma = focal_gamma
        self.dice_smooth = dice_smooth

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
