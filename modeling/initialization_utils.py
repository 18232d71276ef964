"""Weight initialisation shared by the package's from-scratch models."""

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


__all__ = ["pytorch_default_init_"]
