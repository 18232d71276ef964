"""The package's "image-classification" pipeline: the stock one, plus photos (faces found and cropped when asked) and
a clear error for each kind of image it cannot honestly classify.

`FERTimmConfig` saves `custom_pipelines = IMAGE_CUSTOM_PIPELINES` in the config and this file next to the model code, so
`pipeline("image-classification", model=folder, trust_remote_code=True)` builds
`EmotionImageClassificationPipeline`. On top of the stock `ImageClassificationPipeline`:

- `detect_faces=True` (or `"largest"`): the largest face of the photo is found (OpenCV's Haar cascade, the `faces`
  extra), cut out square with a margin, made a grey 48x48 crop as the training faces, and classified: the stock list
  of `{"label", "score"}`, each also with the face's `"box"` (`{"xmin", "ymin", "xmax", "ymax"}` pixels). No face:
  an empty list `[]`, never a guess on the background.
- `detect_faces="all"`: one `{"box", "predictions": [{"label", "score"}, ...]}` per face, largest first; `[]` when
  there is none.
- `threshold`: keep the labels scoring at least this much; a multi-label model (`problem_type=
  "multi_label_classification"`) gets independent sigmoid scores (as in the stock pipeline), so `threshold=0.5` gives
  its predicted labels, possibly none.
- Inputs: a path, an http(s) URL, bytes, a PIL image, a numpy array or a tensor (pixel values in [0, 255], 16-bit
  images scaled), a `datasets` row with an `image` column. EXIF rotation is applied; transparent images are laid on
  white (as transformers' `convert_rgb`); 16-bit and 32-bit grey images are scaled to 8 bits (PIL's own conversion
  clips them to white); palette images are expanded; images larger than `max_image_side` are decoded reduced (JPEG
  draft) and shrunk before any float copy. An empty file, a corrupt or non-image file, an empty (0-pixel) image, a
  NaN / infinite or non-numeric array raise a `ValueError` / `TypeError` naming the input; an image smaller than the
  image processor's `min_image_size` (e.g. 1x1) raises its `ValueError`.

The face step needs the image processor's `crop_faces` (the package's `FERImageProcessor`).
"""

import base64
import io
import os
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps
from transformers import ImageClassificationPipeline


IMAGE_TASK = "image-classification"
IMAGE_CUSTOM_PIPELINES = {
    IMAGE_TASK: {"impl": "pipeline_image_classification.EmotionImageClassificationPipeline",
                 "pt": ["AutoModelForImageClassification"], "tf": [], "type": "image"}
}
MAX_IMAGE_SIDE = 2048
FACE_MODES = (False, True, "largest", "all")


def _describe(inputs) -> str:
    if isinstance(inputs, str):
        return repr(inputs if len(inputs) < 200 else inputs[:100] + "...")
    name = getattr(inputs, "filename", None)
    return f"image {name!r}" if name else {"Image": "PIL image", "ndarray": "numpy image", "Tensor": "tensor image",
                                            "bytes": "bytes input"}.get(type(inputs).__name__, type(inputs).__name__)


