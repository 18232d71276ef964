"""A saved model's tokenizer is a stock one with no reference to our code: it loads in a Python that has only
transformers without the trust_remote_code question. In transformers 5 `AutoTokenizer.from_pretrained(folder)` reads
the folder's config.json first (tokenization_auto.py), so a folder whose model is ours (config.json with `auto_map`)
still asks there; `PreTrainedTokenizerFast.from_pretrained(folder)` and `AutoTokenizer.from_pretrained(folder,
trust_remote_code=False)` never do, and a stock folder (auto_sequence_classification) never asks at all."""

import json

from transformers import BertConfig, BertForSequenceClassification

from emotion_hub.modeling import TextCNNConfig, TextCNNForSequenceClassification
from emotion_hub.processing.tokenization_word_level import build_word_level_tokenizer
from tests.erc_utils import tiny_bert_tokenizer
from tests.utils import run_clean_python

ASKED = """
import builtins, json, sys
asked = []
def no_answer(prompt=""):
    asked.append(prompt)
    raise EOFError  # as a terminal nobody answers
builtins.input = no_answer
import transformers
"""


def load(folder, code):
    out = run_clean_python(ASKED + code + "\nprint(json.dumps({'asked': len(asked), 'ids': ids}))", cwd=str(folder))
    return json.loads(out.strip().splitlines()[-1])


def test_our_folders_tokenizer_is_stock_and_loads_without_the_question(tmp_path):
    texts = ["so happy today", "so sad today", "angry again"]
    tokenizer = build_word_level_tokenizer(texts, model_max_length=16)
    model = TextCNNForSequenceClassification(TextCNNConfig(vocab_size=len(tokenizer), embedding_dim=8, num_filters=4,
                                                           kernel_sizes=[2], num_labels=2))
    folder = tmp_path / "text-cnn"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    saved = json.load(open(folder / "tokenizer_config.json"))
    assert "auto_map" not in saved and saved["tokenizer_class"] in ("TokenizersBackend", "PreTrainedTokenizerFast")
    assert not [name for name in ("tokenizer.json", "tokenizer_config.json")
                if "emotion_hub" in (folder / name).read_text() or ".py" in (folder / name).read_text()]
    expected = tokenizer("so happy today")["input_ids"]
    for code in ("ids = transformers.PreTrainedTokenizerFast.from_pretrained('.')('so happy today')['input_ids']",
                 "ids = transformers.AutoTokenizer.from_pretrained('.', trust_remote_code=False)"
                 "('so happy today')['input_ids']"):
        assert load(folder, code) == {"asked": 0, "ids": expected}, code


def test_a_stock_folders_tokenizer_never_asks(tmp_path):
    tokenizer = tiny_bert_tokenizer()
    folder = tmp_path / "stock"
    BertForSequenceClassification(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=16)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    expected = tokenizer("so happy today")["input_ids"]
    code = "ids = transformers.AutoTokenizer.from_pretrained('.')('so happy today')['input_ids']"
    assert load(folder, code) == {"asked": 0, "ids": expected}
