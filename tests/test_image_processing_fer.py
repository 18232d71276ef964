import numpy as np
import pytest
import torch
from PIL import Image

import train
from emotion_hub.processing import FERImageProcessor
from tests.fixtures import fer_face


MEAN, STD = 0.51, 0.26


@pytest.fixture(scope="module")
def processor():
    return FERImageProcessor(image_mean=[MEAN] * 3, image_std=[STD] * 3)


@pytest.fixture(scope="module")
def face():
    return fer_face(3, np.random.default_rng(0))


def pixels(processor, images, **kwargs):
    return processor(images, return_tensors="pt", **kwargs)["pixel_values"]


def test_every_input_kind_gives_normalised_48x48(processor, face):
    expected = (torch.from_numpy(face).float() / 255 - MEAN) / STD
    gray = Image.fromarray(face, mode="L")
    inputs = {
        "PIL grayscale": gray,
        "PIL RGB": gray.convert("RGB"),
        "PIL RGBA": gray.convert("RGBA"),
        "numpy HxW": face,
        "numpy HxWx1": face[:, :, None],
        "numpy HxWx3": np.repeat(face[:, :, None], 3, axis=2),
        "tensor HxW": torch.from_numpy(face),
        "tensor 3xHxW": torch.from_numpy(face)[None].expand(3, -1, -1).clone(),
    }
    for name, image in inputs.items():
        out = pixels(processor, image)
        assert out.shape == (1, 3, 48, 48) and out.dtype == torch.float32, name
        for channel in range(3):
            torch.testing.assert_close(out[0, channel], expected, rtol=0, atol=1e-5, msg=name)
    # a grayscale image and its RGB version give exactly the same input
    assert torch.equal(pixels(processor, gray), pixels(processor, gray.convert("RGB")))
    assert torch.equal(pixels(processor, gray), pixels(processor, face))


def test_any_size_and_batches(processor, face):
    big = Image.fromarray(face, mode="L").resize((300, 300), Image.BICUBIC)
    out = pixels(processor, big)
    assert out.shape == (1, 3, 48, 48)
    # downsizing a 300x300 upscale recovers the face (antialiased resize), up to interpolation error
    assert (out[0, 0] * STD + MEAN - torch.from_numpy(face) / 255).abs().mean() < 0.05
    wide = np.asarray(big.convert("RGB").resize((300, 120)))
    batch = pixels(processor, [face, big, wide, np.array(big)])
    assert batch.shape == (4, 3, 48, 48)
    assert torch.equal(batch[1], batch[3])


@pytest.mark.parametrize("image,message", [
    (Image.new("L", (0, 0)), r"PIL image is empty \(0x0 pixels\)"),
    (np.zeros((0, 0), dtype=np.uint8), r"numpy image is empty \(shape \(0, 0\)\)"),
    (Image.new("L", (1, 1)), r"PIL image is 1x1 pixels; FERImageProcessor needs at least 8x8 \(`min_image_size`\)"),
    (np.zeros((2, 2, 3), dtype=np.uint8), r"numpy image is 2x2 pixels"),
    (torch.zeros(1, 1), r"tensor image is 1x1 pixels"),
    (Image.new("RGB", (200, 5)), r"PIL image is 200x5 pixels"),
    (np.full((48, 48), np.nan, dtype=np.float32), r"numpy image has NaN or infinite pixel values"),
])
def test_unusable_images_are_refused(processor, image, message):
    with pytest.raises(ValueError, match=message):
        processor(image)


def test_error_names_the_file(processor, tmp_path):
    Image.new("L", (1, 1)).save(tmp_path / "dot.png")
    with Image.open(tmp_path / "dot.png") as image:
        with pytest.raises(ValueError, match=r"image '.*dot\.png' is 1x1 pixels"):
            processor(image)
    with pytest.raises(ValueError, match="min_image_size"):
        FERImageProcessor(min_image_size=0)


def test_processor_output_equals_training_time_eval_preprocessing(processor, face, tmp_path, monkeypatch):
    """The pipeline must see what training saw: decode_images + the eval collator vs the processor, bit for bit."""
    import datasets

    rgb = np.asarray(Image.fromarray(face, mode="L").resize((300, 300)).convert("RGB"))
    Image.fromarray(face, mode="L").save(tmp_path / "gray.jpg")
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    for path in ("gray.jpg", "colour.png"):
        split = datasets.Dataset.from_dict({"image": [str(tmp_path / path)], "label": [0]},
                                           features=datasets.Features({"image": datasets.Image(),
                                                                       "label": datasets.Value("int64")}))
        decoded = train.decode_images(split, "image", processor, "test")
        batch = train.ImageCollator(processor)([{"pixel_values": decoded[0], "labels": 0}])
        with Image.open(tmp_path / path) as image:
            assert torch.equal(batch["pixel_values"], pixels(processor, image)), path
    # A training batch (uint8 from the collator, augmented in float in the loop) without augmentation is the eval batch
    batch = [{"pixel_values": torch.from_numpy(face)[None], "labels": 1}]
    raw = train.ImageCollator(processor, normalize=False)(batch)["pixel_values"]
    assert raw.dtype == torch.uint8
    augmented = train.normalize_pixels(processor, train.ImageAugmentation()(raw.float(), fill=0.0))
    assert torch.equal(augmented, train.ImageCollator(processor)(batch)["pixel_values"])


def test_augmentation_is_batched_random_and_within_range():
    images = torch.from_numpy(np.stack([fer_face(i % 7, np.random.default_rng(i)) for i in range(16)]))[:, None].float()
    flipped = train.ImageAugmentation(hflip=1.0)(images, fill=0.0)
    torch.testing.assert_close(flipped, images.flip(-1), rtol=0, atol=1e-3)  # a pure flip moves pixels exactly
    torch.manual_seed(0)
    augmented = train.ImageAugmentation(hflip=0.5, rotation=10, translate=0.1, scale=[0.9, 1.1], brightness=0.1,
                                        contrast=0.2, erasing=0.5)(images, fill=128.0)
    assert augmented.shape == images.shape and augmented.min() >= 0 and augmented.max() <= 255
    changed = (augmented - images).abs().flatten(1).mean(1)
    assert (changed > 1).all() and changed.std() > 0.5  # every image moved, each differently
    torch.manual_seed(0)
    erased = train.ImageAugmentation(erasing=1.0)(images, fill=128.0)
    area = (erased == 128.0).flatten(1).float().mean(1)
    assert ((area >= 0.015) & (area <= 0.25)).all()  # 2-20% of the image, up to rounding
    with pytest.raises(ValueError, match=r"unknown `augmentation` keys \['mixup'\]"):
        train.ImageAugmentation(mixup=0.2)
    with pytest.raises(ValueError, match=r"`augmentation.scale` must be \[min, max\]"):
        train.ImageAugmentation(scale=[1.2, 0.8])
