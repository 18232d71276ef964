"""Facial-expression recognition on any timm image model (ImageNet-pretrained EfficientNet, ResNet, ConvNeXt, ViT...),
with an export to the stock `TimmWrapperForImageClassification` that runs without our code."""

import json
import os
from typing import Optional

import timm
import torch
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.utils import add_start_docstrings, can_return_tuple, logging

from .configuration_fer_timm import FERTimmConfig
from .image_utils import BT601_LUMA, check_pixel_values
from .initialization_utils import lacks_own_tensors
from .losses import LABELS_DOCSTRING, classification_loss
from .pipeline_image_classification import EmotionImageClassificationPipeline  # noqa: F401  (copied with the code)


logger = logging.get_logger(__name__)


def _first_convs(timm_model) -> list[str]:
    """Names of the convolutions that read the input image (timm's `pretrained_cfg["first_conv"]`)."""
    first = timm_model.pretrained_cfg.get("first_conv")
    names = [first] if isinstance(first, str) else list(first or [])
    if not names:
        conv = next((n for n, m in timm_model.named_modules() if isinstance(m, torch.nn.Conv2d)), None)
        names = [conv] if conv else []
    return names


def _foldable_stems(timm_model) -> list[str]:
    """The first convolutions of a grey model when the luma step can be folded into their weights (plain or
    "same"-padded convolutions reading 1 channel; not weight-standardised ones, whose output is not linear in the
    weight); `[]` otherwise."""
    names = _first_convs(timm_model)
    convs = [timm_model.get_submodule(name) for name in names]
    plain = all(type(conv) is torch.nn.Conv2d or type(conv).__name__ == "Conv2dSame" for conv in convs)
    return names if names and plain and all(conv.weight.shape[1] == 1 for conv in convs) else []


class FERTimmNetwork(torch.nn.Module):
    """The timm model's features (or its stages' feature maps and features) and head, as one module call, so that
    `forward` can run it with the grey stem's weights replaced (`torch.func.functional_call`) without calling the
    whole classifier again (transformers' exporters swap `forward` for one that takes keyword inputs only)."""

    def __init__(self, timm_model: torch.nn.Module):
        super().__init__()
        self.timm_model = timm_model

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool = False):
        hidden_states = None
        if output_hidden_states:
            features, intermediates = self.timm_model.forward_intermediates(pixel_values)
            hidden_states = tuple(intermediates)
        else:
            features = self.timm_model.forward_features(pixel_values)
        return self.timm_model.forward_head(features), hidden_states  # (batch, num_labels), stage maps


class FERTimmPreTrainedModel(PreTrainedModel):
    config_class = FERTimmConfig
    config: FERTimmConfig
    base_model_prefix = "fer_timm"
    main_input_name = "pixel_values"
    input_modalities = "image"
    supports_gradient_checkpointing = True

    @torch.no_grad()
    def _init_weights(self, module):
        # timm initialises each architecture its own way (goog init for EfficientNets, zero last-BN gamma in ResNets,
        # truncated normal for ViTs). What a checkpoint lacks (a new head after `num_labels` changes, BatchNorm
        # statistics, non-persistent buffers) is drawn from that same distribution: a freshly created timm model of
        # the same shape is the reference, copied into every tensor not loaded (`init.copy_` skips loaded ones).
        # This runs once on the root (its non-persistent `luma_weights` buffer is never loaded, so transformers
        # always visits it); the timm submodules themselves are left to it.
        if isinstance(module, FERTimmForImageClassification):
            init.copy_(module.luma_weights, torch.tensor(BT601_LUMA).view(1, 3, 1, 1))
            if not any(lacks_own_tensors(m) for m in module.timm_model.modules()):
                return  # a checkpoint set all of it
            reference = module._create_timm_model()
            ours = {**dict(module.timm_model.named_parameters()), **dict(module.timm_model.named_buffers())}
            theirs = {**dict(reference.named_parameters()), **dict(reference.named_buffers())}
            for name, tensor in ours.items():
                if tensor is not None and theirs.get(name) is not None:
                    init.copy_(tensor, theirs[name].to(tensor.device, tensor.dtype))

    def _set_gradient_checkpointing(self, enable: bool = True, *args, **kwargs):
        self.timm_model.set_grad_checkpointing(enable)