def _open(payload: bytes, name: str, max_side: int) -> Image.Image:
    if not payload:
        raise ValueError(f"{name}: the file is empty, expected an image file")
    try:
        with warnings.catch_warnings():
            # Large images are reduced below (JPEG draft, then a shrink): PIL's size warning is taken care of.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(payload))
            if image.format == "JPEG" and max(image.size) > max_side:
                image.draft(image.mode, (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale
            image.load()
    except Image.DecompressionBombError as err:
        raise ValueError(f"{name}: the image is too large to decode safely ({err})") from None
    except Exception as err:  # UnidentifiedImageError, truncated data (OSError), broken headers (SyntaxError...)
        raise ValueError(f"{name}: cannot decode this file as an image ({type(err).__name__}: {err})") from None
    return image


def _array_to_image(array, name: str) -> Image.Image:
    """A numpy array or tensor `(h, w)`, `(h, w, c)` or `(c, h, w)` with pixel values in [0, 255] (uint16: [0, 65535])
    as an 8-bit PIL image."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name}: pixel values must be integers or floats in [0, 255], got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # (c, h, w) -> (h, w, c)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"{name}: expected (height, width), (height, width, 1|3|4) or (1|3|4, height, width), got "
                         f"shape {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name} has NaN or infinite pixel values")
    if array.dtype == np.uint16:
        array = array / 257.0
    array = np.clip(np.rint(array), 0, 255).astype(np.uint8) if array.dtype != np.uint8 else array
    return Image.fromarray(array)


def to_8bit(image: Image.Image, name: str) -> Image.Image:
    """Grey images as "L", everything else as "RGB"; transparency on white, 16/32-bit grey scaled to 8 bits."""
    if image.mode in ("L", "RGB"):
        return image
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I") or image.mode == "F":
        array = np.asarray(image).astype(np.float64)
        if not np.isfinite(array).all():
            raise ValueError(f"{name} has NaN or infinite pixel values")
        if image.mode == "F":
            array = array * 255.0 if array.max(initial=0) <= 1.0 else array
        elif image.mode.startswith("I;16") or array.max(initial=0) > 255:
            array = np.clip(array, 0, 65535) / 257.0  # 16-bit grey
        return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV


def load_photo(inputs, timeout=None, max_side: int = MAX_IMAGE_SIDE) -> Image.Image:
    """Any accepted input as an upright 8-bit PIL image ("L" or "RGB") at most `max_side` pixels on its long side,
    or a `ValueError` / `TypeError` naming the input."""
    name = _describe(inputs)
    if isinstance(inputs, dict):
        if "image" in inputs:  # a datasets row
            return load_photo(inputs["image"], timeout, max_side)
        if inputs.get("bytes") is not None or inputs.get("path"):  # an undecoded datasets Image value
            return load_photo(inputs["bytes"] if inputs.get("bytes") is not None else inputs["path"], timeout, max_side)
        raise ValueError(f"a dict input must be a datasets row with an 'image' column or {{'bytes', 'path'}}; got "
                         f"keys {sorted(inputs)}")
    if isinstance(inputs, str):
        if inputs.startswith(("http://", "https://")):
            from urllib.request import urlopen

            with urlopen(inputs, timeout=timeout) as response:
                payload = response.read()
        elif os.path.isfile(inputs):
            with open(inputs, "rb") as f:
                payload = f.read()
        elif inputs.startswith("data:image/"):
            payload = base64.b64decode(inputs.split(",", 1)[-1])
        else:
            raise ValueError(f"{name}: no such file (expected an image path, an http(s) URL or a data:image/ "
                             f"base64 string)")
        image = _open(payload, name, max_side)
    elif isinstance(inputs, (bytes, bytearray)):
        image = _open(bytes(inputs), name, max_side)
    elif isinstance(inputs, Image.Image):
        image = inputs
    elif isinstance(inputs, np.ndarray) or hasattr(inputs, "detach"):
        image = _array_to_image(inputs, name)
    else:
        raise TypeError(f"expected an image path or URL, bytes, a PIL image, a numpy array or tensor, or a datasets row; "
                        f"got {type(inputs).__name__}")
    width, height = image.size
    if min(width, height) == 0:
        raise ValueError(f"{name} is empty ({width}x{height} pixels)")
    if image.getexif().get(0x0112, 1) != 1:  # EXIF orientation (exif_transpose copies even an upright image)
        image = ImageOps.exif_transpose(image)
    if max(image.size) > max_side:
        # Shrink before the mode conversion and any float copy: `reduce` is a cheap box filter by an integer factor.
        factor = -(-max(image.size) // max_side)
        image = image.reduce(factor) if image.mode in ("L", "RGB", "RGBA", "LA", "I", "F", "CMYK") else image
        if max(image.size) > max_side:
            image = to_8bit(image, name)
            image.thumbnail((max_side, max_side), Image.BILINEAR)
    return to_8bit(image, name)


class EmotionImageClassificationPipeline(ImageClassificationPipeline):
    """`ImageClassificationPipeline` that takes photos: faces found and cropped (`detect_faces`), bad images refused
    with errors naming them, large images reduced before they are converted.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> classifier = pipeline("image-classification", model="path/to/model", trust_remote_code=True)
    >>> classifier("face_48x48.png")                    # a face crop, as the training faces
    >>> classifier("photo.jpg", detect_faces=True)      # the largest face: [{"label", "score", "box"}, ...]; [] if none
    >>> classifier("group.jpg", detect_faces="all")     # [{"box", "predictions": [{"label", "score"}, ...]}, ...]
    ```
    """

    def check_model_type(self, supported_models):
        # Our models register with AutoModelForImageClassification only where the package is imported.
        if getattr(self.model.config, "custom_pipelines", {}).get(IMAGE_TASK) is None:
            super().check_model_type(supported_models)

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, timeout=None, detect_faces=None,
                             face_margin=None, max_image_side=None, threshold=None, **face_kwargs):
        preprocess, forward, postprocess = super()._sanitize_parameters(top_k=top_k,
                                                                        function_to_apply=function_to_apply,
                                                                        timeout=timeout)
        if threshold is not None:  # keep the labels scoring at least this (a multi-label model's predicted labels)
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                raise ValueError(f"`threshold` must be a number (a score), got {threshold!r}")
            postprocess["threshold"] = float(threshold)
        if detect_faces is not None:
            if detect_faces not in FACE_MODES:
                raise ValueError(f"`detect_faces` must be one of {FACE_MODES}, got {detect_faces!r}")
            preprocess["detect_faces"] = detect_faces
            postprocess["detect_faces"] = detect_faces
        if face_margin is not None:
            face_kwargs["margin"] = face_margin
        if face_kwargs:
            preprocess["face_kwargs"] = face_kwargs
        if max_image_side is not None:
            preprocess["max_image_side"] = max_image_side
        return preprocess, forward, postprocess

    def preprocess(self, image, timeout=None, detect_faces=False, face_kwargs=None, max_image_side=MAX_IMAGE_SIDE):
        name, image = _describe(image), load_photo(image, timeout=timeout, max_side=max_image_side)
        if not detect_faces:
            return super().preprocess(image)
        minimum = getattr(self.image_processor, "min_image_size", None) or 1
        if min(image.size) < minimum:  # the processor's own check, which a photo with no face would not reach
            raise ValueError(f"{name} is {image.width}x{image.height} pixels; the image processor needs at least "
                             f"{minimum}x{minimum} (`min_image_size`)")
        if not hasattr(self.image_processor, "crop_faces"):
            raise ValueError(f"`detect_faces` needs an image processor with `crop_faces` (the package's "
                             f"FERImageProcessor), not {type(self.image_processor).__name__}")
        faces = self.image_processor.crop_faces(image, max_faces=None if detect_faces == "all" else 1,
                                                **(face_kwargs or {}))
        if not faces:
            return {"boxes": []}
        model_inputs = self.image_processor(images=[face["image"] for face in faces], return_tensors="pt")
        model_inputs = model_inputs.to(self.dtype)
        model_inputs["boxes"] = [face["box"] for face in faces]
        return model_inputs

    def _forward(self, model_inputs):
        if "boxes" not in model_inputs:
            return self.model(**model_inputs)
        boxes = model_inputs.pop("boxes")
        if not boxes:
            return {"logits": None, "boxes": []}
        return {"logits": self.model(**model_inputs)["logits"], "boxes": boxes}

    def postprocess(self, model_outputs, function_to_apply=None, top_k=5, detect_faces=False, threshold=None):
        def passing(scores):  # a multi-label model's scores are independent sigmoids: `threshold` picks its labels
            return scores if threshold is None else [score for score in scores if score["score"] >= threshold]

        if not detect_faces:
            return passing(super().postprocess(model_outputs, function_to_apply=function_to_apply, top_k=top_k))
        faces = []
        for i, box in enumerate(model_outputs["boxes"]):
            scores = passing(super().postprocess({"logits": model_outputs["logits"][i:i + 1]},
                                                 function_to_apply=function_to_apply, top_k=top_k))
            faces.append({"box": box, "predictions": scores})
        if detect_faces == "all":
            return faces
        return [{**score, "box": faces[0]["box"]} for score in faces[0]["predictions"]] if faces else []


__all__ = ["EmotionImageClassificationPipeline", "FACE_MODES", "IMAGE_CUSTOM_PIPELINES", "IMAGE_TASK", "MAX_IMAGE_SIDE",
           "load_photo", "to_8bit"]
