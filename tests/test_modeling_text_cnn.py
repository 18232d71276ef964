import json
import os

import pytest
import torch

from emotion_hub.modeling import TextCNNConfig, TextCNNForSequenceClassification, TextCNNModel
from tests.fixtures import write_word_vectors
from tests.utils import run_clean_python


LABELS = ["anger", "joy", "sadness"]


def tiny_config(**kwargs):
    defaults = dict(vocab_size=40, embedding_dim=8, num_filters=4, kernel_sizes=[2, 3], max_sequence_length=32,
                    id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    return TextCNNConfig(**{**defaults, **kwargs})


@pytest.mark.parametrize("pooling", ["max", "mean", "kmax"])
def test_output_shapes_and_loss(pooling):
    model = TextCNNForSequenceClassification(tiny_config(pooling=pooling, kmax_k=2))
    input_ids = torch.randint(1, 40, (3, 9))
    out = model(input_ids, labels=torch.tensor([0, 1, 2]))
    assert out.logits.shape == (3, 3)
    assert out.loss.ndim == 0 and out.loss.requires_grad
    assert model(input_ids).loss is None
    assert model.config.pooled_size == 4 * 2 * (2 if pooling == "kmax" else 1)
    assert TextCNNModel(model.config)(input_ids).pooler_output.shape == (3, model.config.pooled_size)


@pytest.mark.parametrize("loss_type", ["ce", "weighted_ce", "focal", "dice"])
def test_every_loss_trains(loss_type):
    torch.manual_seed(0)
    model = TextCNNForSequenceClassification(tiny_config(loss_type=loss_type, class_weights=[1.0, 2.0, 0.5],
                                                         dropout=0.0))
    input_ids, labels = torch.randint(1, 40, (12, 7)), torch.arange(12) % 3
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    first = model(input_ids, labels=labels).loss.item()
    for _ in range(30):
        loss = model(input_ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first * 0.5


@pytest.mark.parametrize("pooling,stride", [("max", 1), ("max", 2), ("mean", 1), ("mean", 3), ("kmax", 1), ("kmax", 2)])
def test_padding_does_not_change_logits(pooling, stride):
    model = TextCNNForSequenceClassification(tiny_config(pooling=pooling, conv_stride=stride, kmax_k=3)).eval()
    texts = [torch.randint(1, 40, (n,)) for n in (1, 2, 5, 11)]
    alone = torch.cat([model(t[None]).logits for t in texts])
    batch = torch.zeros(len(texts), 20, dtype=torch.long)
    for i, t in enumerate(texts):
        batch[i, : len(t)] = t
    padded = model(batch, attention_mask=batch.ne(0).long()).logits
    torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-6)


def test_empty_text_and_overlong_text_have_defined_outputs():
    model = TextCNNForSequenceClassification(tiny_config()).eval()
    empty = model(torch.zeros(2, 0, dtype=torch.long)).logits
    assert empty.shape == (2, 3) and torch.isfinite(empty).all()
    long_ids = torch.randint(1, 40, (1, 1000))
    torch.testing.assert_close(model(long_ids).logits, model(long_ids[:, :32]).logits)


def test_frozen_embeddings_get_no_gradient(tmp_path):
    model = TextCNNForSequenceClassification(tiny_config(freeze_embeddings=True))
    model(torch.randint(1, 40, (2, 5)), labels=torch.tensor([0, 1])).loss.backward()
    assert model.text_cnn.embeddings.weight.grad is None
    assert model.classifier.weight.grad is not None
    # transformers 5 reloads weights as new, trainable Parameters: the freezing must survive `from_pretrained`
    model.save_pretrained(tmp_path)
    reloaded = TextCNNForSequenceClassification.from_pretrained(tmp_path)
    assert not reloaded.text_cnn.embeddings.weight.requires_grad and reloaded.classifier.weight.requires_grad


def test_word_vectors_initialise_known_rows(tmp_path):
    vocab = {"sad": 3, "[UNK]": 1, "zzz": 4, "happy": 2, "[PAD]": 0}  # tokenizers return vocabularies unordered
    path = write_word_vectors(tmp_path / "vectors.txt", ["the", "happy", "sad", "angry"], dim=8)
    model = TextCNNForSequenceClassification(tiny_config(vocab_size=5))
    assert model.load_word_vectors(str(path), vocab) == 2
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in open(path)}
    weight = model.text_cnn.embeddings.weight
    torch.testing.assert_close(weight[2], torch.tensor(rows["happy"]))
    torch.testing.assert_close(weight[3], torch.tensor(rows["sad"]))
    assert weight[0].abs().sum() == 0
    assert not any(torch.allclose(weight[i], torch.tensor(row)) for i in (1, 4) for row in rows.values())
    with pytest.raises(ValueError, match="expected 16 values"):
        TextCNNForSequenceClassification(tiny_config(vocab_size=5, embedding_dim=16)).load_word_vectors(str(path), vocab)


