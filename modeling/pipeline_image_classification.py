"""The package's "image-classification" pipeline: the stock one, plus photos (faces found and cropped when asked) and
a clear error for each kind of image it cannot honestly classify.

`FERTimmConfig` saves `custom_pipelines = IMAGE_CUSTOM_PIPELINES` in the config and this file next to the model code, so
`pipeline("image-classification", model=folder, trust_remote_code=True)` builds
`EmotionImageClassificationPipeline`. On top of the stock `ImageClassificationPipeline`:

- `detect_faces="all"`: every face of the photo is found (facenet-pytorch's MTCNN by default, `detector="haar"` for
  OpenCV's cascade; the `faces` extra), cut out square, made a grey 48x48 crop as the training faces (`face_size`,
  `grayscale`, `face_margin` change that), and classified: one `{"box", "face_score", "predictions": [{"label",
  "score"}, ...]}` per face, largest first. No face: an empty list `[]`, never a guess on the background.
- `detect_faces=True` (or `"largest"`): the largest face only, as the stock list of `{"label", "score"}`, each also
  with the face's `"box"`; `[]` when there is none.
- Boxes are `{"xmin", "ymin", "xmax", "ymax"}` in pixels of the photo itself (upright, EXIF rotation applied), at any
  size: a photo larger than `max_image_side` is searched as loaded (reduced) and its boxes are scaled back.
  `min_face_size` is in photo pixels too (default: 24 pixels of the loaded image). A detector that fails on a photo
  raises `FaceDetectionError` naming it, never `[]`.
- Any image classifier: the face step is the image processor's `crop_faces` (our `FERImageProcessor`, which travels
  with our folders), else the installed package's `emotion_hub.processing.face_detection.crop_faces`, so a stock
  folder (`TimmWrapperForImageClassification`, a ViT...) takes photos with `pipeline(..., pipeline_class=
  EmotionImageClassificationPipeline)`.
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
"""

import base64
import io
import math
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


