"""K-fold cross-validation (grouped by speaker, or stratified by label): a fresh model per fold, the mean and std
of the test metrics, the fold-mean validation curve and the pooled out-of-fold confusion matrix."""

import dataclasses
import json
import math
import os

import numpy as np
from transformers.utils import logging

from emotion_hub.training.checkpoints import list_checkpoints, write_json
from emotion_hub.training.loop import train_and_evaluate
from emotion_hub.training.metrics import plot_confusion_matrix
from emotion_hub.training.output import record_final_files

logger = logging.get_logger(__name__)

CV_METRICS = ("accuracy", "f1_macro", "f1_weighted", "uar", "roc_auc_macro")


def fold_assignment(recipe, full) -> tuple[np.ndarray, np.ndarray]:
    """`(fold, validation)` per row: the test fold of each row, and whether it is held out for validation when its
    fold is not the test fold (`validation[k]` holds the rows validating the model of fold k).

    Grouped (`fold_group_column`): `speaker_folds` over the groups, balanced over `fold_strata_column` (`folds:
    loso`: one fold per group, leave-one-speaker-out); then, per fold, a `fold_validation_fraction` share of the
    training groups (at least one) validates, so the model is chosen on speakers it is neither trained nor tested on. Ungrouped: stratified
    K-fold over the labels, and a stratified share of each fold's training rows validates.
    """
    from emotion_hub.datasets_scripts.audio_utils import deal_folds, speaker_folds
    from sklearn.model_selection import StratifiedKFold, train_test_split

    labels = np.asarray(full[recipe.label_column])
    if recipe.folds == "loso" and recipe.fold_group_column in full.column_names:
        k = len(set(full[recipe.fold_group_column]))
    else:
        k = recipe.folds
    validation = np.full((k, len(labels)), False)
    if recipe.fold_group_column:
        for column in (recipe.fold_group_column, recipe.fold_strata_column):
            if column and column not in full.column_names:
                raise ValueError(f"fold column {column!r} is not in {recipe.dataset}: {full.column_names}")
        groups = list(full[recipe.fold_group_column])
        strata = list(full[recipe.fold_strata_column]) if recipe.fold_strata_column else None
        if recipe.folds == "loso":
            fold_of = {g: i for i, g in enumerate(sorted(set(groups), key=str))}
        else:
            fold_of = speaker_folds(groups, k, strata=strata, seed=recipe.seed)
        folds = np.array([fold_of[g] for g in groups])
        stratum_of = dict(zip(groups, strata)) if strata else {g: None for g in groups}
        for test_fold in range(k):
            train_groups = sorted({g for g, f in fold_of.items() if f != test_fold}, key=str)
            if len(train_groups) < 2:
                raise ValueError(f"fold {test_fold} leaves {len(train_groups)} training group(s): nothing to validate "
                                 f"on; use fewer folds")
            n_val = min(len(train_groups) - 1, max(1, round(recipe.fold_validation_fraction * len(train_groups))))
            dealt = deal_folds({g: stratum_of[g] for g in train_groups}, math.ceil(len(train_groups) / n_val),
                               seed=recipe.seed + test_fold)
            chosen = {g for g, f in dealt.items() if f == 0}
            validation[test_fold] = np.array([g in chosen for g in groups]) & (folds != test_fold)
        return folds, validation
    folds = np.zeros(len(labels), dtype=int)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=recipe.seed)
    for fold, (_, test_index) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[test_index] = fold
    for test_fold in range(k):
        rest = np.flatnonzero(folds != test_fold)
        _, held = train_test_split(rest, test_size=recipe.fold_validation_fraction, stratify=labels[rest],
                                   random_state=recipe.seed + test_fold)
        validation[test_fold, held] = True
    return folds, validation


def run_once(recipe, accelerator, splits, output_dir, resume_from_checkpoint, on_evaluate, banner,
             results_override=None, evaluate_hook=None) -> dict:
    """`train_and_evaluate` into `output_dir`, or, resuming, the results of a run that finished there earlier."""
    done = os.path.join(output_dir, "all_results.json")
    if resume_from_checkpoint and os.path.isfile(done):
        with open(done) as f:
            results = json.load(f)
        accelerator.print(f"{banner}: finished earlier, results read from {done}")
        return results
    accelerator.print(banner)
    resume = resume_from_checkpoint if resume_from_checkpoint and list_checkpoints(output_dir) else None
    return train_and_evaluate(recipe, accelerator, splits, output_dir, resume, on_evaluate=on_evaluate,
                              results_override=results_override, evaluate_hook=evaluate_hook)


