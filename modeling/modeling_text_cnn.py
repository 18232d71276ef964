"""Word-level CNN text classifier (Kim, 2014) with masked pooling and a choice of imbalance-aware losses."""

from typing import Optional

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput
from transformers.utils import add_start_docstrings, can_return_tuple, logging

from .configuration_text_cnn import TextCNNConfig
from .initialization_utils import FreezeAfterLoadingMixin, pytorch_default_init_
from .losses import LABELS_DOCSTRING, classification_loss
from .pipeline_text_classification import EmotionTextClassificationPipeline  # noqa: F401  (copied with the code)
from .tracing_utils import is_tracing


logger = logging.get_logger(__name__)


def read_word_vectors(path: str, vocab: dict, embedding_dim: int, num_rows: Optional[int] = None):
    """Vectors of the words of `vocab` (token -> id) from a GloVe-format text file (`word v1 ... vD`, no header).

    Returns `(vectors, found)`: a float32 array `(num_rows, embedding_dim)` (default `max id + 1` rows) whose row `i`
    is the vector of the word with id `i`, NaN for ids without a vector, and how many vocabulary words were found.
    Only the lines of vocabulary words are parsed, so a 400k-word file reads in a second or two.
    """
    num_rows = num_rows if num_rows is not None else max(vocab.values()) + 1
    vectors = np.full((num_rows, embedding_dim), np.nan, dtype=np.float32)
    found = 0
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            word, _, rest = line.rstrip("\n").partition(" ")
            index = vocab.get(word)
            if index is None:
                continue
            values = rest.split(" ")
            if len(values) != embedding_dim:
                raise ValueError(
                    f"{path}, line {line_number} (word {word!r}): expected {embedding_dim} values (the model's "
                    f"`embedding_dim`) in GloVe text format `word v1 ... v{embedding_dim}`, found {len(values)}"
                )
            if np.isnan(vectors[index, 0]):
                found += 1
            vectors[index] = np.asarray(values, dtype=np.float32)
    return vectors, found


class TextCNNPreTrainedModel(FreezeAfterLoadingMixin, PreTrainedModel):
    config_class = TextCNNConfig
    config: TextCNNConfig
    base_model_prefix = "text_cnn"
    main_input_name = "input_ids"
    input_modalities = "text"

    def _freeze(self):
        self.get_input_embeddings().weight.requires_grad_(not self.config.freeze_embeddings)

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.padding_idx is not None:
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, (nn.Conv1d, nn.Linear)):
            pytorch_default_init_(module)


