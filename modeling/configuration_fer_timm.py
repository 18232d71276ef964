"""FER timm configuration: any timm image model as the facial-expression backbone."""

from typing import Optional

from transformers import PretrainedConfig

from .losses import validate_loss_arguments
from .pipeline_image_classification import IMAGE_CUSTOM_PIPELINES


class FERTimmConfig(PretrainedConfig):
    r"""
    Configuration of a facial-expression classifier whose network is a timm image model (EfficientNet, ResNet,
    ConvNeXt, ViT...) with its classifier sized for our labels. Small face crops (FER2013: 48x48 grey) are resized
    by the image processor to `image_size`, the resolution the backbone is run at. The weights start random; ImageNet
    weights come in through [`FERTimmForImageClassification.from_pretrained_backbone`] only.

    Args:
        backbone (`str`, *optional*, defaults to `"tf_efficientnet_lite0"`): a `timm.list_models()` name, created
            with `timm.create_model(backbone, pretrained=False, num_classes=num_labels, in_chans=in_chans, ...)`.
        in_chans (`int`, *optional*, defaults to 1): channels the backbone's first convolution reads: 1 (grey faces,
            as FER2013) or 3 (colour). A grey model also accepts 3-channel `pixel_values` and takes their ITU-R BT.601
            luminance, so an image and its grey version give the same logits (what the stock export relies on).
        image_size (`int`, *optional*, defaults to 96): height and width of the square input; 48x48 faces are
            upsampled to it by the image processor. ImageNet CNNs want more than 48 pixels (their stem divides by 32).
        drop_rate (`float`, *optional*, defaults to 0.2): dropout before the classifier (timm's `drop_rate`).
        drop_path_rate (`float`, *optional*, defaults to 0.0): stochastic depth (timm's `drop_path_rate`) for models
            that have it.
        image_mean (`list[float]`, *optional*): per-channel mean the pixels are normalised with, saved so that the
            stock export writes it in timm's `pretrained_cfg`; `None` takes the timm model's default (ImageNet's, or
            0.5 for `tf_efficientnet_lite*`). The image processor uses the same values.
        image_std (`list[float]`, *optional*): per-channel standard deviation, as `image_mean`.
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, `"weighted_ce"`, `"focal"` or `"dice"`
            (single-label classification; multi-label and regression follow `problem_type` as the stock heads do).
        class_weights (`list[float]`, *optional*): one weight per label in label-id order, used by `"weighted_ce"`
            (required there) and, when given, by `"focal"` and `"dice"`.
        focal_gamma (`float`, *optional*, defaults to 2.0): focusing parameter of the focal loss.
        dice_smooth (`float`, *optional*, defaults to 1.0): smoothing term of the Dice loss.
        label_smoothing (`float`, *optional*, defaults to 0.0): label smoothing of the `"ce"` loss, in [0, 1).
    """

    model_type = "fer_timm"

    def __init__(
        self,
        backbone: str = "tf_efficientnet_lite0",
        in_chans: int = 1,
        image_size: int = 96,
        drop_rate: float = 0.2,
        drop_path_rate: float = 0.0,
        image_mean: Optional[list] = None,
        image_std: Optional[list] = None,
        loss_type: str = "ce",
        class_weights: Optional[list] = None,
        focal_gamma: float = 2.0,
        dice_smooth: float = 1.0,
        label_smoothing: float = 0.0,
        **kwargs,
    ):
        if not isinstance(backbone, str) or not backbone:
            raise ValueError(f"`backbone` must be a timm model name (see `timm.list_models()`), got {backbone!r}")
        if in_chans not in (1, 3):
            raise ValueError(f"`in_chans` must be 1 (grey) or 3 (RGB), got {in_chans!r}")
        if not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"`image_size` must be an int >= 8 (pixels), got {image_size!r}")
        for name, p in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate),
                        ("label_smoothing", label_smoothing)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {p}")
        for name, values in (("image_mean", image_mean), ("image_std", image_std)):
            if values is not None and (len(values) != 3 or not all(isinstance(v, (int, float)) for v in values)):
                raise ValueError(f"`{name}` must be 3 numbers (one per RGB channel) or None, got {values!r}")
        if image_std is not None and min(image_std) <= 0:
            raise ValueError(f"`image_std` must be positive, got {image_std}")
        # Our folders run in the package's "image-classification" pipeline (photos, face crops, bad-file errors).
        kwargs.setdefault("custom_pipelines", {k: dict(v) for k, v in IMAGE_CUSTOM_PIPELINES.items()})
        super().__init__(**kwargs)
        validate_loss_arguments(loss_type, class_weights, focal_gamma, dice_smooth, self.num_labels)
        self.backbone = backbone
        self.in_chans = in_chans
        self.image_size = image_size
        self.drop_rate = drop_rate
        self.drop_path_rate = drop_path_rate
        self.image_mean = [float(v) for v in image_mean] if image_mean is not None else None
        self.image_std = [float(v) for v in image_std] if image_std is not None else None
        self.loss_type = loss_type
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.focal_gamma = focal_gamma
        self.dice_smooth = dice_smooth
        self.label_smoothing = label_smoothing

    @property
    def timm_kwargs(self) -> dict:
        """The keyword arguments of `timm.create_model` besides the name (also the stock export's `model_args`)."""
        kwargs = {"in_chans": self.in_chans, "drop_rate": self.drop_rate}
        if self.drop_path_rate:
            kwargs["drop_path_rate"] = self.drop_path_rate
        return kwargs


__all__ = ["FERTimmConfig"]
