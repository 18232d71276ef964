"""Batch samplers whose order depends only on a seed and the epoch, so a resumed run sees the same batches."""

import numpy as np
import torch

class ClassBalancedBatchSampler(torch.utils.data.Sampler):
    """Batches of `samples_per_class` examples of each of `batch_size // samples_per_class` classes (all classes when
    there are fewer), the classes drawn at random for every batch (the "PK" batches that online triplet mining needs).

    Each class's examples are drawn without replacement from a reshuffled pool refilled when empty, so every example
    is used and a rare class repeats its examples rather than being skipped. An epoch has `len(labels) // batch`
    batches (at least one). The order depends only on `seed` and the epoch, not on the global RNG: `set_epoch` sets
    the epoch, and a completed pass moves to the next one (accelerate's multi-process wrapper does not forward
    `set_epoch` to a custom batch sampler).
    """

    def __init__(self, labels, batch_size: int, samples_per_class: int, seed: int = 0):
        labels = np.asarray(labels)
        if samples_per_class < 1:
            raise ValueError(f"`samples_per_class` must be >= 1, got {samples_per_class}")
        self.classes = np.unique(labels)
        if len(self.classes) < 2:
            raise ValueError(f"a class-balanced sampler needs at least 2 classes in the training labels, got {self.classes}")
        self.by_class = {c: np.flatnonzero(labels == c) for c in self.classes}
        self.samples_per_class = samples_per_class
        self.classes_per_batch = max(2, min(len(self.classes), batch_size // samples_per_class))
        self.batch_size = self.classes_per_batch * samples_per_class
        self.num_batches = max(1, len(labels) // self.batch_size)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __len__(self):
        return self.num_batches

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        pools = {c: [] for c in self.classes}
        for _ in range(self.num_batches):
            batch = []
            for c in rng.choice(self.classes, size=self.classes_per_batch, replace=False):
                while len(pools[c]) < self.samples_per_class:
                    pools[c].extend(rng.permutation(self.by_class[c]).tolist())
                batch.extend(pools[c][: self.samples_per_class])
                del pools[c][: self.samples_per_class]
            yield batch
        self.epoch += 1




class LengthGroupedSampler(torch.utils.data.Sampler):
    """Indices in batches of similar length: a random permutation cut into mega-batches of `mega_batch_factor`
    batches, each sorted by decreasing length (as transformers' `LengthGroupedSampler`). The order depends only on
    `seed` and the epoch (`set_epoch`, forwarded by Accelerate), so a resumed run sees the same batches."""

    def __init__(self, lengths, batch_size: int, seed: int = 0, mega_batch_factor: int = 50):
        self.lengths, self.batch_size, self.seed = np.asarray(lengths), batch_size, seed
        self.mega_batch = batch_size * mega_batch_factor
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __len__(self):
        return len(self.lengths)

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.lengths))
        for start in range(0, len(order), self.mega_batch):
            chunk = order[start: start + self.mega_batch]
            yield from chunk[np.argsort(-self.lengths[chunk], kind="stable")].tolist()


def token_length_sampler(recipe, dataset, column: str = "input_ids"):
    """`group_by_length` for tokenised text: a `LengthGroupedSampler` over the lengths of `column` (None when the
    recipe does not group). Padding to the longest of a random batch costs about twice the tokens on MELD prompts
    (mean 101, mean batch-longest 231 with MiniLM, batch 16)."""
    if not recipe.group_by_length:
        return None
    lengths = [len(ids) for ids in dataset[column]]
    return LengthGroupedSampler(lengths, recipe.per_device_train_batch_size, seed=recipe.seed)


__all__ = ["ClassBalancedBatchSampler", "LengthGroupedSampler", "token_length_sampler"]
