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
A folder holding another run is refused unless `--overwrite_output_dir true` or `--resume_from_checkpoint` is
given; a second run on the same folder at the same time is refused.

The code lives in the `training` package (see `training/__init__.py`); this file is its entry point.
"""

import os
import sys

from training.audio import AUDIO_MODELS, AudioClassificationTask, build_feature_extractor
from training.checkpoints import LoopState, list_checkpoints
from training.cross_validation import cross_validate, fold_assignment
from training.hub import push_to_hub
from training.image import ImageAugmentation, ImageCollator, decode_images, normalize_pixels
from training.loop import build_accelerator, flat_recipe, load_splits, train_and_evaluate
from training.metrics import compute_metrics
from training.output import claim_output_dir
from training.recipe import Recipe, RecipeError, parse_args
from training.registry import MODEL_TYPES
from training.samplers import ClassBalancedBatchSampler, LengthGroupedSampler

import modeling  # noqa: E402  (registers the Auto classes)
from processing.image_processing_fer import FERImageProcessor  # noqa: E402


def main(argv=None, on_evaluate=None):
    """Run the recipe of `argv` (the command-line words after `train.py`); returns the results dict.

    `on_evaluate(epoch, metrics) -> bool` is called after every epoch's validation (see `training/loop.py`);
    returning True stops training early (the best weights are still tested and saved).
    """
    recipe = parse_args(argv)
    accelerator = build_accelerator(recipe)
    accelerator.print(f"{accelerator.num_processes} process(es), device {accelerator.device}")
    lock = _claim(recipe, accelerator)
    try:
        if recipe.report_to != "none":
            accelerator.init_trackers(os.path.basename(os.path.normpath(recipe.output_dir)),
                                      config=flat_recipe(recipe))
        with accelerator.main_process_first():
            splits = load_splits(recipe)
        run = cross_validate if recipe.folds else train_and_evaluate
        results = run(recipe, accelerator, splits, recipe.output_dir, recipe.resume_from_checkpoint,
                      on_evaluate=on_evaluate)
        if accelerator.is_main_process and recipe.push_to_hub:
            push_to_hub(recipe)
        accelerator.wait_for_everyone()
        accelerator.end_training()
    finally:
        if lock is not None:
            lock.close()
    return results


def _claim(recipe, accelerator):
    """The output-folder lock and rules on the main process; every process learns whether they refused the run."""
    from accelerate.utils import broadcast_object_list

    lock, problem = None, [None]
    if accelerator.is_main_process:
        try:
            lock = claim_output_dir(recipe)
        except RecipeError as err:
            problem = [str(err)]
    if accelerator.num_processes > 1:
        broadcast_object_list(problem)
    if problem[0]:
        raise RecipeError(problem[0])
    return lock


def cli(argv=None):
    """`train.py` / `emotion-hub-train`: one line `error: ...` and exit status 2 on failure (`--debug`: traceback)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        main([a for a in argv if a != "--debug"])
    except Exception as err:  # noqa: BLE001  (the message is the user interface; --debug shows the rest)
        if debug:
            raise
        while type(err).__name__ == "DatasetGenerationError" and err.__cause__ is not None:
            err = err.__cause__  # `datasets` wraps the builder's own message
        known = isinstance(err, (ValueError, FileNotFoundError, NotADirectoryError, RuntimeError, OSError))
        message = " ".join(str(err).split()) or type(err).__name__
        if not known or type(err) in (RuntimeError, OSError):
            message = f"{type(err).__name__}: {message}"
        print(f"error: {message} (--debug shows the traceback)" if not known else f"error: {message}",
              file=sys.stderr)
        sys.exit(2)


__all__ = ["AUDIO_MODELS", "AudioClassificationTask", "ClassBalancedBatchSampler", "FERImageProcessor",
           "ImageAugmentation", "ImageCollator", "LengthGroupedSampler", "LoopState", "MODEL_TYPES", "Recipe",
           "RecipeError", "build_accelerator", "build_feature_extractor", "cli", "compute_metrics", "cross_validate",
           "decode_images", "fold_assignment", "list_checkpoints", "load_splits", "main", "modeling",
           "normalize_pixels", "parse_args", "train_and_evaluate"]

if __name__ == "__main__":
    cli()
