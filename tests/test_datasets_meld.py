import csv
import os
import re

import pytest

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.datasets_scripts.meld import EMOTIONS, Meld
from tests.fixtures import MELD_COLUMNS, write_meld
from tests.http_files import FileServer
from tests.utils import error_chain


def test_text_config_fields_and_dialogue_context(tmp_path):
    rows = write_meld(str(tmp_path / "meld"), dialogues=(3, 2, 2), turns=4, shuffle_rows=True)
    ds = load_builder_dataset("meld", "text", data_dir=str(tmp_path / "meld"), cache_dir=str(tmp_path / "c"))
    assert {k: len(v) for k, v in ds.items()} == {"train": 12, "validation": 8, "test": 8}
    assert ds["train"].features["emotion"].names == EMOTIONS
    by_clip = {r["clip_id"]: r for r in ds["train"]}
    source = {(r["Dialogue_ID"], r["Utterance_ID"]): r for r in rows["train"]}
    example = by_clip["dia1_utt2"]
    expected = source[(1, 2)]
    assert example["utterance"] == expected["Utterance"] and example["speaker"] == expected["Speaker"]
    assert EMOTIONS[example["emotion"]] == expected["Emotion"]
    assert ds["train"].features["sentiment"].names[example["sentiment"]] == expected["Sentiment"]
    # Context: the preceding turns of the same dialogue, in order, even though the CSV rows were shuffled.
    assert example["context"] == [{"speaker": source[(1, u)]["Speaker"], "utterance": source[(1, u)]["Utterance"]}
                                  for u in (0, 1)]
    assert by_clip["dia1_utt0"]["context"] == []


def test_max_context_turns(tmp_path):
    write_meld(str(tmp_path / "meld"), dialogues=(2, 1, 1), turns=5)
    builder = Meld(config_name="text", data_dir=str(tmp_path / "meld"), cache_dir=str(tmp_path / "c"),
                   max_context_turns=2)
    builder.download_and_prepare()
    last = [r for r in builder.as_dataset()["train"] if r["clip_id"] == "dia0_utt4"][0]
    assert len(last["context"]) == 2


def _rewrite(path, change):
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    change(rows)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)


def test_bad_files_give_clear_errors(tmp_path):
    folder = tmp_path / "meld" / "data" / "MELD"
    write_meld(str(tmp_path / "meld"), dialogues=(2, 1, 1))
    os.remove(folder / "dev_sent_emo.csv")
    with pytest.raises(FileNotFoundError, match=r"(?s)'dev_sent_emo.csv' not found.*Expected layout"):
        load_builder_dataset("meld", "text", data_dir=str(tmp_path / "meld"), cache_dir=str(tmp_path / "c"))
    write_meld(str(tmp_path / "meld"), dialogues=(2, 1, 1))
    _rewrite(folder / "train_sent_emo.csv", lambda rows: rows[3].update(Emotion="happy"))
    with pytest.raises(Exception) as info:
        load_builder_dataset("meld", "text", data_dir=str(tmp_path / "meld"), cache_dir=str(tmp_path / "c2"))
    assert re.search(r"row Sr No. 4: Emotion 'happy' is not one of \['anger'", error_chain(info.value))
    write_meld(str(tmp_path / "meld"), dialogues=(2, 1, 1))
    _rewrite(folder / "test_sent_emo.csv", lambda rows: [r.pop("Speaker") for r in rows])
    with pytest.raises(Exception) as info:
        load_builder_dataset("meld", "text", data_dir=str(tmp_path / "meld"), cache_dir=str(tmp_path / "c3"))
    assert re.search(r"missing columns \['Speaker'\]", error_chain(info.value))


def test_unknown_config_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'audio' not found. Available: \['text', 'multimodal'\]"):
        Meld(config_name="audio")


def test_download_path_from_the_official_urls(tmp_path, monkeypatch):
    assert Meld.CSV_URL == "https://raw.githubusercontent.com/declare-lab/MELD/master/data/MELD/"
    write_meld(str(tmp_path / "site"), dialogues=(2, 1, 1))
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(f"datasets.config.{name}", False, raising=False)
    with FileServer(tmp_path / "site") as server:
        monkeypatch.setattr(Meld, "CSV_URL", server.url + "data/MELD/")
        ds = load_builder_dataset("meld", "text", cache_dir=str(tmp_path / "c"))
    assert len(ds["train"]) == 10 and MELD_COLUMNS[1] == "Utterance"
