#!/usr/bin/env python
"""Train any recipe of the package with Accelerate: CPU, one GPU, many GPUs or many nodes.

    python train.py --config configs/text-cnn-tweeteval-emotion.yaml --data_dir DIR --output_dir OUT [--key value ...]

Every recipe key can be overridden on the command line (`--learning_rate 3e-4`, nested keys with a dot:
`--model.num_filters 200`); `python train.py --help` lists them. A bad recipe or folder is one line
`error: ...` with exit status 2 (`--debug` shows the traceback).

The output folder is a Hub model repository: config with `auto_map`, safetensors weights, processor files, the
model's code and a model card, plus `all_results.json` (validation metrics of the best epoch and test metrics of the
best weights) and `classification_report.json` (per-class metrics and confusion matrices). It is written beside
`OUT` and swapped in whole. Checkpoints go to `OUT/checkpoints/` and resume with `--resume_from_checkpoint latest`.
A folder holding another run is refused unless `--overwrite_output_dir true` (replaced once the new run has
finished) or `--resume_from_checkpoint` is given; a folder holding files train.py did not write is refused by name;
a second run on the same folder at the same time is refused.

The code lives in the `training` package (see `training/__init__.py`, the command line in `training/cli.py`);
this file is its entry point and re-exports the names scripts and tests use.
"""

import importlib
import os
import sys

# Read and check the command line before torch, transformers, datasets and accelerate are imported: `--help`, a bad
# recipe and `--dry_run` answer in about a second. `emotion_hub` is imported without registering its Auto classes
# (main() registers them before any work); the setting is not left for other code or child processes.
_previous = os.environ.get("EMOTION_HUB_LAZY_IMPORT")
os.environ["EMOTION_HUB_LAZY_IMPORT"] = "1"
try:
    from emotion_hub.training.cli import cli, main
    from emotion_hub.training.recipe import Recipe, RecipeError, parse_args
finally:
    if _previous is None:
        del os.environ["EMOTION_HUB_LAZY_IMPORT"]
    else:
        os.environ["EMOTION_HUB_LAZY_IMPORT"] = _previous

# The names scripts and tests use, imported when first used (`train.compute_metrics`, `from train import ...`).
_LAZY = {
    "modeling": "emotion_hub", "FERImageProcessor": "emotion_hub.processing.image_processing_fer",
    "AudioClassificationTask": "emotion_hub.training.audio",
    "build_feature_extractor": "emotion_hub.training.audio",
    "LoopState": "emotion_hub.training.checkpoints", "list_checkpoints": "emotion_hub.training.checkpoints",
    "cross_validate": "emotion_hub.training.cross_validation",
    "fold_assignment": "emotion_hub.training.cross_validation",
    "ImageAugmentation": "emotion_hub.training.image", "ImageCollator": "emotion_hub.training.image",
    "decode_images": "emotion_hub.training.image", "normalize_pixels": "emotion_hub.training.image",
    "build_accelerator": "emotion_hub.training.loop", "load_splits": "emotion_hub.training.loop",
    "train_and_evaluate": "emotion_hub.training.loop", "compute_metrics": "emotion_hub.training.metrics",
    "MODEL_TYPES": "emotion_hub.training.registry", "ClassBalancedBatchSampler": "emotion_hub.training.samplers",
    "LengthGroupedSampler": "emotion_hub.training.samplers",
}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, name) if name != "modeling" else importlib.import_module("emotion_hub.modeling")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted([*_LAZY, "Recipe", "RecipeError", "cli", "main", "parse_args"])

if __name__ == "__main__":
    cli(sys.argv[1:])
