import collections
import logging
import os
import re

import numpy as np
import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.audio_utils import speaker_folds
from emotion_hub.datasets_scripts.ravdess import EMOTIONS, Ravdess, actor_folds, parse_file_name
from tests.conftest import SHARED_DATA
from tests.http_files import FileServer
from tests.utils import error_chain
from tests.voice_fixtures import write_ravdess, write_tone, zip_tree


@pytest.fixture(scope="module")
def ravdess_24(tmp_path_factory):
    """All 1,440 speech file names of the 24 actors (0.05 s each at 48 kHz)."""
    root = str(tmp_path_factory.mktemp("ravdess24"))
    write_ravdess(root)
    return root


def build(tmp_path, config="speech", **kwargs):
    return load_builder_dataset("ravdess", config, cache_dir=str(tmp_path / "cache"), **kwargs)


def test_speech_fields_and_actor_disjoint_gender_balanced_splits(tmp_path, ravdess_24):
    ds = build(tmp_path, data_dir=ravdess_24)
    assert {k: len(v) for k, v in ds.items()} == {"train": 960, "validation": 240, "test": 240}
    features = ds["train"].features
    assert features["emotion"].names == EMOTIONS
    actors = {split: set(ds[split]["actor"]) for split in ds}
    assert actors["test"] == {11, 12, 23, 24} and actors["validation"] == {9, 10, 21, 22}
    assert len(actors["train"]) == 16 and not actors["train"] & (actors["test"] | actors["validation"])
    for split in ds:  # as many men as women in every split
        assert collections.Counter(ds[split]["gender"]) == {"male": len(ds[split]) // 2, "female": len(ds[split]) // 2}
    folds = actor_folds(range(1, 25), 6)
    rows = list(ds["test"])
    assert all(row["fold"] == folds[row["actor"]] == 5 for row in rows)
    row = next(r for r in rows if r["file"] == "Actor_23/03-01-07-02-01-02-23.wav")
    named = {name: features[name].names[row[name]] for name in
             ("modality", "vocal_channel", "emotion", "intensity", "statement")}
    assert named == {"modality": "audio-only", "vocal_channel": "speech", "emotion": "disgust",
                     "intensity": "strong", "statement": "Kids are talking by the door"}
    assert (row["repetition"], row["actor"], row["gender"], row["speaker"]) == (2, 23, "male", "Actor_23")
    counts = collections.Counter(EMOTIONS[e] for split in ds for e in ds[split]["emotion"])
    assert counts == {"neutral": 96, **{name: 192 for name in EMOTIONS[1:]}}
    assert collections.Counter(ds["train"]["intensity"]) == {0: 16 * 32, 1: 16 * 28}  # normal, strong


def test_audio_column_decodes_and_resamples(tmp_path, ravdess_24):
    ds = build(tmp_path, data_dir=ravdess_24)
    audio = ds["validation"][0]["audio"]
    assert audio["sampling_rate"] == 48000 and audio["array"].shape == (2400,)
    assert audio["array"].dtype == np.float32 and 0.2 < np.abs(audio["array"]).max() < 0.5
    assert tuple(audio.get_all_samples().data.shape) == (1, 2400)
    resampled = build(tmp_path, data_dir=ravdess_24, sampling_rate=16000)["validation"][0]["audio"]
    assert resampled["sampling_rate"] == 16000 and abs(len(resampled["array"]) - 800) <= 1
    raw = ds["validation"].cast_column("audio", type(ds["validation"].features["audio"])(decode=False))[0]["audio"]
    assert raw["path"] == os.path.join(ravdess_24, ds["validation"][0]["file"]) and raw["bytes"] is None


def test_song_config_and_mixed_trees(tmp_path):
    root = str(tmp_path / "mixed")
    write_ravdess(root, actors=range(1, 7), channel="song")
    write_ravdess(root, actors=range(1, 7), channel="speech")
    song = build(tmp_path, "song", data_dir=root, num_folds=3)
    assert song["train"].features["emotion"].names == EMOTIONS[:6]
    assert sum(len(s) for s in song.values()) == 6 * 44
    assert set(song["test"]["vocal_channel"]) == {1}
    speech = build(tmp_path, "speech", data_dir=root, num_folds=3)
    assert sum(len(s) for s in speech.values()) == 6 * 60
    assert {split: sorted(set(speech[split]["actor"])) for split in speech} == {
        "train": [1, 2], "validation": [3, 4], "test": [5, 6]}


def test_actor_folds_api():
    assert actor_folds([3, 4, 11, 12, 23, 24], 3) == {4: 0, 12: 1, 24: 2, 3: 0, 11: 1, 23: 2}
    assert actor_folds(["Actor_03", "04", 3], 2) == {"Actor_03": 1, "04": 0, 3: 1}
    assert actor_folds([5, 5, 6, 1, 2], 2) == {5: 1, 6: 1, 1: 0, 2: 0}  # a column with repeats is fine
    folds = actor_folds(range(1, 25), 5)
    for fold in range(5):
        members = [a for a in folds if folds[a] == fold]
        assert len(members) in (4, 5) and abs(sum(a % 2 for a in members) * 2 - len(members)) <= 1
    with pytest.raises(ValueError, match="not a RAVDESS actor id"):
        actor_folds([0, 1], 2)
    with pytest.raises(ValueError, match=r"`num_folds` must be an int between 2 and the number of distinct speakers \(2\)"):
        actor_folds([1, 2], 3)
    # the generic helper: strata from an aligned column, a seed, natural order
    assert speaker_folds(["S10", "S2", "S1", "S2"], 3) == {"S1": 0, "S2": 1, "S10": 2}
    with pytest.raises(ValueError, match="speaker 'a' has two strata"):
        speaker_folds(["a", "a", "b"], 2, strata=["x", "y", "x"])
    shuffled = speaker_folds([f"s{i}" for i in range(12)], 3, seed=1)
    assert sorted(collections.Counter(shuffled.values()).values()) == [4, 4, 4]


def test_file_name_decoding_errors(tmp_path):
    with pytest.raises(ValueError, match=r"x/03-01-09-01-01-01-01.wav: unknown emotion code 09 \(expected 01-08\)"):
        parse_file_name("x/03-01-09-01-01-01-01.wav")
    with pytest.raises(ValueError, match="does not exist for song"):
        parse_file_name("03-02-08-01-01-01-01.wav")
    with pytest.raises(ValueError, match="neutral .* has no strong intensity"):
        parse_file_name("03-01-01-02-01-01-01.wav")
    with pytest.raises(ValueError, match="actor 02 in the file name but the file is in folder Actor_01"):
        parse_file_name("Actor_01/03-01-03-01-01-01-02.wav")
    with pytest.raises(ValueError, match=r"(?s)not a RAVDESS file name.*Expected a RAVDESS file name and layout"):
        parse_file_name("Actor_01/angry_01.wav")


def test_bad_trees_give_clear_errors(tmp_path, caplog):
    root = tmp_path / "tree"
    write_ravdess(str(root), actors=range(1, 4))
    with pytest.raises(FileNotFoundError, match=r"(?s)is not a directory.*Expected layout.*Actor_01"):
        build(tmp_path, data_dir=str(tmp_path / "nowhere"))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no RAVDESS speech files \(\*-01-\*.wav\) found"):
        build(tmp_path, data_dir=str(tmp_path / "empty_dir"))
    with pytest.raises(ValueError, match=r"`num_folds`=6 needs at least 6 actors, found 3"):
        build(tmp_path, data_dir=str(root))
    write_tone(str(root / "Actor_02" / "03-01-10-01-01-01-02.wav"), 48000)
    with pytest.raises(Exception) as info:
        build(tmp_path, data_dir=str(root), num_folds=3)
    assert re.search(r"Actor_02/03-01-10-01-01-01-02.wav: unknown emotion code 10", error_chain(info.value))
    os.remove(root / "Actor_02" / "03-01-10-01-01-01-02.wav")
    copy = root / "audio_speech_actors_01-24" / "Actor_02" / "03-01-03-01-01-01-02.wav"
    write_tone(str(copy), 48000)
    with pytest.raises(ValueError, match=re.escape(f"{copy} and {root}/Actor_02/03-01-03-01-01-01-02.wav are the same")):
        build(tmp_path, data_dir=str(root), num_folds=3)
    os.remove(copy)
    os.symlink(root, root / "Actor_01" / "loop")  # a symlink cycle is walked once

    empty = root / "Actor_01" / "03-01-05-01-01-01-01.wav"
    empty.write_bytes(b"")
    corrupt = root / "Actor_03" / "03-01-04-02-02-02-03.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt garbage" * 4)
    pointer = root / "Actor_02" / "03-01-02-01-01-01-02.wav"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")
    with pytest.raises(ValueError) as info:
        build(tmp_path, data_dir=str(root), num_folds=3)
    message = str(info.value)
    assert "RAVDESS speech: 3 of 180 audio files are unreadable or empty" in message
    assert f"{empty}: empty file (0 bytes)" in message and f"{corrupt}: not readable as audio" in message
    assert f"{pointer}: a Git LFS pointer, not audio" in message and "on_bad_file='skip'" in message
    with caplog.at_level(logging.WARNING):
        ds = build(tmp_path, data_dir=str(root), num_folds=3, on_bad_file="skip")
    assert sum(len(s) for s in ds.values()) == 177
    assert "3 of 180 audio files are unreadable or empty; skipped" in caplog.text and str(corrupt) in caplog.text
    with pytest.raises(ValueError, match="`on_bad_file` must be one of"):
        Ravdess(config_name="speech", on_bad_file="ignore")
    with pytest.raises(ValueError, match="`vocal_channel` must be one of"):
        Ravdess(config_name="speech", vocal_channel="video")


