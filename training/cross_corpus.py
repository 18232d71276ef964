"""Cross-corpus evaluation: a model trained on some corpora, tested on another one's recordings, unadapted and with
its standardisation statistics re-estimated on the target's unlabelled audio.

    python train.py --config configs/whisper-speech-merged.yaml --data_dir DATA --output_dir OUT --cross_corpus loco

The dataset holds several corpora in one label map (the `speech_emotion` builder: RAVDESS, TESS, SAVEE, CREMA-D,
EmoDB on their shared emotions, corpus in the `source` column, corpus-prefixed `speaker`). For every target corpus T
(`cross_corpus: loco`: each corpus in turn; or a list of targets), a fresh model is trained on the other corpora
(`cross_corpus_train` narrows them) and tested on every clip of T, in `OUT/cross_corpus_<T>/` (a Hub-ready folder):

- Labels: only those both the training corpora and T have examples of; the others are left out of training and of
  T's metrics (a label one corpus alone has never reaches the other's figures).
- Model choice: on validation speakers of the training corpora only (`fold_validation_fraction` of each training
  corpus's speakers, at least one, balanced over `fold_strata_column`); T is never looked at before the test.
- Adaptation (models with `standardize_pooled`): the statistics the pooled vector is standardised with are
  re-estimated on T's audio without its labels, the trained weights untouched: `corpus_adapted` (all of T's clips,
  as a user calibrating on the batch they classify), `inductive_adapted` (for each test speaker, the other target
  speakers' clips: nothing of the speaker's own audio) and `speaker_adapted` (each test speaker's own clips, as a user
  calibrating on their own recordings), beside `unadapted` (the training set's statistics).

Results: per target and setting UAR, accuracy, macro-F1 and per-class F1, a confusion-matrix PNG per setting in the
target's folder, and a `cross_corpus` block (plus flat `cross_corpus_<T>_<setting>_<metric>` keys) in
`OUT/all_results.json`. With `cross_corpus_final_model: true` a last model is trained on every corpus (the builder's
speaker-disjoint train / validation / test splits) into `OUT` itself, its model card stating the cross-corpus figures
next to its in-corpus (per corpus) test figures.
"""

import math
import os

import numpy as np
import torch
from transformers.utils import logging

from emotion_hub.training.checkpoints import write_json
from emotion_hub.training.cross_validation import select_and_refit
from emotion_hub.training.metrics import compute_metrics
from emotion_hub.training.output import record_final_files

logger = logging.get_logger(__name__)

SETTINGS = ("unadapted", "corpus_adapted", "inductive_adapted", "speaker_adapted")
SUMMARY_METRICS = ("uar", "accuracy", "f1_macro")


def corpus_names(full, column: str) -> list[str]:
    feature = full.features.get(column)
    if feature is None:
        raise ValueError(f"`corpus_column` {column!r} is not a column of the dataset ({full.column_names}); "
                         f"cross-corpus evaluation needs the corpus of every row (the speech_emotion builder's "
                         f"`source`)")
    return list(feature.names) if hasattr(feature, "names") else sorted(set(full[column]), key=str)


def corpus_of_rows(full, column: str) -> np.ndarray:
    feature, values = full.features[column], full[column]
    return np.array([feature.names[v] for v in values] if hasattr(feature, "names") else values, dtype=object)


def targets_of(recipe, corpora) -> list[str]:
    targets = corpora if recipe.cross_corpus == "loco" else list(recipe.cross_corpus)
    for name in list(targets) + list(recipe.cross_corpus_train or []):
        if name not in corpora:
            raise ValueError(f"cross_corpus: corpus {name!r} is not in the dataset (its corpora: {corpora}); add it "
                             f"to the builder's corpora (e.g. --dataset_options.corpora)")
    if len(corpora) < 2:
        raise ValueError(f"cross_corpus needs at least two corpora in the dataset, it has {corpora}")
    return targets


def shared_label_subset(full, label_column: str, rows: np.ndarray, train_rows: np.ndarray, test_rows: np.ndarray):
    """`rows` of `full` whose label both `train_rows` and `test_rows` have, relabelled to those labels only (a new
    `ClassLabel`, in the original order). Returns `(dataset, kept label names, left-out label names)`."""
    import datasets

    names = full.features[label_column].names
    labels = np.asarray(full[label_column])
    shared = sorted(set(labels[train_rows]) & set(labels[test_rows]))
    left_out = [names[i] for i in range(len(names)) if i not in shared]
    remap = {old: new for new, old in enumerate(shared)}
    kept = rows[np.isin(labels[rows], shared)]
    features = full.features.copy()
    features[label_column] = datasets.ClassLabel(names=[names[i] for i in shared])
    subset = full.select(kept)
    subset = subset.map(lambda batch: {label_column: [remap[v] for v in batch[label_column]]}, batched=True,
                        features=features, desc="shared labels")
    return subset, [names[i] for i in shared], left_out


