import collections
import itertools
import os

import datasets
import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.ravdess import Ravdess
from emotion_hub.datasets_scripts.speech_emotion import (CORPORA, ENGLISH_CORPORA, LABEL_MAP, SHARED_LABELS, SpeechEmotion,
                                             default_labels, shared_label)
from tests.conftest import SHARED_DATA
from tests.test_datasets_emodb import write_emodb
from tests.http_files import FileServer
from tests.voice_fixtures import TESS_WORDS, write_crema_d, write_ravdess, write_savee, write_tess, zip_tree


_CACHES = itertools.count()


def build(tmp_path, config="all", **kwargs):
    cache = tmp_path / f"cache{next(_CACHES)}"
    return load_builder_dataset("speech_emotion", config, cache_dir=str(cache), **kwargs)


@pytest.fixture(scope="module")
def corpora_dir(tmp_path_factory):
    """<root>/ravdess (6 actors), tess (10 words), savee (2 files per emotion code), crema_d (12 actors, 2 sentences),
    emodb (speakers 03, 08, 10, 13, text a01, 7 emotions; 03 has a second happiness take)."""
    root = tmp_path_factory.mktemp("speech")
    write_ravdess(str(root / "ravdess"), actors=range(1, 7))
    write_tess(str(root / "tess"), words=TESS_WORDS[:10])
    write_savee(str(root / "savee"), per_code=2)
    write_crema_d(str(root / "crema_d"), sentences=("TIE", "DFA"))
    write_emodb(str(root / "emodb"), speakers=("03", "08", "10", "13"), texts=("a01",))
    return root


def _rows(ds):
    return [row for split in ds.values() for row in split.remove_columns("audio")]


def test_all_four_corpora_on_their_shared_labels(tmp_path, corpora_dir):
    ds = build(tmp_path, data_dir=str(corpora_dir), num_folds=4)
    labels = ds["train"].features["emotion"].names
    assert labels == ["anger", "disgust", "fear", "happiness", "neutral", "sadness"]  # CREMA-D has no surprise
    rows = _rows(ds)
    sources = ds["train"].features["source"].names
    counts = collections.Counter(sources[r["source"]] for r in rows)
    # RAVDESS: 360 - 48 calm - 48 surprised; TESS: 140 - 20 ps; SAVEE: 4 x 7 x 2 - 8 su; CREMA-D: 12 x 2 x 6
    assert counts == {"ravdess": 264, "tess": 120, "savee": 48, "crema_d": 144}
    for row in rows:  # the one mapping table explains every label
        assert labels[row["emotion"]] == LABEL_MAP[row["source_emotion"]]
        assert row["speaker"].startswith(sources[row["source"]] + "_") and row["file"].startswith(sources[row["source"]])
    assert {r["source_emotion"] for r in rows if sources[r["source"]] == "crema_d"} == {
        "anger", "disgust", "fear", "happy", "neutral", "sad"}
    speakers = {split: set(ds[split]["speaker"]) for split in ds}
    assert not (speakers["train"] & speakers["validation"] or speakers["train"] & speakers["test"]
                or speakers["validation"] & speakers["test"])
    # every corpus is dealt from the test fold on: each has a speaker in test and, when it can, in train
    test_sources = collections.Counter(sources[s] for s in ds["test"]["source"])
    assert set(test_sources) == set(sources)
    assert {"tess_OAF", "savee_DC", "ravdess_Actor_02", "ravdess_Actor_03"} <= speakers["test"]
    assert {"tess_YAF", "savee_JE"} <= speakers["train"]
    for split in ds:  # one rate for every corpus (48, 24.414, 44.1 and 16 kHz on disk), resampled on decoding
        for source in range(4):
            rows_of_source = ds[split].filter(lambda s: s == source, input_columns="source")
            if len(rows_of_source):
                audio = rows_of_source[0]["audio"]
                assert audio["sampling_rate"] == 16000 and abs(len(audio["array"]) - 800) <= 1


