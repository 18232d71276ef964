"""Text classification: a word-level tokenizer trained on the training split + the text CNN (`model_type: text_cnn`).

A task module holds what differs between model families: the processor (saved beside the model), how a split becomes
the dataset the DataLoader reads (`dataset`), how it is batched (`collator`) and how the model is built
(`build_model`). Register a new family in `training/registry.py`.
"""

import os

from transformers import DataCollatorWithPadding

from emotion_hub import modeling
from emotion_hub.processing.tokenization_word_level import build_word_level_tokenizer

class TextClassificationTask:
    """Word-level tokenizer trained on the training split + a text CNN (`model_type: text_cnn`).

    A task is what differs between model families: it builds the processor (saved beside the model), turns a split
    into the dataset the DataLoader reads (`dataset`), batches it (`collator`) and builds the model (`build_model`).
    """

    pipeline_tag = "text-classification"
    config_class, model_class = modeling.TextCNNConfig, modeling.TextCNNForSequenceClassification

    def __init__(self, recipe, train_split, label_names):
        self.recipe, self.label_names = recipe, label_names
        max_length = recipe.model.get("max_sequence_length", self.config_class().max_sequence_length)
        extra_words = _first_words(recipe.word_vectors, recipe.word_vectors_vocab) if recipe.word_vectors else ()
        self.processor = build_word_level_tokenizer(
            train_split[recipe.input_column], extra_words=extra_words, model_max_length=max_length, **recipe.tokenizer
        )

    def dataset(self, split_name, split):
        """Tokenised once with `map` (cached by `datasets`); `labels` holds the class ids."""
        columns = self.recipe.input_column, self.recipe.label_column
        split = split.map(lambda batch: self.processor(batch[columns[0]], truncation=True), batched=True,
                          remove_columns=[c for c in split.column_names if c != columns[1]],
                          desc=f"tokenizing {split_name}")
        return split.rename_column(columns[1], "labels")

    def collator(self, train: bool):
        return DataCollatorWithPadding(self.processor)

    def build_model(self, class_weights):
        kwargs = {k: v for k, v in self.recipe.model.items() if k != "class_weights"}
        if self.recipe.word_vectors:
            kwargs.setdefault("word_vectors", os.path.basename(self.recipe.word_vectors))
        config = self.config_class(
            vocab_size=len(self.processor),
            pad_token_id=self.processor.pad_token_id,
            id2label=dict(enumerate(self.label_names)),
            label2id={name: i for i, name in enumerate(self.label_names)},
            class_weights=class_weights,
            **kwargs,
        )
        model = self.model_class(config)
        self.vector_coverage = None
        if self.recipe.word_vectors:
            found = model.load_word_vectors(self.recipe.word_vectors, self.processor.get_vocab())
            self.vector_coverage = found / len(self.processor)
        return model

    def extra_results(self):
        return {"word_vector_coverage": self.vector_coverage} if self.vector_coverage is not None else {}


def _first_words(path, n):
    with open(path, encoding="utf-8") as f:
        return [line.partition(" ")[0] for _, line in zip(range(n), f)]


__all__ = ["TextClassificationTask"]
