import collections
import itertools
import os
import re

import pytest

from emotion_hub.datasets_scripts.emodb import EMOTION_CODES, EMOTIONS, SPEAKERS, TEXTS, EmoDB, parse_file_name
from emotion_hub.datasets_scripts.utils import DownloadError
from tests.conftest import SHARED_DATA
from tests.http_files import FileServer
from tests.voice_fixtures import write_tone, zip_tree


_CACHES = itertools.count()
EMODB_RATE = 16000  # the official files' rate (the shared copy is re-encoded to 22.05 kHz)
EMODB_DIR = os.path.join(SHARED_DATA, "emodb")


def write_emodb(root, speakers=tuple(SPEAKERS), texts=("a01", "b10"), letters=tuple(EMOTION_CODES), seconds=0.05):
    """`root/wav/<speaker><text><letter><version>.wav` (version `a`; `b` too for speaker 03's happiness), plus the
    zip's other folders and files, which the builder must ignore."""
    paths = []
    for s, speaker in enumerate(speakers):
        for t, text in enumerate(texts):
            for e, letter in enumerate(letters):
                versions = ("a", "b") if (speaker, letter) == ("03", "F") else ("a",)
                for version in versions:
                    path = os.path.join(root, "wav", f"{speaker}{text}{letter}{version}.wav")
                    paths.append(write_tone(path, EMODB_RATE, seconds, 150.0 * 1.25 ** e, seed=s * 100 + t * 10 + e))
    for folder, name in (("lablaut", "03a01Fa.lab"), ("silb", "03a01Fa.silb")):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        with open(os.path.join(root, folder, name), "w") as f:
            f.write("0.0 x\n")
    with open(os.path.join(root, "erkennung.txt"), "w", encoding="latin-1") as f:
        f.write("Nr.\tSatz\terkannt\tnatuerlich\n1\t03a01Fa.wav\t90,00\t75,00\n")
    return paths


def build(tmp_path, data_dir=None, **kwargs):
    builder = EmoDB(config_name="emotion", data_dir=None if data_dir is None else str(data_dir),
                    cache_dir=str(tmp_path / f"cache{next(_CACHES)}"), **kwargs)
    builder.download_and_prepare()
    return builder.as_dataset()


def _rows(ds):
    return [row for split in ds.values() for row in split.remove_columns("audio")]


@pytest.fixture(scope="module")
def emodb_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("emodb")
    write_emodb(str(root))
    return root


def test_official_layout_fields_and_gender_balanced_speaker_splits(tmp_path, emodb_dir):
    ds = build(tmp_path, emodb_dir)
    # 10 speakers x 2 texts x 7 emotions + a second version of 03's two happiness takes
    assert {k: len(v) for k, v in ds.items()} == {"train": 86, "validation": 28, "test": 28}
    # 5 folds of one woman and one man: women 08 09 13 14 16 dealt to folds 0-4, then men 03 10 11 12 15
    assert {split: sorted(set(ds[split]["speaker"])) for split in ds} == {
        "train": ["03", "08", "09", "10", "11", "13"], "validation": ["12", "14"], "test": ["15", "16"]}
    assert ds["train"].features["emotion"].names == EMOTIONS == [
        "anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"]
    rows = _rows(ds)
    assert collections.Counter(EMOTIONS[r["emotion"]] for r in rows) == {
        **{name: 20 for name in EMOTIONS}, "happiness": 22}
    assert {r["speaker"]: r["gender"] for r in rows} == {
        "03": "male", "10": "male", "11": "male", "12": "male", "15": "male",
        "08": "female", "09": "female", "13": "female", "14": "female", "16": "female"}
    row = next(r for r in rows if r["file"] == "wav/03a01Fa.wav")
    assert {k: v for k, v in row.items() if k != "file"} == {
        "speaker": "03", "gender": "male", "age": 31, "text_id": "a01", "text": "Der Lappen liegt auf dem Eisschrank.",
        "emotion": EMOTIONS.index("happiness"), "version": "a", "fold": 0}
    second = next(r for r in rows if r["file"] == "wav/03b10Fb.wav")
    assert (second["version"], second["text_id"], EMOTIONS[second["emotion"]]) == ("b", "b10", "happiness")
    bored = next(r for r in rows if r["file"] == "wav/16a01La.wav")
    assert (EMOTIONS[bored["emotion"]], bored["gender"], bored["age"], bored["fold"]) == ("boredom", "female", 31, 4)
    assert not any(r["file"].startswith(("lablaut", "silb")) for r in rows)  # the zip's label folders are ignored
    audio = ds["test"][0]["audio"]
    assert audio["sampling_rate"] == EMODB_RATE and audio["array"].shape == (800,)
    assert "emodb.bilderbar.info/download/download.zip" in EmoDB(config_name="emotion").manual_download_instructions


def test_wav_folder_itself_and_leave_one_speaker_out_folds(tmp_path, emodb_dir):
    ds = build(tmp_path, emodb_dir / "wav", num_folds=10, sampling_rate=8000)
    rows = _rows(ds)
    assert len(rows) == 142 and rows[0]["file"].count("/") == 0  # paths relative to wav/
    folds = collections.defaultdict(set)
    for row in rows:
        folds[row["fold"]].add(row["speaker"])
    assert sorted(len(speakers) for speakers in folds.values()) == [1] * 10  # one speaker per fold
    assert ds["test"][0]["audio"]["sampling_rate"] == 8000


