import csv
import logging
import os

import numpy as np
import pytest
import torch
from transformers import AutoProcessor, AutoTokenizer

from processing import ERCProcessor, build_byte_level_bpe_tokenizer
from tests.conftest import SHARED_DATA
from tests.erc_utils import random_examples, tiny_processor, tiny_tokenizer


DIALOGUE = [
    {"speaker": "Monica", "utterance": "There's nothing to tell!"},
    {"speaker": "Joey", "utterance": "  C'mon, you're going out with the guy!"},
    {"speaker": "Chandler", "utterance": "All right Joey, be nice."},
]


@pytest.fixture(scope="module")
def processor():
    return tiny_processor(tiny_tokenizer())


def decode(processor, ids, mask=None):
    ids = [i for i, m in zip(ids.tolist(), (mask if mask is not None else torch.ones_like(ids)).tolist()) if m]
    return processor.tokenizer.decode(ids)


def test_prompt_lines_marked_target_and_masks(processor):
    batch = processor([DIALOGUE, DIALOGUE[:1]])
    assert set(batch) == {"input_ids", "attention_mask", "target_mask", "context_mask"}
    first = decode(processor, batch["input_ids"][0], batch["attention_mask"][0])
    assert first == ("Monica: There's nothing to tell!\nJoey: C'mon, you're going out with the guy!\n"
                     ">> Chandler: All right Joey, be nice.<|endoftext|>")
    assert decode(processor, batch["input_ids"][0], batch["target_mask"][0]) == " All right Joey, be nice."
    assert decode(processor, batch["input_ids"][0], batch["context_mask"][0]) == (
        " There's nothing to tell! C'mon, you're going out with the guy!")
    # Left padding: the shorter prompt's padding comes first, the last position is the end token for every row.
    assert batch["attention_mask"][1, 0] == 0 and (batch["input_ids"][:, -1] == processor.tokenizer.eos_token_id).all()
    assert decode(processor, batch["input_ids"][1], batch["attention_mask"][1]) == (
        ">> Monica: There's nothing to tell!<|endoftext|>")
    # Pieces are tokenised apart, yet the ids equal those of the whole prompt text.
    whole = processor.tokenizer(first.replace("<|endoftext|>", ""), add_special_tokens=False)["input_ids"]
    assert batch["input_ids"][0][batch["attention_mask"][0].bool()].tolist()[:-1] == whole


def test_long_dialogue_is_truncated_from_the_left(processor, caplog):
    long_dialogue = [{"speaker": f"S{i}", "utterance": f"turn number {i} of a very long scene"} for i in range(40)]
    small = tiny_processor(processor.tokenizer, max_prompt_tokens=100)
    encoded = small.encode_dialogue(long_dialogue)
    assert 60 < len(encoded["input_ids"]) <= 100  # whole turns of ~23 tokens: at most one turn of room left
    text = processor.tokenizer.decode(encoded["input_ids"])
    assert text.endswith(">> S39: turn number 39 of a very long scene<|endoftext|>")  # the target stays, whole
    assert text.startswith("S3")  # oldest turns dropped, whole turns only
    assert "S0:" not in text and "turn number 38" in text
    two = tiny_processor(processor.tokenizer, max_context_turns=2).encode_dialogue(long_dialogue)["input_ids"]
    assert processor.tokenizer.decode(two).startswith("S37: turn number 37")
    # A target alone longer than the window keeps its end (and the end token) and says so.
    with caplog.at_level(logging.WARNING):
        cut = small.encode_dialogue([{"speaker": "Ross", "utterance": "word " * 200}])
    assert len(cut["input_ids"]) == 100 and cut["input_ids"][-1] == processor.tokenizer.eos_token_id
    assert "its first tokens were cut" in caplog.text


def test_empty_utterance_and_bad_dialogues(processor):
    empty = processor([[{"speaker": "Ross", "utterance": "   "}]])
    assert empty["target_mask"].sum() == 0
    assert decode(processor, empty["input_ids"][0]) == ">> Ross:<|endoftext|>"
    assert decode(processor, processor([[{"speaker": "", "utterance": "Hi"}]])["input_ids"][0]) == \
        ">> Unknown: Hi<|endoftext|>"
    for bad, message in [([], "must be a non-empty list of turns"), ([{"speaker": "Ross"}], "turn 0: expected"),
                         ([{"speaker": "Ross", "utterance": None}], "turn 0: expected"),
                         ([{"speaker": 3, "utterance": "hi"}], "`speaker` must be a string")]:
        with pytest.raises(ValueError, match=message):
            processor([bad])
    with pytest.raises(ValueError, match="one entry per example"):
        processor([DIALOGUE, DIALOGUE], audio=[np.ones(800, dtype=np.float32)])
    with pytest.raises(ValueError, match="max_prompt_tokens"):
        tiny_processor(processor.tokenizer, max_prompt_tokens=1)


