import collections
import itertools
import os
import re

import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.vivae import EMOTIONS, INTENSITIES, Vivae
from tests.http_files import FileServer
from tests.voice_fixtures import write_tone, write_vivae, zip_tree


_CACHES = itertools.count()


def build(tmp_path, config, data_dir=None, **kwargs):
    cache = tmp_path / f"cache{next(_CACHES)}"
    return load_builder_dataset("vivae", config, data_dir=data_dir and str(data_dir), cache_dir=str(cache), **kwargs)


@pytest.fixture(scope="module")
def vivae_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("vivae")
    write_vivae(str(root))
    return root


def test_full_set_configs_and_speaker_disjoint_splits(tmp_path, vivae_dir):
    ds = build(tmp_path, "emotion", vivae_dir)
    assert {k: len(v) for k, v in ds.items()} == {"train": 7 * 24, "validation": 48, "test": 48}
    assert {split: sorted(set(ds[split]["speaker"])) for split in ("validation", "test")} == {
        "validation": ["S04", "S09"], "test": ["S05", "S10"]}
    assert ds["train"].features["label"].names == EMOTIONS
    assert list(ds["train"]["label"]) == list(ds["train"]["emotion"])
    row = next(r for r in ds["test"].remove_columns("audio") if r["file"] == "full_set/Pain/S10_pain_peak_01.wav")
    assert (EMOTIONS[row["emotion"]], INTENSITIES[row["intensity"]], row["item"], row["speaker"]) == \
        ("pain", "peak", 1, "S10")
    intensity = build(tmp_path, "intensity", vivae_dir)
    assert intensity["train"].features["label"].names == INTENSITIES
    assert collections.Counter(intensity["test"]["label"]) == {i: 12 for i in range(4)}
    audio = ds["test"][0]["audio"]
    assert audio["sampling_rate"] == 44100 and audio["array"].shape == (2205,)


def test_core_set_configs(tmp_path, vivae_dir):
    ds = build(tmp_path, "core_set_intensity", vivae_dir)
    assert sum(len(s) for s in ds.values()) == 10 * 24
    assert all(r.startswith("core_set/") for s in ds.values() for r in s["file"])
    assert ds["test"].features["label"].names == INTENSITIES
    assert set(ds["test"]["speaker"]) == {"S05", "S10"}
    assert build(tmp_path, "core_set_emotion", vivae_dir)["test"].features["label"].names == EMOTIONS


def test_download_path_from_the_official_zenodo_url(tmp_path, monkeypatch, vivae_dir):
    assert Vivae.URL == "https://zenodo.org/records/4066235/files/VIVAE.zip?download=1"
    zip_tree(str(vivae_dir), str(tmp_path / "site" / "VIVAE.zip"), arcroot="VIVAE")  # one top folder, as upstream
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(f"datasets.config.{name}", False, raising=False)
    with FileServer(tmp_path / "site") as server:
        monkeypatch.setattr(Vivae, "URL", server.url + "VIVAE.zip?download=1")
        ds = build(tmp_path, "core_set_emotion")
    assert sum(len(s) for s in ds.values()) == 240 and ds["test"][0]["file"].startswith("VIVAE/core_set/")


def test_bad_layouts_and_names(tmp_path):
    root = tmp_path / "vivae"
    write_vivae(str(root), speakers=5, core_speakers=0)
    with pytest.raises(FileNotFoundError, match=r"(?s)no 'core_set' folder in .*Expected layout"):
        build(tmp_path, "core_set_emotion", root)
    cases = [("full_set/Anger/S01_anger_extreme_01.wav", "unknown intensity 'extreme'"),
             ("full_set/Anger/S01_joy_low_01.wav", "unknown emotion 'joy'"),
             ("full_set/Anger/S01_fear_low_02.wav", "emotion fear in the file name but the file is in folder Anger"),
             ("full_set/Anger/S01-anger-low-02.wav", "not a VIVAE file name"),
             ("full_set/S01_anger_low_01.wav", "are the same file of full_set")]
    for relative, message in cases:
        write_tone(str(root / relative), 44100)
        with pytest.raises(ValueError, match=re.escape(message)):
            build(tmp_path, "emotion", root)
        os.remove(root / relative)
    assert sum(len(s) for s in build(tmp_path, "emotion", root).values()) == 5 * 24
    with pytest.raises(ValueError, match="`label` must be one of"):
        Vivae(config_name="emotion", label="valence")