def test_downloads_the_official_zip_without_data_dir(tmp_path, monkeypatch):
    write_emodb(str(tmp_path / "tree"), speakers=("03", "08", "10", "13"), texts=("a02",))
    zip_tree(str(tmp_path / "tree"), str(tmp_path / "site" / "download.zip"))
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(f"datasets.config.{name}", False, raising=False)
    with FileServer(tmp_path / "site") as server:
        monkeypatch.setattr(EmoDB, "DOWNLOAD_URL", server.url + "download.zip")
        ds = build(tmp_path, num_folds=3)
    assert sum(len(split) for split in ds.values()) == 4 * 7 + 1
    assert ds["test"][0]["file"].startswith("wav/")
    url = server.url + "download.zip"  # the server is gone: one line naming the URL and --data_dir
    monkeypatch.setattr(EmoDB, "DOWNLOAD_URL", url)
    with pytest.raises(DownloadError, match=r"^could not download http://127\.0\.0\.1:\d+/download\.zip \(.*--data_dir"):
        build(tmp_path, num_folds=3)


@pytest.mark.parametrize("name, message", [
    ("03a01Xa.wav", "unknown emotion letter 'X' (expected one of W (anger), L (boredom), E (disgust)"),
    ("03a01fa.wav", "unknown emotion letter 'f'"),
    ("05a01Fa.wav", "unknown speaker '05'"),
    ("03a03Fa.wav", "unknown text code 'a03'"),
    ("03a01F.wav", "not an EmoDB file name"),
    ("emodb_03a01Fa.wav", "not an EmoDB file name"),
])
def test_bad_file_names_are_refused_naming_the_file(tmp_path, name, message):
    root = tmp_path / "emodb"
    write_emodb(str(root), texts=("a01",), letters=("W", "N"))
    path = root / "wav" / name
    write_tone(str(path), EMODB_RATE)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        build(tmp_path, root)
    assert str(path) in str(info.value) and "wav/03a01Fa.wav" in str(info.value)  # and the expected layout
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_file_name(name)


def test_corrupt_duplicate_and_missing_files(tmp_path):
    root = tmp_path / "emodb"
    write_emodb(str(root), texts=("a01",), letters=("W", "N"))
    corrupt = root / "wav" / "09a01Ta.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    with pytest.raises(ValueError, match=r"EmoDB: 1 of 21 audio files are unreadable or empty") as info:
        build(tmp_path, root)
    assert str(corrupt) in str(info.value)
    ds = build(tmp_path, root, on_bad_file="skip")
    assert sum(len(split) for split in ds.values()) == 20 and "wav/09a01Ta.wav" not in ds["train"]["file"]
    corrupt.unlink()
    copy = root / "wav" / "copy" / "03a01Wa.wav"
    write_tone(str(copy), EMODB_RATE)
    with pytest.raises(ValueError, match=r"are the same recording \(03a01Wa.wav\)"):
        build(tmp_path, root)
    copy.unlink()
    with pytest.raises(ValueError, match=r"`num_folds`=11 needs at least 11 speakers, found 10"):
        build(tmp_path, root, num_folds=11)
    with pytest.raises(FileNotFoundError, match=r"(?s)no EmoDB files \(\*\.wav\) found.*wav/03a01Fa.wav"):
        build(tmp_path, tmp_path / "emodb" / "lablaut")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        build(tmp_path, tmp_path / "nowhere")


@pytest.mark.skipif(not os.path.isdir(os.path.join(EMODB_DIR, "wav")), reason=f"no EmoDB copy at {EMODB_DIR}")
def test_real_emodb(tmp_path):
    """The complete shared copy (PROVENANCE.md: 535 files, re-encoded to 22.05 kHz and cut or padded to 2.0 s)."""
    ds = build(tmp_path, EMODB_DIR)
    rows = _rows(ds)
    assert len(rows) == 535
    assert collections.Counter(r["speaker"] for r in rows) == {
        "03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35, "13": 61, "14": 69, "15": 56, "16": 71}
    assert collections.Counter(EMOTIONS[r["emotion"]] for r in rows) == {
        "anger": 127, "boredom": 81, "neutral": 79, "happiness": 71, "fear": 69, "sadness": 62, "disgust": 46}
    assert {r["text_id"] for r in rows} == set(TEXTS)
    assert {split: sorted(set(ds[split]["speaker"])) for split in ds} == {
        "train": ["03", "08", "09", "10", "11", "13"], "validation": ["12", "14"], "test": ["15", "16"]}
    row = next(r for r in rows if r["file"] == "wav/03a01Fa.wav")  # the source repo's CSV calls it disgust
    assert EMOTIONS[row["emotion"]] == "happiness"
    audio = ds["test"][0]["audio"]
    assert audio["sampling_rate"] == 22050 and audio["array"].shape == (44100,)
