"""What a model card says about its data comes from the dataset's builder, the one source of each fact: the
description, citation and licence text the builder gives `datasets`, and the pretty name, language and licence id of
its dataset card. A stock export's card states what the stock pipeline does with the inputs ours refuses."""

import dataclasses
import json
import os
import re
import sys
from typing import Optional

import pytest
from huggingface_hub import metadata_load

from emotion_hub.datasets_scripts import BUILDERS, get_builder_class
from emotion_hub.model_cards.card import render_model_card
from emotion_hub.model_cards.info import DATASET_INFO

EMODB_CITATION = """\
@inproceedings{burkhardt2005database,
  title={A database of {German} emotional speech},
  author={Burkhardt, Felix and Paeschke, Astrid and Rolfes, Miriam and Sendlmeier, Walter F. and Weiss, Benjamin},
  booktitle={Proc. Interspeech 2005}, address={Lisbon, Portugal}, pages={1517--1520}, year={2005},
  doi={10.21437/Interspeech.2005-446}
}"""


@dataclasses.dataclass
class Recipe:  # the fields of train.py's recipe the card reads
    dataset: str = "emodb"
    dataset_config: Optional[str] = None
    model_type: str = "speech_emotion"
    hub_model_id: Optional[str] = None
    word_vectors: Optional[str] = None
    export_stock: bool = False
    model: dict = dataclasses.field(default_factory=dict)
    tokenizer: dict = dataclasses.field(default_factory=dict)


def render(folder, stock_caveats=None, **recipe):
    labels = ["anger", "joy"]
    results = {f"{split}_{metric}": 0.5 for split in ("eval", "test")
               for metric in ("accuracy", "f1_macro", "f1_weighted")}
    results.update(best_epoch=1, epoch=1, num_processes=1, train_runtime=1.0, train_samples_per_second=2.0,
                   train_steps=1)
    report = {"labels": labels, "per_class": {n: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1}
                                              for n in labels}, "confusion_matrix": [[1, 0], [0, 1]]}
    return render_model_card(str(folder), recipe=Recipe(**recipe), results=results, report=report,
                             pipeline_tag="audio-classification", split_sizes={"train": 2},
                             train_label_counts=dict.fromkeys(labels, 1), stock_caveats=stock_caveats)


def builder_module(name):
    return sys.modules[get_builder_class(name).__module__]


def dataset_card(name) -> str:
    return os.path.join(os.path.dirname(builder_module(name).__file__), "README.md")


def bibtex_blocks(text) -> list[str]:
    return [block.strip() for block in re.findall(r"```bibtex\n(.*?)```", text, re.S)]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_card_description_citation_and_licence_are_the_builders(name, tmp_path):
    module = builder_module(name)
    card = render(tmp_path, dataset=name)
    assert module._DESCRIPTION.strip() in card.text
    (citation,) = bibtex_blocks(card.text)
    assert citation.startswith(module._CITATION.strip() + "\n")  # then the model family's references
    assert f"Licence of the data: {module._LICENSE.strip().rstrip('.')}" in card.text
    meta = metadata_load(dataset_card(name))
    assert card.data.license == meta["license"] and card.data.language == meta.get("language")
    assert {result.dataset_name for result in card.data.eval_results} == {meta["pretty_name"]}
    assert f"on **{meta['pretty_name']}**" in card.text


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_dataset_card_cites_what_its_builder_cites(name):
    assert bibtex_blocks(open(dataset_card(name), encoding="utf-8").read()) == [builder_module(name)._CITATION.strip()]


def test_card_texts_hold_no_copy_of_a_builders_facts():
    assert set(BUILDERS) <= set(DATASET_INFO)  # every dataset has its split protocol, intended use and limitations
    for name, entry in DATASET_INFO.items():
        if name != "_default":
            copied = set(entry) & {"description", "citation", "license", "license_id", "pretty_name", "language"}
            assert not copied, f"DATASET_INFO[{name!r}] repeats {sorted(copied)}: they come from the builder"


def test_emodb_citation_is_the_interspeech_2005_paper_everywhere(tmp_path):
    from emotion_hub.datasets_scripts.speech_emotion import speech_emotion

    assert builder_module("emodb")._CITATION.strip() == EMODB_CITATION
    assert bibtex_blocks(open(dataset_card("emodb"), encoding="utf-8").read()) == [EMODB_CITATION]
    assert EMODB_CITATION in bibtex_blocks(render(tmp_path, dataset="emodb").text)[0]
    assert EMODB_CITATION in speech_emotion._CITATION  # the merged corpus cites its corpora's own entries
    assert "burkhardt2005emodb" not in speech_emotion._CITATION


def test_a_dataset_without_a_builder_gets_the_generic_texts(tmp_path):
    card = render(tmp_path, dataset="my_corpus")
    assert card.data.license == "other" and "A dataset built by one of the package's builders." in card.text
    assert "Licence of the data" not in card.text


@pytest.mark.parametrize("problem_type, says", [(None, "single-label classification"),
                                                ("multi_label_classification", "multi-label classification"),
                                                ("regression", "regression")])
def test_model_card_states_the_problem_type(problem_type, says, tmp_path):
    from emotion_hub.modeling import TextCNNConfig, TextCNNForSequenceClassification

    config = TextCNNConfig(vocab_size=50, embedding_dim=8, num_filters=4, kernel_sizes=[2, 3], max_sequence_length=64,
                           num_labels=2, problem_type=problem_type)
    TextCNNForSequenceClassification(config).save_pretrained(tmp_path)
    card = render(tmp_path, dataset="tweet_eval_emotion", model_type="text_cnn")
    assert f"Problem type: **{says}**" in card.text


def test_a_stock_audio_folder_states_the_stock_pipeline_caveats(tmp_path):
    caveats = "NaN audio gets NaN scores, a recording longer than 2 s the answer of its first 2 s only"
    stock, ours = tmp_path / "stock", tmp_path / "ours"
    for folder, config in ((stock, {"architectures": ["WhisperForAudioClassification"]}),
                           (ours, {"architectures": ["SpeechEmotionForAudioClassification"],
                                   "auto_map": {"AutoConfig": "configuration_speech_emotion.SpeechEmotionConfig"}})):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
    card = render(stock, stock_caveats=caveats, export_stock=True).text
    assert "stock `transformers` class `WhisperForAudioClassification`" in card
    assert "**The stock pipeline checks nothing**" in card and f"\n{caveats}. " in card
    assert '"Which folder to pick"' in card
    assert "pipeline_class=emotion_hub.modeling.EmotionAudioClassificationPipeline" in card
    assert "trust_remote_code=True" not in card
    # Our own folder (custom code) runs our pipeline: no stock caveats, even when the recipe asked for a stock export.
    card = render(ours, stock_caveats=caveats, export_stock=True).text
    assert "stock pipeline checks nothing" not in card and "trust_remote_code=True" in card
