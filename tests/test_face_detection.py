"""Photos in: faces found (MTCNN by default, OpenCV's Haar cascade on request) and cropped at the place they were
pasted, boxes in the photo's own pixels at any size, no face gives the no-face result and a failing detector an
error, the face step in front of a stock timm folder, and every kind of bad image through the image pipeline gives a
clear error or a defined behaviour."""

import io
import json
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.data import astronaut

from emotion_hub.modeling import FERTimmConfig, FERTimmForImageClassification
from emotion_hub.modeling.pipeline_image_classification import EmotionImageClassificationPipeline, load_photo
from emotion_hub.processing import FERImageProcessor, crop_faces, detect_faces
from emotion_hub.processing import face_detection
from emotion_hub.processing.face_detection import FaceDetectionError, classify_faces, find_faces
from tests.utils import run_clean_python


LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FACE_AT = (420, 250)  # (left, top) where the 150x150 face patch is pasted in the 640x480 photo
# Eileen Collins' face in astronaut(), hand-labelled (hairline to chin, cheek to cheek): (x0, y0, x1, y1); the patch
# below is astronaut()[40:190, 150:300], so the face is at (24, 24, 126, 136) of its 150x150 pixels.
ASTRONAUT_FACE = (174, 64, 276, 176)
PATCH_FACE = (24, 24, 126, 136)


def face_patch(side=150) -> Image.Image:
    """Eileen Collins' face from scikit-image's bundled (public-domain NASA) astronaut photo, 150x150 pixels."""
    return Image.fromarray(astronaut()[40:190, 150:300]).resize((side, side), Image.BILINEAR)


def background(seed=0) -> Image.Image:
    """A 640x480 photo-sized colour background: a horizontal gradient plus noise, no face."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(40, 200, 640)[None, :, None] * np.array([1.0, 0.9, 0.8])
    pixels = gradient + rng.integers(0, 50, (480, 640, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def photo_with_face(at=FACE_AT, side=150) -> Image.Image:
    photo = background()
    photo.paste(face_patch(side), at)
    return photo


def inside(box, left, top, side):
    return left <= box["xmin"] < box["xmax"] <= left + side and top <= box["ymin"] < box["ymax"] <= top + side


def pasted_face(left, top, side):
    """The face's box in a photo where the patch was pasted at (left, top), `side` pixels wide."""
    scale = side / 150
    return {"xmin": left + PATCH_FACE[0] * scale, "ymin": top + PATCH_FACE[1] * scale,
            "xmax": left + PATCH_FACE[2] * scale, "ymax": top + PATCH_FACE[3] * scale}


def iou(a, b):
    ix = max(0, min(a["xmax"], b["xmax"]) - max(a["xmin"], b["xmin"]))
    iy = max(0, min(a["ymax"], b["ymax"]) - max(a["ymin"], b["ymin"]))
    area = lambda box: (box["xmax"] - box["xmin"]) * (box["ymax"] - box["ymin"])  # noqa: E731
    return ix * iy / (area(a) + area(b) - ix * iy)


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    config = FERTimmConfig(backbone="test_efficientnet", image_size=48, id2label=dict(enumerate(LABELS)),
                           label2id={name: i for i, name in enumerate(LABELS)})
    model = FERTimmForImageClassification(config).eval()
    processor = FERImageProcessor(size={"height": 48, "width": 48}, image_mean=config.image_mean,
                                  image_std=config.image_std)
    return EmotionImageClassificationPipeline(model=model, image_processor=processor)