def test_subsets_calm_and_explicit_labels(tmp_path, corpora_dir):
    three = build(tmp_path, "ravdess_tess_savee", data_dir=str(corpora_dir), num_folds=3)
    assert three["train"].features["emotion"].names == SHARED_LABELS  # with surprise
    rows = _rows(three)
    assert collections.Counter(r["source_emotion"] for r in rows if SHARED_LABELS[r["emotion"]] == "surprise") == {
        "surprised": 48, "pleasant_surprise": 20, "surprise": 8}
    calm = build(tmp_path, data_dir=str(corpora_dir), corpora=["ravdess", "savee"], calm="neutral", num_folds=3)
    calm_rows = _rows(calm)
    names = calm["train"].features["emotion"].names
    assert names == SHARED_LABELS
    assert collections.Counter(r["source_emotion"] for r in calm_rows if names[r["emotion"]] == "neutral") == {
        "calm": 48, "neutral": 24 + 8}
    four = build(tmp_path, data_dir=str(corpora_dir), labels=["sadness", "anger", "neutral", "happiness"],
                 corpora=["tess", "crema_d"], num_folds=3)
    assert four["test"].features["emotion"].names == ["anger", "happiness", "neutral", "sadness"]
    assert sum(len(s) for s in four.values()) == 4 * 20 + 12 * 2 * 4


def test_emodb_joins_through_the_mapping_table_without_boredom(tmp_path, corpora_dir):
    assert SpeechEmotion(config_name="all").config.corpora == ENGLISH_CORPORA  # `all` stays the English four
    ds = build(tmp_path, "all_with_emodb", data_dir=str(corpora_dir), num_folds=4)
    labels = ds["train"].features["emotion"].names
    assert labels == ["anger", "disgust", "fear", "happiness", "neutral", "sadness"]
    sources = ds["train"].features["source"].names
    assert sources == list(CORPORA)
    rows = _rows(ds)
    # EmoDB: 4 speakers x 7 emotions + 1 second take - 4 boredom
    assert collections.Counter(sources[r["source"]] for r in rows) == {
        "ravdess": 264, "tess": 120, "savee": 48, "crema_d": 144, "emodb": 25}
    emodb = [r for r in rows if sources[r["source"]] == "emodb"]
    assert collections.Counter(r["source_emotion"] for r in emodb) == {
        "anger": 4, "disgust": 4, "fear": 4, "happiness": 5, "neutral": 4, "sadness": 4}  # no boredom
    assert all(labels[r["emotion"]] == LABEL_MAP[r["source_emotion"]] == r["source_emotion"] for r in emodb)
    assert {r["speaker"]: r["gender"] for r in emodb} == {
        "emodb_03": "male", "emodb_10": "male", "emodb_08": "female", "emodb_13": "female"}
    assert {r["file"] for r in emodb if r["speaker"] == "emodb_03" and labels[r["emotion"]] == "happiness"} == {
        "emodb/wav/03a01Fa.wav", "emodb/wav/03a01Fb.wav"}
    # dealt from the test fold on, women first: 08 test, 13 train, then men 03 train, 10 validation
    assert {split: sorted(s for s in set(ds[split]["speaker"]) if s.startswith("emodb_")) for split in ds} == {
        "train": ["emodb_03", "emodb_13"], "validation": ["emodb_10"], "test": ["emodb_08"]}
    test_emodb = ds["test"].filter(lambda s: s == CORPORA.index("emodb"), input_columns="source")
    assert test_emodb[0]["audio"]["sampling_rate"] == 16000
    # the table: boredom has no counterpart and is always left out; EmoDB has the other six shared names
    assert LABEL_MAP["boredom"] is None and shared_label("emodb", "boredom") is None
    assert default_labels(["emodb"]) == default_labels(["emodb", "ravdess"]) == SHARED_LABELS[:6]
    with pytest.raises(ValueError, match=r"`labels` must be at least two distinct names among .*got \['anger', 'boredom'\]"):
        SpeechEmotion(config_name="all", corpora=["emodb", "tess"], labels=["anger", "boredom"])
    pair = build(tmp_path, data_dir=str(corpora_dir), corpora=["emodb", "savee"], labels=["anger", "sadness"],
                 num_folds=3)
    assert sum(len(split) for split in pair.values()) == 4 * 2 + 4 * 2 * 2


