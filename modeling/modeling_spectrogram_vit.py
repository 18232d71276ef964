"""Vision Transformer over log-mel spectrograms (non-square patches, learned positions, CLS or mean pooling), trained
from scratch or started from a timm ImageNet ViT; square-patch AST-shaped configurations export to the stock
`ASTForAudioClassification`."""

import contextlib
from typing import Optional

import timm
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import add_start_docstrings, can_return_tuple, logging

from .configuration_spectrogram_vit import SpectrogramViTConfig
from .losses import LABELS_DOCSTRING, classification_loss
from .pipeline_audio_classification import EmotionAudioClassificationPipeline  # noqa: F401  (copied with the code)
from .initialization_utils import init_from_reference_, lacks_own_tensors
from .pooling_utils import weighted_statistics_pooling
from .tracing_utils import check_finite


logger = logging.get_logger(__name__)


def spectrogram_input(input_features: torch.Tensor, config, name: str = "input_features") -> torch.Tensor:
    """`(batch, height, frames)` or `(batch, channels, height, frames)` features -> `(batch, channels, height, frames)`,
    checked against the config's `num_channels`, and finite."""
    if input_features.dim() == 3:
        input_features = input_features[:, None]
    if input_features.dim() != 4 or input_features.shape[1] != config.num_channels:
        raise ValueError(f"`{name}` must have shape (batch, {config.num_mel_bins}, frames) or (batch, "
                         f"{config.num_channels}, {config.num_mel_bins}, frames), got {tuple(input_features.shape)}")
    check_finite(input_features, name)  # eager only: the feature extractor refuses such audio before tracing
    return input_features


class SpectrogramViTEmbeddings(nn.Module):
    """Patch embeddings (a convolution with kernel = stride = patch), special tokens and learned positions."""

    def __init__(self, config: SpectrogramViTConfig):
        super().__init__()
        self.config = config
        self.patch_embeddings = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=config.patch_size,
                                          stride=config.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.distillation_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size)) if config.distillation_token else None
        rows, columns = config.patch_grid
        self.position_embeddings = nn.Parameter(
            torch.zeros(1, rows * columns + config.num_special_tokens, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        config = self.config
        if (pixel_values.shape[2], pixel_values.shape[3]) != (config.num_mel_bins, config.max_frames):
            raise ValueError(f"the model reads {config.num_mel_bins}x{config.max_frames} spectrograms (`num_mel_bins` "
                             f"x `max_frames`), got {pixel_values.shape[2]}x{pixel_values.shape[3]}: pad or crop the "
                             f"audio to the feature extractor's `max_length_seconds`")
        patches = self.patch_embeddings(pixel_values.to(self.patch_embeddings.weight.dtype))  # (batch, hidden, rows, cols)
        patches = patches.flatten(2).transpose(1, 2)  # (batch, rows * cols, hidden), row-major as AST
        special = [self.cls_token] + ([self.distillation_token] if self.distillation_token is not None else [])
        special = torch.cat(special, dim=1).expand(patches.shape[0], -1, -1)
        return self.dropout(torch.cat([special, patches], dim=1) + self.position_embeddings)


def eager_attention_forward(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                            attention_mask: Optional[torch.Tensor], scaling: float, dropout: float = 0.0, **kwargs):
    """Attention written out (transformers' eager interface): `(context (batch, length, heads, head_dim), weights)`."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling  # (batch, heads, length, length)
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    context = torch.matmul(nn.functional.dropout(weights, p=dropout, training=module.training), value)
    return context.transpose(1, 2).contiguous(), weights


class SpectrogramViTAttention(nn.Module):
    """Multi-head self-attention whose heads need not split `hidden_size` (`heads x head_dim` inner width), through
    transformers' attention interface (`config._attn_implementation`: "sdpa" by default, or "eager")."""

    def __init__(self, config: SpectrogramViTConfig):
        super().__init__()
        self.config = config
        self.num_heads, self.head_dim = config.num_attention_heads, config.attention_head_dim
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        inner = self.num_heads * self.head_dim
        self.q_proj = nn.Linear(config.hidden_size, inner, bias=config.qkv_bias)
        self.k_proj = nn.Linear(config.hidden_size, inner, bias=config.qkv_bias)
        self.v_proj = nn.Linear(config.hidden_size, inner, bias=config.qkv_bias)
        self.o_proj = nn.Linear(inner, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                output_attentions: bool = False) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        batch, length, _ = hidden_states.shape

        def heads(x):  # (batch, length, inner) -> (batch, heads, length, head_dim)
            return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

        # Returning the weights needs them written out: eager, as the stock models do.
        attention_interface = eager_attention_forward
        if not output_attentions:
            attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation,
                                                                        eager_attention_forward)
        context, weights = attention_interface(
            self, heads(self.q_proj(hidden_states)), heads(self.k_proj(hidden_states)), heads(self.v_proj(hidden_states)),
            attention_mask, scaling=self.scaling, dropout=self.dropout_prob if self.training else 0.0,
            is_causal=False,
        )
        return self.o_proj(context.reshape(batch, length, -1)), weights


class SpectrogramViTMLP(nn.Module):
    def __init__(self, config: SpectrogramViTConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation_fn = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(hidden_states)))


