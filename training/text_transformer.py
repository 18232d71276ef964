"""Text classification by fine-tuning a pretrained transformers checkpoint (`model_type: auto_sequence_classification`).

Any `AutoModelForSequenceClassification` checkpoint (Hub id or folder, `pretrained_backbone`) with its own tokenizer;
the output folder is a stock transformers folder (no code of ours): it loads with
`AutoModelForSequenceClassification.from_pretrained(folder)` and `pipeline("text-classification", model=folder)` in a
Python that has only transformers, and runs in the Hub's hosted widget. The recipe's `tokenizer` block reuses the text
CNN's tweet cleaning (`unescape_newlines`, `emoji: words`, `strip_html`) as steps put in front of the checkpoint
tokenizer's own normalizer, so the saved `tokenizer.json` cleans every text the same way at inference.
"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from tokenizers import Tokenizer, normalizers
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                          PreTrainedTokenizerFast)

from emotion_hub.modeling.configuration_utils import EmotionConfig, at_least, probability
from emotion_hub.modeling.losses import classification_loss
from emotion_hub.processing.tokenization_word_level import _is_symbol, build_normalizer, emoji_to_words
from emotion_hub.training.samplers import token_length_sampler
from emotion_hub.training.task import Task
from emotion_hub.training.text import tokenized


CLEANING_OPTIONS = ("unescape_newlines", "emoji", "strip_html")
# Checkpoint config settings a recipe may change: the dropouts (names differ between families).
DROPOUT_OPTIONS = ("classifier_dropout", "hidden_dropout_prob", "attention_probs_dropout_prob", "dropout",
                   "attention_dropout", "summary_first_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop")


@strict
class AutoSequenceClassificationOptions(EmotionConfig):
    r"""
    The `model` block of an `auto_sequence_classification` recipe (its keys are validated against these fields).

    Args:
        max_sequence_length (`int`, *optional*, defaults to 128): texts are truncated to this many tokens (special
            tokens included), at least 2; at most the checkpoint's positions.
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, the stock head's cross-entropy, or
            `"weighted_ce"`, cross-entropy weighted per class in training (`model.class_weights`: a list in label-id
            order, or inverse training frequency when absent or `"auto"`); other losses would not travel with the
            stock folder. The weights are a training setting: the saved folder stays stock and its logits are the same
            either way.
        classifier_dropout, hidden_dropout_prob, attention_probs_dropout_prob, dropout, attention_dropout,
            summary_first_dropout, resid_pdrop, embd_pdrop, attn_pdrop (`float`, *optional*): set on the checkpoint's
            config when given (the names its family uses).
    """

    model_type = "auto_sequence_classification_options"

    max_sequence_length: int = at_least(2)(default=128)
    loss_type: Literal["ce", "weighted_ce"] = "ce"
    classifier_dropout: float | int | None = probability(default=None)
    hidden_dropout_prob: float | int | None = probability(default=None)
    attention_probs_dropout_prob: float | int | None = probability(default=None)
    dropout: float | int | None = probability(default=None)
    attention_dropout: float | int | None = probability(default=None)
    summary_first_dropout: float | int | None = probability(default=None)
    resid_pdrop: float | int | None = probability(default=None)
    embd_pdrop: float | int | None = probability(default=None)
    attn_pdrop: float | int | None = probability(default=None)

    @property
    def dropouts(self) -> dict:
        """The dropouts the recipe sets, for the checkpoint's config."""
        return {name: getattr(self, name) for name in DROPOUT_OPTIONS if getattr(self, name) is not None}


