"""The one place that maps a recipe's `model_type` to its task module.

A task class (see `training/text.py` for the smallest) builds the processor from the training split, turns splits
into datasets (`dataset`), batches them (`collator`), builds the model (`build_model`) and may add `augment_batch`
(training batches, in the loop), `train_sampler`, `save_model`, `save_processor` (instead of
`processor.save_pretrained`) and `extra_results`. Its `config_class_for(model_type)` names the config whose `__init__`
validates the recipe's `model` block. A new model family is one new module and one line here.
"""

from emotion_hub.training.audio import AUDIO_MODELS, AudioClassificationTask
from emotion_hub.training.conversation import ERCTask
from emotion_hub.training.image import ImageClassificationTask, TimmImageClassificationTask
from emotion_hub.training.text import TextClassificationTask
from emotion_hub.training.text_transformer import TextTransformerTask

MODEL_TYPES = {
    "text_cnn": TextClassificationTask,
    "auto_sequence_classification": TextTransformerTask,
    "erc_fusion": ERCTask,
    "fer_cnn": ImageClassificationTask,
    "fer_timm": TimmImageClassificationTask,
    **{name: AudioClassificationTask for name in AUDIO_MODELS},
}


def task_class_of(model_type: str):
    return MODEL_TYPES[model_type]


def config_class_of(model_type: str):
    """The config class whose `__init__` arguments a recipe's `model` block may set."""
    task = MODEL_TYPES[model_type]
    return AUDIO_MODELS[model_type][0] if task is AudioClassificationTask else task.config_class


__all__ = ["MODEL_TYPES", "config_class_of", "task_class_of"]
