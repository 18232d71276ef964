"""A word-level tokenizer for the text CNN, built from a training split as a stock `PreTrainedTokenizerFast`.

All text cleaning lives in the `tokenizers` normalizer and pre-tokenizer, which serialise into `tokenizer.json`; the
saved tokenizer therefore loads with `AutoTokenizer` on the Hub without any code of ours.
"""

import unicodedata
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast


PAD_TOKEN, UNK_TOKEN = "[PAD]", "[UNK]"
EMOJI_MODES = ("token", "words", "remove")

# Emoji presentation selectors, zero-width joiner and skin-tone modifiers: they never carry the emotion and would
# otherwise split one emoji into several rare tokens.
_EMOJI_MODIFIERS = r"[\x{FE00}-\x{FE0F}\x{200D}\x{1F3FB}-\x{1F3FF}]"
# Other symbols (Unicode category So) are where emoji live; each becomes a token of its own.
_SYMBOL = r"\p{So}"


def _is_symbol(char: str) -> bool:
    return unicodedata.category(char) == "So"


def emoji_to_words(char: str) -> str:
    """`'😂'` -> `'face with tears of joy'` (the Unicode name, lower-cased)."""
    return unicodedata.name(char, "").lower()


def build_normalizer(
    lowercase: bool = True,
    strip_html: bool = True,
    remove_digits: bool = True,
    remove_punctuation: bool = True,
    emoji: str = "token",
    emoji_vocabulary: Iterable[str] = (),
    unescape_newlines: bool = False,
    punctuation_tokens: str = "",
) -> normalizers.Normalizer:
    """The cleaning of the source report as a `tokenizers` normalizer.

    HTML tags and entities are removed, text is NFKC-normalised and lower-cased, digits removed, apostrophes joined
    (`don't` -> `dont`) and other punctuation turned into spaces. Emoji (`emoji`): `"token"` keeps each as a token,
    `"words"` replaces those in `emoji_vocabulary` by their Unicode names (an emoji outside it stays a token),
    `"remove"` drops them. `unescape_newlines` turns the two characters `\\n` into a space: TweetEval's files write
    line breaks that way, and without it `...here\\nKelly` becomes the token `nkelly`. The characters of
    `punctuation_tokens` (e.g. `"!?"`, emotion cues that GloVe has vectors for) survive `remove_punctuation`; the
    pre-tokenizer makes each a token of its own.
    """
    if emoji not in EMOJI_MODES:
        raise ValueError(f"`emoji` must be one of {EMOJI_MODES}, got {emoji!r}")
    steps = [normalizers.Replace("\\n", " ")] if unescape_newlines else []
    if strip_html:
        steps += [
            normalizers.Replace(Regex(r"<[^<>]{0,200}>"), " "),
            normalizers.Replace(Regex(r"&(?:[a-zA-Z]{2,8}|#[0-9]{1,5});"), " "),
        ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(_EMOJI_MODIFIERS), "")]
    if emoji == "words":
        steps += [normalizers.Replace(char, f" {emoji_to_words(char)} ") for char in sorted(set(emoji_vocabulary))]
    elif emoji == "remove":
        steps.append(normalizers.Replace(Regex(_SYMBOL), " "))
    if lowercase:
        steps.append(normalizers.Lowercase())
    if remove_digits:
        steps.append(normalizers.Replace(Regex(r"\p{Nd}+"), " "))
    if remove_punctuation:
        kept = "".join(f"\\x{{{ord(c):X}}}" for c in sorted(set(punctuation_tokens)))
        punctuation = rf"[\p{{P}}\p{{Sm}}\p{{Sc}}\p{{Sk}}&&[^{kept}]]" if kept else r"[\p{P}\p{Sm}\p{Sc}\p{Sk}]"
        steps += [normalizers.Replace(Regex(r"['’‘`´]"), ""), normalizers.Replace(Regex(punctuation), " ")]
    return normalizers.Sequence(steps)


def build_word_level_tokenizer(
    texts: Iterable[str],
    *,
    lowercase: bool = True,
    strip_html: bool = True,
    remove_digits: bool = True,
    remove_punctuation: bool = True,
    emoji: str = "token",
    unescape_newlines: bool = False,
    punctuation_tokens: str = "",
    min_frequency: int = 1,
    max_vocab_size: int | None = None,
    extra_words: Iterable[str] = (),
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """Train a word-level vocabulary on `texts` (the training split) and wrap it as a `PreTrainedTokenizerFast`.

    Args:
        texts: training texts; the vocabulary is the words they contain after cleaning.
        lowercase, strip_html, remove_digits, remove_punctuation, emoji, unescape_newlines, punctuation_tokens: the
            cleaning, see `build_normalizer`.
        min_frequency: a word needs at least this many occurrences in `texts` to get its own id.
        max_vocab_size: keep at most this many ids (most frequent words first), special tokens included.
        extra_words: words added after the training words even if `texts` lack them, e.g. the most frequent words
            of the pretrained vectors the embeddings start from, so unseen words still map to a useful vector.
        model_max_length: the tokenizer's `model_max_length` (`truncation=True` cuts there).

    Ids: 0 is `[PAD]`, 1 is `[UNK]`, then words by decreasing training frequency.
    """
    texts = list(texts)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"training text #{bad} is a {type(texts[bad]).__name__}, expected str")
    emoji_vocabulary = {c for t in texts for c in t if _is_symbol(c) and emoji_to_words(c)} if emoji == "words" else ()
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    tokenizer.normalizer = build_normalizer(
        lowercase, strip_html, remove_digits, remove_punctuation, emoji, emoji_vocabulary, unescape_newlines,
        punctuation_tokens,
    )
    isolated = [pre_tokenizers.Split(Regex(_SYMBOL), behavior="isolated")]
    isolated += [pre_tokenizers.Split(c, behavior="isolated") for c in sorted(set(punctuation_tokens))]
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([*isolated, pre_tokenizers.WhitespaceSplit()])
    trainer = trainers.WordLevelTrainer(
        vocab_size=max_vocab_size or 10_000_000, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN]
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    extra = [w for w in extra_words if tokenizer.token_to_id(w) is None]
    if max_vocab_size is not None:
        extra = extra[: max(0, max_vocab_size - tokenizer.get_vocab_size())]
    if extra:
        vocab = tokenizer.get_vocab()
        vocab.update({word: len(vocab) + i for i, word in enumerate(dict.fromkeys(extra))})
        tokenizer.model = models.WordLevel(vocab, unk_token=UNK_TOKEN)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=model_max_length,
        model_input_names=["input_ids", "attention_mask"],
    )


__all__ = ["EMOJI_MODES", "build_normalizer", "build_word_level_tokenizer", "emoji_to_words"]
