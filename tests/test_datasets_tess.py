import collections
import itertools
import logging
import os
import re

import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.tess import EMOTIONS, Tess
from tests.utils import error_chain
from tests.voice_fixtures import TESS_WORDS, write_tess, write_tone


_CACHES = itertools.count()


def build(tmp_path, data_dir, **kwargs):
    """A fresh cache per build: the `datasets` cache is keyed on the options, not on the files' contents."""
    cache = tmp_path / f"cache{next(_CACHES)}"
    return load_builder_dataset("tess", "emotion", data_dir=str(data_dir), cache_dir=str(cache), **kwargs)


def test_default_split_holds_out_the_younger_speaker(tmp_path):
    write_tess(str(tmp_path / "tess"))
    ds = build(tmp_path, tmp_path / "tess")
    assert {k: len(v) for k, v in ds.items()} == {"train": 126, "validation": 14, "test": 140}
    assert set(ds["test"]["speaker"]) == {"YAF"} and set(ds["train"]["speaker"]) == set(ds["validation"]["speaker"]) \
        == {"OAF"}
    # validation: the words of the last word fold (K=10 over 20 words in natural order: the 10th and 20th)
    assert set(ds["validation"]["word"]) == {TESS_WORDS[9], TESS_WORDS[19]}
    assert not set(ds["validation"]["word"]) & set(ds["train"]["word"])
    assert ds["train"].features["emotion"].names == EMOTIONS
    row = next(r for r in ds["train"] if r["file"] == "OAF_pleasant_surprise/OAF_back_ps.wav")
    assert EMOTIONS[row["emotion"]] == "pleasant_surprise"
    assert (row["speaker"], row["gender"], row["age"], row["word"]) == ("OAF", "female", 64, "back")
    assert collections.Counter(ds["test"]["emotion"]) == {i: 20 for i in range(7)}
    audio = ds["test"][0]["audio"]
    assert audio["sampling_rate"] == 24414 and audio["array"].shape == (1221,)


def test_word_disjoint_splits_and_the_flat_listing(tmp_path):
    write_tess(str(tmp_path / "flat"), flat=True)
    ds = build(tmp_path, tmp_path / "flat", split_by="word")
    assert {k: len(v) for k, v in ds.items()} == {"train": 224, "validation": 28, "test": 28}
    words = {split: set(ds[split]["word"]) for split in ds}
    assert words["test"] == {TESS_WORDS[9], TESS_WORDS[19]} and words["validation"] == {TESS_WORDS[8], TESS_WORDS[18]}
    assert not words["train"] & (words["test"] | words["validation"])
    assert all(set(ds[split]["speaker"]) == {"OAF", "YAF"} for split in ds)
    oaf = build(tmp_path, tmp_path / "flat", test_speaker="OAF")
    assert set(oaf["test"]["speaker"]) == {"OAF"}


def test_bad_names_duplicates_and_missing_data(tmp_path, caplog):
    with pytest.raises(FileNotFoundError, match=r"(?s)TESS has no download URL.*doi.org/10.5683/SP2/E8H2MF"):
        load_builder_dataset("tess", "emotion", cache_dir=str(tmp_path / "c"))
    assert "Borealis" in Tess(config_name="emotion").manual_download_instructions
    root = tmp_path / "tess"
    write_tess(str(root), words=TESS_WORDS[:10])
    bad = root / "OAF_fear" / "OAF_back_surprised.wav"
    write_tone(str(bad), 24414)
    with pytest.raises(ValueError, match=re.escape(f"{bad}: unknown emotion code 'surprised'")):
        build(tmp_path, root)
    bad.rename(root / "OAF_fear" / "MAF_back_fear.wav")
    with pytest.raises(ValueError, match="unknown speaker 'MAF'"):
        build(tmp_path, root)
    os.remove(root / "OAF_fear" / "MAF_back_fear.wav")
    write_tone(str(root / "OAF_back_fear.wav"), 24414)  # the same recording twice (flat copy + folder copy)
    with pytest.raises(ValueError, match=r"OAF_back_fear.wav and .*OAF_back_fear.wav are the same recording"):
        build(tmp_path, root)
    os.remove(root / "OAF_back_fear.wav")
    header_only = root / "YAF_sad" / "YAF_bar_sad.wav"
    header_only.write_bytes(header_only.read_bytes()[:44])
    with pytest.raises(ValueError, match=re.escape(f"{header_only}: no audio samples (header only)")):
        build(tmp_path, root)
    with caplog.at_level(logging.WARNING):
        ds = build(tmp_path, root, on_bad_file="skip")
    assert sum(len(s) for s in ds.values()) == 139 and "TESS: 1 of 140 audio files" in caplog.text
    for folder in root.glob("YAF_*"):
        for path in folder.iterdir():
            path.unlink()
    with pytest.raises(ValueError, match="split_by='speaker' needs both speakers OAF and YAF, found \\['OAF'\\]"):
        build(tmp_path, root, on_bad_file="skip")
    with pytest.raises(ValueError, match="`split_by` must be one of"):
        Tess(config_name="emotion", split_by="actor")
    with pytest.raises(Exception) as info:
        build(tmp_path, tmp_path / "nowhere")
    assert "is not a directory" in error_chain(info.value)
