import logging
import os
import re
import shutil

import numpy as np
import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.fer2013 import LABELS, Fer2013
from tests.conftest import SHARED_DATA
from tests.fixtures import FER_LABELS, write_fer2013_csv, write_fer2013_folder
from tests.utils import error_chain


def build(layout, data_dir, cache):
    return load_builder_dataset("fer2013", layout, data_dir=str(data_dir), cache_dir=str(cache))


def test_labels_are_the_official_csv_ids():
    assert LABELS == FER_LABELS == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def test_csv_layout_splits_labels_and_exact_pixels(tmp_path):
    rows = write_fer2013_csv(tmp_path / "fer2013.csv", per_class=(3, 2, 1))
    ds = build("csv", tmp_path, tmp_path / "c")
    assert {k: len(v) for k, v in ds.items()} == {"train": 21, "validation": 14, "test": 7}
    assert ds["train"].features["label"].names == LABELS
    for split, usage in (("train", "Training"), ("validation", "PublicTest"), ("test", "PrivateTest")):
        expected = [r for r in rows if r[1] == usage]
        assert [e["label"] for e in ds[split]] == [r[0] for r in expected]
        assert set(ds[split]["usage"]) == {usage}
        first = ds[split][0]["image"]
        assert first.mode == "L" and first.size == (48, 48)
        assert np.array_equal(np.array(first), expected[0][2])  # stored losslessly (PNG)
    # data rows are numbered from 1 in file order
    first_public = next(i for i, r in enumerate(rows) if r[1] == "PublicTest") + 1
    assert ds["validation"][0]["image_id"] == f"row{first_public}" and first_public > 21


def test_csv_in_the_unpacked_archive_folder(tmp_path):
    os.makedirs(tmp_path / "fer2013")
    write_fer2013_csv(tmp_path / "fer2013" / "fer2013.csv", per_class=(1, 1, 1))
    assert len(build("csv", tmp_path, tmp_path / "c")["test"]) == 7


def _rewrite_csv_line(path, line_number, change):
    lines = open(path, encoding="utf-8").read().splitlines()
    lines[line_number] = change(lines[line_number])
    open(path, "w", encoding="utf-8").write("\n".join(lines) + "\n")


@pytest.mark.parametrize("change,message", [
    (lambda line: line.rsplit(" ", 1)[0] + "," + line.rsplit(",", 1)[1],
     r"data row 3 \(line 4\): 2303 pixel values, expected 2304 \(48x48\)"),
    (lambda line: re.sub(r"^(\d),\d+ ", r"\1,300 ", line),
     r"data row 3 \(line 4\): pixel values must be in 0-255, found \d+..300"),
    (lambda line: "9" + line[1:], r"data row 3 \(line 4\): emotion '9' is not a label id 0-6"),
    (lambda line: line.rsplit(",", 1)[0] + ",Validation", r"data row 3 \(line 4\): Usage 'Validation' is not one of"),
    (lambda line: line.replace(" ", " x", 1), r"data row 3 \(line 4\): pixels must be integers 0-255"),
])
def test_bad_csv_rows_name_the_row(tmp_path, change, message):
    write_fer2013_csv(tmp_path / "fer2013.csv", per_class=(1, 1, 1))
    _rewrite_csv_line(tmp_path / "fer2013.csv", 3, change)
    with pytest.raises(Exception) as info:
        build("csv", tmp_path, tmp_path / "c")
    assert re.search(message, error_chain(info.value)), error_chain(info.value)
    assert "fer2013.csv" in error_chain(info.value)


def test_csv_missing_file_or_column(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)'fer2013.csv' not found.*gated on Kaggle.*emotion,pixels,Usage"):
        build("csv", tmp_path, tmp_path / "c")
    (tmp_path / "fer2013.csv").write_text("emotion,pixels\n0,1 2 3\n")
    with pytest.raises(Exception) as info:
        build("csv", tmp_path, tmp_path / "c2")
    assert "missing columns ['Usage']" in error_chain(info.value)


def test_no_data_dir_gives_the_manual_download_instructions(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)needs `data_dir` \(manual download\).*fer2013.tar.gz"):
        Fer2013(config_name="csv", cache_dir=str(tmp_path)).download_and_prepare()
    assert "msambare/fer2013" in Fer2013(config_name="image_folder", cache_dir=str(tmp_path)).manual_download_instructions


