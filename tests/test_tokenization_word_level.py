import pytest
from transformers import AutoTokenizer

from emotion_hub.processing.tokenization_word_level import build_word_level_tokenizer
from tests.utils import run_clean_python


TRAIN = ["I LOVE this!!! 😂😂", "<b>so</b> angry at 2019 &amp; you", "don't cry, it's fine", "hope ❤️ tomorrow 👍🏽"]


def test_cleaning_html_case_digits_punctuation():
    tok = build_word_level_tokenizer(TRAIN)
    # "100%" and "&amp;" vanish in cleaning; "more" is not in the training vocabulary.
    assert tok.convert_ids_to_tokens(tok("<i>I LOVE</i> you 100% &amp; more!!!")["input_ids"]) == \
        ["i", "love", "you", "[UNK]"]
    assert tok.backend_tokenizer.normalizer.normalize_str("<b>So</b> ANGRY at 2019, don't!").split() == \
        ["so", "angry", "at", "dont"]
    assert tok.convert_tokens_to_ids("[PAD]") == 0 and tok.convert_tokens_to_ids("[UNK]") == 1


def test_emoji_as_tokens_words_or_removed():
    as_tokens = build_word_level_tokenizer(TRAIN, emoji="token")
    assert as_tokens.tokenize("love 😂👍🏽❤️") == ["love", "😂", "👍", "❤"]  # modifiers and selectors dropped
    as_words = build_word_level_tokenizer(TRAIN, emoji="words")
    assert as_words.tokenize("love 😂") == ["love", "face", "with", "tears", "of", "joy"]
    removed = build_word_level_tokenizer(TRAIN, emoji="remove")
    assert removed.tokenize("love 😂") == ["love"]
    with pytest.raises(ValueError, match="emoji"):
        build_word_level_tokenizer(TRAIN, emoji="keep")


def test_escaped_newlines_become_spaces():
    texts = [r"angry at her\nKelly is #bully", "kelly"]
    assert build_word_level_tokenizer(texts).tokenize(r"her\nKelly") == ["her", "nkelly"]  # the bug it avoids
    tok = build_word_level_tokenizer(texts, unescape_newlines=True)
    assert "nkelly" not in tok.get_vocab()
    assert tok.tokenize(r"her\nKelly") == tok.tokenize("her\nKelly") == ["her", "kelly"]


def test_punctuation_tokens_are_kept_as_tokens(tmp_path):
    texts = ["wow!! really?", "what?! no, fine."]
    tok = build_word_level_tokenizer(texts, punctuation_tokens="!?")
    assert tok.tokenize("Wow!! really?! no, fine.") == ["wow", "!", "!", "really", "?", "!", "no", "fine"]
    assert build_word_level_tokenizer(texts).tokenize("Wow!! really?!") == ["wow", "really"]
    tok.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path).tokenize("what?!") == ["what", "?", "!"]


def test_vocabulary_options():
    assert "tomorrow" not in build_word_level_tokenizer(TRAIN, min_frequency=2).get_vocab()
    tok = build_word_level_tokenizer(TRAIN, extra_words=["zebra", "love", "zebra"], max_vocab_size=100)
    vocab = tok.get_vocab()
    assert vocab["zebra"] == len(vocab) - 1 and tok.tokenize("zebra") == ["zebra"]
    assert len(build_word_level_tokenizer(TRAIN, max_vocab_size=5)) == 5


def test_bad_inputs():
    tok = build_word_level_tokenizer(TRAIN)
    assert tok(["", "   "])["input_ids"] == [[], []]  # the model maps an empty text to its prior
    with pytest.raises(ValueError, match="must be of type `str`"):
        tok(42)
    with pytest.raises(TypeError, match="training text #1 is a int"):
        build_word_level_tokenizer(["fine", 3])
    ids = tok(" ".join(["love"] * 10_000), truncation=True, max_length=64)["input_ids"]
    assert len(ids) == 64


def test_saved_tokenizer_is_stock_and_identical_without_our_code(tmp_path):
    tok = build_word_level_tokenizer(TRAIN, emoji="words", model_max_length=64)
    tok.save_pretrained(tmp_path)
    text = "<p>I LOVE tomorrow 😂</p> 123"
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(text)["input_ids"] == tok(text)["input_ids"]
    assert reloaded.model_input_names == ["input_ids", "attention_mask"] and reloaded.model_max_length == 64
    out = run_clean_python(f"""
        from transformers import AutoTokenizer
        print(AutoTokenizer.from_pretrained({str(tmp_path)!r})({text!r})["input_ids"])
    """, cwd=str(tmp_path))
    assert out.strip() == str(tok(text)["input_ids"])
