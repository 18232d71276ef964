"""The command line of `train.py` (and the `emotion-hub-train` console script): `main(argv, on_evaluate)` runs a
recipe; `cli()` turns every failure into one line `error: ...` with exit status 2 (`--debug`: the traceback)."""

import os
import sys

# Only the recipe parser here: the command line is read and checked before torch, transformers, datasets and
# accelerate are imported (`main` imports them), so --help and a bad recipe answer at once.
from emotion_hub.training.recipe import RecipeError, parse_args, recipe_dict


def main(argv=None, on_evaluate=None):
    """Run the recipe of `argv` (the command-line words after `train.py`); returns the results dict.

    `on_evaluate(epoch, metrics) -> bool` is called after every epoch's validation (see `training/loop.py`);
    returning True stops training early (the best weights are still tested and saved).

    With `--dry_run` the recipe is read and checked (every block, files and folders it names) and printed; nothing is
    trained, read or written, and the result is `{"dry_run": True, "recipe": {...}}`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    recipe = parse_args(argv)
    if "--dry_run" in argv:
        import yaml

        checked = recipe_dict(recipe)
        print(f"recipe checked (--dry_run): model_type {recipe.model_type}, dataset {recipe.dataset}"
              f"{'/' + recipe.dataset_config if recipe.dataset_config else ''}, output_dir {recipe.output_dir}; "
              f"nothing trained or written")
        print(yaml.safe_dump(checked, sort_keys=False), end="")
        return {"dry_run": True, "recipe": checked}
    previous = apply_num_threads(recipe)
    try:
        return _train(recipe, on_evaluate)
    finally:
        if previous is not None:  # main() may run again in this process (sweeps, tests): leave torch as it was
            import torch

            torch.set_num_threads(previous)


def _train(recipe, on_evaluate):
    from emotion_hub import modeling, processing  # noqa: F401  (registers the Auto classes)
    from emotion_hub.training.cross_corpus import cross_corpus
    from emotion_hub.training.cross_validation import cross_validate
    from emotion_hub.training.hub import push_to_hub
    from emotion_hub.training.loop import build_accelerator, flat_recipe, load_splits, train_and_evaluate
    from emotion_hub.training.output import finish_run, release

    accelerator = build_accelerator(recipe)
    accelerator.print(f"{accelerator.num_processes} process(es), device {accelerator.device}")
    lock, work_dir = _claim(recipe, accelerator)  # every folder refusal comes before any data is read
    succeeded = False
    try:
        if work_dir != recipe.output_dir:
            accelerator.print(f"--overwrite_output_dir: training into {work_dir}; it replaces {recipe.output_dir} "
                              f"once the run has finished")
            accelerator.project_configuration.project_dir = work_dir
            accelerator.project_configuration.logging_dir = work_dir
        if recipe.report_to != "none":
            accelerator.init_trackers(os.path.basename(os.path.normpath(recipe.output_dir)),
                                      config=flat_recipe(recipe))
        with accelerator.main_process_first():
            splits = load_splits(recipe)
        run = cross_corpus if recipe.cross_corpus else cross_validate if recipe.folds else train_and_evaluate
        results = run(recipe, accelerator, splits, work_dir, recipe.resume_from_checkpoint,
                      on_evaluate=on_evaluate)
        accelerator.wait_for_everyone()
        succeeded = True
        if accelerator.is_main_process:
            finish_run(recipe.output_dir, work_dir, succeeded=True)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process and recipe.push_to_hub:
            push_to_hub(recipe)
        accelerator.wait_for_everyone()
        accelerator.end_training()
    finally:
        if accelerator.is_main_process and not succeeded and work_dir is not None:
            finish_run(recipe.output_dir, work_dir, succeeded=False)
        release(lock)
    return results


FINE_TUNED_TRANSFORMERS = ("auto_sequence_classification", "erc_fusion")
SPEECH_ENCODERS = ("wav2vec2_emotion", "speech_emotion")


def threads_for(recipe, environ=os.environ) -> int:
    """Intra-op threads for the recipe's `num_threads` (0: leave torch's default). `auto` keeps OMP_NUM_THREADS when it
    is set and torch's default for a fine-tuned pretrained transformer (large matrix products, which threads speed
    up); every other recipe (small models and batches, heads on cached encoder states) gets one thread: with more,
    each small operation waits on the threads a competing job has descheduled, and steps slow several-fold."""
    if recipe.num_threads != "auto":
        return recipe.num_threads
    if environ.get("OMP_NUM_THREADS"):
        return 0
    fine_tuned = (recipe.model_type in FINE_TUNED_TRANSFORMERS or recipe.lora_r > 0
                  or (recipe.model_type in SPEECH_ENCODERS and not recipe.model.get("freeze_backbone", False)))
    return 0 if fine_tuned else 1


def apply_num_threads(recipe):
    """Set torch's intra-op threads for the recipe; returns the previous count (None when left as it was)."""
    threads = threads_for(recipe)
    if not threads:
        return None
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    return previous


def _claim(recipe, accelerator):
    """The output-folder lock and rules on the main process; every process learns whether they refused the run,
    and the folder to train into."""
    from accelerate.utils import broadcast_object_list

    from emotion_hub.training.output import claim_output_dir

    lock, work_dir, problem = None, None, None
    if accelerator.is_main_process:
        try:
            lock, work_dir = claim_output_dir(recipe)
        except (RecipeError, FileNotFoundError) as err:
            problem = err
    if accelerator.num_processes > 1:
        answer = [str(problem) if problem else None, work_dir]
        broadcast_object_list(answer)
        if answer[0] and problem is None:
            raise RecipeError(answer[0])
        work_dir = answer[1]
    if problem is not None:
        raise problem
    return lock, work_dir


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


__all__ = ["apply_num_threads", "cli", "main", "threads_for"]
