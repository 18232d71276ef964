"""A model family is declared once (issue 25): a module of its own declares a toy family (a typed config, a model and
one `register_family(ModelFamily(...))`) and train.py trains, saves and cards it without any other file edited; the
folder reloads through the Auto classes and runs in the text-classification pipeline, and the recipe's `model` block
is checked against the toy config's typed fields."""

import json
import sys
import textwrap

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

import train

TOY_MODULE = '''
"""A toy text family: mean word embedding -> linear classifier, trained by the text CNN's task."""

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from emotion_hub.modeling import EmotionClassifierConfig, ModelCard, ModelFamily, register_family
from emotion_hub.modeling.configuration_utils import positive_int, probability
from emotion_hub.modeling.losses import classification_loss


@strict
class ToyTextConfig(EmotionClassifierConfig):
    r"""
    A bag of word embeddings and a linear classifier.

    Args:
        vocab_size (`int`, *optional*, defaults to 100): rows of the embedding table.
        pad_token_id (`int`, *optional*, defaults to 0): the padding token (masked in the mean).
        hidden_size (`int`, *optional*, defaults to 8): width of the embeddings.
        dropout (`float`, *optional*, defaults to 0.0): dropout before the classifier.
        max_sequence_length (`int`, *optional*, defaults to 32): longest input in tokens.
    """

    model_type = "toy_text_emotion"

    vocab_size: int = positive_int(default=100)
    pad_token_id: int = 0
    hidden_size: int = positive_int(default=8)
    dropout: float | int = probability(default=0.0)
    max_sequence_length: int = positive_int(default=32)


class ToyTextForSequenceClassification(PreTrainedModel):
    config_class = ToyTextConfig
    base_model_prefix = "toy"
    main_input_name = "input_ids"

    def __init__(self, config):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, labels=None, **kwargs):
        mask = (torch.ones_like(input_ids) if attention_mask is None else attention_mask).unsqueeze(-1).float()
        pooled = (self.embeddings(input_ids) * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = classification_loss(self.config, logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


TOY = register_family(ModelFamily(
    model_type="toy_text_emotion",
    config=ToyTextConfig,
    model=ToyTextForSequenceClassification,
    auto_class="AutoModelForSequenceClassification",
    processor="transformers.PreTrainedTokenizerFast",
    task=".training.text.TextClassificationTask",
    card=ModelCard(description="A toy bag-of-embeddings emotion classifier.", training_summary="Trained from scratch.",
                   tags=("toy",), usage='pipeline("text-classification", model="{repo}")'),
))
'''

RECIPE = {"dataset": "tweet_eval_emotion", "dataset_config": "emotion", "model_type": "toy_text_emotion",
          "model": {"hidden_size": 16, "max_sequence_length": 24}, "learning_rate": 0.05, "num_epochs": 2,
          "per_device_train_batch_size": 16, "early_stopping_patience": None, "checkpointing_steps": None,
          "num_threads": 1}


@pytest.fixture
def toy_family(tmp_path, monkeypatch):
    folder = tmp_path / "toy_code"
    folder.mkdir()
    (folder / "toy_emotion_family.py").write_text(textwrap.dedent(TOY_MODULE))
    monkeypatch.syspath_prepend(str(folder))
    import toy_emotion_family

    yield toy_emotion_family
    from emotion_hub.modeling import FAMILIES

    FAMILIES.pop("toy_text_emotion", None)
    sys.modules.pop("toy_emotion_family", None)


def test_a_family_declared_in_its_own_module_trains_saves_reloads_and_pipelines(toy_family, tmp_path, tweeteval_dir,
                                                                               datasets_cache, monkeypatch):
    monkeypatch.setenv("EMOTION_HUB_CACHE", str(tmp_path / "cache"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    argv = ["--config", str(recipe), "--data_dir", tweeteval_dir, "--cache_dir", datasets_cache]
    # The recipe's `model` block is checked against the toy config's typed fields, as for the package's families.
    with pytest.raises(ValueError, match=r"unknown recipe key 'model.hidden_sizes'; did you mean \['hidden_size'"):
        train.main([*argv, "--output_dir", str(tmp_path / "refused"), "--model.hidden_sizes", "8"])
    with pytest.raises(ValueError, match="'model.hidden_size': cannot read 'wide' as an int"):
        train.main([*argv, "--output_dir", str(tmp_path / "refused"), "--model.hidden_size", "wide"])
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\), got 1.5"):  # the config's own check
        train.main([*argv, "--output_dir", str(tmp_path / "refused"), "--model.dropout", "1.5"])

    out = tmp_path / "out"
    results = train.main([*argv, "--output_dir", str(out)])
    assert results["epoch"] == 2 and 0 <= results["test_accuracy"] <= 1
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "toy_text_emotion" and config["hidden_size"] == 16
    assert config["auto_map"]["AutoModelForSequenceClassification"] == (
        "toy_emotion_family.ToyTextForSequenceClassification")
    assert (out / "toy_emotion_family.py").exists()  # save_pretrained copies the family's code
    card = ModelCard.load(out / "README.md")
    assert "A toy bag-of-embeddings emotion classifier." in card.text and "toy" in card.data.tags

    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert type(model) is toy_family.ToyTextForSequenceClassification
    tokenizer = AutoTokenizer.from_pretrained(out)
    texts = ["so angry about this", "what a lovely day"]
    with torch.no_grad():
        probabilities = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(-1)
    classifier = pipeline("text-classification", model=str(out))
    answers = classifier(texts, top_k=None)
    for row, answer in zip(probabilities, answers):
        scores = {item["label"]: item["score"] for item in answer}
        assert set(scores) == {"anger", "joy", "optimism", "sadness"}
        assert [scores[model.config.id2label[i]] for i in range(4)] == pytest.approx(row.tolist(), abs=1e-6)
    assert not list((tmp_path / "cache").rglob("*.json")) or all(
        "model:toy_text_emotion" not in json.loads(path.read_text()) for path in (tmp_path / "cache").rglob("*.json"))