def test_face_pasted_in_a_photo_is_found_and_cropped_there():
    photo = photo_with_face()
    boxes = detect_faces(photo)
    assert len(boxes) == 1 and inside(boxes[0], *FACE_AT, 150)
    assert boxes[0]["xmax"] - boxes[0]["xmin"] >= 60  # the face, not a speck inside it
    faces = crop_faces(photo)
    assert len(faces) == 1
    face = faces[0]
    crop = face["crop_box"]
    assert crop["xmax"] - crop["xmin"] == crop["ymax"] - crop["ymin"]  # square
    assert crop["xmin"] <= face["box"]["xmin"] and face["box"]["xmax"] <= crop["xmax"]  # with a margin
    assert face["image"].size == (48, 48) and face["image"].mode == "L"  # the FER2013 training crop
    # The crop shows the pasted face: it matches the face region of the photo, not the background.
    expected = photo.convert("L").resize((48, 48), Image.BILINEAR, box=tuple(crop.values()))
    assert np.abs(np.asarray(face["image"], float) - np.asarray(expected, float)).mean() < 1.0
    assert crop_faces(photo, face_size=64, grayscale=False)[0]["image"].size == (64, 64)


def test_no_face_gives_no_face_result(classifier):
    photo = background(1)
    assert detect_faces(photo) == [] and crop_faces(photo) == []
    assert classifier(photo, detect_faces=True) == []
    assert classifier(photo, detect_faces="all") == []
    # Without the face step the stock behaviour stands: the whole image is classified.
    assert len(classifier(photo, top_k=7)) == 7


def test_pipeline_classifies_the_largest_face_or_every_face(classifier, tmp_path):
    photo = photo_with_face()
    photo.paste(face_patch(100), (40, 60))  # a second, smaller face
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=95)
    largest = classifier(str(path), detect_faces=True, top_k=3)
    assert len(largest) == 3 and all(entry["label"] in LABELS for entry in largest)
    assert all(inside(entry["box"], *FACE_AT, 150) for entry in largest)
    every = classifier(str(path), detect_faces="all", top_k=7)
    assert len(every) == 2
    assert inside(every[0]["box"], *FACE_AT, 150) and inside(every[1]["box"], 40, 60, 100)  # largest first
    assert sorted(p["label"] for p in every[0]["predictions"]) == sorted(LABELS)
    # The face's scores are the model's on its grey 48x48 crop.
    crop = crop_faces(photo, max_faces=1)[0]["image"]
    expected = classifier(crop, top_k=1)[0]
    assert largest[0]["label"] == expected["label"] and abs(largest[0]["score"] - expected["score"]) < 1e-4
    with pytest.raises(ValueError, match="detect_faces"):
        classifier(photo, detect_faces="biggest")


# -- boxes in the photo's own pixels; no face is not a failed detector (issue 26, item 5) -----------------------------
BIG_FACE_AT, BIG_FACE_SIDE = (2400, 1100), 600  # where the face patch is pasted in the 4000x3000 photo


def big_photo() -> Image.Image:
    """A 4000x3000 photo, larger than the pipeline's 2048-pixel load, with the face patch at BIG_FACE_AT."""
    rng = np.random.default_rng(7)
    photo = Image.fromarray(rng.integers(40, 200, (300, 400, 3), dtype=np.uint8)).resize((4000, 3000), Image.BILINEAR)
    photo.paste(face_patch(BIG_FACE_SIDE), BIG_FACE_AT)
    return photo


def assert_at(box, expected, width, height):
    """Each edge within 2 % of the photo's side of the known face box, and the same region (IoU >= 0.6)."""
    for edge, side in (("xmin", width), ("xmax", width), ("ymin", height), ("ymax", height)):
        assert abs(box[edge] - expected[edge]) <= 0.02 * side, (edge, box, expected)
    assert iou(box, expected) >= 0.6, (box, expected)