def test_config_validation_names_the_argument():
    for kwargs, name in [({"pooling": "attention"}, "pooling"), ({"kernel_sizes": []}, "kernel_sizes"),
                         ({"dropout": 1.0}, "dropout"), ({"conv_stride": 0}, "conv_stride"),
                         ({"max_sequence_length": 2, "kernel_sizes": [3]}, "max_sequence_length")]:
        with pytest.raises(ValueError, match=name):
            tiny_config(**kwargs)


def test_save_reload_identical_and_clean_python_hub_load(tmp_path):
    torch.manual_seed(0)
    model = TextCNNForSequenceClassification(tiny_config(pooling="kmax", kmax_k=2)).eval()
    model.save_pretrained(tmp_path)
    config = json.load(open(tmp_path / "config.json"))
    assert config["auto_map"] == {"AutoConfig": "configuration_text_cnn.TextCNNConfig",
                                  "AutoModelForSequenceClassification":
                                      "modeling_text_cnn.TextCNNForSequenceClassification"}
    assert {"configuration_text_cnn.py", "modeling_text_cnn.py", "losses.py", "model.safetensors"} <= set(
        os.listdir(tmp_path))
    input_ids = torch.randint(1, 40, (2, 6))
    expected = model(input_ids).logits
    reloaded = TextCNNForSequenceClassification.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(input_ids).logits, expected)
    torch.save({"ids": input_ids, "logits": expected}, tmp_path / "expected.pt")
    out = run_clean_python(f"""
        import torch
        from transformers import AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        expected = torch.load({str(tmp_path / "expected.pt")!r})
        assert torch.equal(model(expected["ids"]).logits, expected["logits"])
        print("ok", model.config.id2label[1])
    """, cwd=str(tmp_path))
    assert out.split() == ["ok", "joy"]


def test_multi_label_model_in_the_text_pipeline(tmp_path):
    """A saved multi-label text CNN in `pipeline("text-classification")`: every label with its independent sigmoid
    score, `threshold` keeps the predicted ones; a single-label model keeps the stock answer (the top label)."""
    from transformers import pipeline

    from emotion_hub.processing.tokenization_word_level import build_word_level_tokenizer

    texts = ["i am so happy today", "this makes me angry and sad", "what a sad day"]
    tokenizer = build_word_level_tokenizer(texts)
    torch.manual_seed(0)
    model = TextCNNForSequenceClassification(tiny_config(vocab_size=len(tokenizer),
                                                         problem_type="multi_label_classification")).eval()
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([3.0, -3.0, 0.5]))  # anger yes, joy no, sadness likely
    model.save_pretrained(tmp_path / "multi")
    tokenizer.save_pretrained(tmp_path / "multi")
    classifier = pipeline("text-classification", model=str(tmp_path / "multi"), trust_remote_code=True)
    assert type(classifier).__name__ == "EmotionTextClassificationPipeline"
    with torch.no_grad():
        logits = model(**tokenizer([texts[1]], return_tensors="pt", return_token_type_ids=False)).logits[0]
    expected = {LABELS[i]: s for i, s in enumerate(logits.sigmoid().tolist())}
    scores = classifier(texts[1])
    assert {r["label"]: r["score"] for r in scores} == pytest.approx(expected, abs=1e-6)
    assert [r["score"] for r in scores] == sorted(expected.values(), reverse=True)
    assert [r["label"] for r in classifier(texts[1], threshold=0.5)] == [
        label for label, score in sorted(expected.items(), key=lambda kv: -kv[1]) if score >= 0.5]

    single = TextCNNForSequenceClassification(tiny_config(vocab_size=len(tokenizer))).eval()
    single.save_pretrained(tmp_path / "single")
    tokenizer.save_pretrained(tmp_path / "single")
    top = pipeline("text-classification", model=str(tmp_path / "single"), trust_remote_code=True)(texts[0])
    assert isinstance(top, list) and len(top) == 1 and top[0]["label"] in LABELS