def validation_speakers(recipe, full, train_rows: np.ndarray, corpus: np.ndarray) -> set:
    """`fold_validation_fraction` of each training corpus's speakers (at least one, one fewer than it has), dealt
    over `fold_strata_column` with the recipe's seed."""
    from emotion_hub.datasets_scripts.audio_utils import deal_folds

    groups = np.asarray(full[recipe.fold_group_column], dtype=object)
    strata = (np.asarray(full[recipe.fold_strata_column], dtype=object) if recipe.fold_strata_column
              else np.full(len(groups), None, dtype=object))
    chosen = set()
    for name in sorted(set(corpus[train_rows]), key=str):
        rows = train_rows[corpus[train_rows] == name]
        stratum_of = {g: s for g, s in zip(groups[rows], strata[rows])}
        speakers = sorted(stratum_of, key=str)
        if len(speakers) < 2:
            raise ValueError(f"cross_corpus: training corpus {name!r} has {len(speakers)} speaker(s): at least two "
                             f"are needed (one to validate on)")
        n_val = min(len(speakers) - 1, max(1, round(recipe.fold_validation_fraction * len(speakers))))
        dealt = deal_folds(stratum_of, math.ceil(len(speakers) / n_val), seed=recipe.seed)
        chosen |= {g for g, f in dealt.items() if f == 0}
    return chosen


def cross_corpus_splits(recipe, full, target: str, train_corpora: list[str]):
    """`({"train", "validation", "test"}, kept labels, left-out labels)` of one target corpus."""
    corpus = corpus_of_rows(full, recipe.corpus_column)
    train_rows = np.flatnonzero(np.isin(corpus, train_corpora))
    test_rows = np.flatnonzero(corpus == target)
    if not len(train_rows) or not len(test_rows):
        raise ValueError(f"cross_corpus: no rows of {train_corpora if not len(train_rows) else target!r}")
    subset, kept, left_out = shared_label_subset(full, recipe.label_column, np.concatenate([train_rows, test_rows]),
                                                 train_rows, test_rows)
    if len(kept) < 2:
        raise ValueError(f"cross_corpus: {target} and {train_corpora} share {len(kept)} label(s) ({kept}): at least "
                         f"two are needed")
    corpus = corpus_of_rows(subset, recipe.corpus_column)
    train_rows = np.flatnonzero(corpus != target)
    held = validation_speakers(recipe, subset, train_rows, corpus)
    groups = np.asarray(subset[recipe.fold_group_column], dtype=object)
    validation = train_rows[np.isin(groups[train_rows], list(held))]
    train = train_rows[~np.isin(groups[train_rows], list(held))]
    return ({"train": subset.select(train), "validation": subset.select(validation),
             "test": subset.select(np.flatnonzero(corpus == target))}, kept, left_out)


# ---------------------------------------------------------------------------------------------------------------------
# Label-free adaptation of the standardisation statistics
# ---------------------------------------------------------------------------------------------------------------------
def pooled_statistics(pooled: torch.Tensor):
    """`(mean, variance)` per channel of pooled vectors `(n, channels)`, as `BatchNorm1d`'s running statistics
    hold them (unbiased variance)."""
    pooled = pooled.double()
    var = pooled.var(dim=0, unbiased=pooled.shape[0] > 1) if pooled.shape[0] > 1 else torch.zeros(pooled.shape[1])
    return pooled.mean(dim=0).float(), var.float()


