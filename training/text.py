"""Text classification: a word-level tokenizer trained on the training split + the text CNN (`model_type: text_cnn`).

The smallest task module: the processor (saved beside the model), how a split becomes the dataset the DataLoader reads
(`dataset`), how it is batched (`collator`) and how the model is built (`build_model`); the other hooks keep the
defaults of `training/task.py`. A family names its task in its declaration (`modeling/families.py`).
"""

import os

from transformers import DataCollatorWithPadding

from emotion_hub.processing.tokenization_word_level import build_word_level_tokenizer
from emotion_hub.training.task import Task


class TextClassificationTask(Task):
    """Word-level tokenizer trained on the training split + a text CNN (`model_type: text_cnn`)."""

    pipeline_tag = "text-classification"

    def __init__(self, recipe, train_split, label_names):
        super().__init__(recipe, train_split, label_names)
        max_length = recipe.model.get("max_sequence_length", self.config_class().max_sequence_length)
        extra_words = _first_words(recipe.word_vectors, recipe.word_vectors_vocab) if recipe.word_vectors else ()
        self.processor = build_word_level_tokenizer(
            train_split[recipe.input_column], extra_words=extra_words, model_max_length=max_length, **recipe.tokenizer
        )

    def dataset(self, split_name, split):
        return tokenized(self.processor, self.recipe, split_name, split)

    def collator(self, train: bool):
        return DataCollatorWithPadding(self.processor)

    def build_model(self, class_weights):
        kwargs = self.model_arguments(class_weights, vocab_size=len(self.processor),
                                      pad_token_id=self.processor.pad_token_id)
        if self.recipe.word_vectors:
            kwargs.setdefault("word_vectors", os.path.basename(self.recipe.word_vectors))
        model = self.model_class(self.config_class(**kwargs))
        self.vector_coverage = None
        if self.recipe.word_vectors:
            found = model.load_word_vectors(self.recipe.word_vectors, self.processor.get_vocab())
            self.vector_coverage = found / len(self.processor)
        return model

    def extra_results(self):
        return {"word_vector_coverage": self.vector_coverage} if self.vector_coverage is not None else {}


def tokenized(tokenizer, recipe, split_name, split):
    """`split` tokenised once with `map` (cached by `datasets`), truncated to the tokenizer's `model_max_length`;
    `labels` holds the class ids, every other column is dropped."""
    text, label = recipe.input_column, recipe.label_column
    split = split.map(lambda batch: tokenizer(batch[text], truncation=True), batched=True,
                      remove_columns=[c for c in split.column_names if c != label], desc=f"tokenizing {split_name}")
    return split.rename_column(label, "labels")


def _first_words(path, n):
    with open(path, encoding="utf-8") as f:
        return [line.partition(" ")[0] for _, line in zip(range(n), f)]


__all__ = ["TextClassificationTask", "tokenized"]
