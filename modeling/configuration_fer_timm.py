"""FER timm configuration: any timm image model as the facial-expression backbone."""

import dataclasses
from typing import Literal

from huggingface_hub.dataclasses import strict

from .configuration_utils import EmotionClassifierConfig, at_least, probability
from .pipeline_image_classification import IMAGE_CUSTOM_PIPELINES


def _rgb_field(positive=False):
    """Per-channel statistics: 3 numbers (positive ones for a standard deviation) or None."""

    def check(values):
        if values is not None and (len(values) != 3 or not all(isinstance(v, (int, float)) for v in values)):
            raise ValueError(f"must be 3 numbers (one per RGB channel) or None, got {values!r}")
        if values is not None and positive and min(values) <= 0:
            raise ValueError(f"must be positive, got {values!r}")

    return dataclasses.field(default=None, metadata={"validator": [check]})


@strict
class FERTimmConfig(EmotionClassifierConfig):
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
        image_size (`int`, *optional*, defaults to 96): height and width of the square input, at least 8; 48x48 faces
            are upsampled to it by the image processor. ImageNet CNNs want more than 48 pixels (their stem divides by
            32).
        drop_rate (`float`, *optional*, defaults to 0.2): dropout before the classifier (timm's `drop_rate`).
        drop_path_rate (`float`, *optional*, defaults to 0.0): stochastic depth (timm's `drop_path_rate`) for models
            that have it.
        image_mean (`list[float]`, *optional*): per-channel mean the pixels are normalised with, saved so that the
            stock export writes it in timm's `pretrained_cfg`; `None` takes the timm model's default (ImageNet's, or
            0.5 for `tf_efficientnet_lite*`). The image processor uses the same values.
        image_std (`list[float]`, *optional*): per-channel standard deviation, as `image_mean` (positive).
        label_smoothing (`float`, *optional*, defaults to 0.0): label smoothing of the `"ce"` loss, in [0, 1).
    """

    model_type = "fer_timm"
    # Our folders run in the package's "image-classification" pipeline (photos, face crops, bad-file errors).
    default_custom_pipelines = IMAGE_CUSTOM_PIPELINES

    backbone: str = "tf_efficientnet_lite0"
    in_chans: Literal[1, 3] = 1
    image_size: int = at_least(8)(default=96)
    drop_rate: float | int = probability(default=0.2)
    drop_path_rate: float | int = probability(default=0.0)
    image_mean: list[float | int] | tuple[float | int, ...] | None = _rgb_field()
    image_std: list[float | int] | tuple[float | int, ...] | None = _rgb_field(positive=True)
    label_smoothing: float | int = probability(default=0.0)

    def __post_init__(self, **kwargs):
        for name in ("image_mean", "image_std"):
            if getattr(self, name) is not None:
                setattr(self, name, [float(v) for v in getattr(self, name)])
        super().__post_init__(**kwargs)

    def validate_backbone(self):
        if not self.backbone:
            raise ValueError(f"`backbone` must be a timm model name (see `timm.list_models()`), got {self.backbone!r}")

    @property
    def timm_kwargs(self) -> dict:
        """The keyword arguments of `timm.create_model` besides the name (also the stock export's `model_args`)."""
        kwargs = {"in_chans": self.in_chans, "drop_rate": self.drop_rate}
        if self.drop_path_rate:
            kwargs["drop_path_rate"] = self.drop_path_rate
        return kwargs


__all__ = ["FERTimmConfig"]
