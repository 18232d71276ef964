"""Builders and a short training run on the real TweetEval / MELD files in ../shared/data (skipped when absent)."""

import collections
import os

import pytest

from datasets_scripts import load_builder_dataset
from tests.conftest import SHARED_DATA


TWEETEVAL = os.path.join(SHARED_DATA, "tweeteval_emotion")
MELD = os.path.join(SHARED_DATA, "meld")
needs_tweeteval = pytest.mark.skipif(not os.path.isdir(TWEETEVAL), reason="real TweetEval data not available")
needs_meld = pytest.mark.skipif(not os.path.isdir(MELD), reason="real MELD CSVs not available")


@needs_tweeteval
def test_tweeteval_counts_match_provenance(datasets_cache):
    ds = load_builder_dataset("tweet_eval_emotion", "emotion", data_dir=TWEETEVAL, cache_dir=datasets_cache)
    counts = {split: collections.Counter(ds[split]["label"]) for split in ds}
    assert counts["train"] == {0: 1400, 1: 708, 2: 294, 3: 855}
    assert counts["validation"] == {0: 160, 1: 97, 2: 28, 3: 89}
    assert counts["test"] == {0: 558, 1: 358, 2: 123, 3: 382}
    pair = load_builder_dataset("tweet_eval_emotion", "anger_optimism", data_dir=TWEETEVAL, cache_dir=datasets_cache)
    assert collections.Counter(pair["train"]["label"]) == {0: 1400, 1: 294}


@needs_meld
def test_meld_counts_match_provenance(datasets_cache):
    ds = load_builder_dataset("meld", "text", data_dir=MELD, cache_dir=datasets_cache)
    names = ds["train"].features["emotion"].names
    counts = {split: collections.Counter(names[i] for i in ds[split]["emotion"]) for split in ds}
    assert counts["train"] == {"anger": 1109, "disgust": 271, "fear": 268, "joy": 1743, "neutral": 4710,
                               "sadness": 683, "surprise": 1205}
    assert sum(counts["validation"].values()) == 1109 and counts["test"]["neutral"] == 1256
    assert len({row["dialogue_id"] for row in ds["test"]}) == 280


@needs_tweeteval
def test_anger_joy_recipe_learns_on_real_tweets(tmp_path, datasets_cache):
    import train

    results = train.main(["--config", os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs",
                                                   "text-cnn-tweeteval-anger_joy.yaml"),
                          "--data_dir", TWEETEVAL, "--output_dir", str(tmp_path / "aj"), "--cache_dir", datasets_cache,
                          "--num_epochs", "2", "--word_vectors", "null", "--checkpointing_steps", "null"])
    assert results["eval_accuracy"] > 0.75  # two epochs from random embeddings; the full recipe reaches ~0.9
