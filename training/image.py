"""Face images (`model_type: fer_cnn`, `fer_timm`): decoding once to uint8, batch augmentation in the loop,
normalisation."""

import io
import math
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from emotion_hub.processing.image_processing_fer import FERImageProcessor
# Image augmentation of the faces recipes (0 / off by default): probability of a horizontal flip, maximum rotation in
# degrees, maximum shift as a fraction of the size, zoom range, maximum brightness shift (fraction of 255), maximum
# contrast change (relative), probability of erasing a random rectangle (2-20% of the image, filled with the mean).
# Its keys, defaults and ranges live with the recipe, which checks them without torch.
from emotion_hub.training.recipe import IMAGE_AUGMENTATION_DEFAULTS as AUGMENTATION_DEFAULTS
from emotion_hub.training.recipe import image_augmentation_options
from emotion_hub.training.task import Task


class ImageAugmentation:
    """Random flips, rotations, shifts, zooms, brightness/contrast changes and erasing of a whole batch at once.

    One affine transform per image (`affine_grid` + bilinear `grid_sample`, edges replicated), drawn from the global
    torch RNG that Accelerate checkpoints. It runs in the training loop (`ImageClassificationTask.augment_batch`), not
    in the collator: the DataLoader collates one batch ahead, so collator draws would not resume exactly.
    """

    def __init__(self, **options):
        o = self.options = image_augmentation_options(options)
        self.geometric = o["hflip"] > 0 or o["rotation"] > 0 or o["translate"] > 0 or o["scale"] != [1.0, 1.0]

    def __call__(self, pixels: torch.Tensor, fill: float, size: Optional[tuple] = None) -> torch.Tensor:
        """`pixels` `(batch, channels, height, width)` float in [0, 255] -> augmented `(batch, channels, *size)`
        (`size` defaults to the input's): a resize is bilinear, in the same sampling as the affine transform."""
        o, batch, device = self.options, pixels.shape[0], pixels.device
        size = tuple(size or pixels.shape[-2:])

        def rand():
            return torch.rand(batch, device=device)

        def uniform(low, high):
            return rand() * (high - low) + low

        if self.geometric:
            # affine_grid maps output to input coordinates in [-1, 1]: zooming in by z samples a 1/z-sized window.
            angle = uniform(-o["rotation"], o["rotation"]) * math.pi / 180
            zoom = uniform(*o["scale"])
            flip = torch.where(rand() < o["hflip"], -1.0, 1.0)
            shift = uniform(-o["translate"], o["translate"]) * 2, uniform(-o["translate"], o["translate"]) * 2
            cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
            theta = torch.stack([torch.stack([cos * flip, -sin, shift[0]], -1),
                                 torch.stack([sin * flip, cos, shift[1]], -1)], 1)  # (batch, 2, 3)
            grid = torch.nn.functional.affine_grid(theta, [*pixels.shape[:2], *size], align_corners=False)
            pixels = torch.nn.functional.grid_sample(pixels, grid, mode="bilinear", padding_mode="border",
                                                     align_corners=False)
        elif size != tuple(pixels.shape[-2:]):
            pixels = torch.nn.functional.interpolate(pixels, size=size, mode="bilinear", align_corners=False)
        if o["contrast"] or o["brightness"]:
            mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
            contrast = uniform(1 - o["contrast"], 1 + o["contrast"]).view(-1, 1, 1, 1)
            brightness = uniform(-o["brightness"], o["brightness"]).view(-1, 1, 1, 1) * 255
            pixels = ((pixels - mean) * contrast + mean + brightness).clamp(0, 255)
        if o["erasing"]:
            height, width = pixels.shape[-2:]
            area = uniform(0.02, 0.2) * height * width
            ratio = torch.exp(uniform(math.log(0.3), math.log(1 / 0.3)))
            h = (area * ratio).sqrt().clamp(1, height).floor()
            w = (area / ratio).sqrt().clamp(1, width).floor()
            top, left = (rand() * (height - h + 1)).floor(), (rand() * (width - w + 1)).floor()
            rows = torch.arange(height, device=device).view(1, -1, 1)
            cols = torch.arange(width, device=device).view(1, 1, -1)
            box = ((rows >= top.view(-1, 1, 1)) & (rows < (top + h).view(-1, 1, 1)) &
                   (cols >= left.view(-1, 1, 1)) & (cols < (left + w).view(-1, 1, 1)))  # (batch, height, width)
            box &= (rand() < o["erasing"]).view(-1, 1, 1)
            pixels = pixels.masked_fill(box[:, None], fill)
        return pixels


