"""The TweetEval files shipped with the package (the main job's offline default) and one-line download errors."""

import os
import socket
import subprocess
import sys

import pytest

from emotion_hub.datasets_scripts import get_builder_class, load_builder_dataset
from emotion_hub.datasets_scripts.tweet_eval_emotion import TweetEvalEmotion
from emotion_hub.datasets_scripts.tweet_eval_emotion.tweet_eval_emotion import EMBEDDED_DIR
from emotion_hub.datasets_scripts.utils import DownloadError


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFICIAL = os.path.join(os.path.dirname(REPO), "shared", "data", "tweeteval_emotion", "datasets", "emotion")


def test_embedded_tweeteval_is_the_default_source_and_has_the_official_sizes(tmp_path):
    ds = load_builder_dataset("tweet_eval_emotion", "emotion", cache_dir=str(tmp_path / "c"))
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 3257, "validation": 374, "test": 1421}
    assert ds["train"].features["label"].names == ["anger", "joy", "optimism", "sadness"]
    pair = load_builder_dataset("tweet_eval_emotion", "anger_joy", cache_dir=str(tmp_path / "c"))
    assert {split: len(rows) for split, rows in pair.items()} == {"train": 2108, "validation": 257, "test": 916}
    notice = open(os.path.join(EMBEDDED_DIR, "README.md"), encoding="utf-8").read()
    assert "barbieri2020tweeteval" in notice and "SemEval-2018" in notice and "without any restrictions" in notice


@pytest.mark.skipif(not os.path.isdir(OFFICIAL), reason="no official TweetEval copy under shared/data to compare with")
def test_embedded_files_are_an_unmodified_copy_of_the_official_ones():
    for name in sorted(os.listdir(OFFICIAL)):
        with open(os.path.join(OFFICIAL, name), "rb") as a, open(os.path.join(EMBEDDED_DIR, name), "rb") as b:
            assert a.read() == b.read(), name


def test_embedded_files_are_package_data():
    setup = open(os.path.join(REPO, "setup.py"), encoding="utf-8").read()
    assert '"tweet_eval_emotion/data/*"' in setup


def _closed_port_url():
    with socket.socket() as s:  # bind then close: nothing listens there, connections are refused at once
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("datasets.config.HF_DATASETS_OFFLINE", False, raising=False)
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", False, raising=False)


@pytest.mark.parametrize("name,config,attribute", [
    ("tweet_eval_emotion", {"config_name": "emotion", "data_dir": "download"}, "BASE_URL"),
    ("meld", {"config_name": "text"}, "CSV_URL"),
    ("meld", {"config_name": "multimodal"}, "RAW_URL"),
    ("ravdess", {"config_name": "speech"}, "BASE_URL"),
    ("vivae", {"config_name": "emotion"}, "URL"),
])
def test_failed_download_is_one_line_naming_url_cause_and_data_dir(tmp_path, monkeypatch, online, name, config,
                                                                   attribute):
    builder_class = get_builder_class(name)
    url = _closed_port_url()
    monkeypatch.setattr(builder_class, attribute, url + ("" if attribute in ("BASE_URL", "CSV_URL") else "x.zip"))
    builder = builder_class(cache_dir=str(tmp_path / "c"), **config)
    with pytest.raises(DownloadError) as info:
        builder.download_and_prepare()
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"could not download {url}")
    assert "cannot connect to host 127.0.0.1" in message.lower() and "--data_dir" in message


def test_download_error_is_printed_as_one_line_by_a_cli(tmp_path):
    """What a command-line tool does with it (export_parquet here; train.py's CLI catches it the same way)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    code = ("import sys; from datasets_scripts.tweet_eval_emotion import TweetEvalEmotion as T; "
            f"T.BASE_URL = {_closed_port_url()!r}; from datasets_scripts.export_parquet import main; "
            f"main(['--builder', 'tweet_eval_emotion', '--data_dir', 'download',"
            f" '--output_dir', {str(tmp_path / 'o')!r},"
            f" '--cache_dir', {str(tmp_path / 'c')!r}])")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not download http://127.0.0.1:") and "Traceback" not in result.stderr


def test_train_py_prints_a_failed_download_as_one_line(tmp_path):
    """The README's main job with `--data_dir download` and downloads refused: one line, exit status 2."""
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, os.path.join(REPO, "train.py"), "--config",
                             os.path.join(REPO, "configs", "text-cnn-tweeteval-emotion.yaml"), "--data_dir", "download",
                             "--output_dir", str(tmp_path / "out"), "--cache_dir", str(tmp_path / "c")],
                            cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "error: could not download https://raw.githubusercontent.com/cardiffnlp/tweeteval/main/datasets/emotion/")
    assert "--data_dir" in errors[0]