class SpectrogramViTLayer(nn.Module):
    """Pre-norm transformer layer, AST's (and ViT's): `x + attn(norm(x))`, then `x + mlp(norm(x))`."""

    def __init__(self, config: SpectrogramViTConfig):
        super().__init__()
        self.attention = SpectrogramViTAttention(config)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = SpectrogramViTMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                output_attentions: bool = False) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        attended, weights = self.attention(self.layernorm_before(hidden_states), attention_mask, output_attentions)
        hidden_states = hidden_states + self.dropout(attended)
        return hidden_states + self.dropout(self.mlp(self.layernorm_after(hidden_states))), weights


class SpectrogramViTPreTrainedModel(PreTrainedModel):
    config_class = SpectrogramViTConfig
    config: SpectrogramViTConfig
    base_model_prefix = "spectrogram_vit"
    main_input_name = "input_features"
    input_modalities = "audio"
    supports_gradient_checkpointing = False
    _supports_sdpa = True

    def initialize_weights(self):
        try:
            super().initialize_weights()
        finally:
            self.__dict__.pop("_timm_reference", None)  # the freshly created timm model `_init_weights` copied from

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        timm_path = getattr(module, "_timm_path", None)
        if timm_path is not None:
            # A module of the timm backbone: timm's own initialisation (BatchNorm buffers included) for whatever a
            # checkpoint did not set, copied from a freshly created timm model (made here, not taken from `__init__`,
            # so that a new model and a loaded one draw it alike); `init.copy_` leaves loaded tensors be.
            if lacks_own_tensors(module):
                init_from_reference_(module, self._timm_reference_model().get_submodule(timm_path))
            return
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            init.trunc_normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, SpectrogramViTEmbeddings):
            init.trunc_normal_(module.position_embeddings, mean=0.0, std=std)
            init.trunc_normal_(module.cls_token, mean=0.0, std=std)
            if module.distillation_token is not None:
                init.trunc_normal_(module.distillation_token, mean=0.0, std=std)


def patch_token_mask(attention_mask: Optional[torch.Tensor], config: SpectrogramViTConfig) -> Optional[torch.Tensor]:
    """Frame-level `(batch, frames)` mask -> `(batch, rows * cols)` mask of the patch tokens, row-major.

    A patch column is kept when all its frames hold audio, so padding never reaches the model (the first column is
    always kept: a clip shorter than one patch still has tokens).
    """
    if attention_mask is None:
        return None
    rows, columns = config.patch_grid
    width = config.patch_size[1]
    valid_frames = attention_mask[:, : columns * width].reshape(attention_mask.shape[0], columns, width).bool().all(-1)
    valid_frames[:, 0] = True  # (batch, columns)
    return valid_frames[:, None, :].expand(-1, rows, -1).reshape(attention_mask.shape[0], rows * columns)