def test_boxes_of_a_large_photo_are_in_its_own_pixels(classifier, tmp_path):
    photo, expected = big_photo(), pasted_face(*BIG_FACE_AT, BIG_FACE_SIDE)  # the face at x 2496-2904, y 1196-1644
    path = tmp_path / "big.jpg"
    photo.save(path, quality=90)
    assert max(load_photo(str(path)).size) <= 2048  # searched reduced...
    for source in (str(path), photo):  # a JPEG decoded at 1/2 scale (draft); a PIL image reduced once loaded
        faces = classifier(source, detect_faces="all")
        assert len(faces) == 1
        assert_at(faces[0]["box"], expected, 4000, 3000)  # ... and answered in the photo's pixels
    assert classifier(str(path), detect_faces=True, top_k=1)[0]["box"] == faces[0]["box"]
    assert_at(detect_faces(photo)[0], expected, 4000, 3000)  # the function alike, at any size
    # Stored on its side with EXIF orientation 6 (viewers turn it upright): boxes in the upright photo's pixels.
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = tmp_path / "rotated.jpg"
    photo.transpose(Image.Transpose.ROTATE_90).save(rotated, exif=exif, quality=90)
    assert_at(classifier(str(rotated), detect_faces="all")[0]["box"], expected, 4000, 3000)


