"""Evaluation metrics (accuracy, F1, UAR, ROC AUC), the gathered evaluation loop and the confusion-matrix plot."""

import numpy as np
import torch
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support,
                             roc_auc_score)
from tqdm.auto import tqdm
from transformers.utils import logging

from emotion_hub.training.recipe import METRICS  # the names a recipe may select on (defined there: no torch)

logger = logging.get_logger(__name__)

def compute_metrics(probabilities: np.ndarray, references: np.ndarray, label_names: list[str], split: str = "split"):
    """Flat scalar metrics plus a per-class report with the confusion matrix.

    `probabilities` is `(n, num_labels)`. Besides accuracy and F1: unweighted average recall (`uar`, the mean of
    per-class recalls over the classes present, the customary speech-emotion metric) and one-vs-rest ROC AUC per class
    with their macro mean. A number that cannot be computed is left out with a warning naming the classes, never NaN:
    a class absent from `references` (or the only one present) has no ROC AUC (`None` in the report), and
    `roc_auc_macro` is missing when no class has one.
    """
    labels = list(range(len(label_names)))
    predictions = probabilities.argmax(-1)
    precision, recall, f1, support = precision_recall_fscore_support(
        references, predictions, labels=labels, zero_division=0
    )
    auc = []
    for label in labels:
        positives = references == label
        auc.append(float(roc_auc_score(positives, probabilities[:, label])) if 0 < positives.sum() < len(references)
                   else None)
    defined = [a for a in auc if a is not None]
    undefined = [name for name, a in zip(label_names, auc) if a is None]
    if undefined:
        logger.warning_once(f"{split}: no ROC AUC for {undefined} (a class needs positive and negative examples); "
                            + ("roc_auc_macro is the mean over the other classes" if defined
                               else "roc_auc_macro is left out"))
    metrics = {
        "accuracy": float(accuracy_score(references, predictions)),
        "f1_macro": float(f1_score(references, predictions, labels=labels, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(references, predictions, labels=labels, average="weighted", zero_division=0)),
        "uar": float(np.mean([r for r, n in zip(recall, support) if n > 0])) if support.sum() else 0.0,
        "samples": int(len(references)),
    }
    if defined:
        metrics["roc_auc_macro"] = float(np.mean(defined))
    metrics.update({f"f1_{name}": float(value) for name, value in zip(label_names, f1)})
    report = {
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(s), "roc_auc": a, "support": int(n)}
            for name, p, r, s, a, n in zip(label_names, precision, recall, f1, auc, support)
        },
        "confusion_matrix": confusion_matrix(references, predictions, labels=labels).tolist(),
        "labels": list(label_names),
    }
    return metrics, report


def missing_classes(labels, label_names) -> list[str]:
    """The label names no row of `labels` (ids) has."""
    present = set(int(label) for label in labels)
    return [name for i, name in enumerate(label_names) if i not in present]


def warn_missing_classes(splits: dict, label_column: str, label_names):
    """A warning per split that lacks some classes (their F1 is 0 and they take no part in UAR or ROC AUC)."""
    for name, split in splits.items():
        missing = missing_classes(split[label_column], label_names)
        if missing:
            logger.warning(f"the {name} split ({len(split)} rows) has no example of {missing}: their metrics on it are "
                           f"0 or left out" + (" and the model never learns them" if name == "train" else ""))


def evaluate(model, dataloader, accelerator, label_names, desc):
    """Metrics over the whole split, each example counted once across processes (`gather_for_metrics`)."""
    model.eval()
    probabilities, references = [], []
    for batch in tqdm(dataloader, desc=desc, leave=False, disable=not accelerator.is_local_main_process):
        with torch.no_grad():
            outputs = model(**batch)
        logits, labels = accelerator.gather_for_metrics((outputs.logits.float(), batch["labels"]))
        probabilities.append(logits.softmax(-1).cpu())
        references.append(labels.cpu())
    probabilities, references = torch.cat(probabilities), torch.cat(references)
    metrics, report = compute_metrics(probabilities.numpy(), references.numpy(), label_names, split=desc)
    # Plain cross-entropy whatever the training loss, so runs with different losses compare.
    metrics["loss"] = float(torch.nn.functional.nll_loss(probabilities.clamp_min(1e-12).log(), references))
    return metrics, report


def plot_confusion_matrix(report, path, title):
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(report["confusion_matrix"])
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    names = report["labels"]
    size = 1.2 + 0.75 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title=title)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    for i, j in np.ndindex(counts.shape):
        ax.text(j, i, f"{counts[i, j]}\n{rates[i, j]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = ["METRICS", "compute_metrics", "evaluate", "missing_classes", "plot_confusion_matrix", "warn_missing_classes"]