def select_and_refit(recipe, accelerator, splits, output_dir, resume_from_checkpoint, on_evaluate, banner,
                     evaluate_hook=None, refit_hook=None, results_override=None, selection_dir=None) -> dict:
    """A model trained on `splits["train"]`, chosen on `validation` (its best epoch), tested on `test`, in
    `output_dir`; with `recipe.fold_refit` that run is the selection run (`output_dir-selection`) and a fresh model
    is then trained on train + validation for the chosen number of epochs (no early stopping, last weights) into
    `output_dir` and tested: its `eval_*` figures are the selection run's (it has trained on those rows).
    `refit_hook(selection)` gives the hook of the tested run when it is the refit (None: `evaluate_hook`);
    `selection_dir` is where the selection run goes with `fold_refit` (default `output_dir-selection`)."""
    import datasets

    selection_dir = (selection_dir or output_dir + "-selection") if recipe.fold_refit else output_dir
    selection = run_once(recipe, accelerator, splits, selection_dir, resume_from_checkpoint, on_evaluate, banner,
                         results_override=None if recipe.fold_refit else results_override,
                         evaluate_hook=evaluate_hook)
    if not recipe.fold_refit:
        return selection
    # The epoch count chosen on the validation groups; the weights from all training groups.
    refit_recipe = dataclasses.replace(recipe, num_epochs=int(selection["best_epoch"]), max_train_steps=None,
                                       early_stopping_patience=None, keep_best_weights=False)
    refit_splits = {"train": datasets.concatenate_datasets([splits["train"], splits["validation"]]),
                    "validation": splits["validation"], "test": splits["test"]}
    override = {**{key: value for key, value in selection.items() if key.startswith("eval_")},
                "refit": True, "selection_best_epoch": selection["best_epoch"],
                "selection_train_runtime": selection["train_runtime"], **(results_override or {})}
    return run_once(refit_recipe, accelerator, refit_splits, output_dir, resume_from_checkpoint, None,
                    f"{banner.split(':')[0]}: refit on train + validation ({len(refit_splits['train'])}) for the "
                    f"selected {selection['best_epoch']} epochs", results_override=override,
                    evaluate_hook=refit_hook(selection) if refit_hook else evaluate_hook)


def cross_validate(recipe, accelerator, splits, output_dir, resume_from_checkpoint=None, on_evaluate=None):
    """K-fold cross-validation over all rows of `splits`: a fresh model per fold (`train_and_evaluate` seeds and
    builds a new one), trained on the other folds minus a validation share, selected on that share, tested on the
    fold; each fold's model a Hub-ready `output_dir/fold_{k}/`. Returns mean and std (over folds, ddof=0) of the test
    metrics as `cv_{metric}_mean` / `cv_{metric}_std`, plus every fold's results.

    With `recipe.fold_refit`, each fold's selection run goes to `output_dir/fold_{k}-selection/` and gives the epoch
    count; a fresh model trained on the fold's training + validation rows for that many epochs (no early stopping,
    last weights) is `output_dir/fold_{k}/` and gives the test figures. The `eval_*` figures stay the selection
    run's (the refit model has trained on its validation rows).

    With `resume_from_checkpoint`, folds that finished (their `all_results.json` exists) are read back, not retrained,
    and the first unfinished fold resumes from its latest checkpoint.
    """
    import datasets

    full = datasets.concatenate_datasets([splits[name] for name in ("train", "validation", "test")])
    folds, validation = fold_assignment(recipe, full)
    num_folds = len(validation)
    label_names = full.features[recipe.label_column].names
    fold_results, confusions, histories = [], [], []
    for k in range(num_folds):
        fold_dir = os.path.join(output_dir, f"fold_{k}")
        test_rows = np.flatnonzero(folds == k)
        val_rows = np.flatnonzero(validation[k])
        train_rows = np.flatnonzero((folds != k) & ~validation[k])
        fold_splits = {"train": full.select(train_rows), "validation": full.select(val_rows),
                       "test": full.select(test_rows)}
        groups = (sorted(set(fold_splits["test"][recipe.fold_group_column]), key=str)
                  if recipe.fold_group_column else None)
        hook = (lambda epoch, metrics, k=k: on_evaluate(epoch, {**metrics, "fold": k})) if on_evaluate else None
        results = select_and_refit(recipe, accelerator, fold_splits, fold_dir, resume_from_checkpoint, hook,
                                   f"fold {k}/{num_folds}: train {len(train_rows)}, validation {len(val_rows)}, test "
                                   f"{len(test_rows)}" + (f" (test groups {groups})" if groups else ""))
        selection_dir = fold_dir + "-selection" if recipe.fold_refit else fold_dir
        with open(os.path.join(selection_dir, "classification_report.json")) as f:
            histories.append(json.load(f)["history"])
        fold_results.append(results)
        with open(os.path.join(fold_dir, "classification_report.json")) as f:
            confusions.append(np.asarray(json.load(f)["test"]["confusion_matrix"]))

    summary = cv_summary(recipe, fold_results, histories, label_names)
    confusion = np.sum(confusions, axis=0)  # the out-of-fold prediction of every row, counted once
    summary["cv_pooled_accuracy"] = float(np.trace(confusion) / confusion.sum())
    summary["train_runtime"] = round(sum(r["train_runtime"] + r.get("selection_train_runtime", 0.0)
                                         for r in fold_results), 3)
    summary["folds"] = fold_results
    per_class = tuple(f"cv_f1_{name}_" for name in label_names)
    accelerator.print(json.dumps({k: v for k, v in summary.items() if k.startswith("cv_") and not k.startswith(per_class)},
                                 indent=2))
    if accelerator.is_main_process:
        write_json(os.path.join(output_dir, "all_results.json"), summary)
        report = {"labels": label_names, "confusion_matrix": confusion.tolist(),
                  "folds": {f"fold_{k}": sorted(set(full.select(np.flatnonzero(folds == k))[recipe.fold_group_column]),
                                                key=str) if recipe.fold_group_column else int((folds == k).sum())
                            for k in range(num_folds)}}
        write_json(os.path.join(output_dir, "cv_report.json"), report)
        plot_confusion_matrix(report, os.path.join(output_dir, "confusion_matrix.png"),
                              f"{recipe.dataset}: {num_folds}-fold out-of-fold predictions")
        record_final_files(output_dir, ["all_results.json", "cv_report.json", "confusion_matrix.png"])
    accelerator.wait_for_everyone()
    return summary


