"""A GPT2-style byte-level BPE tokenizer trained on a training split, for when the `gpt2` tokenizer cannot be
downloaded or a small vocabulary suits a model trained from scratch.

The result is a stock `GPT2Tokenizer` (transformers' `tokenizers`-backed class): it saves as `tokenizer.json` and loads
with `AutoTokenizer` on the Hub without any code of ours.
"""

import json
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Tokenizer


EOS_TOKEN = "<|endoftext|>"


def build_byte_level_bpe_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 8000, min_frequency: int = 2, model_max_length: int = 1024
) -> GPT2Tokenizer:
    """Train GPT2's tokenizer recipe (byte-level pre-tokenisation, BPE merges) on `texts` and wrap it.

    Args:
        texts: training texts (e.g. the utterances and speaker names of the training split only).
        vocab_size: size of the vocabulary, the 256 byte symbols and `<|endoftext|>` included.
        min_frequency: a merge needs this many occurrences.
        model_max_length: the tokenizer's `model_max_length`.

    `<|endoftext|>` is the end-of-text, unknown and padding token, as in GPT2 (whose pad token is its eos token).
    """
    texts = list(texts)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"training text #{bad} is a {type(texts[bad]).__name__}, expected str")
    if vocab_size < 258:
        raise ValueError(f"`vocab_size` must be >= 258 (256 bytes, {EOS_TOKEN} and one merge), got {vocab_size}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[EOS_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return GPT2Tokenizer(vocab=model["vocab"], merges=merges, pad_token=EOS_TOKEN, model_max_length=model_max_length)


__all__ = ["EOS_TOKEN", "build_byte_level_bpe_tokenizer"]