def test_ravdess_downloads_when_it_has_no_folder(tmp_path, monkeypatch, corpora_dir):
    zip_tree(str(corpora_dir / "ravdess"), str(tmp_path / "site" / "Audio_Speech_Actors_01-24.zip"))
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(f"datasets.config.{name}", False, raising=False)
    with FileServer(tmp_path / "site") as server:
        monkeypatch.setattr(Ravdess, "BASE_URL", server.url)
        ds = build(tmp_path, corpora=["ravdess", "savee"], data_dirs={"savee": str(corpora_dir / "savee")},
                   num_folds=3)
    sources = ds["train"].features["source"].names
    assert collections.Counter(sources[s] for split in ds.values() for s in split["source"]) == {
        "ravdess": 312, "savee": 56}


def test_mapping_table_and_bad_configs(tmp_path, corpora_dir):
    assert default_labels(["ravdess"]) == SHARED_LABELS and default_labels(["ravdess", "crema_d"]) == SHARED_LABELS[:6]
    assert shared_label("tess", "pleasant_surprise") == "surprise" and shared_label("savee", "happiness") == "happiness"
    assert shared_label("ravdess", "calm") is None and shared_label("ravdess", "calm", "neutral") == "neutral"
    assert {LABEL_MAP[k] for k in ("angry", "ang", "a", "joy", "hap", "h", "ps", "su", "sa", "fearful")} == {
        "anger", "happiness", "surprise", "sadness", "fear"}
    with pytest.raises(ValueError, match="label 'bored' is not in the speech_emotion mapping table"):
        shared_label("tess", "bored")
    with pytest.raises(ValueError, match="`corpora` must be a list of distinct names among"):
        SpeechEmotion(config_name="all", corpora=["ravdess", "iemocap"])
    with pytest.raises(ValueError, match="`labels` must be at least two distinct names among"):
        SpeechEmotion(config_name="all", corpora=["crema_d", "tess"], labels=["surprise", "contempt"])
    with pytest.raises(ValueError, match="`data_dirs` must be a dict keyed by the chosen corpora"):
        SpeechEmotion(config_name="all", corpora=["tess"], data_dirs={"savee": "x"})
    with pytest.raises(ValueError, match="`calm` must be one of"):
        SpeechEmotion(config_name="all", calm="keep")
    with pytest.raises(FileNotFoundError, match=r"(?s)no folder for savee \(looked for .*kahlan.eps.surrey.ac.uk"):
        build(tmp_path, corpora=["tess", "savee"], data_dirs={"tess": str(corpora_dir / "tess")})
    assert "[tess]" in SpeechEmotion(config_name="all").manual_download_instructions


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "ravdess")), reason="shared RAVDESS subset absent")
def test_real_ravdess_subset_through_the_merged_builder(tmp_path):
    ds = build(tmp_path, corpora=["ravdess"], data_dirs={"ravdess": os.path.join(SHARED_DATA, "ravdess")},
               num_folds=3)
    assert sum(len(s) for s in ds.values()) == 360 - 48  # calm dropped
    assert ds["train"].features["emotion"].names == SHARED_LABELS
    assert {split: sorted(set(ds[split]["speaker"])) for split in ds} == {
        "train": ["ravdess_Actor_11", "ravdess_Actor_12"], "validation": ["ravdess_Actor_23", "ravdess_Actor_24"],
        "test": ["ravdess_Actor_03", "ravdess_Actor_04"]}
    audio = ds["test"][0]["audio"]
    assert audio["sampling_rate"] == 16000 and audio["array"].shape == (114688 // 3,)  # 2.389 s resampled to 16 kHz
    native = ds["test"].cast_column("audio", datasets.Audio())[0]["audio"]  # each file's own rate
    assert native["sampling_rate"] == 48000 and native["array"].shape == (114688,)