def cv_summary(recipe, fold_results: list, histories: list, label_names: list) -> dict:
    """The protocol, the mean and std over folds of every test metric (a metric some folds could not compute covers
    the others, with a warning and `cv_<metric>_folds`), the mean validation accuracy and macro-F1, and the
    validation curve averaged over folds with its best epoch."""
    summary = {"cv_folds": len(fold_results), "cv_refit": recipe.fold_refit,
               "cv_protocol": "leave-one-group-out" if recipe.folds == "loso" else
               ("group k-fold" if recipe.fold_group_column else "stratified k-fold"),
               "cv_group_column": recipe.fold_group_column}
    for metric in CV_METRICS + tuple(f"f1_{name}" for name in label_names):
        values = np.array([r[f"test_{metric}"] for r in fold_results if f"test_{metric}" in r], dtype=float)
        if len(values) < len(fold_results):  # e.g. ROC AUC of a fold whose test speaker has one class
            logger.warning(f"cross-validation: test_{metric} could not be computed on {len(fold_results) - len(values)}"
                           f" of {len(fold_results)} folds; cv_{metric}_* " + ("cover the others" if len(values)
                                                                                else "are left out"))
            summary[f"cv_{metric}_folds"] = int(len(values))
        if len(values):
            summary[f"cv_{metric}_mean"] = float(np.mean(values))
            summary[f"cv_{metric}_std"] = float(np.std(values))
    for metric in ("accuracy", "f1_macro"):
        summary[f"cv_eval_{metric}_mean"] = float(np.mean([r[f"eval_{metric}"] for r in fold_results]))
    # The validation curve averaged over folds (epochs every fold ran): choosing the number of epochs on it is far
    # less noisy than each fold's own early stopping when a fold validates on a handful of speakers.
    epochs = min(len(h) for h in histories)
    metric = f"eval_{recipe.metric_for_best_model}"
    curve = [float(np.mean([h[e][metric] for h in histories])) for e in range(epochs)]
    summary["cv_validation_curve"] = {"metric": metric, "mean_over_folds": curve}
    if curve:
        best = int(np.argmax(curve) if recipe.greater_is_better else np.argmin(curve))
        summary["cv_validation_curve"]["best_epoch"] = best + 1
    return summary


__all__ = ["CV_METRICS", "cross_validate", "cv_summary", "fold_assignment", "run_once", "select_and_refit"]
