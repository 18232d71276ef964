"""emotion-hub: Hub-native emotion-recognition models, processors, dataset builders and training, under one name.

    import emotion_hub  # registers every model and processor with the Auto classes
    from emotion_hub.modeling import TextCNNForSequenceClassification
    from emotion_hub.datasets_scripts import load_builder_dataset
    from emotion_hub.training.cli import main  # what train.py runs

The repository keeps its top-level folders (`modeling/`, `processing/`, `datasets_scripts/`, `model_cards/`,
`training/`); installed, they are the subpackages `emotion_hub.<folder>` (setup.py's `package_dir`), so a user's own
`modeling.py` or `processing.py` never shadows ours, nor ours theirs. In a source checkout that is not installed,
this package reaches the same folders through its `__path__`.
"""

import os as _os

_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_checkout, "setup.py")) and _os.path.isdir(_os.path.join(_checkout, "modeling")):
    __path__.append(_checkout)  # noqa: F821  (a source checkout: its top-level folders are our subpackages)

# `train.py` and the `emotion-hub-train` command read and check their command line before anything heavy is
# imported: train.py imports us with EMOTION_HUB_LAZY_IMPORT=1, the console script is recognised by its name, and the
# Auto classes are registered when the run imports `emotion_hub.modeling` (training/cli.py's main does).
_program = _os.path.basename((getattr(__import__("sys"), "argv", None) or [""])[0])
if _os.environ.get("EMOTION_HUB_LAZY_IMPORT") != "1" and _program != "emotion-hub-train":
    from . import modeling, processing  # noqa: E402,F401  (registers the Auto classes)


def __getattr__(name):
    if name in ("modeling", "processing"):  # lazy mode: `emotion_hub.modeling` still works as an attribute
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["modeling", "processing"]