def test_a_failing_detector_is_not_no_face(classifier, monkeypatch, tmp_path):
    assert classifier(background(1), detect_faces="all") == []  # looked, found none
    path = tmp_path / "photo.jpg"
    photo_with_face().save(path)

    def broken(image, min_face_size, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setitem(face_detection._DETECT, "mtcnn", broken)
    with pytest.raises(FaceDetectionError, match=r"photo\.jpg.*mtcnn face detector failed on this 640x480 image "
                                                 r"\(RuntimeError: out of memory\)"):
        classifier(str(path), detect_faces="all")
    with pytest.raises(FaceDetectionError, match="PIL image: the mtcnn face detector failed"):
        find_faces(photo_with_face())
    # Smaller than the smallest face looked for: the detector cannot look, which is not "no face" either.
    with pytest.raises(ValueError, match=r"20x20 pixels, smaller than the smallest face looked for \(24 px"):
        find_faces(Image.new("L", (20, 20)), detector="haar")


# -- the face step in front of any classifier (issue 27, item 2) -------------------------------------------------
def head_and_shoulders(side=400) -> tuple[Image.Image, dict]:
    """astronaut() from the top of her hair to below the suit's collar, 380x380 scaled to `side` in the 640x480 photo
    at (100, 40), and where her face is."""
    photo, scale = background(), side / 380
    photo.paste(Image.fromarray(astronaut()).crop((40, 0, 420, 380)).resize((side, side), Image.BICUBIC), (100, 40))
    x0, y0, x1, y1 = ASTRONAUT_FACE
    return photo, {"xmin": 100 + (x0 - 40) * scale, "ymin": 40 + y0 * scale, "xmax": 100 + (x1 - 40) * scale,
                   "ymax": 40 + y1 * scale}


def test_head_and_shoulders_give_the_face_not_a_larger_false_box(classifier):
    """OpenCV's cascade puts a box larger than the face on the suit here, and kept it as "the largest face"."""
    photo, face = head_and_shoulders()
    faces = classifier(photo, detect_faces="all")
    assert len(faces) == 1 and iou(faces[0]["box"], face) >= 0.6
    assert 0.9 <= faces[0]["face_score"] <= 1
    assert iou(classifier(photo, detect_faces=True)[0]["box"], face) >= 0.6
    haar = find_faces(photo, detector="haar")  # the cascade, on request: its boxes, no score
    assert haar and all(f["score"] is None for f in haar)


def test_every_face_through_a_stock_timm_folder(tmp_path):
    from transformers import ImageClassificationPipeline, TimmWrapperForImageClassification, pipeline

    torch.manual_seed(0)
    config = FERTimmConfig(backbone="test_efficientnet", image_size=48, id2label=dict(enumerate(LABELS)),
                           label2id={name: i for i, name in enumerate(LABELS)})
    folder = str(tmp_path / "stock")
    FERTimmForImageClassification(config).eval().save_stock_pretrained(folder)
    assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors"]  # no code to trust
    assert "auto_map" not in json.load(open(os.path.join(folder, "config.json")))
    stock = pipeline("image-classification", model=folder)  # plain transformers, no remote code
    assert type(stock) is ImageClassificationPipeline and type(stock.model) is TimmWrapperForImageClassification
    photo = photo_with_face()
    photo.paste(face_patch(100), (40, 60))
    truth = [pasted_face(*FACE_AT, 150), pasted_face(40, 60, 100)]  # largest first
    # The function: every face, its box, the stock classifier's scores on its crop.
    faces = classify_faces(photo, stock, top_k=7)
    assert len(faces) == 2 and all(iou(face["box"], box) >= 0.6 for face, box in zip(faces, truth))
    for face, crop in zip(faces, crop_faces(photo)):
        assert face["box"] == crop["box"] and face["face_score"] == crop["score"]
        assert_same_scores(face["predictions"], stock(crop["image"].convert("RGB"), top_k=7))
    # The pipeline on the same stock folder: the same faces and scores; no face says so; no face step stays stock.
    faces_pipeline = pipeline("image-classification", model=folder, pipeline_class=EmotionImageClassificationPipeline)
    assert type(faces_pipeline.model) is TimmWrapperForImageClassification
    found = faces_pipeline(photo, detect_faces="all", top_k=7)
    assert [face["box"] for face in found] == [face["box"] for face in faces]
    for a, b in zip(found, faces):
        assert a["face_score"] == b["face_score"]
        assert_same_scores(a["predictions"], b["predictions"])
    assert faces_pipeline(background(1), detect_faces="all") == [] and classify_faces(background(1), stock) == []
    assert_same_scores(faces_pipeline(photo, top_k=7), stock(photo, top_k=7))


def test_face_step_without_its_detector_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    monkeypatch.setattr(face_detection, "_CASCADES", {})
    with pytest.raises(ImportError, match=r"emotion-hub\[faces\]"):
        detect_faces(photo_with_face(), detector="haar")
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    monkeypatch.setattr(face_detection, "_MTCNN", {})
    with pytest.raises(ImportError, match=r"emotion-hub\[faces\].*facenet-pytorch"):
        detect_faces(photo_with_face())


# -- bad images ------------------------------------------------------------------------------------------------------
def test_corrupt_empty_and_non_image_files_name_the_file(classifier, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png.*empty"):
        classifier(str(empty))
    buffer = io.BytesIO()
    photo_with_face().save(buffer, format="JPEG")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])  # truncated
    with pytest.raises(ValueError, match="corrupt.jpg.*cannot decode"):
        classifier(str(corrupt))
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    with pytest.raises(ValueError, match="notes.txt.*cannot decode"):
        classifier(str(text))
    with pytest.raises(ValueError, match="missing.png.*no such file"):
        classifier(str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match="bytes input.*cannot decode"):
        classifier(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(TypeError, match="expected an image"):
        classifier(3.5)


def test_empty_and_tiny_images(classifier):
    with pytest.raises(ValueError, match=r"empty \(0x0 pixels\)"):
        classifier(Image.new("L", (0, 0)))
    with pytest.raises(ValueError, match=r"1x1 pixels.*at least 8x8"):
        classifier(Image.new("L", (1, 1)))
    with pytest.raises(ValueError, match=r"1x1 pixels.*at least 8x8"):
        classifier(Image.new("L", (1, 1)), detect_faces=True)


def scores(result):
    return {entry["label"]: entry["score"] for entry in result}


def assert_same_scores(a, b, tol=1e-5):
    a, b = scores(a), scores(b)
    assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < tol for k in a)


