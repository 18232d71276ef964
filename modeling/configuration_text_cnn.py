"""TextCNN configuration."""

from typing import Literal

from huggingface_hub.dataclasses import strict

from .configuration_utils import EmotionClassifierConfig, at_least, positive_int, positive_ints, probability
from .pipeline_text_classification import TEXT_CUSTOM_PIPELINES


@strict
class TextCNNConfig(EmotionClassifierConfig):
    r"""
    Configuration of a word-level CNN text classifier (Kim, 2014): word embeddings, parallel 1-D convolutions with
    several kernel sizes, a pooling over time per feature map, dropout and a linear classifier.

    Args:
        vocab_size (`int`, *optional*, defaults to 20000): number of rows of the embedding table (the tokenizer's
            vocabulary size); at least 2 (padding plus one word).
        embedding_dim (`int`, *optional*, defaults to 100): width of the word embeddings; must equal the dimension of
            the word vectors the embeddings are initialised from (50 for GloVe 6B 50d).
        pad_token_id (`int`, *optional*, defaults to 0): id of the padding token; its embedding is zero and padded
            positions are masked before pooling.
        freeze_embeddings (`bool`, *optional*, defaults to `False`): keep the embedding table fixed in training
            (useful with pretrained word vectors on small data).
        kernel_sizes (`list[int]`, *optional*, defaults to `[3, 4, 5]`): widths, in tokens, of the convolution
            kernels; one convolution per width.
        num_filters (`int`, *optional*, defaults to 100): output channels of each convolution.
        conv_stride (`int`, *optional*, defaults to 1): stride of the convolutions over time.
        pooling (`str`, *optional*, defaults to `"max"`): pooling over time of each feature map, `"max"` (1-max),
            `"mean"` (mean over the unpadded positions) or `"kmax"` (the `kmax_k` largest values, in order).
        kmax_k (`int`, *optional*, defaults to 3): how many values `"kmax"` pooling keeps per feature map.
        dropout (`float`, *optional*, defaults to 0.5): dropout on the pooled features, before the classifier.
        embedding_dropout (`float`, *optional*, defaults to 0.0): dropout on the word embeddings.
        max_sequence_length (`int`, *optional*, defaults to 512): longest input in tokens; longer inputs are truncated
            (with a warning) so a 10,000-word text costs no more than this.
        initializer_range (`float`, *optional*, defaults to 0.1): standard deviation of the normal initialisation of
            embeddings that are not taken from word vectors.
        word_vectors (`str`, *optional*): name of the word vectors the embeddings were initialised from (recorded
            for the model card; the weights themselves are in the checkpoint).
    """

    model_type = "text_cnn"
    default_custom_pipelines = TEXT_CUSTOM_PIPELINES

    vocab_size: int = at_least(2)(default=20000)
    embedding_dim: int = positive_int(default=100)
    pad_token_id: int = 0
    freeze_embeddings: bool = False
    kernel_sizes: list[int] | tuple[int, ...] = positive_ints(default=(3, 4, 5), allow_empty=False)
    num_filters: int = positive_int(default=100)
    conv_stride: int = positive_int(default=1)
    pooling: Literal["max", "mean", "kmax"] = "max"
    kmax_k: int = positive_int(default=3)
    dropout: float | int = probability(default=0.5)
    embedding_dropout: float | int = probability(default=0.0)
    max_sequence_length: int = 512
    initializer_range: float | int = 0.1
    word_vectors: str | None = None

    def validate_lengths(self):
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"`pad_token_id` must be in [0, vocab_size={self.vocab_size}), got {self.pad_token_id}")
        if self.max_sequence_length < max(self.kernel_sizes):
            raise ValueError(f"`max_sequence_length` ({self.max_sequence_length}) must be >= the largest kernel size "
                             f"({max(self.kernel_sizes)})")

    @property
    def pooled_size(self) -> int:
        """Width of the concatenated pooled features fed to the classifier."""
        per_map = self.kmax_k if self.pooling == "kmax" else 1
        return self.num_filters * len(self.kernel_sizes) * per_map


__all__ = ["TextCNNConfig"]