def _open(payload: bytes, name: str, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded image (a large JPEG decoded reduced) and the file's own `(width, height)`."""
    if not payload:
        raise ValueError(f"{name}: the file is empty, expected an image file")
    try:
        with warnings.catch_warnings():
            # Large images are reduced below (JPEG draft, then a shrink): PIL's size warning is taken care of.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(payload))
            size = image.size
            if image.format == "JPEG" and max(image.size) > max_side:
                image.draft(image.mode, (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale
            image.load()
    except Image.DecompressionBombError as err:
        raise ValueError(f"{name}: the image is too large to decode safely ({err})") from None
    except Exception as err:  # UnidentifiedImageError, truncated data (OSError), broken headers (SyntaxError...)
        raise ValueError(f"{name}: cannot decode this file as an image ({type(err).__name__}: {err})") from None
    return image, size


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


def open_photo(inputs, timeout=None, max_side: int = MAX_IMAGE_SIDE) -> tuple[Image.Image, tuple[int, int]]:
    """Any accepted input as an upright 8-bit PIL image ("L" or "RGB") at most `max_side` pixels on its long side,
    and the `(width, height)` of the upright photo itself (larger than the image when it was reduced); or a
    `ValueError` / `TypeError` naming the input."""
    name = _describe(inputs)
    if isinstance(inputs, dict):
        if "image" in inputs:  # a datasets row
            return open_photo(inputs["image"], timeout, max_side)
        if inputs.get("bytes") is not None or inputs.get("path"):  # an undecoded datasets Image value
            return open_photo(inputs["bytes"] if inputs.get("bytes") is not None else inputs["path"], timeout, max_side)
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
        image, size = _open(payload, name, max_side)
    elif isinstance(inputs, (bytes, bytearray)):
        image, size = _open(bytes(inputs), name, max_side)
    elif isinstance(inputs, Image.Image):
        image, size = inputs, inputs.size
    elif isinstance(inputs, np.ndarray) or hasattr(inputs, "detach"):
        image = _array_to_image(inputs, name)
        size = image.size
    else:
        raise TypeError(f"expected an image path or URL, bytes, a PIL image, a numpy array or tensor, or a datasets row; "
                        f"got {type(inputs).__name__}")
    width, height = image.size
    if min(width, height) == 0:
        raise ValueError(f"{name} is empty ({width}x{height} pixels)")
    orientation = image.getexif().get(0x0112, 1)
    if orientation != 1:  # EXIF orientation (exif_transpose copies even an upright image)
        image = ImageOps.exif_transpose(image)
        if orientation in (5, 6, 7, 8):  # a quarter turn: the upright photo is the stored one on its side
            size = size[::-1]
    if max(image.size) > max_side:
        # Shrink before the mode conversion and any float copy: `reduce` is a cheap box filter by an integer factor.
        factor = -(-max(image.size) // max_side)
        image = image.reduce(factor) if image.mode in ("L", "RGB", "RGBA", "LA", "I", "F", "CMYK") else image
        if max(image.size) > max_side:
            image = to_8bit(image, name)
            image.thumbnail((max_side, max_side), Image.BILINEAR)
    return to_8bit(image, name), size


def load_photo(inputs, timeout=None, max_side: int = MAX_IMAGE_SIDE) -> Image.Image:
    """[`open_photo`]'s image: any accepted input as an upright 8-bit PIL image, at most `max_side` pixels."""
    return open_photo(inputs, timeout, max_side)[0]


def _package_crop_faces():
    """The package's face step, for an image processor without one (a stock folder's, such as
    `TimmWrapperImageProcessor`): only reached where this class came from the installed package."""
    from importlib import import_module

    try:
        return import_module("emotion_hub.processing.face_detection").crop_faces
    except ImportError as err:
        raise ValueError(f"`detect_faces` needs an image processor with `crop_faces` (the package's FERImageProcessor) "
                         f"or the emotion-hub package installed (pip install \"emotion-hub[faces]\"): {err}") from None


def _photo_box(box: dict, sx: float, sy: float, width: int, height: int) -> dict:
    """A box in pixels of the image as loaded -> pixels of the photo (`sx`, `sy`: photo / loaded size)."""
    if sx == 1 and sy == 1:
        return dict(box)
    return {"xmin": max(0, math.floor(box["xmin"] * sx)), "ymin": max(0, math.floor(box["ymin"] * sy)),
            "xmax": min(width, math.ceil(box["xmax"] * sx)), "ymax": min(height, math.ceil(box["ymax"] * sy))}


class EmotionImageClassificationPipeline(ImageClassificationPipeline):
    """`ImageClassificationPipeline` that takes photos: faces found and classified (`detect_faces`), bad images refused
    with errors naming them, large images reduced before they are converted. Any image classifier: our folders, and
    stock ones through `pipeline_class`.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> classifier = pipeline("image-classification", model="path/to/model", trust_remote_code=True)
    >>> classifier("face_48x48.png")                    # a face crop, as the training faces
    >>> classifier("photo.jpg", detect_faces=True)      # the largest face: [{"label", "score", "box"}, ...]; [] if none
    >>> classifier("group.jpg", detect_faces="all")     # [{"box", "face_score", "predictions": [...]}, ...]; [] if none
    >>> # a stock folder (e.g. a TimmWrapperForImageClassification export): the face step from the installed package
    >>> from emotion_hub.modeling import EmotionImageClassificationPipeline
    >>> stock = pipeline("image-classification", model="path/to/stock",
    ...                  pipeline_class=EmotionImageClassificationPipeline)
    >>> stock("group.jpg", detect_faces="all")
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
        if face_kwargs:  # detector, min_face_size (photo pixels), min_score, face_size, grayscale...
            preprocess["face_kwargs"] = face_kwargs
        if max_image_side is not None:
            preprocess["max_image_side"] = max_image_side
        return preprocess, forward, postprocess

    def preprocess(self, image, timeout=None, detect_faces=False, face_kwargs=None, max_image_side=MAX_IMAGE_SIDE):
        name = _describe(image)
        image, (photo_width, photo_height) = open_photo(image, timeout=timeout, max_side=max_image_side)
        if not detect_faces:
            return super().preprocess(image)
        minimum = getattr(self.image_processor, "min_image_size", None) or 1
        if min(image.size) < minimum:  # the processor's own check, which a photo with no face would not reach
            raise ValueError(f"{name} is {image.width}x{image.height} pixels; the image processor needs at least "
                             f"{minimum}x{minimum} (`min_image_size`)")
        crop_faces = getattr(self.image_processor, "crop_faces", None) or _package_crop_faces()
        # The photo may have been decoded reduced: the search runs on what was loaded, sizes and boxes are the photo's.
        sx, sy = photo_width / image.width, photo_height / image.height
        face_kwargs = dict(face_kwargs or {})
        if face_kwargs.get("min_face_size") is not None:
            face_kwargs["min_face_size"] = face_kwargs["min_face_size"] / max(sx, sy)
        faces = crop_faces(image, max_faces=None if detect_faces == "all" else 1, name=name, **face_kwargs)
        found = [{"box": _photo_box(face["box"], sx, sy, photo_width, photo_height), "face_score": face.get("score")}
                 for face in faces]
        if not found:
            return {"faces": []}
        # RGB crops, as the stock pipeline's `load_image` gives any image processor (ours converts grey alike).
        model_inputs = self.image_processor(images=[face["image"].convert("RGB") for face in faces],
                                            return_tensors="pt")
        model_inputs = model_inputs.to(self.dtype)
        model_inputs["faces"] = found
        return model_inputs

    def _forward(self, model_inputs):
        if "faces" not in model_inputs:
            return self.model(**model_inputs)
        faces = model_inputs.pop("faces")
        if not faces:
            return {"logits": None, "faces": []}
        return {"logits": self.model(**model_inputs)["logits"], "faces": faces}

    def postprocess(self, model_outputs, function_to_apply=None, top_k=5, detect_faces=False, threshold=None):
        def passing(scores):  # a multi-label model's scores are independent sigmoids: `threshold` picks its labels
            return scores if threshold is None else [score for score in scores if score["score"] >= threshold]

        if not detect_faces:
            return passing(super().postprocess(model_outputs, function_to_apply=function_to_apply, top_k=top_k))
        faces = []
        for i, face in enumerate(model_outputs["faces"]):
            scores = passing(super().postprocess({"logits": model_outputs["logits"][i:i + 1]},
                                                 function_to_apply=function_to_apply, top_k=top_k))
            faces.append({**face, "predictions": scores})
        if detect_faces == "all":
            return faces
        return [{**score, "box": faces[0]["box"]} for score in faces[0]["predictions"]] if faces else []


__all__ = ["EmotionImageClassificationPipeline", "FACE_MODES", "IMAGE_CUSTOM_PIPELINES", "IMAGE_TASK", "MAX_IMAGE_SIDE",
           "load_photo", "open_photo", "to_8bit"]
