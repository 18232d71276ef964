import csv
import logging
import os

import numpy as np
import pytest
import torch
from transformers import AutoProcessor, AutoTokenizer

from emotion_hub.processing import ERCProcessor, build_byte_level_bpe_tokenizer
from tests.conftest import SHARED_DATA
from tests.erc_utils import (random_examples, tiny_bert_tokenizer, tiny_processor, tiny_tokenizer,
                             tiny_whisper_feature_extractor)


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
    assert decode(processor, processor([[{"utterance": "Hi"}]])["input_ids"][0]) == ">> Unknown: Hi<|endoftext|>"
    hi = {"speaker": "Ross", "utterance": "hi"}
    for bad, message in [([], r"dialogue #0 is empty"),
                         ([hi, {"speaker": "Ross"}], r"dialogue #0, turn 1 has no 'utterance' \(its text"),
                         ([{"speaker": "Ross", "utterance": None}], r"turn 0: 'utterance' must be a string, got NoneType"),
                         ([hi, {"speaker": "Ross", "utterance": 42}], r"turn 1: 'utterance' must be a string, got int"),
                         ([{"speaker": 3, "utterance": "hi"}], r"turn 0: 'speaker' must be a string, got int"),
                         ([hi, {"speakr": "Ross", "utterance": "hi"}],
                          r"turn 1: unknown field 'speakr'; a turn has the fields \('speaker', 'utterance'\)"),
                         ([hi, "hi"], r"turn 1: expected a dict"), ("hi", r"dialogue #0 must be a list of turns")]:
        with pytest.raises(ValueError, match=message):
            processor([bad])
    with pytest.raises(ValueError, match=r"dialogue #1 is empty"):
        processor([DIALOGUE, []])
    with pytest.raises(ValueError, match="`dialogues` is empty"):
        processor([])
    with pytest.raises(ValueError, match="one entry per example"):
        processor([DIALOGUE, DIALOGUE], audio=[np.ones(800, dtype=np.float32)])
    with pytest.raises(ValueError, match="max_prompt_tokens"):
        tiny_processor(processor.tokenizer, max_prompt_tokens=1)


def test_ten_thousand_turn_dialogue_is_truncated_without_tokenising_it_all(processor):
    long_dialogue = [{"speaker": f"S{i % 7}", "utterance": f"turn number {i} of a very long scene"} for i in range(10_000)]
    calls = []
    tokenizer_call = type(processor.tokenizer).__call__

    def counting(self, text, *args, **kwargs):
        calls.append(len(text) if isinstance(text, list) else 1)
        return tokenizer_call(self, text, *args, **kwargs)

    type(processor.tokenizer).__call__ = counting
    try:
        encoded = processor.encode_dialogue(long_dialogue)
    finally:
        type(processor.tokenizer).__call__ = tokenizer_call
    assert len(encoded["input_ids"]) <= 120
    text = processor.tokenizer.decode(encoded["input_ids"])
    assert text.endswith(">> S3: turn number 9999 of a very long scene<|endoftext|>") and "turn number 9998" in text
    assert sum(calls) < 200  # the turns that fit (and one chunk more), not 30,000 pieces
    batch = processor([long_dialogue, DIALOGUE])
    assert batch["input_ids"].shape == (2, len(encoded["input_ids"]))
    with pytest.raises(ValueError, match=r"turn 9999: 'utterance' must be a string"):  # still checked, every turn
        processor([long_dialogue[:-1] + [{"speaker": "S1", "utterance": 3.5}]])


def test_bert_style_prompt_is_wrapped_in_cls_and_sep():
    tokenizer = tiny_bert_tokenizer()
    processor = tiny_processor(tokenizer, max_prompt_tokens=30, padding_side="right")
    batch = processor([DIALOGUE, DIALOGUE[:1]])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert (ids[:, 0] == tokenizer.cls_token_id).all() and ids[0, -1] == tokenizer.sep_token_id
    assert ids[1, mask[1].sum() - 1] == tokenizer.sep_token_id and mask[1, -1] == 0  # right padding
    assert mask[0].sum() <= 30
    text = tokenizer.decode(ids[0][mask[0].bool()])
    assert text == "[CLS] joey : c ' mon, you ' re going out with the guy! > > chandler : all right joey, be nice. [SEP]"
    # (the oldest turn, Monica's, did not fit in 30 tokens; the newer one did)
    assert tokenizer.decode(ids[0][batch["target_mask"][0].bool()]) == "all right joey, be nice."
    with pytest.raises(ValueError, match=r"`max_prompt_tokens` must be an int >= 3"):
        tiny_processor(tokenizer, max_prompt_tokens=2)


def test_whisper_feature_extractor_gives_input_features_of_its_window(processor, caplog):
    whisper = tiny_processor(processor.tokenizer, feature_extractor=tiny_whisper_feature_extractor())
    assert whisper.audio_input_name == "input_features" and "input_features" in whisper.model_input_names
    good = np.sin(np.linspace(0, 300, 24000)).astype(np.float32)  # 1.5 s: the 1 s window keeps its start
    with caplog.at_level(logging.WARNING):
        batch = whisper(audio=[good, good[:8000]], sampling_rate=16000)
    assert "its end was cut" in caplog.text
    assert batch["input_features"].shape == (2, 16, 100) and "input_values" not in batch
    assert batch["audio_attention_mask"].sum(-1).tolist() == [100, 50]  # per 10 ms mel frame
    with pytest.raises(ValueError, match="audio #0 is empty"):
        whisper(audio=[np.zeros(0, dtype=np.float32)])


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
