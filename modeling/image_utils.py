"""What the face models share about their pixel input: the luma weights and the shape check."""

import torch

# ITU-R BT.601 luma weights (PIL's "L" conversion): RGB -> grey for a grey model given colour input.
BT601_LUMA = (0.299, 0.587, 0.114)


def check_pixel_values(pixel_values: torch.Tensor, image_size: int) -> int:
    """Refuse anything but `(batch, channels, image_size, image_size)`; return the number of channels."""
    if pixel_values.dim() != 4:
        raise ValueError(f"`pixel_values` must have shape (batch, channels, height, width), got "
                         f"{tuple(pixel_values.shape)}")
    channels, height, width = pixel_values.shape[1:]
    if (height, width) != (image_size, image_size):
        raise ValueError(
            f"`pixel_values` must be {image_size}x{image_size} images (the model's `image_size`), "
            f"got {height}x{width}; the model's image processor resizes any image to that size"
        )
    return channels


__all__ = ["BT601_LUMA", "check_pixel_values"]
