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

import sys

from emotion_hub import modeling  # noqa: F401  (registers the Auto classes)
from emotion_hub.processing.image_processing_fer import FERImageProcessor
from emotion_hub.training.audio import AUDIO_MODELS, AudioClassificationTask, build_feature_extractor
from emotion_hub.training.checkpoints import LoopState, list_checkpoints
from emotion_hub.training.cli import cli, main
from emotion_hub.training.cross_validation import cross_validate, fold_assignment
from emotion_hub.training.image import ImageAugmentation, ImageCollator, decode_images, normalize_pixels
from emotion_hub.training.loop import build_accelerator, load_splits, train_and_evaluate
from emotion_hub.training.metrics import compute_metrics
from emotion_hub.training.recipe import Recipe, RecipeError, parse_args
from emotion_hub.training.registry import MODEL_TYPES
from emotion_hub.training.samplers import ClassBalancedBatchSampler, LengthGroupedSampler

__all__ = ["AUDIO_MODELS", "AudioClassificationTask", "ClassBalancedBatchSampler", "FERImageProcessor",
           "ImageAugmentation", "ImageCollator", "LengthGroupedSampler", "LoopState", "MODEL_TYPES", "Recipe",
           "RecipeError", "build_accelerator", "build_feature_extractor", "cli", "compute_metrics", "cross_validate",
           "decode_images", "fold_assignment", "list_checkpoints", "load_splits", "main", "modeling",
           "normalize_pixels", "parse_args", "train_and_evaluate"]

if __name__ == "__main__":
    cli(sys.argv[1:])
