"""Weight initialisation shared by the package's from-scratch models, and freezing applied again after loading."""

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


class FreezeAfterLoadingMixin:
    """For models whose config freezes parameters (a `_freeze()` method applies it): transformers 5's
    `from_pretrained` loads the weights as new Parameters with `requires_grad=True`, so `_freeze()` runs again."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded)._freeze()  # (model, loading_info) with output_loading_info
        return loaded


__all__ = ["FreezeAfterLoadingMixin", "pytorch_default_init_"]
