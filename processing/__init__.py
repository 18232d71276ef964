"""Processors of the package: feature extractors, image processors and processors, registered with the transformers
Auto classes on import. The text CNN needs none of its own: its tokenizer is a stock `PreTrainedTokenizerFast`
built by `tokenization_word_level.build_word_level_tokenizer`."""

from .tokenization_word_level import build_word_level_tokenizer

__all__ = ["build_word_level_tokenizer"]
