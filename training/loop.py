"""The training loop: one fresh model trained, selected on validation, tested, and saved as a Hub-ready folder.

    train_and_evaluate(recipe, accelerator, splits, output_dir, resume_from_checkpoint=None, on_evaluate=None)

`on_evaluate(epoch: int, metrics: dict) -> bool` is called on every process after each epoch's validation, with the
1-based epoch and the validation metrics (`accuracy`, `f1_macro`, `f1_weighted`, `uar`, `roc_auc_macro`, `loss`,
`samples`, `f1_<label>`); returning True stops training there, as early stopping does (the best weights so far are
tested and saved). An exception raised in it (e.g. `optuna.TrialPruned`) ends the run without a final save. With
cross-validation it is called for every fold's epochs (`metrics["fold"]` is the fold index).

Shape after accelerate's `complete_nlp_example.py`: seed, task (processor and datasets), model, dataloaders,
optimizer and scheduler, `prepare`, resume, then epochs of `accumulate` steps with checkpoints and a gathered
evaluation, then the best weights' final figures and an atomic save of the output folder.
"""

import dataclasses
import json
import math
import os
import time
from typing import Callable, Optional

import numpy as np
import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from emotion_hub.datasets_scripts import load_builder_dataset
from emotion_hub.model_cards import render_model_card
from emotion_hub.modeling.losses import class_weights_from_counts
from emotion_hub.training.checkpoints import LoopState, best_weights, kill_point, load_checkpoint, save_checkpoint, write_json
from emotion_hub.training.metrics import METRICS, evaluate, plot_confusion_matrix, warn_missing_classes
from emotion_hub.training.optim import apply_lora, build_optimizer, build_scheduler
from emotion_hub.training.output import publish, recover
from emotion_hub.training.recipe import recipe_dict, recipe_hash, training_recipe
from emotion_hub.training.registry import task_class_of
from emotion_hub.training.samplers import ClassBalancedBatchSampler

EvaluateHook = Callable[[int, dict], Optional[bool]]


def build_accelerator(recipe) -> Accelerator:
    return Accelerator(
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        mixed_precision=recipe.mixed_precision,
        log_with=None if recipe.report_to == "none" else recipe.report_to,
        project_dir=recipe.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=recipe.seed),
    )


def load_splits(recipe):
    raw = load_builder_dataset(recipe.dataset, recipe.dataset_config, data_dir=recipe.data_dir,
                               cache_dir=recipe.cache_dir, **recipe.dataset_options)
    for split in ("train", "validation", "test"):
        if split not in raw:
            raise ValueError(f"dataset {recipe.dataset}/{recipe.dataset_config} has no {split!r} split: {list(raw)}")
    for column in (recipe.input_column, recipe.label_column):
        if column not in raw["train"].column_names:
            raise ValueError(f"column {column!r} is not in {recipe.dataset}: {raw['train'].column_names}")
    if not hasattr(raw["train"].features[recipe.label_column], "names"):
        raise ValueError(f"`label_column` {recipe.label_column!r} must be a ClassLabel column")
    limits = {"train": recipe.max_train_samples, "validation": recipe.max_eval_samples, "test": recipe.max_eval_samples}
    for split, limit in limits.items():
        if limit is not None:
            raw[split] = representative_subset(raw[split], limit, recipe.label_column, recipe.seed)
    return raw


def representative_subset(split, limit: int, label_column: str, seed: int):
    """`limit` rows of `split` drawn at random with `seed`, stratified by `label_column` (each class keeps its share,
    at least one row while there is room), in their original order: never the first rows, which a label-sorted
    corpus (FER2013's folders, a builder that reads class by class) fills with one class."""
    if limit >= len(split):
        return split
    labels = np.asarray(split[label_column])
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    share = counts * limit / len(labels)
    take = np.floor(share).astype(int)
    if limit >= len(classes):
        take = np.maximum(take, 1)
    while take.sum() > limit:  # the floor of one per class overshot: take back from the largest shares
        take[np.argmax(take - share)] -= 1
    order = np.argsort(-(share - take), kind="stable")  # largest remainders first
    for i in order[:limit - take.sum()]:
        take[i] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=n, replace=False) for c, n in zip(classes, take) if n]
    return split.select(np.sort(np.concatenate(chosen)))