def add_cleaning(tokenizer, texts, unescape_newlines=False, emoji="token", strip_html=False):
    """The tokenizer with the tweet cleaning in front of its own normalizer, as a stock `PreTrainedTokenizerFast`
    (family classes such as BertTokenizer rebuild their normalizer when loaded; the generic class loads
    `tokenizer.json` as saved). `emoji="words"` replaces the emoji of `texts` by their Unicode names (a transformer
    vocabulary rarely has emoji; it has words)."""
    if emoji not in ("token", "words"):
        raise ValueError(f"`tokenizer.emoji` must be 'token' (kept for the checkpoint's tokenizer) or 'words' for "
                         f"auto_sequence_classification, got {emoji!r}")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(f"`tokenizer` cleaning needs a fast (`tokenizers`) tokenizer; {type(tokenizer).__name__} is "
                         f"not one")
    vocabulary = {c for text in texts for c in text if _is_symbol(c) and emoji_to_words(c)} if emoji == "words" else ()
    cleaning = build_normalizer(lowercase=False, strip_html=strip_html, remove_digits=False, remove_punctuation=False,
                                emoji=emoji, emoji_vocabulary=vocabulary, unescape_newlines=unescape_newlines)
    backend = Tokenizer.from_str(backend.to_str())  # a copy
    own = backend.normalizer
    backend.normalizer = normalizers.Sequence([cleaning, own]) if own is not None else cleaning
    special = {name: getattr(tokenizer, name) for name in ("bos_token", "eos_token", "unk_token", "sep_token",
                                                           "pad_token", "cls_token", "mask_token")
               if getattr(tokenizer, name, None) is not None}
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=tokenizer.model_max_length,
                                   padding_side=tokenizer.padding_side, truncation_side=tokenizer.truncation_side,
                                   model_input_names=tokenizer.model_input_names, **special)


class TextTransformerTask(Task):
    """A pretrained transformers checkpoint fine-tuned as a text classifier (`model_type: auto_sequence_classification`,
    `pretrained_backbone`: Hub id or folder), with its own tokenizer; saved as a stock folder."""

    pipeline_tag = "text-classification"
    supports_length_grouping = True

    def __init__(self, recipe, train_split, label_names):
        if not recipe.pretrained_backbone:
            raise ValueError("model_type auto_sequence_classification needs `pretrained_backbone`: the Hub id or folder "
                             "of a transformers checkpoint (e.g. sentence-transformers/all-MiniLM-L6-v2)")
        super().__init__(recipe, train_split, label_names)
        self.options = self.config_class(**{k: v for k, v in recipe.model.items() if k != "class_weights"})
        weights = recipe.model.get("class_weights")
        if weights is not None and self.options.loss_type != "weighted_ce":
            raise ValueError("`model.class_weights` weighs the training loss of `loss_type: weighted_ce`; this recipe's "
                             f"loss_type is {self.options.loss_type!r}")
        if isinstance(weights, list) and len(weights) != len(label_names):
            raise ValueError(f"`model.class_weights` has {len(weights)} values for {len(label_names)} labels "
                             f"{label_names}")
        unknown = sorted(set(recipe.tokenizer) - set(CLEANING_OPTIONS))
        if unknown:
            raise ValueError(f"`tokenizer` options {unknown} belong to the word-level tokenizer; with a pretrained "
                             f"checkpoint's tokenizer only the cleaning options {CLEANING_OPTIONS} apply")
        tokenizer = AutoTokenizer.from_pretrained(recipe.pretrained_backbone)
        if recipe.tokenizer:
            tokenizer = add_cleaning(tokenizer, train_split[recipe.input_column], **recipe.tokenizer)
        tokenizer.model_max_length = self.options.max_sequence_length
        self.processor = tokenizer

    def dataset(self, split_name, split):
        return tokenized(self.processor, self.recipe, split_name, split)  # truncated to `max_sequence_length`

    def collator(self, train: bool):
        return DataCollatorWithPadding(self.processor)

    def train_sampler(self, dataset):
        return token_length_sampler(self.recipe, dataset)

    def training_loss(self, model, batch):
        """The stock head's loss, or with `weighted_ce` the class-weighted cross-entropy of its logits (the package's
        `classification_loss`, with `self.options` holding the weights)."""
        if self.options.loss_type != "weighted_ce":
            return model(**batch).loss
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        return classification_loss(self.options, logits, batch["labels"])

    def build_model(self, class_weights):
        if self.options.loss_type == "weighted_ce":  # training-only settings: never written to the saved folder
            self.options.class_weights = list(class_weights)
            self.options.problem_type = "single_label_classification"
        # A checkpoint without a classification head (a bare encoder such as MiniLM) gets a new one; a fine-tuned
        # checkpoint with another label set gets a new one too (`ignore_mismatched_sizes`).
        return self.model_class.from_pretrained(
            self.recipe.pretrained_backbone, id2label=dict(enumerate(self.label_names)),
            label2id={name: i for i, name in enumerate(self.label_names)}, ignore_mismatched_sizes=True,
            problem_type="single_label_classification", dtype="float32", **self.options.dropouts)


__all__ = ["AutoSequenceClassificationOptions", "TextTransformerTask", "add_cleaning"]