class TextCNNModel(TextCNNPreTrainedModel):
    """Embeddings, convolutions and pooling; `pooler_output` is the sentence representation."""

    def __init__(self, config: TextCNNConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, config.num_filters, kernel_size=k, stride=config.conv_stride)
            for k in config.kernel_sizes
        )
        self.post_init()
        self._freeze()

    def get_input_embeddings(self):
        return self.embeddings

    def set_input_embeddings(self, value):
        self.embeddings = value

    def load_word_vectors(self, path: str, vocab: dict) -> int:
        """Initialise the embedding rows of the words of `vocab` (token -> id) from a GloVe-format text file.

        Words the file lacks keep their random initialisation, rescaled to the vectors' standard deviation so both
        kinds of rows start on the same scale; the padding row stays zero. Returns how many words were found.
        """
        weight = self.embeddings.weight
        if min(vocab.values()) < 0 or max(vocab.values()) >= weight.shape[0]:
            raise ValueError(f"the vocabulary has ids up to {max(vocab.values())} but `vocab_size` is {weight.shape[0]}")
        vectors, found = read_word_vectors(path, vocab, self.config.embedding_dim, num_rows=weight.shape[0])
        if found == 0:
            raise ValueError(f"{path}: none of the {len(vocab)} vocabulary words has a vector in this file")
        rows = torch.from_numpy(vectors)  # (vocab_size, embedding_dim), row i = id i, NaN where no vector
        known = ~torch.isnan(rows[:, 0])
        with torch.no_grad():
            scale = rows[known].std() / weight[~known].std().clamp_min(1e-12) if (~known).any() else 1.0
            weight.copy_(torch.where(known[:, None], rows, weight * scale).to(weight.dtype))
            weight[self.config.pad_token_id] = 0
        logger.info(f"initialised {found}/{len(vocab)} embeddings from {path}")
        return found

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
    ) -> BaseModelOutputWithPooling:
        config = self.config
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        if input_ids.dim() != 2:
            raise ValueError(f"`input_ids` must have shape (batch, sequence), got {tuple(input_ids.shape)}")
        if attention_mask is None:
            attention_mask = input_ids.ne(config.pad_token_id).long()
        if not is_tracing() and input_ids.shape[1] > config.max_sequence_length:
            logger.warning_once(
                f"input of {input_ids.shape[1]} tokens truncated to the model's `max_sequence_length` of {config.max_sequence_length}"
            )
            input_ids = input_ids[:, : config.max_sequence_length]
            attention_mask = attention_mask[:, : config.max_sequence_length]
        # No branch on the length below, so that one traced graph takes every length the tokenizer gives (one-word texts
        # included): tokens past `max_sequence_length` are masked rather than cut (the same logits: masked tokens are
        # zero, as the padding that follows a cut text), and `widest` masked pad tokens on the right give every text,
        # even an empty one, at least one window per kernel without adding a window that counts (the pooling reads only
        # windows within the text).
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        attention_mask = attention_mask * (positions < config.max_sequence_length)[None, :]
        widest = max(config.kernel_sizes)
        input_ids = nn.functional.pad(input_ids, (0, widest), value=config.pad_token_id)
        attention_mask = nn.functional.pad(attention_mask, (0, widest), value=0)
        lengths = attention_mask.sum(dim=1)  # (batch,)

        mask = attention_mask[:, :, None].to(self.embeddings.weight.dtype)
        hidden = self.embedding_dropout(self.embeddings(input_ids) * mask)  # zero padding, even for a trained pad row
        hidden = hidden.transpose(1, 2)  # (batch, embedding_dim, seq) for Conv1d

        pooled, feature_maps = [], []
        for conv, k in zip(self.convs, config.kernel_sizes):
            features = torch.relu(conv(hidden))  # (batch, num_filters, windows)
            # A window counts when it lies within the text, padded to k tokens if shorter: the same windows, and so
            # the same output, whatever padding the batch adds.
            num_valid = torch.div(lengths.clamp_min(k) - k, config.conv_stride, rounding_mode="floor") + 1
            valid = torch.arange(features.shape[-1], device=features.device)[None, :] < num_valid[:, None]
            pooled.append(self._pool(features, valid))
            feature_maps.append(features)
        pooled = torch.cat(pooled, dim=-1)  # (batch, pooled_size)
        hidden_states = tuple(feature_maps) if output_hidden_states else None
        return BaseModelOutputWithPooling(last_hidden_state=feature_maps[-1], pooler_output=pooled, hidden_states=hidden_states)

    def _pool(self, features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Pool `(batch, filters, windows)` over the valid windows only."""
        valid = valid[:, None, :]
        pooling = self.config.pooling
        if pooling == "max":
            return features.masked_fill(~valid, float("-inf")).amax(dim=-1)
        if pooling == "mean":
            return (features * valid).sum(-1) / valid.sum(-1).clamp_min(1)
        # k-max: the k largest valid values of each map, kept in their order along the text.
        k = self.config.kmax_k
        # k spare -inf slots: a text with fewer than k windows still has k values, with no branch on the length
        scores = nn.functional.pad(features.masked_fill(~valid, float("-inf")), (0, k), value=float("-inf"))
        # A stable sort breaks ties (ReLU zeros are common) towards earlier positions, whatever the padding.
        positions = scores.sort(dim=-1, descending=True, stable=True).indices[..., :k].sort(dim=-1).values
        top = scores.gather(-1, positions)
        top = top.masked_fill(torch.isinf(top), 0.0)  # texts with fewer than k windows: missing values are 0
        return top.flatten(1)  # (batch, filters * k)


class TextCNNForSequenceClassification(TextCNNPreTrainedModel):
    def __init__(self, config: TextCNNConfig):
        super().__init__(config)
        self.text_cnn = TextCNNModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.pooled_size, config.num_labels)
        self.post_init()
        self._freeze()

    def get_input_embeddings(self):
        return self.text_cnn.embeddings

    def set_input_embeddings(self, value):
        self.text_cnn.embeddings = value

    def load_word_vectors(self, path: str, vocab: dict) -> int:
        """See `TextCNNModel.load_word_vectors`."""
        return self.text_cnn.load_word_vectors(path, vocab)

    @can_return_tuple
    @add_start_docstrings(LABELS_DOCSTRING)
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
    ) -> SequenceClassifierOutput:
        outputs = self.text_cnn(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states,
                                return_dict=True)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = classification_loss(self.config, logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


__all__ = ["TextCNNForSequenceClassification", "TextCNNModel", "TextCNNPreTrainedModel", "read_word_vectors"]
