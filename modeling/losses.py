"""Classification losses shared by every model of the package, chosen by `config.loss_type`.

Every config that trains a classifier carries the same loss arguments (`loss_type`, `class_weights`,
`focal_gamma`, `dice_smooth`: the fields of `configuration_utils.EmotionClassifierConfig`, which checks them), turned
into a module by `build_loss`. Class-imbalanced emotion data (TweetEval anger/optimism, MELD's 47% neutral) is the
reason these exist: plain cross-entropy lets a model ignore the rare classes.
"""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_utils import LOSS_TYPES, TRIPLET_MININGS


def class_weights_from_counts(counts: Sequence[int]) -> list[float]:
    """Inverse-frequency ("balanced") weights `n_samples / (n_classes * count_c)`, in label-id order.

    A class absent from the counts gets weight 0.0: no example of it can contribute to the loss anyway, and an
    infinite weight would poison the mean.
    """
    counts = [int(c) for c in counts]
    if not counts or any(c < 0 for c in counts):
        raise ValueError(f"class counts must be a non-empty list of non-negative integers, got {counts}")
    total, present = sum(counts), sum(1 for c in counts if c > 0)
    if total == 0:
        raise ValueError("class counts are all zero: cannot compute class weights from an empty label set")
    return [total / (present * c) if c > 0 else 0.0 for c in counts]


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., 2017): cross-entropy scaled by `(1 - p_t) ** gamma`, optionally class-weighted.

    Args:
        gamma (`float`, *optional*, defaults to 2.0): focusing parameter; 0 gives (weighted) cross-entropy.
        weight (`torch.Tensor`, *optional*): per-class weights (the alpha of the paper), shape `(num_labels,)`.
    """

    def __init__(self, gamma: float = 2.0, weight: Optional[torch.Tensor] = None):
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        log_probs = F.log_softmax(logits.float(), dim=-1)
        log_pt = log_probs.gather(1, labels[:, None]).squeeze(1)
        loss = -((1.0 - log_pt.exp()) ** self.gamma) * log_pt
        if self.weight is None:
            return loss.mean()
        alpha = self.weight.to(loss.dtype)[labels]
        # Normalise by the summed weights, as `F.cross_entropy(weight=...)` does, so gamma=0 equals weighted CE.
        return (alpha * loss).sum() / alpha.sum().clamp_min(torch.finfo(loss.dtype).tiny)


class DiceLoss(nn.Module):
    """Multi-class soft Dice loss over the batch: `1 - mean_c (2 sum p_c y_c + s) / (sum p_c + sum y_c + s)`.

    Each class counts equally whatever its frequency, which is why it helps imbalanced data (Li et al., 2020).

    Args:
        smooth (`float`, *optional*, defaults to 1.0): additive smoothing `s`; keeps classes absent from a batch
            from dominating and the gradient finite.
        weight (`torch.Tensor`, *optional*): per-class weights of the class-wise Dice terms.
    """

    def __init__(self, smooth: float = 1.0, weight: Optional[torch.Tensor] = None):
        super().__init__()
        self.smooth = smooth
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        probs = logits.float().softmax(dim=-1)
        one_hot = F.one_hot(labels, num_classes=logits.shape[-1]).to(probs.dtype)
        intersection = (probs * one_hot).sum(0)
        dice = (2 * intersection + self.smooth) / (probs.sum(0) + one_hot.sum(0) + self.smooth)
        if self.weight is None:
            return 1.0 - dice.mean()
        weight = self.weight.to(dice.dtype)
        return 1.0 - (weight * dice).sum() / weight.sum()


class TripletLoss(nn.Module):
    """Triplet margin loss over the embeddings of a batch, triplets mined online (Hermans et al., 2017).

    For every anchor, `"batch_hard"` takes its farthest same-class example and its nearest other-class example and
    penalises `relu(d(a, p) - d(a, n) + margin)`, averaged over the anchors that have both; `"batch_all"` averages
    the penalty over every valid (anchor, positive, negative) triplet with a non-zero penalty. Distances are
    Euclidean. A batch where no anchor has both a positive and a negative gives 0 (with a gradient graph), which is
    why training with it needs batches holding several examples of several classes: train.py's class-balanced batch
    sampler.

    Args:
        margin (`float`, *optional*, defaults to 0.3): the required gap between negative and positive distances.
        mining (`str`, *optional*, defaults to `"batch_hard"`): `"batch_hard"` or `"batch_all"`.
    """

    def __init__(self, margin: float = 0.3, mining: str = "batch_hard"):
        super().__init__()
        if mining not in TRIPLET_MININGS:
            raise ValueError(f"`mining` must be one of {TRIPLET_MININGS}, got {mining!r}")
        self.margin, self.mining = margin, mining

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embeddings = embeddings.float()
        squared = embeddings.pow(2).sum(-1)
        # Squared distances from the Gram matrix; the clamp keeps sqrt's gradient finite on the zero diagonal.
        distances = (squared[:, None] + squared[None, :] - 2 * embeddings @ embeddings.T).clamp_min(1e-12).sqrt()
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        positive, negative = same & ~eye, ~same
        if self.mining == "batch_hard":
            hardest_positive = distances.masked_fill(~positive, float("-inf")).amax(1)
            hardest_negative = distances.masked_fill(~negative, float("inf")).amin(1)
            valid = positive.any(1) & negative.any(1)
            if not valid.any():
                return embeddings.sum() * 0.0
            return F.relu(hardest_positive - hardest_negative + self.margin)[valid].mean()
        # batch_all: (anchor, positive, negative) penalties, shape (batch, batch, batch)
        penalty = F.relu(distances[:, :, None] - distances[:, None, :] + self.margin)
        valid = positive[:, :, None] & negative[:, None, :]
        active = valid & (penalty > 1e-16)
        if not active.any():
            return embeddings.sum() * 0.0
        return penalty[active].mean()


def triplet_loss(config, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The config's weighted triplet loss (`triplet_weight`, `triplet_margin`, `triplet_mining`) of `embeddings`."""
    loss_fct = TripletLoss(margin=config.triplet_margin, mining=config.triplet_mining)
    return config.triplet_weight * loss_fct(embeddings, labels.to(embeddings.device).long().view(-1))


