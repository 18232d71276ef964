"""Faces in photos: every face found, its box in the image's own pixels, and each cut out as the training crop of our
face models (a square around the face with a margin, grey, 48x48 as in FER2013), or classified by any image
classifier.

Two detectors, both optional extras imported only when a face is looked for:

- `"mtcnn"` (the default): facenet-pytorch's MTCNN, whose weights (2 MB) ship inside its pip package
  (`pip install "emotion-hub[faces]"`, i.e. `facenet-pytorch>=2.5.3,<2.6`: 2.6 pins torch<2.3). On composed scenes
  (`bench/bench_face_detection.py`, 122 faces in 80 photos up to 4000x3000) it has precision 0.975 and recall 0.943
  at IoU 0.5, against the cascade's 0.524 / 0.721, and no false head-and-shoulders box.
- `"haar"`: OpenCV's bundled frontal-face Haar cascade (`opencv-python-headless>=4.8,<5`: OpenCV 5 dropped the
  cascades from its main module), kept as the light fallback.

"No face" is an empty list; a detector that cannot look at an image raises (`FaceDetectionError`, or a `ValueError`
for an image smaller than the smallest face looked for), never the empty list.
"""

import math
from typing import Callable, Optional

import numpy as np
import torch
from PIL import Image


HAAR_CASCADE = "haarcascade_frontalface_default.xml"
DETECTORS = ("mtcnn", "haar")
DEFAULT_DETECTOR = "mtcnn"
# Images larger than this are searched shrunk, their boxes mapped back to their pixels: the detectors' cost grows with
# the pixels searched, and a face of a few pixels at this size makes no useful 48x48 crop anyway.
MAX_DETECT_SIDE = 2048
# Smallest face side (pixels of the searched image) each detector can find: MTCNN's P-Net window, the cascade's.
DETECTOR_MIN_FACE = {"mtcnn": 12, "haar": 24}
# Default smallest face side looked for, in pixels of the searched image.
DEFAULT_MIN_FACE = 24
# Margin per side that makes a detector's box the crop FER2013's faces were cut as (crop side = the box's larger side
# times 1 + 2m). Haar: its box is nearly the crop (a median 1.06 times smaller on 400 training faces). MTCNN: its box
# is 0.83 of the crop wide and 1.06 high, centred on it (`bench/bench_face_detection.py --calibrate`, 200 training
# faces), so its larger side already is the crop.
FACE_MARGINS = {"mtcnn": 0.0, "haar": 0.03}
_CASCADES = {}
_MTCNN = {}


class FaceDetectionError(RuntimeError):
    """The face detector could not look at an image (it failed on it): not the same as "no face found" (`[]`)."""


def _cascade(name: str = HAAR_CASCADE):
    try:
        import cv2
    except ImportError:
        raise ImportError("the Haar face detector needs OpenCV: pip install \"emotion-hub[faces]\" "
                          "(opencv-python-headless>=4.8,<5)") from None
    if not hasattr(cv2, "CascadeClassifier"):
        raise ImportError(f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 moved them out of its main module): "
                          f"pip install \"opencv-python-headless>=4.8,<5\"")
    if name not in _CASCADES:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if cascade.empty():
            raise RuntimeError(f"OpenCV could not read its bundled cascade {cv2.data.haarcascades + name}")
        _CASCADES[name] = cascade
    return cv2, _CASCADES[name]


def _mtcnn():
    if "nets" not in _MTCNN:
        try:
            from facenet_pytorch import MTCNN
            from facenet_pytorch.models.utils.detect_face import detect_face
        except ImportError:
            raise ImportError("the MTCNN face detector needs facenet-pytorch: pip install \"emotion-hub[faces]\" "
                              "(facenet-pytorch>=2.5.3,<2.6), or pass detector=\"haar\"") from None
        _MTCNN["nets"] = MTCNN(device="cpu").eval()  # P-, R- and O-Net with the package's weights
        _MTCNN["detect"] = detect_face
    return _MTCNN["nets"], _MTCNN["detect"]


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


def _to_pil(image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"face detection reads uint8 images; got a {array.dtype} array (convert it to a PIL image)")
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        array = array[..., 0] if array.shape[-1] == 1 else array
    elif array.ndim != 2:
        raise ValueError(f"expected an (height, width) or (height, width, channels) image, got shape {array.shape}")
    return Image.fromarray(array)


def _haar(image: Image.Image, min_face_size: float, scale_factor: float = 1.1, min_neighbors: int = 5) -> list:
    cv2, cascade = _cascade()
    size = int(math.ceil(min_face_size))
    found = cascade.detectMultiScale(cv2.equalizeHist(to_grey_array(image)), scaleFactor=scale_factor,
                                     minNeighbors=min_neighbors, minSize=(size, size))
    return [(x, y, x + w, y + h, None) for x, y, w, h in found]


