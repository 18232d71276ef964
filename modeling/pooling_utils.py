"""Pooling over frames shared by the voice models."""

import torch


def weighted_statistics_pooling(values: torch.Tensor, weights: torch.Tensor, dim: int, std: bool = True) -> torch.Tensor:
    """The weighted mean of `values` over `dim`, with the weighted standard deviation concatenated on the last axis
    (statistics pooling) when `std`. `weights` broadcasts against `values`: 1 for frames that hold audio and 0 for
    padding, or attention weights that sum to 1 over `dim`. The variance is floored at 1e-6 so sqrt's gradient
    stays finite where a channel is constant over the frames."""
    count = weights.sum(dim)
    mean = (values * weights).sum(dim) / count
    if not std:
        return mean
    variance = ((values - mean.unsqueeze(dim)).square() * weights).sum(dim) / count
    return torch.cat([mean, variance.clamp_min(1e-6).sqrt()], dim=-1)


__all__ = ["weighted_statistics_pooling"]
