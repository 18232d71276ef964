"""Faces in photos: OpenCV's bundled Haar cascade finds them, and each is cut out as the training crop of our face
models (a square around the face with a margin, grey, 48x48 as in FER2013).

OpenCV is an optional extra (`pip install "emotion-hub[faces]"`, i.e. `opencv-python-headless>=4.8,<5`: OpenCV 5
dropped the Haar cascades from its main module); it is imported only when a face is looked for.
"""

from typing import Optional

import numpy as np
from PIL import Image


HAAR_CASCADE = "haarcascade_frontalface_default.xml"
_CASCADES = {}


def _cascade(name: str = HAAR_CASCADE):
    try:
        import cv2
    except ImportError:
        raise ImportError("face detection needs OpenCV: pip install \"emotion-hub[faces]\" (opencv-python-headless>=4.8,"
                          "<5)") from None
    if not hasattr(cv2, "CascadeClassifier"):
        raise ImportError(f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 moved them out of its main module): "
                          f"pip install \"opencv-python-headless>=4.8,<5\"")
    if name not in _CASCADES:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if cascade.empty():
            raise RuntimeError(f"OpenCV could not read its bundled cascade {cv2.data.haarcascades + name}")
        _CASCADES[name] = cascade
    return cv2, _CASCADES[name]


def to_grey_array(image) -> np.ndarray:
    """A `(height, width)` uint8 array of a PIL image (any mode) or a uint8 `(h, w)` / `(h, w, 1|3|4)` array."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"))
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"face detection reads uint8 images; got a {array.dtype} array (convert it to a PIL image)")
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        return np.asarray(Image.fromarray(array[..., :3] if array.shape[-1] != 1 else array[..., 0]).convert("L"))
    if array.ndim != 2:
        raise ValueError(f"expected an (height, width) or (height, width, channels) image, got shape {array.shape}")
    return array


def detect_faces(image, min_face_size: int = 24, scale_factor: float = 1.1, min_neighbors: int = 5) -> list[dict]:
    """Frontal faces in `image` (PIL image or uint8 array), largest first, as boxes
    `{"xmin", "ymin", "xmax", "ymax"}` in pixels (the object-detection pipeline's format; `xmax`/`ymax` exclusive).

    Args:
        min_face_size (`int`, *optional*, defaults to 24): smallest face side in pixels that is looked for.
        scale_factor (`float`, *optional*, defaults to 1.1): step between the cascade's search scales.
        min_neighbors (`int`, *optional*, defaults to 5): overlapping detections a face needs; higher is stricter.
    """
    cv2, cascade = _cascade()
    grey = to_grey_array(image)
    if min(grey.shape) < min_face_size:
        return []
    found = cascade.detectMultiScale(cv2.equalizeHist(grey), scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                     minSize=(min_face_size, min_face_size))
    boxes = [{"xmin": int(x), "ymin": int(y), "xmax": int(x + w), "ymax": int(y + h)} for x, y, w, h in found]
    return sorted(boxes, key=lambda b: (b["xmax"] - b["xmin"]) * (b["ymax"] - b["ymin"]), reverse=True)


def square_crop_box(box: dict, width: int, height: int, margin: float) -> tuple[int, int, int, int]:
    """`(left, top, right, bottom)` of a square around `box`, its side the box's larger side times `1 + 2 * margin`,
    shifted (then shrunk) to stay inside the `width` x `height` image."""
    side = max(box["xmax"] - box["xmin"], box["ymax"] - box["ymin"]) * (1 + 2 * margin)
    side = int(round(min(side, width, height)))
    cx, cy = (box["xmin"] + box["xmax"]) / 2, (box["ymin"] + box["ymax"]) / 2
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    return left, top, left + side, top + side


def crop_faces(image: Image.Image, max_faces: Optional[int] = None, margin: float = 0.03, face_size: int = 48,
               grayscale: bool = True, **detect_kwargs) -> list[dict]:
    """The faces of a photo as training crops, largest first: `[{"box": face box, "crop_box": square cut out,
    "image": PIL face crop}, ...]`, an empty list when no face is found.

    Args:
        image (`PIL.Image.Image` or uint8 array): the photo.
        max_faces (`int`, *optional*): keep the largest `max_faces` faces (1: the largest face only).
        margin (`float`, *optional*, defaults to 0.03): added on each side of the detected box, as a fraction of its
            side. FER2013's faces fill their crops: on 400 training faces (upscaled, on a grey canvas) the crop side
            was a median 1.06 times the Haar box's, centred on it, i.e. 0.03 per side.
        face_size (`int`, *optional*, defaults to 48): side of the returned crops (FER2013's 48x48); the model's
            image processor then resizes them to the model's input size, as it did the training faces.
        grayscale (`bool`, *optional*, defaults to `True`): grey crops (mode "L"), as FER2013; `False` keeps colour.
        detect_kwargs: passed to [`detect_faces`].
    """
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image))
    if not 0 <= margin <= 1:
        raise ValueError(f"`margin` must be in [0, 1], got {margin}")
    if face_size < 1:
        raise ValueError(f"`face_size` must be a positive int, got {face_size}")
    boxes = detect_faces(image, **detect_kwargs)
    if max_faces is not None:
        boxes = boxes[:max_faces]
    source = image.convert("L" if grayscale else "RGB")
    faces = []
    for box in boxes:
        crop_box = square_crop_box(box, image.width, image.height, margin)
        crop = source.resize((face_size, face_size), Image.BILINEAR, box=crop_box)
        faces.append({"box": box, "crop_box": dict(zip(("xmin", "ymin", "xmax", "ymax"), crop_box)), "image": crop})
    return faces


__all__ = ["HAAR_CASCADE", "crop_faces", "detect_faces", "square_crop_box", "to_grey_array"]