def normalize_pixels(processor: FERImageProcessor, pixels: torch.Tensor) -> torch.Tensor:
    """`(batch, 1 or 3, size, size)` pixels in [0, 255] (uint8 or float) -> the processor's output for those images:
    its RGB conversion (repeat the gray channel) and its own `rescale_and_normalize`, so training sees exactly what
    the saved processor gives the pipeline at inference."""
    p = processor
    if p.do_convert_rgb and pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    pixels = p.rescale_and_normalize(pixels, p.do_rescale, p.rescale_factor, p.do_normalize, p.image_mean,
                                     p.image_std)
    return pixels.contiguous()


class ImageCollator:
    """Stacks uint8 images and normalises them (`normalize=False`: leaves uint8 pixels to `augment_batch`)."""

    def __init__(self, processor: FERImageProcessor, normalize: bool = True):
        self.processor, self.normalize = processor, normalize

    def __call__(self, features):
        pixels = torch.stack([f["pixel_values"] for f in features])  # uint8 (batch, 1 or 3, size, size)
        labels = torch.tensor([int(f["labels"]) for f in features])
        return {"pixel_values": normalize_pixels(self.processor, pixels) if self.normalize else pixels,
                "labels": labels}


class ImageTensorDataset(torch.utils.data.Dataset):
    def __init__(self, pixels: torch.Tensor, labels: torch.Tensor):
        self.pixels, self.labels = pixels, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return {"pixel_values": self.pixels[index], "labels": self.labels[index]}


def decode_images(split, column: str, processor: FERImageProcessor, desc: str) -> torch.Tensor:
    """Every image of `split[column]` decoded once into a uint8 tensor `(n, channels, size, size)`.

    A grayscale image already at the processor's size is kept as is; any other goes through the processor's own
    RGB conversion and resize. Channels: 1 when every image is grayscale (the processor's RGB conversion repeats
    the channel, `ImageCollator` does the same), else 3.
    """
    import datasets
    from PIL import Image

    size = (processor.size.height, processor.size.width)
    raw = split.cast_column(column, datasets.Image(decode=False))[column]
    images = []
    for item in tqdm(raw, desc=f"decoding {desc} images", leave=False):
        source = item["bytes"] if item.get("bytes") is not None else item["path"]
        try:
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            image.load()
        except Exception as err:
            raise ValueError(f"{desc} image {item.get('path') or len(images)}: cannot decode ({err})") from None
        if image.mode == "L" and image.size[::-1] == size:
            images.append(torch.from_numpy(np.array(image))[None])
        else:
            processed = processor(image, do_rescale=False, do_normalize=False, return_tensors="pt")
            images.append(processed["pixel_values"][0].to(torch.uint8))
    if any(image.shape[0] == 3 for image in images):
        images = [image.expand(3, -1, -1) for image in images]
    return torch.stack(images) if images else torch.empty(0, 1, *size, dtype=torch.uint8)


class ImageClassificationTask(Task):
    """Face images + the FER CNN (`model_type: fer_cnn`).

    Images are decoded once into uint8 tensors; training batches are augmented on the fly in the training loop
    (`augment_batch`, on the model's device) and every batch is normalised with the image processor saved beside the
    model, whose mean/std default to the training split's.
    """

    pipeline_tag = "image-classification"

    def __init__(self, recipe, train_split, label_names):
        super().__init__(recipe, train_split, label_names)
        self.augmentation = ImageAugmentation(**recipe.augmentation)
        image_size = recipe.model.get("image_size", self.config_class().image_size)
        options = {"size": {"height": image_size, "width": image_size}, **recipe.image_processor}
        self.processor = FERImageProcessor(**options)
        if (self.processor.size.height, self.processor.size.width) != (image_size, image_size):
            raise ValueError(f"`image_processor.size` {dict(self.processor.size)} must be the model's `image_size` "
                             f"{image_size}x{image_size}; set `model.image_size` instead")
        self._decoded = {"train": decode_images(train_split, recipe.input_column, self.processor, "train")}
        if "image_mean" not in recipe.image_processor and "image_std" not in recipe.image_processor:
            # From the histogram of the uint8 values: exact, and no float copy of every training pixel.
            counts = torch.bincount(self._decoded["train"].flatten(), minlength=256).double()
            values, n = torch.arange(256, dtype=torch.float64) / 255, counts.sum()
            mean = (counts * values).sum() / n
            std = ((counts * (values - mean) ** 2).sum() / (n - 1)).sqrt()  # unbiased, as torch.std
            mean, std = round(mean.item(), 4), round(std.item(), 4)
            self.processor = FERImageProcessor(**{**options, "image_mean": [mean] * 3, "image_std": [std] * 3})

    def dataset(self, split_name, split):
        pixels = self._decoded.pop(split_name, None)
        if pixels is None:
            pixels = decode_images(split, self.recipe.input_column, self.processor, split_name)
        return ImageTensorDataset(pixels, torch.tensor(list(split[self.recipe.label_column])))

    def collator(self, train: bool):
        return ImageCollator(self.processor, normalize=not train)

    def augment_batch(self, batch):
        """Training batches only, called by the training loop: random augmentation, then normalisation."""
        p = self.processor
        fill = float(np.mean(p.image_mean)) / p.rescale_factor if p.do_normalize else 0.0  # erase to the mean
        pixels = self.augmentation(batch["pixel_values"].float(), fill, size=(p.size.height, p.size.width))
        return {**batch, "pixel_values": normalize_pixels(p, pixels)}

    def build_model(self, class_weights):
        return self.model_class(self.config_class(**self.model_arguments(class_weights)))


