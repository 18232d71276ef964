import collections
import itertools
import os
import re

import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.savee import EMOTIONS, Savee
from tests.voice_fixtures import write_savee, write_tone


_CACHES = itertools.count()


def build(tmp_path, data_dir, **kwargs):
    cache = tmp_path / f"cache{next(_CACHES)}"
    return load_builder_dataset("savee", "emotion", data_dir=str(data_dir), cache_dir=str(cache), **kwargs)


def test_official_layout_fields_and_speaker_disjoint_splits(tmp_path):
    write_savee(str(tmp_path / "savee"))
    ds = build(tmp_path, tmp_path / "savee")
    assert {k: len(v) for k, v in ds.items()} == {"train": 240, "validation": 120, "test": 120}
    assert {split: sorted(set(ds[split]["speaker"])) for split in ds} == {
        "train": ["DC", "JE"], "validation": ["JK"], "test": ["KL"]}
    assert ds["test"].features["emotion"].names == EMOTIONS
    assert collections.Counter(EMOTIONS[e] for e in ds["test"]["emotion"]) == {
        "neutral": 30, **{name: 15 for name in EMOTIONS if name != "neutral"}}
    row = next(r for r in ds["validation"] if r["file"] == "AudioData/JK/sa07.wav")
    assert (EMOTIONS[row["emotion"]], row["item"], row["speaker"], row["gender"], row["fold"]) == \
        ("sadness", 7, "JK", "male", 2)
    surprise = next(r for r in ds["validation"] if r["file"] == "AudioData/JK/su15.wav")
    assert EMOTIONS[surprise["emotion"]] == "surprise"
    audio = ds["test"][0]["audio"]
    assert audio["sampling_rate"] == 44100 and audio["array"].shape == (2205,)


def test_flat_all_layout_gives_the_same_utterances(tmp_path):
    write_savee(str(tmp_path / "a"), per_code=2)
    write_savee(str(tmp_path / "b"), per_code=2, layout="ALL")
    key = lambda ds: sorted((r["speaker"], r["emotion"], r["item"], r["fold"]) for s in ds.values()  # noqa: E731
                            for r in s.remove_columns(["audio", "file"]))
    official, flat = build(tmp_path, tmp_path / "a"), build(tmp_path, tmp_path / "b")
    assert key(official) == key(flat) and len(key(flat)) == 4 * 7 * 2


def test_bad_names_and_layouts(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)SAVEE has no download URL.*kahlan.eps.surrey.ac.uk/savee"):
        load_builder_dataset("savee", "emotion", cache_dir=str(tmp_path / "c"))
    root = tmp_path / "savee"
    write_savee(str(root), per_code=1)
    cases = [("AudioData/DC/x01.wav", "unknown emotion code 'x'"),
             ("AudioData/a01.wav", "a file named like `a01.wav` must be in a speaker folder"),
             ("AudioData/JE/DC_a02.wav", "speaker DC in the file name but the file is in folder JE"),
             ("ALL/XY_a01.wav", "unknown speaker 'XY'"),
             ("ALL/DC_a01.wav", "are the same utterance (DC anger 01)"),
             ("AudioData/DC/angry.wav", "not a SAVEE file name")]
    for relative, message in cases:
        path = root / relative
        write_tone(str(path), 44100)
        with pytest.raises(ValueError, match=re.escape(message)) as info:
            build(tmp_path, root)
        assert str(path) in str(info.value) or "same utterance" in message
        os.remove(path)
    assert len(list(build(tmp_path, root)["test"])) == 7
    with pytest.raises(ValueError, match=r"`num_folds`=5 needs at least 5 speakers, found 4"):
        build(tmp_path, root, num_folds=5)
    assert "AudioData" in Savee(config_name="emotion").manual_download_instructions
