import collections
import itertools
import logging
import os
import re

import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.crema_d import EMOTIONS, INTENSITIES, SENTENCES, CremaD
from tests.voice_fixtures import CREMA_SEXES, write_crema_d, write_tone


_CACHES = itertools.count()


def build(tmp_path, data_dir, **kwargs):
    cache = tmp_path / f"cache{next(_CACHES)}"
    return load_builder_dataset("crema_d", "emotion", data_dir=str(data_dir), cache_dir=str(cache), **kwargs)


def test_fields_demographics_and_actor_disjoint_gender_balanced_splits(tmp_path):
    write_crema_d(str(tmp_path / "crema"))
    ds = build(tmp_path, tmp_path / "crema", num_folds=4)
    actors = {split: set(ds[split]["actor"]) for split in ds}
    assert sum(len(a) for a in actors.values()) == 12 and not actors["test"] & (actors["train"] | actors["validation"])
    assert not actors["train"] & actors["validation"]
    # 9 women dealt over 4 folds (folds 0, 1, 2, 3, 0, ...), then the 3 men continuing from fold 1
    assert actors["test"] == {1006, 1010, 1011} and actors["validation"] == {1004, 1005, 1009}
    for split in ("validation", "test"):
        assert [CREMA_SEXES[a] for a in sorted(actors[split])].count("Male") == 1
    assert sum(len(s) for s in ds.values()) == 12 * (6 * 3 - 2 + 6 + 6)
    rows = {r["file"]: r for s in ds.values() for r in s.remove_columns("audio")}
    row = rows["AudioWAV/1005_IEO_HAP_HI.wav"]
    features = ds["train"].features
    assert (EMOTIONS[row["emotion"]], INTENSITIES[row["intensity"]], features["sentence"].names[row["sentence"]],
            row["text"], row["actor"], row["speaker"]) == ("happy", "high", "IEO", "It's eleven o'clock", 1005, "1005")
    assert (row["gender"], row["age"], row["race"], row["ethnicity"]) == ("male", 25, "Caucasian", "Not Hispanic")
    assert INTENSITIES[rows["AudioWAV/1002_DFA_NEU_XX.wav"]["intensity"]] == "unspecified"
    assert collections.Counter(INTENSITIES[r["intensity"]] for r in rows.values()) == {
        "low": 60, "medium": 60, "high": 60, "unspecified": 12 * (1 + 12)}
    audio = ds["test"][0]["audio"]
    assert audio["sampling_rate"] == 16000 and audio["array"].shape == (800,)


def test_without_demographics_and_the_misnamed_x_level(tmp_path, caplog):
    root = tmp_path / "crema"
    write_crema_d(str(root / "CREMA-D"), actors=range(1001, 1005), sentences=("ITH",), demographics=False)
    os.rename(root / "CREMA-D" / "AudioWAV" / "1002_ITH_SAD_XX.wav", root / "CREMA-D" / "AudioWAV" / "1002_ITH_SAD_X.wav")
    with caplog.at_level(logging.INFO):
        ds = build(tmp_path, root / "CREMA-D", num_folds=4)
    assert "no VideoDemographics.csv" in caplog.text and "level 'X' read as 'XX'" in caplog.text
    rows = {r["file"]: r for s in ds.values() for r in s.remove_columns("audio")}
    assert INTENSITIES[rows["AudioWAV/1002_ITH_SAD_X.wav"]["intensity"]] == "unspecified"
    assert {r["gender"] for r in rows.values()} == {None} and {r["age"] for r in rows.values()} == {None}


def test_lfs_pointers_bad_names_and_empty_clips(tmp_path, caplog):
    with pytest.raises(FileNotFoundError, match=r"(?s)CREMA-D has no download URL.*git lfs"):
        load_builder_dataset("crema_d", "emotion", cache_dir=str(tmp_path / "c"))
    root = tmp_path / "crema"
    write_crema_d(str(root), actors=range(1001, 1005), sentences=("MTI",))
    audio = root / "AudioWAV"
    cases = [("1001_MTI_JOY_XX.wav", "unknown emotion code 'JOY'"), ("1001_ABC_ANG_XX.wav", "unknown sentence code 'ABC'"),
             ("1092_MTI_ANG_XX.wav", "unknown actor 1092"), ("1001_MTI_ANG_MED.wav", "not a CREMA-D file name"),
             ("1001_MTI_ANG_XY.wav", "unknown level code 'XY'"), ("1001_MTI_ANG_X.wav", "are the same clip")]
    for name, message in cases:
        write_tone(str(audio / name), 16000)
        with pytest.raises(ValueError, match=re.escape(message)) as info:
            build(tmp_path, root, num_folds=4)
        assert name in str(info.value)
        os.remove(audio / name)
    with open(root / "VideoDemographics.csv", "a") as f:
        f.write('1003,30,"Other","Asian","Not Hispanic"\n')
    with pytest.raises(ValueError, match=r"VideoDemographics.csv, line 6: Sex 'Other' is not Male or Female"):
        build(tmp_path, root, num_folds=4)
    write_crema_d(str(root), actors=range(1001, 1005), sentences=("MTI",))  # rewrites a clean demographics file
    pointer, empty = audio / "1002_MTI_DIS_XX.wav", audio / "1004_MTI_SAD_XX.wav"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 81234\n")
    empty.write_bytes(empty.read_bytes()[:44])  # a clip whose header announces no samples
    with pytest.raises(ValueError) as info:
        build(tmp_path, root, num_folds=4)
    assert "CREMA-D: 2 of 24 audio files are unreadable or empty" in str(info.value)
    assert f"{pointer}: a Git LFS pointer, not audio (fetch the real file with `git lfs pull`)" in str(info.value)
    assert f"{empty}: no audio samples (header only)" in str(info.value)
    with caplog.at_level(logging.WARNING):
        ds = build(tmp_path, root, num_folds=4, on_bad_file="skip")
    assert sum(len(s) for s in ds.values()) == 22 and str(empty) in caplog.text
    assert set(SENTENCES) >= {"MTI"} and "gitlab.com/cs-cooper-lab" in CremaD(config_name="emotion").manual_download_instructions