def _run_mtcnn(image: Image.Image, min_face_size: float, min_score: float = 0.9) -> list:
    nets, detect_face = _mtcnn()
    with torch.inference_mode():
        boxes, _ = detect_face(image.convert("RGB"), min_face_size, nets.pnet, nets.rnet, nets.onet, nets.thresholds,
                               nets.factor, "cpu")
    boxes = np.asarray(boxes[0], dtype=np.float64).reshape(-1, 5)  # (faces, x0 y0 x1 y1 probability)
    return [(x0, y0, x1, y1, float(p)) for x0, y0, x1, y1, p in boxes if p >= min_score]


_DETECT: dict[str, Callable] = {"mtcnn": _run_mtcnn, "haar": _haar}


def _name(image) -> str:
    filename = getattr(image, "filename", None)
    return f"image {filename!r}" if filename else {"Image": "PIL image", "ndarray": "numpy image"}.get(
        type(image).__name__, type(image).__name__)


def find_faces(image, detector: str = DEFAULT_DETECTOR, min_face_size: Optional[float] = None,
               max_side: int = MAX_DETECT_SIDE, name: Optional[str] = None, **detector_kwargs) -> list[dict]:
    """Every face in `image` (PIL image or uint8 array), largest first: `[{"box": {"xmin", "ymin", "xmax", "ymax"},
    "score": detector confidence or None}, ...]`, boxes in the pixels of `image` at any size (the object-detection
    pipeline's format; `xmax`/`ymax` exclusive). `[]` means no face was found.

    Args:
        detector (`str`, *optional*, defaults to `"mtcnn"`): `"mtcnn"` (facenet-pytorch) or `"haar"` (OpenCV).
        min_face_size (`float`, *optional*): smallest face side, in pixels of `image`, looked for; defaults to
            `DEFAULT_MIN_FACE` (24) pixels of the searched image (so 47 pixels of a 4000x3000 photo, searched at
            2048x1536: smaller faces make poor 48x48 crops, and MTCNN's cost grows fast below that). It cannot go
            below what the detector finds in the searched image (`DETECTOR_MIN_FACE`: 12 pixels for MTCNN, 24 for
            Haar).
        max_side (`int`, *optional*, defaults to 2048): an image with a longer side is searched shrunk to it.
        name (`str`, *optional*): how errors name the image (defaults to its file name or type).
        detector_kwargs: `min_score` for MTCNN (defaults to 0.9: the O-Net probability a face needs);
            `scale_factor` (1.1) and `min_neighbors` (5) for Haar.

    Raises:
        `ValueError`: an unknown detector or option, or an image smaller than `min_face_size`.
        `FaceDetectionError`: the detector failed on the image (named, with the detector's error).
        `ImportError`: the detector's package is missing (names the `faces` extra).
    """
    if detector not in DETECTORS:
        raise ValueError(f"`detector` must be one of {DETECTORS}, got {detector!r}")
    allowed = {"mtcnn": {"min_score"}, "haar": {"scale_factor", "min_neighbors"}}[detector]
    unknown = sorted(set(detector_kwargs) - allowed)
    if unknown:
        raise ValueError(f"unknown options {unknown} for the {detector} face detector; it takes {sorted(allowed)}")
    name = name or _name(image)
    image = _to_pil(image)
    width, height = image.size
    scale = min(1.0, max_side / max(width, height))
    if min_face_size is None:
        min_face_size = DEFAULT_MIN_FACE / scale
    if min(width, height) < min_face_size:
        raise ValueError(f"{name} is {width}x{height} pixels, smaller than the smallest face looked for "
                         f"({min_face_size:g} px, `min_face_size`)")
    search = image if scale == 1.0 else image.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                                     Image.BILINEAR, reducing_gap=3.0)
    sx, sy = width / search.width, height / search.height
    smallest = max(min_face_size / max(sx, sy), DETECTOR_MIN_FACE[detector])
    try:
        found = _DETECT[detector](search, smallest, **detector_kwargs)
    except ImportError:
        raise
    except Exception as err:  # cv2.error, a torch error on an odd image...: the detector did not look, say so
        raise FaceDetectionError(f"{name}: the {detector} face detector failed on this {width}x{height} image "
                                 f"({type(err).__name__}: {err})") from err
    faces = []
    for x0, y0, x1, y1, score in found:  # searched pixels -> pixels of `image`, inside it (MTCNN's may stick out)
        x0, x1 = (min(max(v, 0), width) for v in (math.floor(x0 * sx), math.ceil(x1 * sx)))
        y0, y1 = (min(max(v, 0), height) for v in (math.floor(y0 * sy), math.ceil(y1 * sy)))
        if x1 > x0 and y1 > y0:
            faces.append({"box": {"xmin": int(x0), "ymin": int(y0), "xmax": int(x1), "ymax": int(y1)}, "score": score})
    return sorted(faces, key=lambda f: (f["box"]["xmax"] - f["box"]["xmin"]) * (f["box"]["ymax"] - f["box"]["ymin"]),
                  reverse=True)