@torch.no_grad()
def logits_with_statistics(model, pooled: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """The model's logits for `pooled` vectors standardised with `mean` / `var` instead of its trained statistics."""
    norm = model.pooled_norm
    saved = norm.running_mean.clone(), norm.running_var.clone()
    was_training = model.training
    model.eval()
    try:
        norm.running_mean.copy_(mean.to(norm.running_mean))
        norm.running_var.copy_(var.to(norm.running_var))
        return model.classify_pooled(pooled.to(norm.running_mean.device, model.classifier.weight.dtype))
    finally:
        norm.running_mean.copy_(saved[0])
        norm.running_var.copy_(saved[1])
        model.train(was_training)


@torch.no_grad()
def gather_pooled(model, dataloader, accelerator):
    """Every pooled vector (before the statistics) and label of `dataloader`, in order, across processes."""
    model.eval()
    pooled, labels = [], []
    for batch in dataloader:
        vectors = model.pooled_output(**{k: v for k, v in batch.items() if k != "labels"})
        vectors, batch_labels = accelerator.gather_for_metrics((vectors.float(), batch["labels"]))
        pooled.append(vectors.cpu())
        labels.append(batch_labels.cpu())
    return torch.cat(pooled), torch.cat(labels)


def adapted_probabilities(model, pooled: torch.Tensor, speakers: np.ndarray) -> dict:
    """`{setting: (n, labels) probabilities}` for the adapted settings (see the module docstring)."""
    out = {}
    mean, var = pooled_statistics(pooled)
    out["corpus_adapted"] = logits_with_statistics(model, pooled, mean, var).softmax(-1)
    inductive, own = torch.empty_like(out["corpus_adapted"]), torch.empty_like(out["corpus_adapted"])
    for speaker in sorted(set(speakers), key=str):
        mine = torch.from_numpy(speakers == speaker)
        if (~mine).sum() > 1:
            inductive[mine] = logits_with_statistics(model, pooled[mine], *pooled_statistics(pooled[~mine])).softmax(-1)
        else:  # a target with one speaker has no other speaker to adapt from: its own corpus statistics
            inductive[mine] = out["corpus_adapted"][mine]
        own[mine] = logits_with_statistics(model, pooled[mine], *pooled_statistics(pooled[mine])).softmax(-1)
    out["inductive_adapted"], out["speaker_adapted"] = inductive, own
    return out


def setting_probabilities(model, dataloader, accelerator, speakers: np.ndarray):
    """`({setting: probabilities}, labels)` of a split: unadapted and, for a model with standardisation statistics,
    every adapted setting (statistics from the split's own unlabelled clips)."""
    if getattr(model, "pooled_norm", None) is not None and callable(getattr(model, "pooled_output", None)):
        pooled, labels = gather_pooled(model, dataloader, accelerator)
        with torch.no_grad():
            probabilities = {"unadapted": model.classify_pooled(pooled).softmax(-1)}
        probabilities.update(adapted_probabilities(model, pooled, speakers))
        return probabilities, labels
    probs, refs = [], []
    model.eval()
    with torch.no_grad():
        for batch in dataloader:
            logits, batch_labels = accelerator.gather_for_metrics((model(**batch).logits.float(), batch["labels"]))
            probs.append(logits.softmax(-1).cpu())
            refs.append(batch_labels.cpu())
    return {"unadapted": torch.cat(probs)}, torch.cat(refs)


def adaptation_hook(recipe, fold_splits: dict, target: str, train_corpora: list[str], left_out: list[str],
                    validation: dict = None):
    """The loop's `evaluate_hook` for a target corpus: every setting's metrics on the test split (the target), and on
    the validation speakers of the training corpora (what a model is chosen on: the adapted settings there treat each
    validation speaker as a new domain; `validation`: those of the selection run, for a refit model that has trained
    on the validation speakers)."""
    speakers = {name: np.asarray(fold_splits[name][recipe.fold_group_column], dtype=object)
                for name in ("validation", "test")}

    def hook(model, dataloaders, accelerator, label_names):
        if getattr(model, "pooled_norm", None) is None:
            logger.warning(f"cross_corpus: {type(model).__name__} has no standardisation statistics to adapt "
                           f"(`model.standardize_pooled: true` gives them): unadapted figures only")
        block = {"target": target, "train_corpora": list(train_corpora), "labels": list(label_names),
                 "left_out_labels": left_out, "test_speakers": len(set(speakers["test"])), "settings": {},
                 "validation": {}}
        reports = {}
        if validation is not None:
            block["validation"] = validation
        for split, key in (("test", "settings"),) + ((("validation", "validation"),) if validation is None else ()):
            probabilities, labels = setting_probabilities(model, dataloaders[split], accelerator, speakers[split])
            if split == "test":
                block["test_clips"] = int(len(labels))
            for setting, probs in probabilities.items():
                metrics, report = compute_metrics(probs.numpy(), labels.numpy(), label_names,
                                                  split=f"{target if split == 'test' else 'validation'} ({setting})")
                block[key][setting] = {k: metrics[k] for k in ("uar", "accuracy", "f1_macro", "f1_weighted")}
                if split == "test":
                    block[key][setting]["f1_per_class"] = {name: metrics[f"f1_{name}"] for name in label_names}
                    reports[setting] = report
        return {"cross_corpus": {target: block}, "cross_corpus_target": target}, reports

    return hook


# ---------------------------------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------------------------------
def flat_keys(block: dict) -> dict:
    """`cross_corpus_<target>_<setting>_<metric>` for `all_results.json`."""
    flat = {}
    for target, entry in block.items():
        for setting, metrics in entry["settings"].items():
            for metric in ("uar", "accuracy", "f1_macro"):
                flat[f"cross_corpus_{target}_{setting}_{metric}"] = metrics[metric]
    return flat


def cross_corpus(recipe, accelerator, splits, output_dir, resume_from_checkpoint=None, on_evaluate=None):
    """Run the protocol of the module docstring; returns the results dict (also `OUT/all_results.json`)."""
    import datasets

    full = datasets.concatenate_datasets([splits[name] for name in ("train", "validation", "test")])
    corpora = corpus_names(full, recipe.corpus_column)
    targets = targets_of(recipe, corpora)
    block = {}
    for target in targets:
        train_corpora = [c for c in (recipe.cross_corpus_train or corpora) if c != target]
        fold_splits, kept, left_out = cross_corpus_splits(recipe, full, target, train_corpora)
        if left_out:
            logger.warning(f"cross_corpus {target}: labels {left_out} are not in both {train_corpora} and {target}: "
                           f"left out of training and of the metrics")
        fold_dir = os.path.join(output_dir, f"cross_corpus_{target}")
        hook = adaptation_hook(recipe, fold_splits, target, train_corpora, left_out)

        def refit_hook(selection, target=target, fold_splits=fold_splits, train_corpora=train_corpora,
                       left_out=left_out):
            return adaptation_hook(recipe, fold_splits, target, train_corpora, left_out,
                                   validation=selection["cross_corpus"][target]["validation"])

        results = select_and_refit(recipe, accelerator, fold_splits, fold_dir, resume_from_checkpoint,
                                   (lambda epoch, metrics, t=target: on_evaluate(epoch, {**metrics, "target": t}))
                                   if on_evaluate else None,
                                   f"cross-corpus {target}: train on {train_corpora} ({len(fold_splits['train'])} "
                                   f"clips, validation {len(fold_splits['validation'])} clips of held-out speakers), "
                                   f"test on {target} ({len(fold_splits['test'])} clips); labels {kept}",
                                   evaluate_hook=hook, refit_hook=refit_hook)
        block.update(results["cross_corpus"])
    summary = {"cross_corpus_protocol": ("leave-one-corpus-out" if recipe.cross_corpus == "loco"
                                         else f"targets {list(targets)}"),
               "cross_corpus_corpora": corpora, **flat_keys(block), "cross_corpus": block}
    accelerator.print(format_table(block))
    if recipe.cross_corpus_final_model:
        return select_and_refit(recipe, accelerator, splits, output_dir, resume_from_checkpoint, on_evaluate,
                                f"final model: every corpus ({corpora}), speaker-disjoint splits of the builder",
                                evaluate_hook=per_corpus_hook(recipe, splits["test"]), results_override=summary,
                                selection_dir=os.path.join(output_dir, "final-selection"))
    if accelerator.is_main_process:
        write_json(os.path.join(output_dir, "all_results.json"), summary)
        record_final_files(output_dir, ["all_results.json"])
    accelerator.wait_for_everyone()
    return summary


def per_corpus_hook(recipe, test_split):
    """The final model's test figures per corpus (in-corpus, speaker-independent: the builder's test speakers)."""
    corpus = corpus_of_rows(test_split, recipe.corpus_column)

    def hook(model, dataloaders, accelerator, label_names):
        probs, refs = [], []
        model.eval()
        with torch.no_grad():
            for batch in dataloaders["test"]:
                logits, labels = accelerator.gather_for_metrics((model(**batch).logits.float(), batch["labels"]))
                probs.append(logits.softmax(-1).cpu())
                refs.append(labels.cpu())
        probs, refs = torch.cat(probs).numpy(), torch.cat(refs).numpy()
        results, nested = {}, {}
        for name in sorted(set(corpus), key=str):
            rows = corpus == name
            metrics, _ = compute_metrics(probs[rows], refs[rows], label_names, split=f"test ({name})")
            nested[name] = {**{k: metrics[k] for k in ("uar", "accuracy", "f1_macro")}, "samples": int(rows.sum())}
            results.update({f"test_{name}_{k}": v for k, v in nested[name].items()})
        return {**results, "test_per_corpus": nested}, {}

    return hook


def format_table(block: dict) -> str:
    lines = ["cross-corpus UAR (accuracy):"]
    for target, entry in block.items():
        cells = [f"{s} {m['uar']:.3f} ({m['accuracy']:.3f})" for s, m in entry["settings"].items()]
        lines.append(f"  {'+'.join(entry['train_corpora'])} -> {target}: " + ", ".join(cells))
    return "\n".join(lines)


__all__ = ["SETTINGS", "adapted_probabilities", "cross_corpus", "cross_corpus_splits", "logits_with_statistics",
           "pooled_statistics", "shared_label_subset"]
