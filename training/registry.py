"""A recipe's `model_type` -> its family: the task class that trains it, its config class and its model class.

The families are declared once, in `modeling/families.py` (a family of your own: `register_family`); this module only
looks them up. `families.py` imports only the standard library: the command line reads it without running
`emotion_hub.modeling`'s `__init__` (which imports torch to register the Auto classes), so `train.py --help` and a
recipe's `model_type` are checked at once. The task, config and model classes are imported when first asked for.
"""

import importlib.util
import os
import sys

_FAMILIES = "emotion_hub.modeling.families"


def _families():
    """The `families` module `emotion_hub.modeling` imports; read on its own when the package is not imported yet."""
    folder = None if _FAMILIES in sys.modules else importlib.util.find_spec("emotion_hub.modeling")
    if _FAMILIES not in sys.modules:  # (finding the folder imports `emotion_hub`, which may import the models)
        spec = importlib.util.spec_from_file_location(
            _FAMILIES, os.path.join(folder.submodule_search_locations[0], "families.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[_FAMILIES] = module  # `emotion_hub.modeling` finds it there when it is imported later
        spec.loader.exec_module(module)
    return sys.modules[_FAMILIES]


def model_type_names() -> tuple:
    """Every `model_type` a recipe may name: the package's families and those registered in this process."""
    return tuple(_families().FAMILIES)


def is_package_family(model_type: str) -> bool:
    """Whether `model_type` is one of the package's own families (not one registered from outside)."""
    return model_type in _families().PACKAGE_MODEL_TYPES


def family_of(model_type: str):
    return _families().family_of(model_type)


def task_class_of(model_type: str):
    return family_of(model_type).task_class


def config_class_of(model_type: str):
    """The config class whose typed fields a recipe's `model` block may set."""
    return family_of(model_type).config_class


def model_class_of(model_type: str):
    """The model class a recipe of `model_type` trains."""
    return family_of(model_type).model_class


def __getattr__(name):
    if name == "MODEL_TYPES":  # model_type -> task class (imports every task module)
        return {model_type: task_class_of(model_type) for model_type in model_type_names()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def export_stock_blockers(recipe) -> list[str]:
    """Why `export_stock: true` cannot be honoured for this recipe, from the command line alone (before any data is
    read or any model trained). Blockers that depend on the data or the processor are checked when the model is
    built."""
    family = family_of(recipe.model_type)
    if family.auto_class is None:
        return []  # a stock transformers model (auto_sequence_classification): its folder is a stock folder anyway
    if not hasattr(family.model_class, "save_stock_pretrained"):
        exports = [name for name in model_type_names() if family_of(name).auto_class is not None
                   and hasattr(model_class_of(name), "save_stock_pretrained")]
        return [f"model_type {recipe.model_type} has no stock transformers class (its folder needs its own code); the "
                f"stock exports are {', '.join(exports)}"]
    config_class = family.config_class
    checks = getattr(config_class, "stock_export_checks", ())
    values = {key: recipe.model.get(key, default) for key, default in checks}
    blockers = getattr(config_class, "stock_export_blockers_of", None)
    return blockers(**values) if blockers is not None else []


__all__ = ["MODEL_TYPES", "config_class_of", "export_stock_blockers", "family_of", "is_package_family",
           "model_class_of", "model_type_names", "task_class_of"]
