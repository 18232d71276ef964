"""MELD's multimodal config on a fabricated MELD.Raw tree: ffmpeg-made clips (a tone whose pitch and a moving test
pattern whose hue depend on the emotion) and CSVs in the official format."""

import hashlib
import logging
import os
import shutil

import numpy as np
import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.meld import EMOTIONS, RAW_URL, Meld, decode_clip
from tests.fixtures import RAW_CLIP_FOLDERS, pack_meld_raw
from tests.http_files import FileServer
from tests.utils import error_chain


def tone_frequency(waveform, sampling_rate=16000):
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return np.fft.rfftfreq(len(waveform), 1 / sampling_rate)[spectrum.argmax()]


def copy_tree(meld_raw_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(meld_raw_dir, target, ignore=shutil.ignore_patterns("_clips"))
    return target


def test_multimodal_config_from_an_extracted_tree(meld_raw_dir, tmp_path):
    ds = load_builder_dataset("meld", "multimodal", data_dir=meld_raw_dir, cache_dir=str(tmp_path / "c"))
    assert {k: len(v) for k, v in ds.items()} == {"train": 12, "validation": 6, "test": 6}
    text = load_builder_dataset("meld", "text", data_dir=os.path.join(meld_raw_dir, "MELD.Raw"),
                                cache_dir=str(tmp_path / "c"))
    features = ds["train"].features
    assert features["audio"].sampling_rate == 16000 and features["frames"].feature.__class__.__name__ == "Image"
    by_clip = {row["clip_id"]: row for row in text["train"]}
    for row in ds["train"].select(range(4)):
        emotion = EMOTIONS[row["emotion"]]
        assert row["context"] == by_clip[row["clip_id"]]["context"] and row["utterance"] == by_clip[row["clip_id"]]["utterance"]
        audio = row["audio"]
        assert audio["sampling_rate"] == 16000 and audio["array"].ndim == 1
        assert 0.45 < len(audio["array"]) / 16000 < 0.6 and row["clip_duration"] == pytest.approx(0.5, abs=0.05)
        # The clip of this utterance's emotion (the fixture's tone is 220 * 2 ** (index / 2) Hz).
        assert tone_frequency(audio["array"]) == pytest.approx(220 * 2 ** (EMOTIONS.index(emotion) / 2), rel=0.03)
        frames = row["frames"]
        assert len(frames) == 5 and frames[0].size == (64, 48) and frames[0].mode == "RGB"
        first, last = np.asarray(frames[0], dtype=float), np.asarray(frames[-1], dtype=float)
        assert np.abs(first - last).mean() > 1  # equidistant frames of a moving pattern differ
    # Frames are stored as JPEG and audio as FLAC bytes, not as decoded arrays.
    raw = ds["train"].with_format("arrow")[:1]
    assert raw["audio"][0]["bytes"].as_py()[:4] == b"fLaC"
    assert raw["frames"][0][0]["bytes"].as_py()[:2] == b"\xff\xd8"


def test_frame_count_and_height_options(meld_raw_dir, tmp_path):
    builder = Meld(config_name="multimodal", data_dir=meld_raw_dir, cache_dir=str(tmp_path / "c"), num_frames=2,
                   frame_height=24)
    builder.download_and_prepare()
    row = builder.as_dataset(split="validation")[0]
    assert len(row["frames"]) == 2 and row["frames"][0].size == (32, 24)
    waveform, frames, duration = decode_clip(os.path.join(meld_raw_dir, "MELD.Raw", "train_splits", "dia0_utt0.mp4"),
                                             num_frames=8, sampling_rate=8000)
    assert len(frames) == 8 and 0.45 < waveform.numel() / 8000 < 0.6  # 5 video frames: some are repeated
    for kwargs, name in [({"num_frames": 0}, "num_frames"), ({"on_bad_clip": "ignore"}, "on_bad_clip"),
                         ({"frame_height": 2}, "frame_height"), ({"sampling_rate": 10}, "sampling_rate")]:
        with pytest.raises(ValueError, match=name):
            Meld(config_name="multimodal", data_dir=meld_raw_dir, cache_dir=str(tmp_path / "x"), **kwargs)


def test_missing_or_undecodable_clips_raise_or_are_skipped_by_name(meld_raw_dir, tmp_path, caplog):
    root = copy_tree(meld_raw_dir, tmp_path)
    dev = root / "MELD.Raw" / RAW_CLIP_FOLDERS["dev"]
    os.remove(dev / "dia1_utt1.mp4")  # as dev dia110_utt7 in the real archive
    (dev / "dia0_utt2.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))  # truncated garbage
    with pytest.raises(Exception) as info:
        load_builder_dataset("meld", "multimodal", data_dir=str(root), cache_dir=str(tmp_path / "c1"))
    chain = error_chain(info.value)
    assert "utterance dia0_utt2" in chain and "cannot decode" in chain and "on_bad_clip='skip'" in chain
    with caplog.at_level(logging.WARNING):
        ds = load_builder_dataset("meld", "multimodal", data_dir=str(root), cache_dir=str(tmp_path / "c2"),
                                  on_bad_clip="skip")
    assert len(ds["validation"]) == 4 and len(ds["train"]) == 12
    assert not {"dia1_utt1", "dia0_utt2"} & set(ds["validation"]["clip_id"])
    assert "dev_sent_emo.csv: skipped 2 of 6 utterances whose clip" in caplog.text
    assert "missing or undecodable: dia0_utt2, dia1_utt1" in caplog.text
    # The skipped turns' text stays in the context of the turns after them.
    later = [r for r in ds["validation"] if r["clip_id"] == "dia1_utt2"][0]
    assert len(later["context"]) == 2


def test_missing_clip_folder_names_the_layout(meld_raw_dir, tmp_path):
    root = copy_tree(meld_raw_dir, tmp_path)
    shutil.rmtree(root / "MELD.Raw" / "output_repeated_splits_test")
    with pytest.raises(FileNotFoundError, match=r"(?s)'output_repeated_splits_test' \(or its tarball 'test.tar.gz'\) "
                                                r"not found.*Expected layout"):
        load_builder_dataset("meld", "multimodal", data_dir=str(root), cache_dir=str(tmp_path / "c"))


def test_download_path_from_the_official_tarball_with_nested_tarballs(meld_raw_dir, tmp_path, monkeypatch):
    assert Meld.RAW_URL == RAW_URL == "https://huggingface.co/datasets/declare-lab/MELD/resolve/main/MELD.Raw.tar.gz"
    site = tmp_path / "site"
    site.mkdir()
    pack_meld_raw(os.path.join(meld_raw_dir, "MELD.Raw"), str(site))
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(f"datasets.config.{name}", False, raising=False)
    sha256 = hashlib.sha256((site / "MELD.Raw.tar.gz").read_bytes()).hexdigest()
    with FileServer(site) as server:
        monkeypatch.setattr(Meld, "RAW_URL", server.url + "MELD.Raw.tar.gz")
        with pytest.raises(ValueError, match="no sha256 is known for http"):
            load_builder_dataset("meld", "multimodal", cache_dir=str(tmp_path / "unknown"))
        monkeypatch.setattr(Meld, "RAW_SHA256", "0" * 64)
        with pytest.raises(ValueError, match=f"has sha256 {sha256}, expected 0000"):
            load_builder_dataset("meld", "multimodal", cache_dir=str(tmp_path / "bad"))
        monkeypatch.setattr(Meld, "RAW_SHA256", sha256)
        ds = load_builder_dataset("meld", "multimodal", cache_dir=str(tmp_path / "c"))
    assert {k: len(v) for k, v in ds.items()} == {"train": 12, "validation": 6, "test": 6}
    assert len(ds["test"][0]["frames"]) == 5
