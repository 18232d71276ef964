"""Wav2Vec2Emotion: speech emotion recognition from a wav2vec2 backbone, pooled over the unpadded frames.

wav2vec2 frame states (the last layer, or a softmax-weighted sum of all layers), an optional per-frame linear
projector, a mean / max / mean+max / attentive-statistics pooling over the frames that hold audio, dropout and a linear
classifier. Parameter names are those of `Wav2Vec2ForSequenceClassification` (`wav2vec2.*`, `projector`,
`classifier`), so a mean-pooled model exports to that stock class, which the Hub's hosted widget can run.
"""

import copy
from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel, Wav2Vec2Config, Wav2Vec2ForSequenceClassification, Wav2Vec2Model
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import logging

from .configuration_wav2vec2_emotion import SAMPLING_RATE, Wav2Vec2EmotionConfig
from .initialization_utils import FreezeAfterLoadingMixin
from .losses import classification_loss
from .pipeline_audio_classification import EmotionAudioClassificationPipeline  # noqa: F401  (copied with the code)
from .pooling_utils import weighted_statistics_pooling


logger = logging.get_logger(__name__)


class Wav2Vec2EmotionWeightedLayerSum(nn.Module):
    """Softmax-weighted sum of the hidden states of every layer (input embeddings included), as in the stock head.

    A module rather than a bare parameter so that peft can train it through `modules_to_save=["layer_sum", ...]`.
    """

    def __init__(self, num_layers: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_layers) / num_layers)

    def forward(self, hidden_states: tuple) -> torch.Tensor:
        stacked = torch.stack(hidden_states, dim=1)  # (batch, layers, frames, hidden)
        weights = nn.functional.softmax(self.weight, dim=-1)
        return (stacked * weights.view(-1, 1, 1)).sum(dim=1)


class Wav2Vec2EmotionPooling(nn.Module):
    """Pooling of frame vectors `(batch, frames, dim)` over the frames where `frame_mask` `(batch, frames)` is set.

    Padding never enters: a mask-aware mean, `-inf` before the max, `-inf` attention scores before the softmax of the
    attentive statistics (Okabe et al., 2018, with ECAPA-TDNN's channel-wise attention). `frame_mask=None`: every frame
    counts.
    """

    def __init__(self, pooling: str, dim: int, attention_hidden_size: int):
        super().__init__()
        self.pooling = pooling
        if pooling == "attentive_stats":
            self.attention = nn.Sequential(nn.Linear(dim, attention_hidden_size), nn.Tanh(),
                                           nn.Linear(attention_hidden_size, dim))

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.pooling == "attentive_stats":
            return self._attentive_stats(hidden, frame_mask)
        pooled = []
        if self.pooling in ("mean", "mean_max"):
            if frame_mask is None:
                pooled.append(hidden.mean(dim=1))
            else:  # the stock head's masked mean, operation for operation
                hidden_zeroed = hidden.masked_fill(~frame_mask[..., None], 0.0)
                pooled.append(hidden_zeroed.sum(dim=1) / frame_mask.sum(dim=1).view(-1, 1))
        if self.pooling in ("max", "mean_max"):
            masked = hidden if frame_mask is None else hidden.masked_fill(~frame_mask[..., None], float("-inf"))
            pooled.append(masked.amax(dim=1))
        return torch.cat(pooled, dim=-1)

    def _attentive_stats(self, hidden, frame_mask):
        scores = self.attention(hidden)  # (batch, frames, dim): one attention distribution over frames per channel
        if frame_mask is not None:
            scores = scores.masked_fill(~frame_mask[..., None], float("-inf"))
        weights = scores.float().softmax(dim=1).to(hidden.dtype)
        return weighted_statistics_pooling(hidden, weights, dim=1)


class Wav2Vec2EmotionPreTrainedModel(FreezeAfterLoadingMixin, PreTrainedModel):
    config_class = Wav2Vec2EmotionConfig
    config: Wav2Vec2EmotionConfig
    base_model_prefix = "wav2vec2"
    main_input_name = "input_values"
    input_modalities = "audio"
    supports_gradient_checkpointing = True
    # Attention happens only inside the nested Wav2Vec2Model, which supports these.
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True

    @torch.no_grad()
    def _init_weights(self, module):
        # The nested Wav2Vec2Model is a PreTrainedModel: transformers runs its own `_init_weights` on its modules.
        std = self.config.wav2vec2_config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, Wav2Vec2EmotionWeightedLayerSum):
            init.constant_(module.weight, 1.0 / module.weight.numel())


