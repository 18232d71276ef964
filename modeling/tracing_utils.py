"""Input checks that keep `forward` traceable: they run in eager mode and step aside under `torch.compile`,
`torch.export` (and so ONNX export) and `torch.jit.trace`, where a Python `if` on tensor values cannot be traced.
The processors run the same checks before any traced graph sees the input."""

import torch


def is_tracing() -> bool:
    """True under `torch.compile`, `torch.export` (strict or not) and `torch.jit.trace`."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Refuse NaN or infinite values in `tensor` (eager mode only)."""
    if not is_tracing() and not torch.isfinite(tensor).all():
        raise ValueError(f"`{name}` holds NaN or infinite values")


__all__ = ["check_finite", "is_tracing"]
