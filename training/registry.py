"""The one place that maps a recipe's `model_type` to its task module.

A task class (see `training/text.py` for the smallest) builds the processor from the training split, turns splits
into datasets (`dataset`), batches them (`collator`), builds the model (`build_model`) and may add `augment_batch`
(training batches, in the loop), `train_sampler`, `save_model`, `save_processor` (instead of
`processor.save_pretrained`) and `extra_results`. Its `config_class_for(model_type)` names the config whose `__init__`
validates the recipe's `model` block. A new model family is one new module and one line here.
"""

import importlib

# model_type -> "module:TaskClass". The task modules import torch and the models: they are imported when a run (or
# the recipe check of a `model` block) needs them, so `train.py --help` and recipe errors come at once.
AUDIO_MODEL_TYPES = ("spectrogram_vit", "mfcc_cnn", "waveform_mlp", "wav2vec2_emotion", "speech_emotion")
TASKS = {
    "text_cnn": "emotion_hub.training.text:TextClassificationTask",
    "auto_sequence_classification": "emotion_hub.training.text_transformer:TextTransformerTask",
    "erc_fusion": "emotion_hub.training.conversation:ERCTask",
    "fer_cnn": "emotion_hub.training.image:ImageClassificationTask",
    "fer_timm": "emotion_hub.training.image:TimmImageClassificationTask",
    **{name: "emotion_hub.training.audio:AudioClassificationTask" for name in AUDIO_MODEL_TYPES},
}
MODEL_TYPE_NAMES = tuple(TASKS)


def task_class_of(model_type: str):
    module, _, name = TASKS[model_type].partition(":")
    return getattr(importlib.import_module(module), name)


def __getattr__(name):
    if name == "MODEL_TYPES":  # model_type -> task class (imports every task module)
        return {model_type: task_class_of(model_type) for model_type in TASKS}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def config_class_of(model_type: str):
    """The config class whose `__init__` arguments a recipe's `model` block may set."""
    if model_type in AUDIO_MODEL_TYPES:
        from emotion_hub.training.audio import AUDIO_MODELS

        return AUDIO_MODELS[model_type][0]
    return task_class_of(model_type).config_class


def model_class_of(model_type: str):
    """The model class a recipe of `model_type` trains (None for stock transformers classes)."""
    if model_type in AUDIO_MODEL_TYPES:
        from emotion_hub.training.audio import AUDIO_MODELS

        return AUDIO_MODELS[model_type][1]
    return getattr(task_class_of(model_type), "model_class", None)


def export_stock_blockers(recipe) -> list[str]:
    """Why `export_stock: true` cannot be honoured for this recipe, from the command line alone (before any data is
    read or any model trained). Blockers that depend on the data or the processor are checked when the model is
    built."""
    model_class = model_class_of(recipe.model_type)
    if model_class is None:
        return []  # auto_sequence_classification: the folder is a stock transformers folder anyway
    if not hasattr(model_class, "save_stock_pretrained"):
        return [f"model_type {recipe.model_type} has no stock transformers class (its folder needs its own code); the "
                f"stock exports are speech_emotion / wav2vec2_emotion (pooling mean), spectrogram_vit (AST) and "
                f"fer_timm (TimmWrapper)"]
    config_class = config_class_of(recipe.model_type)
    checks = getattr(config_class, "stock_export_checks", ())
    values = {key: recipe.model.get(key, default) for key, default in checks}
    blockers = getattr(config_class, "stock_export_blockers_of", None)
    return blockers(**values) if blockers is not None else []


__all__ = ["AUDIO_MODEL_TYPES", "MODEL_TYPES", "MODEL_TYPE_NAMES", "TASKS", "config_class_of", "export_stock_blockers",
           "model_class_of", "task_class_of"]