def make_dataloaders(recipe, task, data, train_labels):
    """Loaders draw their worker seed from their own generator, not the global RNG that dropout uses: creating an
    iterator after a resumed checkpoint must not shift the dropout masks of an uninterrupted run."""
    def loader(name, train=False):
        collate, workers = task.collator(train), recipe.dataloader_num_workers
        if train and recipe.class_balanced_sampler:  # batches of several examples of several classes (triplet loss)
            sampler = ClassBalancedBatchSampler(train_labels, recipe.per_device_train_batch_size,
                                                recipe.samples_per_class, seed=recipe.seed)
            return DataLoader(data[name], batch_sampler=sampler, collate_fn=collate, num_workers=workers)
        sampler = task.train_sampler(data[name]) if train else None
        batch_size = recipe.per_device_train_batch_size if train else recipe.per_device_eval_batch_size
        return DataLoader(data[name], sampler=sampler, shuffle=train and sampler is None, collate_fn=collate,
                          batch_size=batch_size, num_workers=workers,
                          generator=torch.Generator().manual_seed(recipe.seed))

    return loader("train", True), loader("validation"), loader("test")


def train_and_evaluate(recipe, accelerator, splits, output_dir, resume_from_checkpoint=None,
                       on_evaluate: Optional[EvaluateHook] = None, results_override: Optional[dict] = None,
                       evaluate_hook: Optional[Callable] = None):
    """Train a fresh model on `splits["train"]`, select it on `validation`, evaluate it on `test`, and save it with
    its processor, results and model card as a Hub-ready folder `output_dir`. Returns the results dict.

    `evaluate_hook(model, dataloaders, accelerator, label_names) -> (results, reports)` runs on the final weights
    (`dataloaders`: `{"validation", "test"}`); its results join the saved ones (e.g. cross-corpus figures with
    adapted statistics), each of its per-class reports goes into `classification_report.json` and a
    `confusion_matrix_<name>.png`.

    `results_override` replaces entries of the results before they are saved (a refit model's `eval_*` figures are
    its selection run's: it has trained on the validation rows)."""
    # One Accelerator serves every fold of a cross-validation: forget the previous run's prepared objects.
    accelerator.free_memory()
    if accelerator.is_main_process:
        recover(output_dir)
    set_seed(recipe.seed)
    label_names = splits["train"].features[recipe.label_column].names
    if accelerator.is_main_process:
        warn_missing_classes(splits, recipe.label_column, label_names)
    task = task_class_of(recipe.model_type)(recipe, splits["train"], label_names)
    if recipe.group_by_length and not task.supports_length_grouping:
        raise ValueError(f"`group_by_length` is not available for model_type {recipe.model_type} (its inputs have "
                         f"one size, or no length to group by)")
    with accelerator.main_process_first():
        data = {name: task.dataset(name, split) for name, split in splits.items()}

    counts = np.bincount(splits["train"][recipe.label_column], minlength=len(label_names))
    class_weights = recipe.model.get("class_weights")
    if class_weights == "auto" or (recipe.model.get("loss_type", "ce") == "weighted_ce" and class_weights is None):
        class_weights = class_weights_from_counts(counts.tolist())
    model = task.build_model(class_weights)
    # A frozen speech encoder runs once per clip and the head trains from its cache (every process encodes its share
    # of the clips); other tasks keep their datasets.
    data = task.cache_encoder(model, data, accelerator)
    if recipe.gradient_checkpointing:
        if not model.supports_gradient_checkpointing:
            raise ValueError(f"`gradient_checkpointing`: {type(model).__name__} does not support it")
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if recipe.lora_r:
        model = apply_lora(recipe, model)

    train_dataloader, eval_dataloader, test_dataloader = make_dataloaders(
        recipe, task, data, list(splits["train"][recipe.label_column]))
    steps_per_epoch = math.ceil(len(train_dataloader) / accelerator.num_processes / recipe.gradient_accumulation_steps)
    max_steps = recipe.max_train_steps or recipe.num_epochs * steps_per_epoch
    num_epochs = min(recipe.num_epochs, math.ceil(max_steps / steps_per_epoch))
    optimizer = build_optimizer(recipe, model)
    scheduler = build_scheduler(recipe, optimizer, max_steps)
    model, optimizer, train_dataloader, eval_dataloader, test_dataloader = accelerator.prepare(
        model, optimizer, train_dataloader, eval_dataloader, test_dataloader
    )
    # The scheduler is not prepared: it steps once per optimizer step (per epoch for plateau) on every process,
    # over `max_steps` counted per process, so its schedule does not depend on the number of processes. It is saved
    # as JSON by our checkpoints, not registered with accelerate (which would pickle it).
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    state, best_state = LoopState(), None
    if resume_from_checkpoint:
        state, best_state = load_checkpoint(accelerator, resume_from_checkpoint, output_dir, scheduler, recipe,
                                            model=model)
    state.recipe_hash = recipe_hash(recipe)

    def checkpoint():
        save_checkpoint(accelerator, output_dir, state, best_state, scheduler, recipe, recipe.checkpoints_total_limit,
                        model=model)  # its frozen parameters are left out: the resumed run rebuilds them

    total_batch = recipe.per_device_train_batch_size * accelerator.num_processes * recipe.gradient_accumulation_steps
    accelerator.print(f"train {len(data['train'])} / validation {len(data['validation'])} / test {len(data['test'])};"
                      f" {num_epochs} epochs x {steps_per_epoch} steps, batch {total_batch}, "
                      f"{sum(p.numel() for p in model.parameters() if p.requires_grad)} trainable parameters")
    progress = tqdm(total=max_steps, initial=state.completed_steps, desc="training",
                    disable=not accelerator.is_local_main_process)
    sign = 1 if recipe.greater_is_better else -1
    stop = state.completed_steps >= max_steps
    for epoch in range(state.epoch, num_epochs):
        if stop:
            break
        model.train()
        train_dataloader.set_epoch(epoch)
        skip = state.batches_in_epoch if epoch == state.epoch else 0
        batches = accelerator.skip_first_batches(train_dataloader, skip) if skip else train_dataloader
        started, running_loss, running_n = time.perf_counter(), 0.0, 0
        for batch_index, batch in enumerate(batches, start=skip):
            batch = task.augment_batch(batch)  # random crops, noise, image augmentation...
            with accelerator.accumulate(model):
                loss = task.training_loss(model, batch)
                accelerator.backward(loss)
                if accelerator.sync_gradients and recipe.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), recipe.max_grad_norm)
                optimizer.step()
                if accelerator.sync_gradients and not plateau:
                    scheduler.step()
                optimizer.zero_grad()
            running_loss += loss.detach().float().item()
            running_n += 1
            state.samples_seen += len(batch["labels"]) * accelerator.num_processes
            state.batches_in_epoch = batch_index + 1
            if not accelerator.sync_gradients:
                continue
            state.completed_steps += 1
            progress.update(1)
            if state.completed_steps % recipe.logging_steps == 0:
                accelerator.log({"train_loss": running_loss / running_n, "lr": optimizer.param_groups[0]["lr"]},
                                step=state.completed_steps)
                progress.set_postfix(loss=f"{running_loss / running_n:.4f}")
            if isinstance(recipe.checkpointing_steps, int) and state.completed_steps % recipe.checkpointing_steps == 0:
                state.train_seconds += time.perf_counter() - started
                started = time.perf_counter()
                checkpoint()
            if state.completed_steps >= max_steps:
                stop = True
                break
        state.train_seconds += time.perf_counter() - started

        metrics, _ = evaluate(model, eval_dataloader, accelerator, label_names, "validation")
        if recipe.metric_for_best_model not in metrics:
            raise ValueError(f"`metric_for_best_model` {recipe.metric_for_best_model} cannot be computed on the "
                             f"validation split (it needs every class present and not alone; see the warning "
                             f"above): choose another metric")
        value = metrics[recipe.metric_for_best_model]
        state.history.append({"epoch": epoch + 1, "step": state.completed_steps,
                              "learning_rate": optimizer.param_groups[0]["lr"],
                              "train_loss": running_loss / max(running_n, 1),
                              **{f"eval_{k}": v for k, v in metrics.items()}})
        accelerator.log({f"eval_{k}": v for k, v in metrics.items()}, step=state.completed_steps)
        if accelerator.is_main_process:  # read live by sweep.py's pruner (one JSON line per epoch so far)
            write_eval_history(os.path.join(output_dir, "eval_history.jsonl"), state.history)
        accelerator.print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {metrics[k]:.4f}" for k in ("loss", *METRICS[:4])))
        if plateau:
            scheduler.step(value)
        if not recipe.keep_best_weights or state.best_metric is None or sign * (value - state.best_metric) > 0:
            state.best_metric, state.best_epoch, state.bad_epochs = value, epoch + 1, 0
            best_state = best_weights(accelerator.unwrap_model(model))
        else:
            state.bad_epochs += 1
        state.epoch, state.batches_in_epoch = epoch + 1, 0
        patience = recipe.early_stopping_patience
        patience_over = patience is not None and state.bad_epochs >= patience
        hook_stop = bool(on_evaluate(epoch + 1, dict(metrics))) if on_evaluate is not None else False
        if recipe.checkpointing_steps == "epoch" or patience_over or hook_stop or stop or epoch + 1 == num_epochs:
            checkpoint()
        if patience_over or hook_stop:
            accelerator.print(f"stopping: no {recipe.metric_for_best_model} improvement for {state.bad_epochs} epochs"
                              if patience_over else "stopping: asked by on_evaluate")
            break
    progress.close()

    # The final figures come from the plain model in full precision with the best weights: what users get.
    unwrapped = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    if best_state is not None:
        unwrapped.load_state_dict(best_state)
    if recipe.lora_r:  # the adapters folded into the weights: the saved model is our plain class, no peft needed
        unwrapped = unwrapped.merge_and_unload()
    eval_metrics, eval_report = evaluate(unwrapped, eval_dataloader, accelerator, label_names, "validation")
    test_metrics, test_report = evaluate(unwrapped, test_dataloader, accelerator, label_names, "test")
    results = {f"eval_{k}": v for k, v in eval_metrics.items()}
    results.update({f"test_{k}": v for k, v in test_metrics.items()})
    results.update({
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "train_steps": state.completed_steps,
        "train_samples": len(data["train"]),
        "train_runtime": round(state.train_seconds, 3),
        "train_samples_per_second": round(state.samples_seen / max(state.train_seconds, 1e-9), 3),
        "num_processes": accelerator.num_processes,
    })
    results.update(task.extra_results())
    hook_reports = {}
    if evaluate_hook is not None:
        hook_results, hook_reports = evaluate_hook(unwrapped, {"validation": eval_dataloader, "test": test_dataloader},
                                                   accelerator, label_names)
        results.update(hook_results)
    results.update(results_override or {})
    accelerator.print(json.dumps({k: v for k, v in results.items() if not k.startswith(("eval_f1_", "test_f1_"))
                                  or k.endswith(("macro", "weighted"))}, indent=2))
    accelerator.log({k: v for k, v in results.items() if isinstance(v, (int, float))}, step=state.completed_steps)

    def write(out):
        task.save_model(unwrapped, out)  # ours, or the stock class with `export_stock`
        kill_point("final:model")
        task.save_processor(out)  # e.g. nothing beside a stock model that carries its own processor
        write_json(os.path.join(out, "classification_report.json"),
                   {"validation": eval_report, "test": test_report, "history": state.history,
                    **{f"test_{name}": report for name, report in hook_reports.items()}})
        for name, report in hook_reports.items():
            plot_confusion_matrix(report, os.path.join(out, f"confusion_matrix_{name}.png"),
                                  f"{recipe.dataset} test ({name.replace('_', ' ')})")
        write_eval_history(os.path.join(out, "eval_history.jsonl"), state.history)
        with open(os.path.join(out, "recipe.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(recipe_dict(recipe), f, sort_keys=False)
        plot_confusion_matrix(test_report, os.path.join(out, "confusion_matrix.png"),
                              f"{recipe.dataset} test, best validation epoch")
        render_model_card(out, recipe=recipe, results=results, report=test_report, pipeline_tag=task.pipeline_tag,
                          split_sizes={split: len(data[split]) for split in ("train", "validation", "test")},
                          train_label_counts=dict(zip(label_names, counts.tolist())),
                          stock_caveats=task.stock_pipeline_caveats(unwrapped))
        write_json(os.path.join(out, "all_results.json"), results)  # last: a folder with results is complete

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        publish(output_dir, write, marker={"recipe_hash": recipe_hash(recipe),
                                           "recipe": json.loads(json.dumps(training_recipe(recipe), default=str))})
    accelerator.wait_for_everyone()
    return results


def write_eval_history(path: str, history: list):
    """`path` as JSON lines, one per evaluated epoch (`epoch`, `step`, `eval_<metric>`...), replaced atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(entry) + "\n" for entry in history)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def flat_recipe(recipe) -> dict:
    """The recipe as flat scalars for experiment trackers."""
    flat = {}
    for key, value in dataclasses.asdict(recipe).items():
        for sub, v in (value.items() if isinstance(value, dict) else [(None, value)]):
            flat[f"{key}.{sub}" if sub else key] = v if isinstance(v, (int, float, str, bool)) else str(v)
    flat.pop("hub_token", None)
    return flat


__all__ = ["EvaluateHook", "build_accelerator", "flat_recipe", "load_splits", "make_dataloaders",
           "representative_subset", "train_and_evaluate", "write_eval_history"]