class SpectrogramViTModel(SpectrogramViTPreTrainedModel):
    """Embeddings, transformer layers and a final layer norm; `pooler_output` is the pooled clip representation."""

    def __init__(self, config: SpectrogramViTConfig):
        super().__init__(config)
        if config.backbone != "vit":
            raise ValueError("SpectrogramViTModel is the from-scratch ViT (`backbone='vit'`); a timm backbone lives in "
                             "SpectrogramViTForAudioClassification")
        self.embeddings = SpectrogramViTEmbeddings(config)
        self.layers = nn.ModuleList(SpectrogramViTLayer(config) for _ in range(config.num_hidden_layers))
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_features: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        input_values: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        output_attentions: Optional[bool] = None,
        return_dict: Optional[bool] = None,
    ) -> BaseModelOutputWithPooling:
        config = self.config
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        if input_features is None:
            if input_values is None:
                raise ValueError("pass `input_features` (batch, mels, frames), or AST-layout `input_values` "
                                 "(batch, frames, mels)")
            input_features = input_values.transpose(-1, -2)  # AST's (batch, frames, mels) layout
        pixel_values = spectrogram_input(input_features, config)
        hidden_states = self.embeddings(pixel_values)  # (batch, special + patches, hidden)
        special = config.num_special_tokens
        tokens = patch_token_mask(attention_mask, config)
        key_mask = None
        if tokens is not None:
            keep = torch.cat([tokens.new_ones(tokens.shape[0], special), tokens], dim=1)  # (batch, length)
            # additive key mask (0 or the dtype's minimum), broadcast over heads and queries
            key_mask = (~keep[:, None, None, :].bool()).to(hidden_states.dtype) * torch.finfo(hidden_states.dtype).min
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, weights = layer(hidden_states, key_mask, output_attentions)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        hidden_states = self.layernorm(hidden_states)
        if config.pooling == "cls":
            pooled = hidden_states[:, :special].mean(1)  # AST: (cls + distillation) / 2
        else:
            patches = hidden_states[:, special:]
            weights = (tokens if tokens is not None else patches.new_ones(patches.shape[:2]))[..., None].to(patches.dtype)
            pooled = weighted_statistics_pooling(patches, weights, dim=1, std=config.pooling == "mean_std")
        return BaseModelOutputWithPooling(last_hidden_state=hidden_states, pooler_output=pooled,
                                          hidden_states=all_hidden, attentions=all_attentions)


def create_timm_model(config: SpectrogramViTConfig, pretrained: bool = False, **kwargs) -> nn.Module:
    """`timm.create_model` for `backbone="timm"`: the config's model, head and extra arguments, built for
    `timm_image_size` square inputs where the architecture has a fixed input size (ViTs take `img_size`;
    convolutional networks take any size and no such argument)."""
    kwargs = {"num_classes": config.num_labels, **config.timm_model_kwargs, **kwargs}
    try:
        return timm.create_model(config.timm_model_name, pretrained=pretrained,
                                 **{"img_size": config.timm_image_size, **kwargs})
    except TypeError as err:
        if "img_size" not in str(err) or "img_size" in config.timm_model_kwargs:
            raise
        return timm.create_model(config.timm_model_name, pretrained=pretrained, **kwargs)


def _stock_name(name: str) -> str:
    """Our parameter name -> `ASTForAudioClassification`'s."""
    if name.startswith("spectrogram_vit."):
        name = "audio_spectrogram_transformer." + name[len("spectrogram_vit."):]
        return name.replace(".embeddings.patch_embeddings.", ".embeddings.patch_embeddings.projection.")
    if name.startswith("head_layernorm."):
        return "classifier.layernorm." + name[len("head_layernorm."):]
    return "classifier.dense." + name[len("classifier."):]


