"""Evaluation metrics (accuracy, F1, UAR, ROC AUC), the gathered evaluation loop and the confusion-matrix plot."""

import math

import numpy as np
import torch
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support,
                             roc_auc_score)
from tqdm.auto import tqdm

METRICS = ("accuracy", "f1_macro", "f1_weighted", "uar", "roc_auc_macro", "loss")

def compute_metrics(probabilities: np.ndarray, references: np.ndarray, label_names: list[str]):
    """Flat scalar metrics plus a per-class report with the confusion matrix.

    `probabilities` is `(n, num_labels)`. Besides accuracy and F1: unweighted average recall (`uar`, the mean of
    per-class recalls, the customary speech-emotion metric) and one-vs-rest ROC AUC per class (`nan` for a class
    absent from `references` or present alone) with their macro mean over the defined ones.
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
                   else float("nan"))
    defined = [a for a in auc if not math.isnan(a)]
    metrics = {
        "accuracy": float(accuracy_score(references, predictions)),
        "f1_macro": float(f1_score(references, predictions, labels=labels, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(references, predictions, labels=labels, average="weighted", zero_division=0)),
        "uar": float(np.mean([r for r, n in zip(recall, support) if n > 0])) if support.sum() else 0.0,
        "roc_auc_macro": float(np.mean(defined)) if defined else float("nan"),
        "samples": int(len(references)),
    }
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
    metrics, report = compute_metrics(probabilities.numpy(), references.numpy(), label_names)
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


__all__ = ["METRICS", "compute_metrics", "evaluate", "plot_confusion_matrix"]
