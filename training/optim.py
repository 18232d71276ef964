"""Optimisers, learning-rate schedulers and LoRA adapters of a recipe."""

import math

import torch
from transformers import get_scheduler

def backbone_parameter_names(model) -> set[str]:
    """Names of the parameters of a model's pretrained encoder(s): the model's own `backbone_parameter_names()`
    (models with several encoders, such as ERC fusion) or its transformers base model (`base_model_prefix`)."""
    if hasattr(model, "backbone_parameter_names"):
        return set(model.backbone_parameter_names())
    base = getattr(model, "base_model", model)
    if base is model:
        raise ValueError(f"`head_learning_rate`: {type(model).__name__} has no separate pretrained encoder (no "
                         f"`base_model`) whose parameters could keep `learning_rate`")
    return {f"{model.base_model_prefix}.{name}" for name, _ in base.named_parameters()}


def build_optimizer(recipe, model):
    params = [p for p in model.parameters() if p.requires_grad]
    lr, wd = recipe.learning_rate, recipe.weight_decay
    if recipe.head_learning_rate is not None:  # the encoder(s) at learning_rate, the fresh head at its own rate
        backbone = backbone_parameter_names(model)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        head = [p for n, p in named if n not in backbone]
        if not head:
            raise ValueError(f"`head_learning_rate`: every trainable parameter of {type(model).__name__} belongs to "
                             f"its pretrained encoder(s); there is no head to give it to")
        params = [{"params": [p for n, p in named if n in backbone], "lr": lr},
                  {"params": head, "lr": recipe.head_learning_rate}]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, eps=recipe.adam_epsilon)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, eps=recipe.adam_epsilon)
    if recipe.optimizer in ("sgd", "sgd_momentum"):
        momentum = recipe.momentum if recipe.optimizer == "sgd_momentum" else 0.0
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)


def build_scheduler(recipe, optimizer, num_training_steps):
    if recipe.lr_scheduler == "reduce_on_plateau":
        mode = "max" if recipe.greater_is_better else "min"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=recipe.plateau_factor, patience=recipe.plateau_patience
        )
    name = "constant_with_warmup" if recipe.lr_scheduler == "constant" else recipe.lr_scheduler
    return get_scheduler(name, optimizer, num_warmup_steps=math.ceil(recipe.warmup_ratio * num_training_steps),
                         num_training_steps=num_training_steps)



def apply_lora(recipe, model):
    """LoRA adapters (peft) on `lora_target_modules`; the model's head (`head_module_names()`, else `classifier`)
    is trained in full. Only the adapters and the head train; `merge_and_unload` folds them in after training."""
    from peft import LoraConfig, get_peft_model

    head = model.head_module_names() if hasattr(model, "head_module_names") else ["classifier"]
    config = LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                        target_modules=list(recipe.lora_target_modules), modules_to_save=head)
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise ValueError(f"`lora_target_modules` {recipe.lora_target_modules}: {err}") from None


__all__ = ["apply_lora", "build_optimizer", "build_scheduler"]