def test_modes_rgba_16bit_and_palette_have_defined_results(classifier):
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    reference = classifier(Image.fromarray(grey), top_k=7)
    # 16-bit grey (mode I;16): scaled to 8 bits (PIL's own conversion would clip everything above 255 to white).
    sixteen = Image.fromarray(grey.astype(np.uint16) * 257)
    assert sixteen.mode == "I;16"
    assert_same_scores(classifier(sixteen, top_k=7), reference)
    assert_same_scores(classifier(grey.astype(np.uint16) * 257, top_k=7), reference)  # a uint16 array alike
    # RGBA: laid on white, as transformers' convert_rgb; fully transparent = white.
    rgb = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    opaque = Image.fromarray(np.dstack([rgb, np.full((48, 48), 255, np.uint8)]))
    assert opaque.mode == "RGBA"
    assert_same_scores(classifier(opaque, top_k=7), classifier(Image.fromarray(rgb), top_k=7))
    transparent = Image.fromarray(np.dstack([rgb, np.zeros((48, 48), np.uint8)]))
    assert_same_scores(classifier(transparent, top_k=7), classifier(Image.new("RGB", (48, 48), "white"), top_k=7))
    # Palette: its colours.
    palette = Image.fromarray(rgb).quantize(16)
    assert palette.mode == "P"
    assert_same_scores(classifier(palette, top_k=7), classifier(palette.convert("RGB"), top_k=7))


def test_arrays_wrong_dtype_nan_and_layouts(classifier):
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    reference = classifier(Image.fromarray(rgb), top_k=7)
    assert_same_scores(classifier(rgb, top_k=7), reference)
    assert_same_scores(classifier(torch.from_numpy(rgb).permute(2, 0, 1), top_k=7), reference)  # (c, h, w)
    assert_same_scores(classifier(rgb.astype(np.float32), top_k=7), reference)
    nan = rgb.astype(np.float32)
    nan[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="numpy image has NaN"):
        classifier(nan)
    with pytest.raises(TypeError, match="dtype complex"):
        classifier(rgb.astype(np.complex64))
    with pytest.raises(TypeError, match="dtype bool"):
        classifier(rgb > 128)
    with pytest.raises(TypeError, match="dtype <U"):
        classifier(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match="shape"):
        classifier(np.zeros((4, 48, 48, 3), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        classifier(np.zeros((0, 48), np.uint8))


def test_huge_image_is_reduced_before_decoding(classifier, tmp_path):
    """A 10000x10000 JPEG: decoded at reduced scale (PIL draft) and shrunk to <= 2048 pixels; the decode adds far
    less memory than the 100 MB of its full-size grey pixels (measured in a fresh Python)."""
    path = tmp_path / "huge.jpg"
    code = f"""
        from PIL import Image, ImageDraw
        image = Image.new("L", (10000, 10000), 90)
        ImageDraw.Draw(image).ellipse((2000, 2000, 8000, 8000), fill=200)
        image.save({str(path)!r}, quality=70)
    """
    run_clean_python(code, cwd=str(tmp_path))
    assert os.path.getsize(path) > 0
    image = load_photo(str(path))
    assert max(image.size) <= 2048 and image.mode == "L"
    result = classifier(str(path), top_k=2)
    assert len(result) == 2
    assert classifier(str(path), detect_faces=True) == []
    # Peak memory of the load alone, in a Python that has imported everything first.
    measure = f"""
        import resource, sys
        sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r} + "/modeling")
        import pipeline_image_classification as p
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        image = p.load_photo({str(path)!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(image.size, (after - before) / 1024)
    """
    size, grown_mb = run_clean_python(measure, cwd=str(tmp_path)).strip().rsplit(" ", 1)
    assert float(grown_mb) < 40, f"loading the 10000x10000 JPEG grew the peak memory by {grown_mb} MB"


def test_exif_rotation_is_applied(classifier, tmp_path):
    rng = np.random.default_rng(6)
    upright = Image.fromarray(rng.integers(0, 256, (40, 60), dtype=np.uint8))  # 60 wide, 40 high
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=100)
    loaded = load_photo(str(path))
    assert loaded.size == (60, 40)
    assert np.abs(np.asarray(loaded, float) - np.asarray(upright, float)).mean() < 8  # JPEG noise only