class Wav2Vec2EmotionForAudioClassification(Wav2Vec2EmotionPreTrainedModel):
    """A [`Wav2Vec2Model`] with an emotion classification head: optional weighted layer sum, per-frame projector,
    pooling over the unpadded frames (see [`Wav2Vec2EmotionConfig`]), dropout and a linear classifier.

    The backbone is built from `config.wav2vec2_config` with random weights; pretrained weights come in through
    [`~Wav2Vec2EmotionForAudioClassification.from_pretrained_backbone`], our own checkpoints through `from_pretrained`.

    Head modules (what a LoRA fine-tuning must list in peft's `modules_to_save`): `layer_sum` (with
    `use_weighted_layer_sum`), `projector` (with a `projector_size`), `pooler` (with `"attentive_stats"`) and
    `classifier`; [`head_module_names`] lists those this model has. The attention projections of the backbone are
    `q_proj`, `k_proj`, `v_proj`, `out_proj` (LoRA `target_modules`).
    """

    def __init__(self, config: Wav2Vec2EmotionConfig):
        super().__init__(config)
        backbone_config = config.wav2vec2_config
        self.wav2vec2 = Wav2Vec2Model(backbone_config)
        num_layers = backbone_config.num_hidden_layers + 1  # transformer layers + input embeddings
        self.layer_sum = Wav2Vec2EmotionWeightedLayerSum(num_layers) if config.use_weighted_layer_sum else None
        self.projector = nn.Linear(backbone_config.hidden_size, config.projector_size) if config.projector_size else None
        self.pooler = Wav2Vec2EmotionPooling(config.pooling, config.frame_size, config.attention_hidden_size)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.pooled_size, config.num_labels)
        self.post_init()
        self._freeze()

    def _freeze(self):
        if self.config.freeze_backbone:
            self.wav2vec2.requires_grad_(False)
            self.wav2vec2.freeze_feature_encoder()  # also stops it marking its input as requiring a gradient
        elif self.config.freeze_feature_encoder:
            self.wav2vec2.freeze_feature_encoder()

    def freeze_feature_encoder(self):
        """Stop the gradient of the convolutional feature encoder (as the stock classes' method of that name)."""
        self.wav2vec2.freeze_feature_encoder()

    def head_module_names(self) -> list[str]:
        """Names of this model's head modules with weights, e.g. `["projector", "classifier"]`: peft's
        `modules_to_save` for a LoRA fine-tuning (LoRA itself trains only the adapter otherwise)."""
        names = ("layer_sum", "projector", "pooler", "classifier")
        return [n for n in names if getattr(self, n) is not None and any(True for _ in getattr(self, n).parameters())]

    def _check_inputs(self, input_values, attention_mask):
        if not isinstance(input_values, torch.Tensor) or input_values.dim() != 2:
            shape = tuple(input_values.shape) if isinstance(input_values, torch.Tensor) else type(input_values).__name__
            raise ValueError(f"`input_values` must be a float tensor of shape (batch, samples), got {shape}; for one clip "
                             f"pass `input_values[None]`, and mix stereo down to one channel")
        if not input_values.is_floating_point():
            raise ValueError(f"`input_values` must be a float tensor (the waveform), got dtype {input_values.dtype}")
        if not bool(torch.isfinite(input_values).all()):
            raise ValueError("`input_values` contains NaN or infinite samples; the waveform must be finite")
        if attention_mask is not None and attention_mask.shape != input_values.shape:
            raise ValueError(f"`attention_mask` must have the shape of `input_values` {tuple(input_values.shape)}, got "
                             f"{tuple(attention_mask.shape)}")
        lengths = attention_mask.sum(-1) if attention_mask is not None else torch.tensor([input_values.shape[1]])
        minimum = self.config.receptive_field
        if bool((lengths < minimum).any()):
            shortest = int(lengths.min())
            raise ValueError(f"a clip of {shortest} samples is shorter than wav2vec2's convolutional receptive field: "
                             f"at least {minimum} samples ({minimum / SAMPLING_RATE:.4g} s at {SAMPLING_RATE // 1000} kHz) "
                             f"are needed for one frame; drop such clips or zero-pad them to that length")

    def forward(
        self,
        input_values: Optional[torch.FloatTensor],
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.LongTensor] = None,
        output_hidden_states: Optional[bool] = None,
        output_attentions: Optional[bool] = None,
        return_dict: Optional[bool] = None,
    ) -> SequenceClassifierOutput:
        r"""
        input_values (`torch.FloatTensor` of shape `(batch_size, samples)`): 16 kHz waveforms, as made by a
            `Wav2Vec2FeatureExtractor` (zero-padded on the right).
        attention_mask (`torch.Tensor` of shape `(batch_size, samples)`, *optional*): 1 for samples, 0 for padding.
            Given, it masks the backbone's attention and the pooling, exactly as in the stock class. The stock feature
            extractor returns none for `feat_extract_norm="group"` checkpoints (wav2vec2-base): then every frame is
            pooled, padding included, and such models should see unpadded input (see [`Wav2Vec2EmotionConfig`]).
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*): label ids; the loss is `config.loss_type`.
        output_hidden_states, output_attentions (`bool`, *optional*): return the backbone's hidden states / attention
            weights (attention weights need `attn_implementation="eager"`; sdpa computes none).
        """
        self._check_inputs(input_values, attention_mask)
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        return_dict = self.config.return_dict if return_dict is None else return_dict

        outputs = self.wav2vec2(input_values, attention_mask=attention_mask, output_attentions=output_attentions,
                                output_hidden_states=output_hidden_states or self.layer_sum is not None)
        hidden = self.layer_sum(outputs.hidden_states) if self.layer_sum is not None else outputs.last_hidden_state
        if self.projector is not None:
            hidden = self.projector(hidden)  # (batch, frames, projector_size): per frame, as the stock head does
        frame_mask = None
        if attention_mask is not None:
            frame_mask = self._get_feature_vector_attention_mask(hidden.shape[1], attention_mask)  # (batch, frames)
        logits = self.classifier(self.dropout(self.pooler(hidden, frame_mask)))

        loss = classification_loss(self.config, logits, labels) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits,
                                          hidden_states=outputs.hidden_states if output_hidden_states else None,
                                          attentions=outputs.attentions if output_attentions else None)
        return output if return_dict else output.to_tuple()

    def _get_feature_vector_attention_mask(self, feature_vector_length: int, attention_mask: torch.Tensor):
        return self.wav2vec2._get_feature_vector_attention_mask(feature_vector_length, attention_mask, add_adapter=False)

    @classmethod
    def from_pretrained_backbone(cls, backbone: str, backbone_config_overrides: Optional[dict] = None,
                                 **config_kwargs) -> "Wav2Vec2EmotionForAudioClassification":
        """A new model whose wav2vec2 starts from a pretrained checkpoint; the head is random.

        Args:
            backbone (`str`): a wav2vec2 checkpoint, Hub id or folder (`"facebook/wav2vec2-base"`,
                `"facebook/wav2vec2-large-lv60"`, a `Wav2Vec2Model.save_pretrained` folder...). Its config becomes
                `wav2vec2_config` and its weights the backbone's.
            backbone_config_overrides (`dict`, *optional*): fine-tuning settings of the backbone config that do not
                change its weights, e.g. `{"mask_time_prob": 0.05, "layerdrop": 0.05, "hidden_dropout": 0.1}`.
            config_kwargs: the other [`Wav2Vec2EmotionConfig`] arguments (labels, pooling, projector, loss...).
        """
        if "wav2vec2_config" in config_kwargs:
            raise ValueError("`wav2vec2_config` comes from the `backbone` checkpoint; change its fine-tuning settings "
                             "with `backbone_config_overrides`")
        backbone_config = Wav2Vec2Config.from_pretrained(backbone, **(backbone_config_overrides or {}))
        model = cls(Wav2Vec2EmotionConfig(wav2vec2_config=backbone_config, **config_kwargs))
        pretrained = Wav2Vec2Model.from_pretrained(backbone, config=backbone_config)
        model.wav2vec2.load_state_dict(pretrained.state_dict())
        return model

    # -----------------------------------------------------------------------------------------------------------------
    # Export as the stock Wav2Vec2ForSequenceClassification
    # -----------------------------------------------------------------------------------------------------------------
    def stock_export_blockers(self) -> list[str]:
        """Why this model cannot be exported as a `Wav2Vec2ForSequenceClassification` (empty list: it can)."""
        blockers = []
        if self.config.pooling != "mean":
            blockers.append(f"pooling={self.config.pooling!r} (the stock class mean-pools; only pooling='mean' exports)")
        return blockers

    def to_stock_model(self) -> Wav2Vec2ForSequenceClassification:
        """The same network as a stock [`Wav2Vec2ForSequenceClassification`], with the same weights.

        Needs `pooling="mean"`. `use_weighted_layer_sum`, the projector width (`classifier_proj_size`) and the labels
        carry over; classifier dropout is dropped (identity at inference). The stock class always has a projector: a
        model without one gets an identity projector (`classifier_proj_size = hidden_size`, weight I, bias 0), which
        gives the same logits. The stock class trains with plain cross-entropy; `loss_type` does not carry over.
        """
        blockers = self.stock_export_blockers()
        if blockers:
            raise ValueError("this model cannot be exported as a Wav2Vec2ForSequenceClassification: " + "; ".join(blockers))
        config = self.config
        stock_config = copy.deepcopy(config.wav2vec2_config)
        stock_config.__dict__.pop("auto_map", None)  # the nested config of a remote-code checkpoint may carry one
        stock_config.architectures = None  # save_pretrained writes ["Wav2Vec2ForSequenceClassification"]
        stock_config.use_weighted_layer_sum = config.use_weighted_layer_sum
        stock_config.classifier_proj_size = config.frame_size
        stock_config.id2label = dict(config.id2label)
        stock_config.label2id = dict(config.label2id)
        stock_config.problem_type = config.problem_type
        stock_config._name_or_path = ""

        state = {k: v for k, v in self.wav2vec2.state_dict(prefix="wav2vec2.").items()}
        if self.layer_sum is not None:
            state["layer_weights"] = self.layer_sum.weight.detach()
        if self.projector is not None:
            state["projector.weight"], state["projector.bias"] = self.projector.weight.detach(), self.projector.bias.detach()
        else:
            hidden_size = stock_config.hidden_size
            state["projector.weight"] = torch.eye(hidden_size, dtype=self.classifier.weight.dtype)
            state["projector.bias"] = torch.zeros(hidden_size, dtype=self.classifier.weight.dtype)
        state["classifier.weight"], state["classifier.bias"] = self.classifier.weight.detach(), self.classifier.bias.detach()

        stock = Wav2Vec2ForSequenceClassification(stock_config)
        stock.load_state_dict(state, strict=True)
        return stock.to(device=self.device, dtype=self.dtype).train(self.training)

    def save_stock_pretrained(self, save_directory, feature_extractor=None, **save_kwargs) -> Wav2Vec2ForSequenceClassification:
        """Write [`to_stock_model`] to `save_directory` (plain `model_type: "wav2vec2"` config, no `auto_map`, no code:
        it loads without `trust_remote_code` and runs in the Hub's hosted audio-classification widget).

        Args:
            feature_extractor (*optional*): a stock transformers feature extractor (a `Wav2Vec2FeatureExtractor`) to save
                beside it, so that `pipeline("audio-classification", model=save_directory)` finds it.
            save_kwargs: passed to `save_pretrained` (`push_to_hub`, `safe_serialization`...).
        """
        if feature_extractor is not None and not type(feature_extractor).__module__.startswith("transformers."):
            raise ValueError(f"{type(feature_extractor).__name__} is not a stock transformers feature extractor: the "
                             f"stock export must load without custom code; save a Wav2Vec2FeatureExtractor")
        stock = self.to_stock_model()
        stock.save_pretrained(save_directory, **save_kwargs)
        if feature_extractor is not None:
            feature_extractor.save_pretrained(save_directory)
        return stock


__all__ = [
    "Wav2Vec2EmotionForAudioClassification",
    "Wav2Vec2EmotionPooling",
    "Wav2Vec2EmotionPreTrainedModel",
    "Wav2Vec2EmotionWeightedLayerSum",
]