def test_download_path_from_the_official_zenodo_url(tmp_path, monkeypatch):
    assert Ravdess.BASE_URL == "https://zenodo.org/records/1188976/files/"
    tree = str(tmp_path / "tree")
    write_ravdess(tree, actors=range(1, 7))
    zip_tree(tree, str(tmp_path / "site" / "Audio_Speech_Actors_01-24.zip"))
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(f"datasets.config.{name}", False, raising=False)
    with FileServer(tmp_path / "site") as server:
        monkeypatch.setattr(Ravdess, "BASE_URL", server.url)
        ds = build(tmp_path, num_folds=3)
    assert sum(len(s) for s in ds.values()) == 360 and set(ds["test"]["actor"]) == {5, 6}
    assert ds["test"][0]["audio"]["sampling_rate"] == 48000


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "ravdess")), reason="shared RAVDESS subset absent")
def test_real_ravdess_subset(tmp_path):
    """The 6-actor subset of /work/shared/data/ravdess: 360 speech files cut to 114,688 samples (PROVENANCE.md)."""
    ds = build(tmp_path, data_dir=os.path.join(SHARED_DATA, "ravdess"), num_folds=3)
    assert {k: len(v) for k, v in ds.items()} == {"train": 120, "validation": 120, "test": 120}
    assert {split: sorted(set(ds[split]["actor"])) for split in ds} == {
        "train": [3, 4], "validation": [11, 12], "test": [23, 24]}
    counts = collections.Counter(EMOTIONS[e] for split in ds for e in ds[split]["emotion"])
    assert counts == {"neutral": 24, **{name: 48 for name in EMOTIONS[1:]}}
    audio = ds["test"][0]["audio"]
    assert audio["sampling_rate"] == 48000 and audio["array"].shape == (114688,)
    default = build(tmp_path, data_dir=os.path.join(SHARED_DATA, "ravdess"))  # num_folds=6: one actor per fold
    assert {k: len(v) for k, v in default.items()} == {"train": 240, "validation": 60, "test": 60}