def detect_faces(image, **kwargs) -> list[dict]:
    """The boxes of [`find_faces`]: `[{"xmin", "ymin", "xmax", "ymax"}, ...]` in pixels of `image`, largest first,
    `[]` when there is no face."""
    return [face["box"] for face in find_faces(image, **kwargs)]


def square_crop_box(box: dict, width: int, height: int, margin: float) -> tuple[int, int, int, int]:
    """`(left, top, right, bottom)` of a square around `box`, its side the box's larger side times `1 + 2 * margin`,
    shifted (then shrunk) to stay inside the `width` x `height` image."""
    side = max(box["xmax"] - box["xmin"], box["ymax"] - box["ymin"]) * (1 + 2 * margin)
    side = int(round(min(side, width, height)))
    cx, cy = (box["xmin"] + box["xmax"]) / 2, (box["ymin"] + box["ymax"]) / 2
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    return left, top, left + side, top + side


def crop_faces(image, max_faces: Optional[int] = None, margin: Optional[float] = None, face_size: Optional[int] = 48,
               grayscale: bool = True, detector: str = DEFAULT_DETECTOR, **detect_kwargs) -> list[dict]:
    """The faces of a photo as training crops, largest first: `[{"box": face box, "score": detector confidence,
    "crop_box": square cut out, "image": PIL face crop}, ...]` in pixels of `image`, `[]` when no face is found.

    Args:
        image (`PIL.Image.Image` or uint8 array): the photo.
        max_faces (`int`, *optional*): keep the largest `max_faces` faces (1: the largest face only).
        margin (`float`, *optional*): added on each side of the detected box, as a fraction of its larger side;
            defaults to the detector's `FACE_MARGINS` (MTCNN 0, Haar 0.03), which make its boxes the crops FER2013's
            faces were cut as.
        face_size (`int`, *optional*, defaults to 48): side of the returned crops (FER2013's 48x48); the model's
            image processor then resizes them to the model's input size, as it did the training faces. `None` keeps
            the crop's own resolution (for a classifier trained on larger faces).
        grayscale (`bool`, *optional*, defaults to `True`): grey crops (mode "L"), as FER2013; `False` keeps colour.
        detector (`str`, *optional*, defaults to `"mtcnn"`): see [`find_faces`].
        detect_kwargs: the other [`find_faces`] arguments (`min_face_size`, `max_side`, `name`, `min_score`...).
    """
    image = _to_pil(image)
    margin = FACE_MARGINS.get(detector, 0.0) if margin is None else margin
    if not 0 <= margin <= 1:
        raise ValueError(f"`margin` must be in [0, 1], got {margin}")
    if face_size is not None and face_size < 1:
        raise ValueError(f"`face_size` must be a positive int or None, got {face_size}")
    found = find_faces(image, detector=detector, **detect_kwargs)
    if max_faces is not None:
        found = found[:max_faces]
    source = image.convert("L" if grayscale else "RGB")
    faces = []
    for face in found:
        crop_box = square_crop_box(face["box"], image.width, image.height, margin)
        size = (face_size, face_size) if face_size else (crop_box[2] - crop_box[0],) * 2
        crop = source.resize(size, Image.BILINEAR, box=crop_box)
        faces.append({**face, "crop_box": dict(zip(("xmin", "ymin", "xmax", "ymax"), crop_box)), "image": crop})
    return faces


def classify_faces(image, classifier, top_k: int = 5, **crop_kwargs) -> list[dict]:
    """Every face of a photo classified by any image classifier: `[{"box", "face_score", "predictions": [{"label",
    "score"}, ...]}, ...]`, largest first, boxes in pixels of `image`; `[]` when no face is found.

    Args:
        image (`PIL.Image.Image` or uint8 array): the photo.
        classifier: an `image-classification` pipeline (a stock folder loaded by plain transformers, e.g. a
            `TimmWrapperForImageClassification` export, or ours), or any callable that takes a list of RGB PIL images
            and `top_k` and returns one list of `{"label", "score"}` per image.
        top_k (`int`, *optional*, defaults to 5): labels kept per face.
        crop_kwargs: [`crop_faces`] arguments (`detector`, `margin`, `face_size`, `grayscale`, `min_face_size`...);
            the defaults give grey 48x48 crops as FER2013's, converted to RGB as the stock image pipeline does.
    """
    faces = crop_faces(image, **crop_kwargs)
    if not faces:
        return []
    predictions = classifier([face["image"].convert("RGB") for face in faces], top_k=top_k)
    return [{"box": face["box"], "face_score": face["score"], "predictions": scores}
            for face, scores in zip(faces, predictions)]


__all__ = ["DEFAULT_DETECTOR", "DEFAULT_MIN_FACE", "DETECTORS", "DETECTOR_MIN_FACE", "FACE_MARGINS",
           "FaceDetectionError", "HAAR_CASCADE", "MAX_DETECT_SIDE", "classify_faces", "crop_faces", "detect_faces",
           "find_faces", "square_crop_box", "to_grey_array"]