def build_loss(config) -> nn.Module:
    """The loss module a config asks for (`loss_type`, `class_weights`, `focal_gamma`, `dice_smooth`)."""
    weight = None
    if config.class_weights is not None and config.loss_type in ("weighted_ce", "focal", "dice"):
        weight = torch.tensor(config.class_weights, dtype=torch.float32)
    if config.loss_type in ("ce", "weighted_ce"):
        return nn.CrossEntropyLoss(weight=weight if config.loss_type == "weighted_ce" else None)
    if config.loss_type == "focal":
        return FocalLoss(gamma=config.focal_gamma, weight=weight)
    if config.loss_type == "dice":
        return DiceLoss(smooth=config.dice_smooth, weight=weight)
    raise ValueError(f"`loss_type` must be one of {LOSS_TYPES}, got {config.loss_type!r}")


PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")
# The `labels` argument of every classifier head's `forward` (`@add_start_docstrings(LABELS_DOCSTRING)`).
LABELS_DOCSTRING = r"""
        labels (`torch.Tensor`, *optional*): int label ids `(batch,)` (single-label classification), 0/1 or soft
            targets `(batch, num_labels)` (multi-label), float targets (regression), per `config.problem_type`
            (inferred from the labels when unset, as the stock heads do).
"""


def infer_problem_type(config, labels: torch.Tensor) -> str:
    """`config.problem_type`, set from the labels when unset exactly as transformers' stock `*ForSequenceClassification`
    heads do: one label is regression, integer labels single-label classification, float labels over several labels
    multi-label classification."""
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type not in PROBLEM_TYPES:
        raise ValueError(f"`problem_type` must be one of {PROBLEM_TYPES}, got {config.problem_type!r}")
    return config.problem_type


def classification_loss(config, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss of `logits` against `labels` following `config.problem_type`, as the stock heads do: MSE for
    `"regression"` (float targets, `(batch,)` or `(batch, num_labels)`), BCE-with-logits for
    `"multi_label_classification"` (0/1 or soft targets `(batch, num_labels)`), and for
    `"single_label_classification"` the config's `loss_type` (cross-entropy, weighted, focal, Dice) over int label ids,
    with a clear error (in eager mode) for a label outside the label ids. The problem type is inferred from the labels
    when unset.

    The loss module is built per call rather than held as a submodule, so class weights never enter the model's
    state dict and always sit on the logits' device.
    """
    num_labels = logits.shape[-1]
    labels = labels.to(logits.device)
    problem_type = infer_problem_type(config, labels)
    if problem_type == "regression":
        if num_labels == 1:
            return F.mse_loss(logits.float().squeeze(-1), labels.float().view(-1))
        return F.mse_loss(logits.float(), labels.float().view_as(logits))
    if problem_type == "multi_label_classification":
        if config.loss_type != "ce":
            raise ValueError(f"`loss_type={config.loss_type!r}` is a single-label loss; multi-label classification "
                             f"uses binary cross-entropy (`loss_type='ce'`)")
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float().view_as(logits))
    labels = labels.long().view(-1)
    if not (torch.compiler.is_compiling() or torch.jit.is_tracing()) and labels.numel() and (
            labels.min() < 0 or labels.max() >= num_labels):
        bad = labels[(labels < 0) | (labels >= num_labels)].unique().tolist()
        raise ValueError(f"labels {bad} are outside the model's label ids 0..{num_labels - 1}")
    logits = logits.view(-1, num_labels).float()
    if config.loss_type in ("ce", "weighted_ce"):  # functional: no module built inside a traced forward
        weight = None
        if config.loss_type == "weighted_ce":
            weight = torch.tensor(config.class_weights, dtype=torch.float32, device=logits.device)
        return F.cross_entropy(logits, labels, weight=weight)
    return build_loss(config).to(logits.device)(logits, labels)


__all__ = [
    "LABELS_DOCSTRING",
    "LOSS_TYPES",
    "PROBLEM_TYPES",
    "TRIPLET_MININGS",
    "DiceLoss",
    "FocalLoss",
    "TripletLoss",
    "build_loss",
    "class_weights_from_counts",
    "classification_loss",
    "infer_problem_type",
    "triplet_loss",
]