class SpectrogramViTForAudioClassification(SpectrogramViTPreTrainedModel):
    """A ViT (`backbone="vit"`) or a timm image model (`backbone="timm"`) over the spectrogram, then a classifier."""

    def __init__(self, config: SpectrogramViTConfig):
        super().__init__(config)
        if config.backbone == "vit":
            self.spectrogram_vit = SpectrogramViTModel(config)
            self.head_layernorm = nn.LayerNorm(config.pooled_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.classifier_dropout)
            self.classifier = nn.Linear(config.pooled_size, config.num_labels)
        else:
            self.timm_model = create_timm_model(config)
            for path, module in self.timm_model.named_modules():  # `_init_weights` initialises them the timm way
                module._timm_path = path
        self.post_init()

    def _timm_reference_model(self) -> nn.Module:
        """A freshly created (timm-initialised) model of the backbone's architecture, made once per
        `initialize_weights`, whose tensors fill what a checkpoint lacks (a new head after `num_labels` changed)."""
        if "_timm_reference" not in self.__dict__:
            self.__dict__["_timm_reference"] = create_timm_model(self.config)
        return self.__dict__["_timm_reference"]

    @classmethod
    def from_pretrained_timm(cls, timm_model_name: str, pretrained_cfg_overlay: Optional[dict] = None, **config_kwargs):
        """A `backbone="timm"` model whose image model starts from timm's pretrained weights (its classifier is new).

        Args:
            timm_model_name (`str`): e.g. `"vit_base_patch16_224"`, created with `pretrained=True` (downloads).
            pretrained_cfg_overlay (`dict`, *optional*): passed to `timm.create_model`, e.g. `{"file":
                "vit.safetensors"}` to read the weights from a local file.
            config_kwargs: the other [`SpectrogramViTConfig`] arguments (labels, input size, loss...).
        """
        config = SpectrogramViTConfig(backbone="timm", timm_model_name=timm_model_name, **config_kwargs)
        model = cls(config)
        pretrained = create_timm_model(config, pretrained=True, pretrained_cfg_overlay=pretrained_cfg_overlay)
        state = pretrained.state_dict()
        head = {k for k in state if k.startswith(pretrained.default_cfg.get("classifier", "head"))}
        own = model.timm_model.state_dict()
        state = {k: (own[k] if k in head else v) for k, v in state.items()}  # keep our freshly initialised head
        model.timm_model.load_state_dict(state)
        return model

    def _timm_logits(self, input_features: torch.Tensor, output_hidden_states: bool = False):
        """`(logits, hidden_states)` of the timm model; hidden states are its blocks' outputs (timm's
        `forward_intermediates`, `(batch, channels, height, width)` maps), `None` unless asked for."""
        pixel_values = spectrogram_input(input_features, self.config)
        size = self.config.timm_image_size
        pixel_values = F.interpolate(pixel_values, size=(size, size), mode="bilinear", align_corners=False)
        channels = getattr(self.timm_model, "in_chans", None) or self.timm_model.default_cfg.get("input_size", (3,))[0]
        pixel_values = pixel_values.expand(-1, channels, -1, -1) if pixel_values.shape[1] == 1 else pixel_values
        pixel_values = pixel_values.contiguous()
        if not output_hidden_states:
            return self.timm_model(pixel_values), None
        if not hasattr(self.timm_model, "forward_intermediates"):
            raise ValueError(f"the timm model {self.config.timm_model_name!r} has no `forward_intermediates`, so it "
                             f"cannot return hidden states")
        features, intermediates = self.timm_model.forward_intermediates(pixel_values)
        return self.timm_model.forward_head(features), tuple(intermediates)

    @contextlib.contextmanager
    def _recording_timm_attentions(self, record: list):
        """Within it, the timm model's attention layers (those with timm's `fused_attn` switch) compute attention
        explicitly and append their weights `(batch, heads, tokens, tokens)` to `record`, layer by layer."""
        layers = [m for m in self.timm_model.modules()
                  if hasattr(m, "fused_attn") and isinstance(getattr(m, "attn_drop", None), nn.Module)]
        if not layers:
            raise ValueError(f"the timm model {self.config.timm_model_name!r} has no attention layers whose weights "
                             f"can be read (`output_attentions`)")
        fused = [m.fused_attn for m in layers]
        hooks = [m.attn_drop.register_forward_hook(lambda module, args, output: record.append(output)) for m in layers]
        try:
            for m in layers:
                m.fused_attn = False
            yield
        finally:
            for m, value in zip(layers, fused):
                m.fused_attn = value
            for hook in hooks:
                hook.remove()

    @can_return_tuple
    @add_start_docstrings(LABELS_DOCSTRING)
    def forward(
        self,
        input_features: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        input_values: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        output_attentions: Optional[bool] = None,
        return_dict: Optional[bool] = None,
    ) -> SequenceClassifierOutput:
        r"""
        output_attentions (`bool`, *optional*): attention weights of every layer (computed eagerly; for the timm
            backbone, those of its attention layers, read in eager mode).
        """
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        attentions = None
        if self.config.backbone == "timm":
            if input_features is None and input_values is not None:
                input_features = input_values.transpose(-1, -2)
            if input_features is None:
                raise ValueError("pass `input_features` (batch, mels, frames)")
            # the timm model sees the whole image: no padding mask
            if output_attentions:
                recorded = []
                with self._recording_timm_attentions(recorded):
                    logits, hidden_states = self._timm_logits(input_features, output_hidden_states)
                attentions = tuple(recorded)
            else:
                logits, hidden_states = self._timm_logits(input_features, output_hidden_states)
        else:
            outputs = self.spectrogram_vit(input_features, attention_mask=attention_mask, input_values=input_values,
                                           output_hidden_states=output_hidden_states,
                                           output_attentions=output_attentions, return_dict=True)
            logits = self.classifier(self.dropout(self.head_layernorm(outputs.pooler_output)))
            hidden_states, attentions = outputs.hidden_states, outputs.attentions
        loss = classification_loss(self.config, logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states, attentions=attentions)

    # -- stock export --------------------------------------------------------------------------------------------
    def to_stock_model(self):
        """The same network as a stock `ASTForAudioClassification` (same logits on AST-layout `input_values`, i.e.
        our `input_features` transposed to `(batch, frames, mels)`), loadable without `trust_remote_code`."""
        from transformers import ASTConfig, ASTForAudioClassification

        config = self.config
        reasons = config.stock_exportable
        if reasons:
            raise ValueError("this SpectrogramViT cannot be written as ASTForAudioClassification: " + "; ".join(reasons))
        stock_config = ASTConfig(
            hidden_size=config.hidden_size, num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads, intermediate_size=config.intermediate_size,
            hidden_act=config.hidden_act, hidden_dropout_prob=config.hidden_dropout_prob,
            attention_probs_dropout_prob=config.attention_probs_dropout_prob, initializer_range=config.initializer_range,
            layer_norm_eps=config.layer_norm_eps, patch_size=config.patch_size[0], qkv_bias=config.qkv_bias,
            frequency_stride=config.patch_size[0], time_stride=config.patch_size[1],
            max_length=config.max_frames, num_mel_bins=config.num_mel_bins,
            id2label=dict(config.id2label), label2id=dict(config.label2id),
        )
        stock = ASTForAudioClassification(stock_config)
        # Same module layout as AST (transformers 5 names); only prefixes and the head's names differ.
        state = {_stock_name(name): tensor for name, tensor in self.state_dict().items()}
        expected = set(stock.state_dict())
        if set(state) != expected:
            raise RuntimeError(f"weights do not map onto AST's: ours only {sorted(set(state) - expected)}, AST only "
                               f"{sorted(expected - set(state))}")
        stock.load_state_dict(state)
        return stock.eval() if not self.training else stock

    def save_stock_pretrained(self, save_directory: str, **kwargs):
        """Write `to_stock_model()` to `save_directory`: a plain AST checkpoint with no custom code."""
        stock = self.to_stock_model()
        stock.save_pretrained(save_directory, **kwargs)
        return stock


__all__ = ["SpectrogramViTForAudioClassification", "SpectrogramViTModel", "SpectrogramViTPreTrainedModel"]
