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


def lacks_own_tensors(module: nn.Module) -> bool:
    """True when some of `module`'s own parameters or buffers (not its children's) are not set yet: none is in a
    freshly built model, those a checkpoint lacks while `from_pretrained` loads (it marks what it loaded)."""
    own = itertools.chain(module.parameters(recurse=False), module.buffers(recurse=False))
    return any(not getattr(tensor, "_is_hf_initialized", False) for tensor in own if tensor is not None)


def init_from_reference_(module: nn.Module, reference: nn.Module):
    """Set `module`'s own parameters and buffers (not its children's) from `reference`'s, a freshly initialised module
    of the same architecture (e.g. a newly created timm model: timm's own initialisation, BatchNorm running statistics
    included). `init.copy_` skips the tensors `from_pretrained` has loaded, so only what a checkpoint lacks changes."""
    for name, tensor in itertools.chain(module.named_parameters(recurse=False), module.named_buffers(recurse=False)):
        if tensor is not None:
            init.copy_(tensor, getattr(reference, name))


class NestedModelInitMixin:
    """For models that nest transformers models (speech encoders, text models): initialise what a checkpoint lacks as
    transformers initialises its own classes, every module by its own model's rule.

    transformers 5 treats a model class defined outside it as custom code, and when it initialises the tensors a
    checkpoint lacks it skips every module whose own tensors are all set, so every module that holds none of its own.
    That guard protects custom `_init_weights` that write in place; it also skips the rules nested models set on such
    modules (Whisper's sinusoidal position table at `WhisperEncoder`, wav2vec2's positional convolution and feature
    projection, GPT-2's scaled output projections at its attention and MLP blocks), which then keep PyTorch's default
    initialisation. Our `_init_weights` set tensors only through `transformers.initialization`, whose functions leave
    loaded tensors be, so the guard is not needed."""

    @classmethod
    def is_custom_code(cls) -> bool:
        return False


class FreezeAfterLoadingMixin:
    """For models whose config freezes parameters (a `_freeze()` method applies it): transformers 5's
    `from_pretrained` loads the weights as new Parameters with `requires_grad=True`, so `_freeze()` runs again."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded)._freeze()  # (model, loading_info) with output_loading_info
        return loaded


__all__ = ["FreezeAfterLoadingMixin", "NestedModelInitMixin", "init_from_reference_", "lacks_own_tensors",
           "pytorch_default_init_"]
