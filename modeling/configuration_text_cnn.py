"""TextCNN configuration."""

import copy

from transformers import PretrainedConfig

from .losses import validate_loss_arguments
from .pipeline_text_classification import TEXT_CUSTOM_PIPELINES


POOLING_TYPES = ("max", "mean", "kmax")


class TextCNNConfig(PretrainedConfig):
    r"""
    Configuration of a word-level CNN text classifier (Kim, 2014): word embeddings, parallel 1-D convolutions with
    several kernel sizes, a pooling over time per feature map, dropout and a linear classifier.

    Args:
        vocab_size (`int`, *optional*, defaults to 20000): number of rows of the embedding table (the tokenizer's
            vocabulary size).
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
        max_sequence_length (`int`, *optional*, defaults to 512): longest input in tokens; longer inputs are truncated (with a
            warning) so a 10,000-word text costs no more than this.
        initializer_range (`float`, *optional*, defaults to 0.1): standard deviation of the normal initialisation of
            embeddings that are not taken from word vectors.
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, `"weighted_ce"`, `"focal"` or `"dice"`, the loss of
            single-label classification.
        problem_type (`str`, *optional*): `"single_label_classification"` (int label ids, `loss_type`),
            `"multi_label_classification"` (0/1 float targets per label, binary cross-entropy; the pipeline gives
            independent sigmoid scores) or `"regression"` (float targets, mean squared error); inferred from the labels
            at the first loss when unset, as in transformers' stock heads.
        class_weights (`list[float]`, *optional*): one weight per label in label-id order, used by `"weighted_ce"`
            (required there) and, when given, by `"focal"` and `"dice"`.
        focal_gamma (`float`, *optional*, defaults to 2.0): focusing parameter of the focal loss.
        dice_smooth (`float`, *optional*, defaults to 1.0): smoothing term of the Dice loss.
        word_vectors (`str`, *optional*): name of the word vectors the embeddings were initialised from (recorded
            for the model card; the weights themselves are in the checkpoint).
    """

    model_type = "text_cnn"

    def __init__(
        self,
        vocab_size=20000,
        embedding_dim=100,
        pad_token_id=0,
        freeze_embeddings=False,
        kernel_sizes=(3, 4, 5),
        num_filters=100,
        conv_stride=1,
        pooling="max",
        kmax_k=3,
        dropout=0.5,
        embedding_dropout=0.0,
        max_sequence_length=512,
        initializer_range=0.1,
        loss_type="ce",
        class_weights=None,
        focal_gamma=2.0,
        dice_smooth=1.0,
        word_vectors=None,
        **kwargs,
    ):
        kernel_sizes = [int(k) for k in kernel_sizes]
        if vocab_size < 2:
            raise ValueError(f"`vocab_size` must be >= 2 (padding plus at least one word), got {vocab_size}")
        if not 0 <= pad_token_id < vocab_size:
            raise ValueError(f"`pad_token_id` must be in [0, vocab_size={vocab_size}), got {pad_token_id}")
        if embedding_dim < 1 or num_filters < 1:
            raise ValueError(f"`embedding_dim` and `num_filters` must be >= 1, got {embedding_dim}, {num_filters}")
        if not kernel_sizes or min(kernel_sizes) < 1:
            raise ValueError(f"`kernel_sizes` must be a non-empty list of positive ints, got {kernel_sizes}")
        if conv_stride < 1:
            raise ValueError(f"`conv_stride` must be >= 1, got {conv_stride}")
        if pooling not in POOLING_TYPES:
            raise ValueError(f"`pooling` must be one of {POOLING_TYPES}, got {pooling!r}")
        if kmax_k < 1:
            raise ValueError(f"`kmax_k` must be >= 1, got {kmax_k}")
        for name, p in (("dropout", dropout), ("embedding_dropout", embedding_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {p}")
        if max_sequence_length < max(kernel_sizes):
            raise ValueError(f"`max_sequence_length` ({max_sequence_length}) must be >= the largest kernel size ({max(kernel_sizes)})")
        kwargs.setdefault("custom_pipelines", copy.deepcopy(TEXT_CUSTOM_PIPELINES))
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        validate_loss_arguments(loss_type, class_weights, focal_gamma, dice_smooth, self.num_labels)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.freeze_embeddings = freeze_embeddings
        self.kernel_sizes = kernel_sizes
        self.num_filters = num_filters
        self.conv_stride = conv_stride
        self.pooling = pooling
        self.kmax_k = kmax_k
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.max_sequence_length = max_sequence_length
        self.initializer_range = initializer_range
        self.loss_type = loss_type
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.focal_gamma = focal_gamma
        self.dice_smooth = dice_smooth
        self.word_vectors = word_vectors

    @property
    def pooled_size(self) -> int:
        """Width of the concatenated pooled features fed to the classifier."""
        per_map = self.kmax_k if self.pooling == "kmax" else 1
        return self.num_filters * len(self.kernel_sizes) * per_map


__all__ = ["TextCNNConfig"]