class FERTimmForImageClassification(FERTimmPreTrainedModel):
    """A timm image model (`config.backbone`) with `num_labels` outputs; grey or colour faces at `image_size`."""

    def __init__(self, config: FERTimmConfig):
        super().__init__(config)
        self.timm_model = self._create_timm_model()
        if config.image_mean is None or config.image_std is None:
            # The backbone's own normalisation, equal on the three channels for a grey model (its luminance is then
            # the normalised luminance).
            mean, std = (list(self.timm_model.pretrained_cfg.get(k, d)) for k, d in
                         (("mean", (0.485, 0.456, 0.406)), ("std", (0.229, 0.224, 0.225))))
            if config.in_chans == 1:
                mean, std = [sum(mean) / 3] * 3, [sum(std) / 3] * 3
            config.image_mean = config.image_mean or [round(v, 6) for v in mean]
            config.image_std = config.image_std or [round(v, 6) for v in std]
        self.supports_gradient_checkpointing = hasattr(self.timm_model, "set_grad_checkpointing")
        # A grey model reads RGB through its stem with the luma weights folded in (W * luma[c] on channel c; a grey
        # image is repeated on the 3 channels): the same function as luminance then the grey convolution, computed
        # exactly as the stock export's 3-channel stem computes it, so both give the same logits to the last bit.
        self._stem_convs = _foldable_stems(self.timm_model) if config.in_chans == 1 else []
        # A constant, not a parameter: RGB -> luminance for a grey model given RGB input.
        self.register_buffer("luma_weights", torch.tensor(BT601_LUMA).view(1, 3, 1, 1), persistent=False)
        # The timm network as `forward` runs it; kept out of the module tree (the weights are `timm_model`'s).
        object.__setattr__(self, "_network", FERTimmNetwork(self.timm_model))
        self.post_init()

    def _create_timm_model(self, **kwargs):
        config = self.config
        return timm.create_model(config.backbone, pretrained=False, num_classes=config.num_labels,
                                 **{**config.timm_kwargs, **kwargs})

    @classmethod
    def from_pretrained_backbone(cls, name_or_dir: str, pretrained_cfg_overlay: Optional[dict] = None,
                                 **config_kwargs) -> "FERTimmForImageClassification":
        """A model whose timm network starts from pretrained weights, with a new classifier for our labels.

        Args:
            name_or_dir (`str`): a timm name (`"tf_efficientnet_lite0"`, `"resnet50.a1_in1k"`,
                `"hf-hub:timm/..."`; downloaded by timm) or a local folder in timm's Hub format (`config.json` with
                `architecture` and `pretrained_cfg`, and `model.safetensors`), read with no network.
            pretrained_cfg_overlay (`dict`, *optional*): timm's `pretrained_cfg_overlay`, e.g. `{"file":
                "weights.safetensors"}`; set for a folder.
            config_kwargs: the other [`FERTimmConfig`] arguments (labels, `in_chans`, `image_size`, loss...).
                With `in_chans=1` timm sums the first convolution's weights over the RGB channels.
        """
        overlay = dict(pretrained_cfg_overlay or {})
        name = name_or_dir
        if os.path.isdir(name_or_dir):
            with open(os.path.join(name_or_dir, "config.json"), encoding="utf-8") as f:
                folder = json.load(f)
            name = folder.get("architecture")
            if not name:
                raise ValueError(f"{name_or_dir}/config.json has no `architecture`: not a timm model folder")
            weights = next((os.path.join(name_or_dir, w) for w in ("model.safetensors", "pytorch_model.bin")
                            if os.path.isfile(os.path.join(name_or_dir, w))), None)
            if weights is None:
                raise FileNotFoundError(f"{name_or_dir} holds no model.safetensors or pytorch_model.bin")
            cfg = folder.get("pretrained_cfg", {})
            overlay = {**{k: cfg[k] for k in ("mean", "std", "first_conv", "classifier") if k in cfg}, "file": weights,
                       **overlay}
        architecture = name.split(":", 1)[-1].rsplit("/", 1)[-1].split(".", 1)[0]  # drop hf-hub:org/ and .tag
        backbone = config_kwargs.pop("backbone", None)
        config = FERTimmConfig(backbone=architecture, **config_kwargs)
        pretrained = timm.create_model(name, pretrained=True, num_classes=config.num_labels,
                                       pretrained_cfg_overlay=overlay or None, **config.timm_kwargs)
        cfg = pretrained.pretrained_cfg
        config.backbone = cfg.get("architecture") or architecture  # a Hub repo's name need not be its architecture
        if backbone is not None and backbone != config.backbone:
            raise ValueError(f"`backbone` is {backbone!r} but the pretrained weights {name_or_dir!r} are a "
                             f"{config.backbone!r}")
        if config.image_mean is None and config.image_std is None and cfg.get("mean") and cfg.get("std"):
            mean, std = list(cfg["mean"]), list(cfg["std"])
            if config.in_chans == 1:  # equal on the three channels, as `__init__` does for timm's defaults
                mean, std = [sum(mean) / len(mean)] * 3, [sum(std) / len(std)] * 3
            config.image_mean, config.image_std = [float(v) for v in mean], [float(v) for v in std]
        model = cls(config)
        missing, unexpected = model.timm_model.load_state_dict(pretrained.state_dict(), strict=False)
        if missing or unexpected:
            raise RuntimeError(f"{name_or_dir}: weights do not fit {config.backbone}: missing {missing}, unexpected "
                               f"{unexpected}")
        return model

    def to_model_channels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Check `(batch, channels, image_size, image_size)`; map 3 channels to luminance for a grey model (3
        channels, a grey channel repeated, where the luma step is folded into the stem) and repeat a grey channel for
        a colour one."""
        config = self.config
        channels = check_pixel_values(pixel_values, config.image_size)
        if self._stem_convs and channels in (1, 3):
            return pixel_values.expand(-1, 3, -1, -1).contiguous() if channels == 1 else pixel_values
        if channels == config.in_chans:
            return pixel_values
        if config.in_chans == 1 and channels == 3:
            return (pixel_values * self.luma_weights.to(pixel_values.dtype)).sum(dim=1, keepdim=True)
        if config.in_chans == 3 and channels == 1:
            return pixel_values.expand(-1, 3, -1, -1)
        raise ValueError(f"`pixel_values` must have 1 (grey) or 3 (RGB) channels, got {channels}")

    @can_return_tuple
    @add_start_docstrings(LABELS_DOCSTRING)
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        r"""
        pixel_values (`torch.Tensor` of shape `(batch, 1 or 3, image_size, image_size)`): normalised images, from the
            model's image processor.
        output_hidden_states (`bool`, *optional*): the feature maps of the backbone's stages (timm's
            `forward_intermediates`); defaults to `config.output_hidden_states`.
        """
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        output_hidden_states = bool(output_hidden_states)  # an index or a list of them selects among all stages
        if output_hidden_states and not hasattr(self.timm_model, "forward_intermediates"):
            raise ValueError(f"timm's {self.config.backbone} has no `forward_intermediates`: it cannot return hidden "
                             f"states")
        pixel_values = self.to_model_channels(pixel_values)
        if self._stem_convs:
            # The stem's grey weight W (out, 1, k, k) replaced by W * luma (out, 3, k, k) for this call; gradients
            # reach W through the product.
            folded = {f"timm_model.{name}.weight": self.timm_model.get_submodule(name).weight * self.luma_weights
                      for name in self._stem_convs}
            logits, hidden_states = torch.func.functional_call(self._network, folded,
                                                               (pixel_values, output_hidden_states))
        else:
            logits, hidden_states = self._network(pixel_values, output_hidden_states)
        loss = None
        if labels is not None:
            config = self.config
            if (config.label_smoothing and config.loss_type == "ce" and config.num_labels > 1
                    and config.problem_type in (None, "single_label_classification")
                    and not torch.is_floating_point(labels)):
                loss = F.cross_entropy(logits.float(), labels.to(logits.device).long().view(-1),
                                       label_smoothing=config.label_smoothing)
            else:
                loss = classification_loss(config, logits, labels)
        return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)

    # -- stock export --------------------------------------------------------------------------------------------
    def stock_pretrained_cfg(self, image_processor=None) -> dict:
        """timm's `pretrained_cfg` of the export: what `TimmWrapperImageProcessor` resizes to and normalises with
        (a square resize of the whole face crop, bilinear, no centre crop: `crop_pct` 1). The normalisation is the
        config's `image_mean`/`image_std`, or `image_processor`'s (a `FERImageProcessor`) when given: pass the one
        the model was trained with."""
        config, cfg = self.config, self.timm_model.pretrained_cfg
        mean, std = list(config.image_mean), list(config.image_std)
        if image_processor is not None:
            p = image_processor
            if (p.size.height, p.size.width) != (config.image_size, config.image_size):
                raise ValueError(f"the image processor resizes to {p.size.width}x{p.size.height}, the model reads "
                                 f"{config.image_size}x{config.image_size}")
            if not p.do_rescale or abs(p.rescale_factor - 1 / 255) > 1e-9:
                raise ValueError("the stock TimmWrapperImageProcessor scales pixels by 1/255 (timm's ToTensor): the "
                                 "image processor must too (`do_rescale=True`, `rescale_factor=1/255`)")
            mean, std = (list(p.image_mean), list(p.image_std)) if p.do_normalize else ([0.0] * 3, [1.0] * 3)
            if (mean, std) != (list(config.image_mean), list(config.image_std)):
                logger.warning(f"stock export: normalising with the image processor's mean {mean} / std {std}, not the "
                               f"config's {config.image_mean} / {config.image_std}")
        return {
            "input_size": [3, config.image_size, config.image_size],
            "interpolation": "bilinear",
            "crop_pct": 1.0,
            "crop_mode": "center",
            "mean": mean,
            "std": std,
            "num_classes": config.num_labels,
            "first_conv": cfg.get("first_conv"),
            "classifier": cfg.get("classifier"),
            "fixed_input_size": bool(cfg.get("fixed_input_size", False)),
        }

    def to_stock_model(self, image_processor=None):
        """The same network as a stock `TimmWrapperForImageClassification` with 3 input channels, loadable without
        `trust_remote_code`: same logits on the same RGB `pixel_values`. A grey model's first convolution becomes
        `W * luma[c]` on each RGB channel, the folded stem our `forward` runs, so a grey image converted to RGB
        (what the stock image pipeline feeds) gives our grey logits. `image_processor`: see
        `stock_pretrained_cfg`."""
        from transformers import TimmWrapperConfig, TimmWrapperForImageClassification

        config = self.config
        stock_config = TimmWrapperConfig(
            architecture=config.backbone,
            pretrained_cfg=self.stock_pretrained_cfg(image_processor),
            model_args={**config.timm_kwargs, "in_chans": 3},
            num_labels=config.num_labels,
            id2label={int(i): label for i, label in config.id2label.items()},
            label2id=dict(config.label2id),
            problem_type=config.problem_type,
        )
        stock = TimmWrapperForImageClassification(stock_config)
        state = {f"timm_model.{name}": tensor for name, tensor in self.timm_model.state_dict().items()}
        if config.in_chans == 1:
            if not self._stem_convs:
                raise ValueError(f"{config.backbone}: a grey model exports to the stock (RGB) class only with a plain "
                                 f"convolution stem, into which the luma step folds; its stem is "
                                 f"{_first_convs(self.timm_model)}")
            for conv in self._stem_convs:
                key = f"timm_model.{conv}.weight"
                # (out, 1, k, k) -> (out, 3, k, k): the very product `forward` computes, so the same float32 values.
                state[key] = (state[key] * self.luma_weights.detach()).contiguous()
        stock.load_state_dict(state)
        return stock.eval() if not self.training else stock

    def save_stock_pretrained(self, save_directory: str, image_processor=None, **kwargs):
        """Write `to_stock_model()` to `save_directory`: a stock timm checkpoint (`config.json` carrying our
        `label_names` and the image processor's `pretrained_cfg`, `model.safetensors`) with no custom code.
        `AutoModelForImageClassification`, `AutoImageProcessor` (`TimmWrapperImageProcessor`) and
        `pipeline("image-classification")` load it; do not save our image processor beside it (its
        `preprocessor_config.json` would take precedence and need `trust_remote_code`). `image_processor`: the
        `FERImageProcessor` the model was trained with, whose normalisation the export's processor takes."""
        stock = self.to_stock_model(image_processor)
        stock.save_pretrained(save_directory, **kwargs)
        return stock


__all__ = ["FERTimmForImageClassification", "FERTimmNetwork", "FERTimmPreTrainedModel"]