class TimmImageClassificationTask(ImageClassificationTask):
    """Face images + a timm backbone (`model_type: fer_timm`), ImageNet-pretrained with `pretrained_backbone`.

    The pixels are normalised as the backbone expects, never with the training split's statistics: `image_mean` /
    `image_std` of the recipe's `model` block (or of its `image_processor` block; not both with different values),
    else the timm model's own, which the model config resolves (the pretrained folder's `pretrained_cfg` with
    `pretrained_backbone`). The model config and the image processor hold the same values.

    Training faces are decoded at no more than `train_decode_size` pixels (FER2013's 48) and resized to `image_size`
    per batch with the augmentation (bilinear); validation and test faces are decoded at `image_size` by the image
    processor itself, so the reported figures are those of the saved processor + model. `export_stock: true` saves
    the stock `TimmWrapperForImageClassification` (its processor is `config.json`'s `pretrained_cfg`) and no
    `FERImageProcessor`, whose `preprocessor_config.json` would need `trust_remote_code`.
    """

    train_decode_size = 48

    def __init__(self, recipe, train_split, label_names):
        Task.__init__(self, recipe, train_split, label_names)  # not the FER CNN's: no training-split statistics
        self.augmentation = ImageAugmentation(**recipe.augmentation)
        self.image_size = recipe.model.get("image_size", self.config_class().image_size)
        self.normalisation = {}  # image_mean / image_std the recipe sets, for the config and the processor
        for key in ("image_mean", "image_std"):
            values = [[float(v) for v in (x if isinstance(x, (list, tuple)) else [x] * 3)] if x is not None else None
                      for x in (recipe.model.get(key), recipe.image_processor.get(key))]
            if None not in values and values[0] != values[1]:
                raise ValueError(f"`model.{key}` {values[0]} and `image_processor.{key}` {values[1]} differ: the "
                                 f"model config and its image processor normalise alike; set it once, in `model`")
            if values != [None, None]:
                self.normalisation[key] = values[0] or values[1]
        options = {"size": {"height": self.image_size, "width": self.image_size}, **recipe.image_processor,
                   **self.normalisation}
        self.processor_options = options
        self.processor = FERImageProcessor(**options)  # no mean/std in the recipe: `build_model` sets the backbone's
        if (self.processor.size.height, self.processor.size.width) != (self.image_size, self.image_size):
            raise ValueError(f"`image_processor.size` {dict(self.processor.size)} must be the model's `image_size` "
                             f"{self.image_size}x{self.image_size}; set `model.image_size` instead")
        train_size = min(self.image_size, self.train_decode_size)
        train_processor = FERImageProcessor(**{**options, "size": {"height": train_size, "width": train_size}})
        self._decoded = {"train": decode_images(train_split, recipe.input_column, train_processor, "train")}

    def build_model(self, class_weights):
        recipe = self.recipe
        kwargs = self.model_arguments(class_weights, **self.normalisation)
        if recipe.pretrained_backbone:
            model = self.model_class.from_pretrained_backbone(recipe.pretrained_backbone,
                                                              **recipe.pretrained_backbone_options, **kwargs)
        else:
            model = self.model_class(self.config_class(**kwargs))
        # The config's normalisation (the backbone's when the recipe sets none); the loop makes the collators after.
        self.processor = FERImageProcessor(**{**self.processor_options, "image_mean": list(model.config.image_mean),
                                              "image_std": list(model.config.image_std)})
        if recipe.export_stock:  # what cannot be exported fails now, not after training
            model.to_stock_model(self.processor)
        return model

    def save_model(self, model, output_dir):
        if self.recipe.export_stock:
            model.save_stock_pretrained(output_dir, image_processor=self.processor, safe_serialization=True)
        else:
            super().save_model(model, output_dir)

    def save_processor(self, output_dir):
        """Nothing for `export_stock`: the stock folder's `TimmWrapperImageProcessor` reads `config.json`."""
        if not self.recipe.export_stock:
            super().save_processor(output_dir)


__all__ = ["AUGMENTATION_DEFAULTS", "ImageAugmentation", "ImageClassificationTask", "ImageCollator",
           "ImageTensorDataset", "TimmImageClassificationTask", "decode_images", "normalize_pixels"]
