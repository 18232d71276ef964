"""Weight initialisation shared by the package's from-scratch models, and freezing applied again after loading."""

import itertools
import math

from torch import nn
from transformers import initialization as init


def pytorch_default_init_(module: nn.Module):
    """PyTorch's own default for a linear or convolution layer (Kaiming-uniform with `a=sqrt(5)`, bias uniform in
    `+-1/sqrt(fan_in)`), written out so that `post_init` sets every weight; it keeps the initial logits small."""
    init.kaiming_uniform_(module.weight, a=math.sqrt(5))
    if module.bias is not None:
        bound = 1 / math.sqrt(module.weight[0].numel())
        init.uniform_(module.bias, -bound, bound)


def init_from_reference_(module: nn.Module, reference: nn.Module):
    """Set `module`'s own parameters and buffers (not its children's) from `reference`'s, a freshly initialised module
    of the same architecture (e.g. a newly created timm model: timm's own initialisation, BatchNorm running statistics
    included). `init.copy_` skips the tensors `from_pretrained` has loaded, so only what a checkpoint lacks changes."""
    for name, tensor in itertools.chain(module.named_parameters(recurse=False), module.named_buffers(recurse=False)):
        if tensor is not None:
            init.copy_(tensor, getattr(reference, name))


class FreezeAfterLoadingMixin:
    """For models whose config freezes parameters (a `_freeze()` method applies it): transformers 5's
    `from_pretrained` loads the weights as new Parameters with `requires_grad=True`, so `_freeze()` runs again."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded)._freeze()  # (model, loading_info) with output_loading_info
        return loaded


__all__ = ["FreezeAfterLoadingMixin", "init_from_reference_", "pytorch_default_init_"]
