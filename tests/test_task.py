"""The task base class: every family subclasses it, and the hooks the loop calls on every task do nothing special
unless a family overrides them."""

import types

import pytest
import torch

from emotion_hub.training.registry import family_of, model_type_names, task_class_of
from emotion_hub.training.task import Task


@pytest.mark.parametrize("model_type", model_type_names())
def test_every_task_is_a_task_and_says_whether_it_groups_by_length(model_type):
    cls = task_class_of(model_type)
    assert issubclass(cls, Task)
    for hook in ("dataset", "collator", "build_model"):
        assert getattr(cls, hook) is not getattr(Task, hook), f"{cls.__name__} must define {hook}"
    # `group_by_length` is refused before any data is read for the families whose sampler does not group.
    assert cls.supports_length_grouping == (cls.train_sampler is not Task.train_sampler)
    # A task's config and model classes are its recipe's family's (one task class serves several families).
    task = Task(types.SimpleNamespace(model_type=model_type, model={}), None, ["a", "b"])
    family = family_of(model_type)
    assert (task.config_class, task.model_class) == (family.config_class, family.model_class)
    assert task.config_class is not None and task.model_class is not None


def test_a_task_without_the_three_hooks_is_refused_by_name():
    class Half(Task):
        pass

    task = Half(types.SimpleNamespace(model={}), None, ["a", "b"])
    for call, hook in ((lambda: task.dataset("train", None), "dataset"), (lambda: task.collator(True), "collator"),
                       (lambda: task.build_model(None), "build_model")):
        with pytest.raises(NotImplementedError, match=f"Half must define {hook}"):
            call()


def test_default_hooks_and_model_arguments(tmp_path):
    recipe = types.SimpleNamespace(model={"hidden_size": 8, "class_weights": "auto"})
    task = Task(recipe, None, ["anger", "joy"])
    batch = {"x": torch.ones(2)}
    assert task.augment_batch(batch) is batch and task.train_sampler(object()) is None
    data = {"train": object()}
    assert task.cache_encoder(object(), data, None) is data
    assert task.extra_results() == {} and task.stock_pipeline_caveats(object()) is None

    saved = []

    class Model:
        def __call__(self, **kwargs):
            return types.SimpleNamespace(loss=kwargs["x"].sum())

        def save_pretrained(self, path, **kwargs):
            saved.append(("model", path, kwargs))

    class Processor:
        def save_pretrained(self, path):
            saved.append(("processor", path))

    task.processor = Processor()
    assert task.training_loss(Model(), batch).item() == 2.0
    task.save_model(Model(), str(tmp_path))
    task.save_processor(str(tmp_path))
    assert saved == [("model", str(tmp_path), {"safe_serialization": True}), ("processor", str(tmp_path))]

    # The recipe's `class_weights` ("auto") is replaced by the computed weights; the label maps come from the labels.
    assert task.model_arguments([0.5, 1.5], vocab_size=10) == {
        "hidden_size": 8, "vocab_size": 10, "id2label": {0: "anger", 1: "joy"}, "label2id": {"anger": 0, "joy": 1},
        "class_weights": [0.5, 1.5]}
