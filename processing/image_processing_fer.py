"""Image processor for small face crops: any image (PIL, numpy or tensor; grayscale, RGB or RGBA; any size) to
normalised `size` pixels, refusing what is too small or not finite to be a face."""

import numpy as np
import torch
from transformers.image_processing_backends import TorchvisionBackend
from transformers.image_utils import PILImageResampling, is_pil_image, is_valid_image, make_flat_list_of_images
from transformers.processing_utils import ImagesKwargs

from .face_detection import crop_faces


class FERImageProcessorKwargs(ImagesKwargs, total=False):
    """
    min_image_size (`int`, *optional*, defaults to `self.min_image_size`):
        Smallest height and width, in pixels, an input image may have; smaller images raise a `ValueError`.
    """

    min_image_size: int


class FERImageProcessor(TorchvisionBackend):
    r"""
    The stock ViT pipeline (convert to RGB, resize, rescale to [0, 1], normalise; the same code as transformers'
    `ViTImageProcessor`) with what face-expression inputs need on top:

    - a 2-D array or tensor is a grayscale image (the stock processors refuse it), alone or in a list;
    - an image with a side shorter than `min_image_size` (an empty or 1-pixel image) or with NaN/inf values raises a
      `ValueError` naming the image (its file when it was opened from one) instead of an unrelated error or a
      meaningless prediction.

    The output keeps 3 channels; with the same `image_mean`/`image_std` on every channel, a grayscale model
    (`FERCNNConfig.num_channels=1`) takes their ITU-R BT.601 luminance, so a grayscale image and its RGB conversion
    give the same input. Arrays and tensors are read as pixel values in [0, 255] (`do_rescale` divides by 255), as in
    every transformers image processor.

    Args:
        do_convert_rgb (`bool`, *optional*, defaults to `True`): convert grayscale and RGBA inputs to RGB.
        do_resize (`bool`, *optional*, defaults to `True`): resize to `size` (the model's `image_size`).
        size (`dict[str, int]`, *optional*, defaults to `{"height": 48, "width": 48}`): output size.
        resample (`PILImageResampling`, *optional*, defaults to `BILINEAR`): resampling filter (antialiased).
        do_rescale (`bool`, *optional*, defaults to `True`): multiply pixel values by `rescale_factor`.
        rescale_factor (`float`, *optional*, defaults to `1/255`): scale of the rescaling.
        do_normalize (`bool`, *optional*, defaults to `True`): subtract `image_mean` and divide by `image_std`.
        image_mean (`list[float]`, *optional*, defaults to `[0.5, 0.5, 0.5]`): per-channel mean (train.py sets the
            training split's pixel mean on all three channels).
        image_std (`list[float]`, *optional*, defaults to `[0.25, 0.25, 0.25]`): per-channel standard deviation.
        min_image_size (`int`, *optional*, defaults to 8): smallest accepted height and width of an input image.
    """

    valid_kwargs = FERImageProcessorKwargs
    model_input_names = ["pixel_values"]
    resample = PILImageResampling.BILINEAR
    image_mean = [0.5, 0.5, 0.5]
    image_std = [0.25, 0.25, 0.25]
    size = {"height": 48, "width": 48}
    do_convert_rgb = True
    do_resize = True
    do_rescale = True
    do_normalize = True
    min_image_size = 8

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(self.min_image_size, int) or self.min_image_size < 1:
            raise ValueError(f"`min_image_size` must be a positive int, got {self.min_image_size!r}")

    def _prepare_images_structure(self, images, expected_ndims=3):
        """A flat list of images, where a 2-D array or tensor is one grayscale image."""
        images = self.fetch_images(images)
        if is_valid_image(images) and not is_pil_image(images) and images.ndim == 2:
            return [images]
        if isinstance(images, (list, tuple)) and images and all(
            is_pil_image(image) or (is_valid_image(image) and image.ndim in (2, 3)) for image in images
        ):
            return list(images)
        return make_flat_list_of_images(images, expected_ndims=expected_ndims)

    def process_image(self, image, *args, min_image_size=None, **kwargs) -> torch.Tensor:
        min_image_size = min_image_size or self.min_image_size
        kinds = {"Image": "PIL image", "ndarray": "numpy image", "Tensor": "tensor image"}
        name = f"image {image.filename!r}" if getattr(image, "filename", None) else kinds.get(type(image).__name__, "image")
        if is_pil_image(image):
            width, height = image.size
            if min(width, height) == 0:
                raise ValueError(f"{name} is empty ({width}x{height} pixels)")
        else:
            if 0 in tuple(image.shape):
                raise ValueError(f"{name} is empty (shape {tuple(image.shape)})")
            finite = torch.isfinite(image).all() if isinstance(image, torch.Tensor) else np.isfinite(image).all()
            if not bool(finite):
                raise ValueError(f"{name} has NaN or infinite pixel values")
            if isinstance(image, np.ndarray) and not image.flags.writeable:
                image = image.copy()  # np.asarray(PIL image) is read-only, which torch.from_numpy warns about
        pixels = super().process_image(image, *args, **kwargs)  # (channels, height, width)
        height, width = pixels.shape[-2:]
        if min(height, width) < min_image_size:
            raise ValueError(
                f"{name} is {width}x{height} pixels; FERImageProcessor needs at least {min_image_size}x{min_image_size} "
                f"(`min_image_size`): a face crop, which it resizes to {self.size.width}x{self.size.height}"
            )
        return pixels

    def crop_faces(self, image, **kwargs) -> list:
        """The faces of a photo as training crops (grey 48x48 by default; this processor then resizes them to `size`),
        largest first, `[]` when there is none: see `face_detection.crop_faces` (needs the `faces` extra: MTCNN from
        facenet-pytorch, or OpenCV for `detector="haar"`). The package's image-classification pipeline calls it for
        `detect_faces`."""
        return crop_faces(image, **kwargs)


__all__ = ["FERImageProcessor"]