def test_audio_validation_and_padding(processor):
    good = np.sin(np.linspace(0, 300, 1600)).astype(np.float32)
    batch = processor(audio=[good, good[:800]], sampling_rate=16000)
    assert batch["input_values"].shape == (2, 1600) and batch["audio_attention_mask"][1].sum() == 800
    assert batch["input_values"][1, 800:].abs().sum() == 0
    assert abs(float(batch["input_values"][0].mean())) < 1e-3  # zero mean, unit variance per waveform
    for audio, message in [([np.zeros(0, dtype=np.float32)], "audio #0 is empty"),
                           ([np.array([0.1, np.nan] * 400, dtype=np.float32)], "NaN or infinite"),
                           ([np.zeros((2, 800), dtype=np.float32)], "mono 1-D waveform"),
                           ([None], "audio #0 is missing")]:
        with pytest.raises(ValueError, match=message):
            processor(audio=audio)
    with pytest.raises(ValueError, match="sampled at 8000 Hz, but the processor expects 16000 Hz"):
        processor(audio=[good], sampling_rate=8000)


def test_frames_are_stacked_with_a_mask(processor):
    _, _, frames = random_examples(3, frame_counts=(3, 1, 2))
    batch = processor(frames=frames)
    assert batch["pixel_values"].shape == (3, 3, 3, 32, 32)
    assert batch["frame_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert batch["pixel_values"][1, 1:].abs().sum() == 0
    from PIL import Image

    pil = processor(frames=[[Image.fromarray(f) for f in frames[0]]])
    torch.testing.assert_close(pil["pixel_values"][0], batch["pixel_values"][0])
    with pytest.raises(ValueError, match="frames #1: no video frame"):
        processor(frames=[frames[0], []])


def test_save_and_reload(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(reloaded, ERCProcessor)
    assert (reloaded.max_prompt_tokens, reloaded.min_audio_samples, reloaded.target_marker) == (120, 45, ">>")
    dialogues, audio, frames = random_examples(2)
    a, b = processor(dialogues, audio=audio, frames=frames), reloaded(dialogues, audio=audio, frames=frames)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert AutoTokenizer.from_pretrained(tmp_path).pad_token == "<|endoftext|>"


def test_byte_level_bpe_tokenizer():
    tokenizer = build_byte_level_bpe_tokenizer(["hello world", "hello there world"] * 5, vocab_size=270,
                                               min_frequency=1)
    assert len(tokenizer) == 270 and tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    text = "Héllo wörld 😂 \x92!"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: every string round-trips
    with pytest.raises(ValueError, match="vocab_size"):
        build_byte_level_bpe_tokenizer(["a"], vocab_size=100)
    with pytest.raises(TypeError, match="training text #1"):
        build_byte_level_bpe_tokenizer(["a", None])


MELD_CSV = os.path.join(SHARED_DATA, "meld", "data", "MELD", "dev_sent_emo.csv")


@pytest.mark.skipif(not os.path.isfile(MELD_CSV), reason="real MELD CSVs not available")
def test_real_meld_dialogues_keep_their_target_turn():
    rows = list(csv.DictReader(open(MELD_CSV, encoding="utf-8")))
    tokenizer = build_byte_level_bpe_tokenizer([r["Utterance"] for r in rows], vocab_size=2000)
    processor = tiny_processor(tokenizer, max_prompt_tokens=128)
    dialogues = {}
    for row in rows:
        dialogues.setdefault(row["Dialogue_ID"], []).append({"speaker": row["Speaker"], "utterance": row["Utterance"]})
    checked = 0
    for turns in dialogues.values():
        encoded = processor.encode_dialogue(turns)
        utterance = turns[-1]["utterance"].strip()
        target = [i for i, m in zip(encoded["input_ids"], encoded["target_mask"]) if m]
        assert len(encoded["input_ids"]) <= 128 and encoded["input_ids"][-1] == tokenizer.eos_token_id
        if len(tokenizer(f" {utterance}", add_special_tokens=False)["input_ids"]) < 120:
            assert tokenizer.decode(target) == f" {utterance}" if utterance else not target
            checked += 1
    assert checked > 100
