import os
import re

import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.tweet_eval_emotion import TweetEvalEmotion
from tests.fixtures import TWEET_LABELS, write_tweeteval
from tests.http_files import FileServer
from tests.utils import error_chain


def build(tmp_path, **kwargs):
    return load_builder_dataset("tweet_eval_emotion", cache_dir=str(tmp_path / "cache"), **kwargs)


def test_emotion_config_reads_the_official_layout(tmp_path):
    folder = write_tweeteval(str(tmp_path / "repo"), sizes=(20, 8, 9), nested=True)
    ds = build(tmp_path, config_name="emotion", data_dir=str(tmp_path / "repo"))  # repo root: datasets/emotion/
    assert {k: len(v) for k, v in ds.items()} == {"train": 20, "validation": 8, "test": 9}
    assert ds["train"].features["label"].names == TWEET_LABELS
    texts = open(os.path.join(folder, "train_text.txt"), encoding="utf-8").read().split("\n")
    labels = open(os.path.join(folder, "train_labels.txt")).read().split()
    assert ds["train"][3] == {"text": texts[3], "label": int(labels[3])}


@pytest.mark.parametrize("config,labels", [("anger_joy", ["anger", "joy"]), ("anger_optimism", ["anger", "optimism"]),
                                           ("joy_sadness", ["joy", "sadness"])])
def test_two_class_configs_keep_and_renumber_their_labels(tmp_path, config, labels):
    folder = write_tweeteval(str(tmp_path / "flat"), sizes=(40, 8, 8))
    full = build(tmp_path, config_name="emotion", data_dir=folder)
    pair = build(tmp_path, config_name=config, data_dir=folder)
    assert pair["train"].features["label"].names == labels
    expected = [(row["text"], labels.index(TWEET_LABELS[row["label"]])) for row in full["train"]
                if TWEET_LABELS[row["label"]] in labels]
    assert [(row["text"], row["label"]) for row in pair["train"]] == expected
    assert len(expected) == 20


def test_any_pair_and_custom_label_sets(tmp_path):
    assert {c.name for c in TweetEvalEmotion.BUILDER_CONFIGS} == {
        "emotion", "anger_joy", "anger_optimism", "anger_sadness", "joy_optimism", "joy_sadness", "optimism_sadness"}
    folder = write_tweeteval(str(tmp_path / "flat"), sizes=(40, 8, 8))
    custom = TweetEvalEmotion(data_dir=folder, cache_dir=str(tmp_path / "c"), labels=["sadness", "anger", "joy"])
    custom.download_and_prepare()
    assert custom.as_dataset()["train"].features["label"].names == ["anger", "joy", "sadness"]
    with pytest.raises(ValueError, match="at least two distinct names"):
        TweetEvalEmotion(labels=["anger", "fear"])


def test_unknown_config_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'anger_fear' not found. Available: \['emotion', 'anger_joy'"):
        TweetEvalEmotion(config_name="anger_fear")


def test_missing_file_names_the_file_and_layout(tmp_path):
    folder = write_tweeteval(str(tmp_path / "flat"))
    os.remove(os.path.join(folder, "val_labels.txt"))
    with pytest.raises(FileNotFoundError, match=r"(?s)'val_labels.txt' not found.*Expected layout.*train_text.txt"):
        build(tmp_path, config_name="emotion", data_dir=folder)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        build(tmp_path, config_name="emotion", data_dir=str(tmp_path / "nowhere"))


def test_label_outside_the_label_set_and_misaligned_files(tmp_path):
    bad = write_tweeteval(str(tmp_path / "bad"), sizes=(8, 4, 4), labels_override={"train": [0, 1, 2, 3, 7, 0, 1, 2]})
    with pytest.raises(Exception) as info:
        build(tmp_path, config_name="emotion", data_dir=bad)
    assert re.search(r"train_labels.txt, line 5: label '7' is not one of the ids 0..3", error_chain(info.value))
    short = write_tweeteval(str(tmp_path / "short"), sizes=(8, 4, 4), labels_override={"test": [0, 1, 2]})
    with pytest.raises(Exception) as info:
        build(tmp_path, config_name="emotion", data_dir=short)
    assert re.search("test_text.txt has 4 lines but .*test_labels.txt has 3", error_chain(info.value))


def test_download_path_from_the_official_urls(tmp_path, monkeypatch):
    """`data_dir="download"` fetches the GitHub raw URLs; here the same path layout is served from 127.0.0.1."""
    assert TweetEvalEmotion.BASE_URL == "https://raw.githubusercontent.com/cardiffnlp/tweeteval/main/datasets/emotion/"
    root = tmp_path / "site"
    write_tweeteval(str(root), sizes=(16, 4, 5), nested=True)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("datasets.config.HF_DATASETS_OFFLINE", False, raising=False)
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", False, raising=False)
    with FileServer(root) as server:
        monkeypatch.setattr(TweetEvalEmotion, "BASE_URL", server.url + "datasets/emotion/")
        ds = build(tmp_path, config_name="anger_joy", data_dir="download")
    assert ds["train"].features["label"].names == ["anger", "joy"] and len(ds["test"]) > 0