def test_image_folder_layout_the_file_prefix_decides_the_split(tmp_path, caplog):
    written = write_fer2013_folder(str(tmp_path / "fer"), per_class=(2, 1, 1))
    # Kaggle copies that split test/ further, or a PublicTest file in train/: the name's prefix decides.
    moved = "train/happy/PublicTest_9999.jpg"
    shutil.copy(tmp_path / "fer" / "test" / "happy" / next(iter(os.listdir(tmp_path / "fer" / "test" / "happy"))),
                tmp_path / "fer" / moved)
    # Capitalised folder names map to the same labels; Kaggle's ids repeat across folders with different faces.
    os.rename(tmp_path / "fer" / "train" / "sad", tmp_path / "fer" / "train" / "Sad")
    name = os.listdir(tmp_path / "fer" / "train" / "angry")[0]
    shutil.copy(tmp_path / "fer" / "train" / "Sad" / os.listdir(tmp_path / "fer" / "train" / "Sad")[0],
                tmp_path / "fer" / "train" / "fear" / name)
    (tmp_path / "fer" / "train" / "angry" / ".DS_Store").write_bytes(b"\0")
    with caplog.at_level(logging.WARNING):
        ds = build("image_folder", tmp_path / "fer", tmp_path / "c")
    assert "skipped 1 hidden files" in caplog.text
    assert {k: len(v) for k, v in ds.items()} == {"train": 15, "validation": 8, "test": 7}
    by_id = {e["image_id"]: e for split in ds.values() for e in split}
    assert by_id[moved]["usage"] == "PublicTest" and LABELS[by_id[moved]["label"]] == "happy"
    assert moved in set(ds["validation"]["image_id"])
    assert LABELS[by_id[f"train/fear/{name}"]["label"]] == "fear" and LABELS[by_id[f"train/angry/{name}"]["label"]] == "angry"
    for relative, (label, pixels) in written.items():
        relative = relative.replace("train/sad/", "train/Sad/")
        example = by_id[relative]
        assert example["label"] == label
        # JPEG is lossy: the decoded face is close to, not equal to, the written array
        assert np.abs(np.array(example["image"], dtype=int) - pixels).mean() < 8
    assert ds["train"].features["image"].decode is True


@pytest.mark.parametrize("damage,message", [
    ("corrupt", r"test/fear/PrivateTest_\d+\.jpg: corrupt or unreadable image"),
    ("truncated", r"train/happy/Training_\d+\.jpg: corrupt or unreadable image"),
    ("unknown_folder", r"train/contempt: unknown label folder 'contempt'; the labels are \['angry'"),
    ("bad_name", r"train/sad/face_1\.jpg: not a FER2013 image name"),
    ("no_private", r"no PrivateTest images found"),
])
def test_bad_image_folders_name_the_file(tmp_path, damage, message):
    root = tmp_path / "fer"
    write_fer2013_folder(str(root), per_class=(1, 1, 1))
    if damage == "corrupt":
        path = root / "test" / "fear" / [n for n in os.listdir(root / "test" / "fear") if n.startswith("Private")][0]
        path.write_bytes(b"this is not a jpeg")
    elif damage == "truncated":
        path = root / "train" / "happy" / os.listdir(root / "train" / "happy")[0]
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "unknown_folder":
        shutil.copytree(root / "train" / "sad", root / "train" / "contempt")
    elif damage == "bad_name":
        shutil.copy(root / "train" / "sad" / os.listdir(root / "train" / "sad")[0], root / "train" / "sad" / "face_1.jpg")
    else:
        for folder in os.listdir(root / "test"):
            for name in os.listdir(root / "test" / folder):
                if name.startswith("PrivateTest"):
                    os.remove(root / "test" / folder / name)
    with pytest.raises(Exception) as info:
        build("image_folder", root, tmp_path / "c")
    assert re.search(message, error_chain(info.value)), error_chain(info.value)


def test_unknown_config_and_layout():
    with pytest.raises(ValueError, match=r"'images' not found. Available: \['csv', 'image_folder'\]"):
        Fer2013(config_name="images")
    with pytest.raises(ValueError, match="`layout` must be 'csv' or 'image_folder'"):
        Fer2013(config_name="csv", layout="hdf5")


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "fer2013")), reason="real FER2013 not available")
def test_real_fer2013_image_folder_splits_and_label_counts():
    """Split and label counts of the real Kaggle folder equal its PROVENANCE.md table (listing only, no decoding)."""
    data_dir = os.path.join(SHARED_DATA, "fer2013")
    files = Fer2013(config_name="image_folder", data_dir=data_dir)._scan_folders(data_dir)
    provenance = {  # PROVENANCE.md: angry, disgust, fear, happy, neutral, sad, surprise
        "Training": [3995, 436, 4097, 7215, 4965, 4830, 3171],
        "PublicTest": [467, 56, 496, 895, 607, 653, 415],
        "PrivateTest": [491, 55, 528, 879, 626, 594, 416],
    }
    order = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    for usage, expected in provenance.items():
        counts = np.bincount([label for _, label, _, _ in files[usage]], minlength=7)
        assert [int(counts[LABELS.index(name)]) for name in order] == expected, usage
    assert {usage: len(found) for usage, found in files.items()} == {"Training": 28709, "PublicTest": 3589,
                                                                      "PrivateTest": 3589}
