"""Parquet export of the builders with a dataset card, pushed to the loopback Hub and re-loaded with plain
`load_dataset` in a Python without our package (so with no loading script)."""

import hashlib
import json
import os

import datasets
import pytest
import yaml

from emotion_hub.datasets_scripts.export_parquet import build_splits, export
from tests.fixtures import write_fer2013_folder
from tests.hub_server import HubServer
from tests.utils import run_clean_python
from tests.voice_fixtures import write_ravdess


ROWS = 4  # rows per split in the exported slices


def normalise(split: datasets.Dataset) -> list[dict]:
    """Rows with media columns replaced by digests: audio by the file's bytes, images by their decoded pixels."""
    import numpy as np

    raw = split.cast(datasets.Features({k: type(v)(decode=False) if isinstance(v, (datasets.Audio, datasets.Image))
                                        else v for k, v in split.features.items()}))
    rows = []
    for row, decoded in zip(raw, split):
        out = {}
        for column, feature in split.features.items():
            if isinstance(feature, datasets.Audio):
                data = row[column]["bytes"] or open(row[column]["path"], "rb").read()
                out[column] = hashlib.sha256(data).hexdigest()
            elif isinstance(feature, datasets.Image):
                image = decoded[column]
                out[column] = [image.mode, list(image.size), hashlib.sha256(np.asarray(image).tobytes()).hexdigest()]
            else:
                out[column] = row[column]
        rows.append(out)
    return rows


RELOAD = """
import hashlib, json, sys
import datasets, numpy as np
from datasets import load_dataset
result = {}
for repo_id, config in json.loads(sys.argv[1] if len(sys.argv) > 1 else %r):
    ds = load_dataset(repo_id, config)
    result[repo_id] = {"features": {k: [type(v).__name__, getattr(v, "names", None), getattr(v, "sampling_rate", None)]
                                    for k, v in ds["train"].features.items()}, "splits": {}}
    for name, split in ds.items():
        raw = split.cast(datasets.Features({k: type(v)(decode=False) if isinstance(v, (datasets.Audio, datasets.Image))
                                            else v for k, v in split.features.items()}))
        rows = []
        for row, decoded in zip(raw, split):
            out = {}
            for column, feature in split.features.items():
                if isinstance(feature, datasets.Audio):
                    out[column] = hashlib.sha256(row[column]["bytes"]).hexdigest()
                elif isinstance(feature, datasets.Image):
                    image = decoded[column]
                    pixels = hashlib.sha256(np.asarray(image).tobytes()).hexdigest()
                    out[column] = [image.mode, list(image.size), pixels]
                else:
                    out[column] = row[column]
            rows.append(out)
        result[repo_id]["splits"][name] = rows
print("RESULT" + json.dumps(result))
"""


@pytest.fixture
def online(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


def test_tweeteval_ravdess_fer2013_round_trip_through_the_hub(tmp_path, tweeteval_dir, online, monkeypatch):
    ravdess_dir, fer_dir = str(tmp_path / "ravdess"), str(tmp_path / "fer")
    write_ravdess(ravdess_dir, actors=range(1, 7))
    write_fer2013_folder(fer_dir, per_class=(1, 1, 1))
    cache = str(tmp_path / "cache")
    jobs = [  # (builder, config, data_dir, repo_id, config options)
        ("tweet_eval_emotion", "anger_joy", tweeteval_dir, "user/tweet_eval_emotion", {}),
        ("ravdess", "speech", ravdess_dir, "user/ravdess", {"num_folds": 3}),
        ("fer2013", "image_folder", fer_dir, "user/fer2013", {}),
    ]
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", hub.endpoint)
        monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
        expected = {}
        for builder, config, data_dir, repo_id, options in jobs:
            folder = export(builder, [config], data_dir, str(tmp_path / "out" / builder), repo_id, push=True,
                            token="hf_test_token",
                            cache_dir=cache, max_rows_per_split=ROWS, **options)
            _, splits = build_splits(builder, config, data_dir, cache, ROWS, **options)
            expected[repo_id] = {"features": splits["train"].features,
                                 "splits": {name: normalise(split) for name, split in splits.items()}}
            files = hub.repos[f"datasets/{repo_id}"]
            assert {"README.md", f"{config}/train-00000-of-00001.parquet", f"{config}/test-00000-of-00001.parquet"} \
                <= set(files)
            assert files["README.md"] == open(os.path.join(folder, "README.md"), "rb").read()
        printed = run_clean_python(RELOAD % json.dumps([[repo, config] for _, config, _, repo, _ in jobs]),
                                   cwd=str(tmp_path), env={"HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0",
                                                           "HF_HOME": str(tmp_path / "hf_home")})
    reloaded = json.loads(printed.split("RESULT", 1)[1])
    for repo_id, want in expected.items():
        got = reloaded[repo_id]
        assert got["splits"] == json.loads(json.dumps(want["splits"])), repo_id  # rows equal to the builder's
        assert {name: len(rows) for name, rows in got["splits"].items()} == {"train": ROWS, "validation": ROWS,
                                                                             "test": ROWS}
        for column, feature in want["features"].items():  # Audio / Image / ClassLabel features kept
            assert got["features"][column][0] == type(feature).__name__, (repo_id, column)
            assert got["features"][column][1] == getattr(feature, "names", None)
    assert reloaded["user/ravdess"]["features"]["audio"][0] == "Audio"
    assert reloaded["user/fer2013"]["features"]["image"][0] == "Image"


def test_dataset_card_has_configs_features_labels_citation_license_and_protocol(tmp_path, tweeteval_dir):
    folder = export("tweet_eval_emotion", ["emotion", "anger_joy"], tweeteval_dir, str(tmp_path / "out"),
                    "user/tweets", cache_dir=str(tmp_path / "cache"))
    card = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["configs"][0] == {"config_name": "emotion", "default": True, "data_files": [
        {"split": "train", "path": "emotion/train-*"}, {"split": "validation", "path": "emotion/validation-*"},
        {"split": "test", "path": "emotion/test-*"}]}
    assert header["dataset_info"][1]["features"][1]["dtype"]["class_label"]["names"] == {"0": "anger", "1": "joy"}
    assert header["license"] == "other" and header["task_categories"] == ["text-classification"]
    assert "- `label`: 0 anger, 1 joy, 2 optimism, 3 sadness" in card and "barbieri2020tweeteval" in card
    assert "SemEval-2018 Task 1 terms" in card and "Splits and protocol" in card
    assert 'load_dataset("user/tweets", "emotion")' in card
    ds = datasets.load_dataset("parquet", data_files={"train": os.path.join(folder, "anger_joy", "train-*.parquet")})
    assert ds["train"].features["label"].names == ["anger", "joy"]  # the features travel in the Parquet schema too
