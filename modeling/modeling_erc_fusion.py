"""ERCFusion: emotion recognition in conversation from the text, voice and face of an utterance in its dialogue.

One branch per modality, each taking any encoder of its kind: any transformers text model over the dialogue prompt
(or a mean word embedding), any speech encoder (wav2vec2, HuBERT, WavLM, data2vec-audio, Whisper; or a waveform MLP),
any timm image model over video frames. A projection of each to a common width, a fusion by concatenation or
multi-head attention over the modality vectors, feed-forward layers, optional L2 normalisation and a linear classifier.
"""

import inspect
from dataclasses import dataclass
from typing import Optional

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, add_start_docstrings, logging

from .configuration_erc_fusion import ERCFusionConfig
from .initialization_utils import (FreezeAfterLoadingMixin, NestedModelInitMixin, init_from_reference_,
                                   lacks_own_tensors)
from .losses import LABELS_DOCSTRING, classification_loss, triplet_loss
from .pipeline_erc import EmotionRecognitionInConversationPipeline  # noqa: F401  (copied with the model code)
from .speech_encoders import (build_speech_encoder, is_whisper, load_pretrained_speech_encoder, minimum_input_length,
                              speech_encoder_frame_mask, speech_encoder_hidden_size)
from .tracing_utils import is_tracing


logger = logging.get_logger(__name__)

# Weights of folders saved before the branches took any encoder of their kind (GPT2 and wav2vec2 only).
LEGACY_KEY_MAPPING = {r"encoders\.text\.gpt2\.": "encoders.text.encoder.",
                      r"encoders\.audio\.wav2vec2\.": "encoders.audio.encoder."}


@dataclass
class ERCFusionModelOutput(ModelOutput):
    """
    Args:
        fused_representation (`torch.FloatTensor` of shape `(batch_size, hidden_size)`): the utterance representation
            after fusion, feed-forward layers and optional L2 normalisation (what the classifier and the triplet loss
            read).
        fusion_attentions (`torch.FloatTensor` of shape `(batch_size, num_heads, num_modalities, num_modalities)`):
            attention weights of the `"mha"` fusion (rows: querying modality, columns: attended modality, in
            `config.modalities` order); `None` for the `"concat"` fusion.
        modality_embeddings (`torch.FloatTensor` of shape `(batch_size, num_modalities, fusion_out_features)`): the
            projected vector of each modality before fusion.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned with `output_hidden_states`): the fused vector
            after the fusion and after each feed-forward layer, each `(batch_size, width)`.
        text_hidden_states, audio_hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned with
            `output_hidden_states`): the hidden states of the text and speech encoders (embeddings + one per layer), as
            those models return them; `None` for a branch without layers (mean embedding, waveform MLP).
        vision_hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned with `output_hidden_states`): one
            tensor `(batch_size, frames, num_features)`: the timm model's pooled features of every frame (zeros for
            padded frame slots).
        text_attentions, audio_attentions (`tuple(torch.FloatTensor)`, *optional*, returned with `output_attentions`):
            the attention weights of the text and speech encoders' layers (load with `attn_implementation="eager"`).
    """

    fused_representation: torch.FloatTensor = None
    fusion_attentions: Optional[torch.FloatTensor] = None
    modality_embeddings: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    text_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    audio_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    vision_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    text_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    audio_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class ERCFusionOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is given): the loss of
            `config.problem_type` (for single-label classification `config.loss_type`, plus the weighted triplet loss
            when `config.triplet_weight > 0`).
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`): scores before softmax (sigmoid for
            multi-label classification; the predicted values for regression).
        the other fields: see [`ERCFusionModelOutput`].
    """

    loss: Optional[torch.FloatTensor] = None
    logits: torch.FloatTensor = None
    fused_representation: torch.FloatTensor = None
    fusion_attentions: Optional[torch.FloatTensor] = None
    modality_embeddings: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    text_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    audio_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    vision_hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    text_attentions: Optional[tuple[torch.FloatTensor, ...]] = None
    audio_attentions: Optional[tuple[torch.FloatTensor, ...]] = None


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` `(batch, time, dim)` over the positions where `mask` `(batch, time)` is set; zeros if none."""
    mask = mask.to(values.dtype)[..., None]
    return (values * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def masked_max(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max of `values` over the masked positions; zeros for a row without any."""
    pooled = values.masked_fill(~mask.bool()[..., None], float("-inf")).amax(1)
    return pooled.masked_fill(torch.isinf(pooled), 0.0)


def gather_positions(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """`values[b, positions[b]]` for every row b: `(batch, time, dim)`, `(batch,)` -> `(batch, dim)`."""
    return values.gather(1, positions[:, None, None].expand(-1, 1, values.shape[-1])).squeeze(1)


# ---------------------------------------------------------------------------------------------------------------------
# Text branches
# ---------------------------------------------------------------------------------------------------------------------
class ERCTransformerTextEncoder(nn.Module):
    """Any transformers text model (`AutoModel.from_config`) over the dialogue prompt, pooled to one vector: at the
    last real token (causal decoders such as GPT2: the processor ends the prompt with the end token), at the first
    (`[CLS]` of BERT-style encoders), by the mean over the real tokens, or by the mean over the target turn's
    utterance tokens (`target`: contextualised by attention to the turns before it).

    Position ids count only attended tokens (from the model's first position id), and the pooling finds the real
    tokens from the attention mask, so left padding, right padding and no padding give the same vector.
    """

    def __init__(self, config: ERCFusionConfig):
        super().__init__()
        self.encoder = AutoModel.from_config(config.text_config)
        self.pooling = config.text_pooling
        self.position_offset = config.text_position_offset
        self.max_positions = config.max_text_positions
        self.takes_position_ids = "position_ids" in inspect.signature(self.encoder.forward).parameters
        self.out_features = config.text_config.hidden_size

    def forward(self, input_ids, attention_mask, output_hidden_states=False, output_attentions=False,
                target_mask=None, **unused):
        if self.max_positions is not None and input_ids.shape[1] > self.max_positions:
            # Keep the end: the target utterance is the last turn of the prompt.
            logger.warning_once(f"prompt of {input_ids.shape[1]} tokens cut to its last {self.max_positions} (the text "
                                f"model's positions); build prompts with the processor's `max_prompt_tokens`")
            input_ids, attention_mask = input_ids[:, -self.max_positions:], attention_mask[:, -self.max_positions:]
            target_mask = None if target_mask is None else target_mask[:, -self.max_positions:]
        mask = attention_mask.long()
        kwargs = {}
        if self.takes_position_ids:
            kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp_min(0) + self.position_offset
        outputs = self.encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True,
                               output_hidden_states=output_hidden_states, output_attentions=output_attentions, **kwargs)
        hidden = outputs.last_hidden_state  # (batch, tokens, hidden)
        if self.pooling == "last":  # the last attended position, whichever side the padding is on
            pooled = gather_positions(hidden, mask.shape[1] - 1 - mask.flip(-1).argmax(-1))
        elif self.pooling == "cls":  # the first attended position
            pooled = gather_positions(hidden, mask.argmax(-1))
        elif self.pooling == "target" and target_mask is not None:
            # The target turn's utterance tokens, which have attended to the context; a row whose target has no
            # utterance token falls back to the mean over the whole prompt.
            target = target_mask.long() * mask
            target = torch.where(target.sum(-1, keepdim=True) > 0, target, mask)
            pooled = masked_mean(hidden, target)
        else:  # "mean", and "target" without a target mask (then the whole prompt is the target)
            pooled = masked_mean(hidden, mask)
        return pooled, outputs.hidden_states, outputs.attentions


class ERCMeanEmbeddingTextEncoder(nn.Module):
    """Mean word embedding of the target utterance's tokens (+ that of the context utterances' tokens)."""

    def __init__(self, vocab_size: int, embedding_dim: int, with_context: bool):
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.with_context = with_context
        self.out_features = embedding_dim * (2 if with_context else 1)

    def forward(self, input_ids, attention_mask, target_mask=None, context_mask=None, **unused):
        embedded = self.embeddings(input_ids)  # (batch, tokens, dim)
        target_mask = attention_mask if target_mask is None else target_mask * attention_mask
        pooled = masked_mean(embedded, target_mask)
        if self.with_context:
            context_mask = torch.zeros_like(attention_mask) if context_mask is None else context_mask * attention_mask
            pooled = torch.cat([pooled, masked_mean(embedded, context_mask)], dim=-1)
        return pooled, None, None


# ---------------------------------------------------------------------------------------------------------------------
# Audio branches
# ---------------------------------------------------------------------------------------------------------------------
def pad_to_receptive_field(input_values, attention_mask, receptive_field):
    """Zero-pad audio shorter than the encoder's receptive field; the padding counts as (silent) audio. Tensor
    arithmetic only (the processor pads and warns before; this covers inputs made without it), so it traces."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_values, dtype=torch.long)
    if input_values.shape[1] < receptive_field:
        extra = receptive_field - input_values.shape[1]
        input_values = F.pad(input_values, (0, extra))
        attention_mask = F.pad(attention_mask, (0, extra))
    lengths = attention_mask.long().sum(-1)
    short = (lengths < receptive_field)[:, None]
    positions = torch.arange(input_values.shape[1], device=input_values.device)[None, :]
    # Padding of a short row is zeros (as the feature extractor pads): mark it as audio up to the receptive field.
    input_values = torch.where(short & (positions >= lengths[:, None]), 0.0, input_values)
    attention_mask = torch.where(short & (positions < receptive_field), 1, attention_mask)
    return input_values, attention_mask


class ERCSpeechAudioEncoder(nn.Module):
    """A speech encoder (wav2vec2, HuBERT, WavLM, data2vec-audio: `input_values`; Whisper: `input_features`) whose
    frame states are pooled over the frames that hold audio (mean, or mean and max concatenated)."""

    def __init__(self, config: ERCFusionConfig):
        super().__init__()
        self.encoder = build_speech_encoder(config.audio_config)
        self.whisper = is_whisper(config.audio_config)
        self.receptive_field = minimum_input_length(config.audio_config)
        self.pooling = config.audio_pooling
        self.out_features = speech_encoder_hidden_size(config.audio_config) * (2 if self.pooling == "mean_max" else 1)

    def forward(self, audio, attention_mask=None, output_hidden_states=False, output_attentions=False):
        kwargs = dict(output_hidden_states=output_hidden_states, output_attentions=output_attentions, return_dict=True)
        if self.whisper:  # (batch, mel_bins, mel_frames), padded to the encoder's window by the feature extractor
            outputs = self.encoder(audio, **kwargs)
        else:  # (batch, samples)
            audio, attention_mask = pad_to_receptive_field(audio, attention_mask, self.receptive_field)
            outputs = self.encoder(audio, attention_mask=attention_mask, **kwargs)
        hidden = outputs.last_hidden_state  # (batch, frames, hidden)
        frame_mask = speech_encoder_frame_mask(self.encoder.config, attention_mask, hidden.shape[1])
        if frame_mask is None:
            frame_mask = hidden.new_ones(hidden.shape[:2], dtype=torch.bool)
        pooled = masked_mean(hidden, frame_mask)
        if self.pooling == "mean_max":
            pooled = torch.cat([pooled, masked_max(hidden, frame_mask)], dim=-1)
        return pooled, outputs.hidden_states, outputs.attentions

    def freeze_feature_encoder(self):
        """Keep a waveform encoder's convolutional feature encoder fixed (Whisper has none of its kind)."""
        if not self.whisper:
            self.encoder.feature_extractor._freeze_parameters()


class ERCWaveformMLPAudioEncoder(nn.Module):
    """A 3-layer MLP applied to every non-overlapping `frame_length`-sample frame of the raw waveform, its outputs
    pooled with mean and max over the frames that hold audio (the raw-waveform baseline, for any audio length)."""

    def __init__(self, frame_length: int, hidden_sizes: list[int], dropout: float):
        super().__init__()
        sizes = [frame_length, *hidden_sizes]
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()] + ([nn.Dropout(dropout)] if i < len(hidden_sizes) - 1 else [])
        self.mlp = nn.Sequential(*layers)
        self.frame_length = frame_length
        self.out_features = 2 * hidden_sizes[-1]

    def forward(self, input_values, attention_mask=None, **unused):
        input_values, attention_mask = pad_to_receptive_field(input_values, attention_mask, self.frame_length)
        batch, samples = input_values.shape
        num_frames = -(-samples // self.frame_length)
        input_values = F.pad(input_values, (0, num_frames * self.frame_length - samples))
        frames = input_values.view(batch, num_frames, self.frame_length)  # (batch, frames, frame_length)
        # A frame counts if it starts inside the audio; its tail past the end is zero padding in every batch.
        lengths = -(-attention_mask.sum(-1) // self.frame_length)
        frame_mask = torch.arange(num_frames, device=frames.device)[None, :] < lengths[:, None]
        hidden = self.mlp(frames)
        return torch.cat([masked_mean(hidden, frame_mask), masked_max(hidden, frame_mask)], dim=-1), None, None


# ---------------------------------------------------------------------------------------------------------------------
# Vision branch
# ---------------------------------------------------------------------------------------------------------------------
class ERCFrameEncoder(nn.Module):
    """A timm model (global-pooled features, no classifier) applied to each frame, pooled over the valid frames."""

    def __init__(self, config: ERCFusionConfig):
        super().__init__()
        vision_config = config.vision_config
        self.backbone = timm.create_model(vision_config.model_name, pretrained=False, num_classes=0,
                                          **vision_config.model_kwargs)
        for path, module in self.backbone.named_modules():  # `_init_weights` initialises them the timm way
            module._timm_path = path
        self.pooling, self.frozen = config.frame_pooling, config.freeze_vision_encoder
        self.out_features = self.backbone.num_features * (2 if self.pooling == "mean_max" else 1)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # a frozen backbone keeps its batch-norm statistics
        return self

    def forward(self, pixel_values, frame_mask=None, **unused):
        if pixel_values.dim() == 4:  # one frame per example: (batch, channels, height, width)
            pixel_values = pixel_values[:, None]
        if pixel_values.dim() != 5:
            raise ValueError(f"`pixel_values` must have shape (batch, frames, channels, height, width), got "
                             f"{tuple(pixel_values.shape)}")
        batch, num_frames = pixel_values.shape[:2]
        if frame_mask is None:
            frame_mask = torch.ones(batch, num_frames, dtype=torch.bool, device=pixel_values.device)
        frame_mask = frame_mask.bool()
        # Only real frames go through the backbone (padded slots would enter the batch-norm statistics in training);
        # padded frame slots stay zero and are masked in the pooling.
        frames = pixel_values[frame_mask]  # (valid frames, channels, height, width)
        torch._check(frames.shape[0] > 0)  # (the processor refuses a clip without frames) lets torch.export trace it
        features = self.backbone(frames)  # (valid frames, num_features)
        per_frame = features.new_zeros(batch, num_frames, features.shape[-1])
        per_frame[frame_mask] = features
        pooled = masked_mean(per_frame, frame_mask)
        if self.pooling == "mean_max":
            pooled = torch.cat([pooled, masked_max(per_frame, frame_mask)], dim=-1)
        return pooled, (per_frame,), None


# ---------------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------------
class ERCFusionPreTrainedModel(NestedModelInitMixin, FreezeAfterLoadingMixin, PreTrainedModel):
    config_class = ERCFusionConfig
    config: ERCFusionConfig
    base_model_prefix = "erc_fusion"
    main_input_name = "input_ids"
    input_modalities = ("text", "audio", "image")
    # Only the nested text and speech models attend; they take any implementation they support.
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True

    @classmethod
    def from_pretrained(cls, *args, key_mapping: Optional[dict] = None, **kwargs):
        # Folders saved before the branches took any encoder name the nested models `gpt2` / `wav2vec2`.
        return super().from_pretrained(*args, key_mapping={**LEGACY_KEY_MAPPING, **(key_mapping or {})}, **kwargs)

    def initialize_weights(self):
        try:
            super().initialize_weights()
        finally:
            self.__dict__.pop("_timm_reference", None)  # the freshly created timm model `_init_weights` copied from

    def _timm_reference_model(self) -> nn.Module:
        """A freshly created (timm-initialised) model of the vision backbone's architecture, made once per
        `initialize_weights`, whose tensors fill what a checkpoint lacks (BatchNorm statistics included)."""
        if "_timm_reference" not in self.__dict__:
            vision_config = self.config.vision_config
            self.__dict__["_timm_reference"] = timm.create_model(vision_config.model_name, pretrained=False,
                                                                 num_classes=0, **vision_config.model_kwargs)
        return self.__dict__["_timm_reference"]

    @torch.no_grad()
    def _init_weights(self, module):
        # The nested text and speech models (PreTrainedModels) initialise their own modules.
        timm_path = getattr(module, "_timm_path", None)
        if timm_path is not None:
            # A module of the timm backbone: timm's own initialisation for whatever a checkpoint did not set, copied
            # from a freshly created timm model (made here, not taken from `__init__`, so that a new model and a
            # loaded one draw it alike); `init.copy_` leaves loaded tensors be.
            if lacks_own_tensors(module):
                init_from_reference_(module, self._timm_reference_model().get_submodule(timm_path))
            return
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.MultiheadAttention):
            init.xavier_uniform_(module.in_proj_weight)
            init.zeros_(module.in_proj_bias)
            init.zeros_(module.out_proj.bias)


class ERCFusionModel(ERCFusionPreTrainedModel):
    """Encoders, projections, fusion and feed-forward layers; returns the fused utterance representation."""

    def __init__(self, config: ERCFusionConfig):
        super().__init__(config)
        encoders = {}
        if config.text_branch == "transformer":
            encoders["text"] = ERCTransformerTextEncoder(config)
        elif config.text_branch == "mean_embedding":
            encoders["text"] = ERCMeanEmbeddingTextEncoder(config.text_config.vocab_size, config.mean_embedding_dim,
                                                           config.mean_embedding_context)
        if config.audio_branch == "speech_encoder":
            encoders["audio"] = ERCSpeechAudioEncoder(config)
        elif config.audio_branch == "waveform_mlp":
            encoders["audio"] = ERCWaveformMLPAudioEncoder(config.waveform_frame_length, config.waveform_hidden_sizes,
                                                           config.dropout)
        if config.vision_branch == "timm":
            encoders["vision"] = ERCFrameEncoder(config)
        self.encoders = nn.ModuleDict(encoders)
        self.projections = nn.ModuleDict(
            {name: nn.Linear(encoder.out_features, config.fusion_out_features) for name, encoder in encoders.items()}
        )
        self.dropout = nn.Dropout(config.dropout)
        width = config.fusion_out_features
        if config.fusion == "mha":
            self.attention = nn.MultiheadAttention(width, config.fusion_num_heads, dropout=config.dropout,
                                                   batch_first=True)
            self.attention_norm = nn.LayerNorm(width)
        else:
            width *= len(encoders)
        layers = []
        for size in config.feed_forward_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(config.dropout)]
            width = size
        self.feed_forward = nn.Sequential(*layers)
        self.hidden_size = width
        self.post_init()
        self._freeze()

    def _freeze(self):
        config = self.config
        frozen = {"text": config.freeze_text_encoder, "audio": config.freeze_audio_encoder,
                  "vision": config.freeze_vision_encoder}
        for name, encoder in self.encoders.items():
            if frozen[name]:
                encoder.requires_grad_(False)
        audio = self.encoders["audio"] if "audio" in self.encoders else None
        if isinstance(audio, ERCSpeechAudioEncoder) and config.freeze_audio_feature_encoder:
            audio.freeze_feature_encoder()

    def get_input_embeddings(self):
        encoder = self.encoders["text"] if "text" in self.encoders else None
        if encoder is None:
            return None
        if isinstance(encoder, ERCTransformerTextEncoder):
            return encoder.encoder.get_input_embeddings()
        return encoder.embeddings

    def set_input_embeddings(self, value: nn.Module):
        if "text" not in self.encoders:
            raise ValueError(f"this model reads {self.config.modalities}: it has no token embeddings")
        encoder = self.encoders["text"]
        if isinstance(encoder, ERCTransformerTextEncoder):
            encoder.encoder.set_input_embeddings(value)
        else:
            encoder.embeddings = value

    def _check_inputs(self, inputs: dict):
        needed = {"text": "input_ids", "audio": self.config.audio_input_name, "vision": "pixel_values"}
        batch = None
        for modality in self.config.modalities:
            name = needed[modality]
            if inputs[name] is None:
                raise ValueError(f"this model reads {self.config.modalities}: `{name}` ({modality}) is required; the "
                                 f"ERCProcessor makes it from the {'dialogue' if modality == 'text' else modality}")
            if batch is not None and inputs[name].shape[0] != batch:
                raise ValueError(f"inputs of different batch sizes: `{name}` has {inputs[name].shape[0]}, expected {batch}")
            batch = inputs[name].shape[0]

    def forward(
        self,
        input_ids: Optional[torch.LongTensor] = None, attention_mask: Optional[torch.Tensor] = None,
        target_mask: Optional[torch.Tensor] = None, context_mask: Optional[torch.Tensor] = None,
        input_values: Optional[torch.FloatTensor] = None, audio_attention_mask: Optional[torch.Tensor] = None,
        pixel_values: Optional[torch.FloatTensor] = None, frame_mask: Optional[torch.Tensor] = None,
        input_features: Optional[torch.FloatTensor] = None,
        output_attentions: Optional[bool] = None, output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> ERCFusionModelOutput:
        r"""
        input_ids, attention_mask, target_mask, context_mask: the dialogue prompt (see [`ERCProcessor`]).
        input_values (`(batch, samples)`) or input_features (`(batch, mel_bins, mel_frames)`, Whisper), with
            audio_attention_mask: the last turn's audio.
        pixel_values (`(batch, frames, 3, height, width)`), frame_mask (`(batch, frames)`): its video frames.
        """
        config = self.config
        output_attentions = output_attentions if output_attentions is not None else config.output_attentions
        output_hidden_states = output_hidden_states if output_hidden_states is not None else config.output_hidden_states
        return_dict = return_dict if return_dict is not None else config.return_dict
        audio = input_features if config.audio_input_name == "input_features" else input_values
        self._check_inputs({"input_ids": input_ids, config.audio_input_name: audio, "pixel_values": pixel_values})
        vectors, branch_hidden, branch_attentions = [], {}, {}
        # transformers' nested models collect their hidden states and attentions with hooks that `torch.compile`
        # cannot trace (5.25): traced, the branch states are None; the fused states below are always there.
        nested = not is_tracing()
        for modality, encoder in self.encoders.items():
            flags = dict(output_hidden_states=output_hidden_states and nested,
                         output_attentions=output_attentions and nested)
            if modality == "text":
                if attention_mask is None:
                    attention_mask = torch.ones_like(input_ids)
                encoded, hidden, attentions = encoder(input_ids, attention_mask, target_mask=target_mask,
                                                      context_mask=context_mask, **flags)
            elif modality == "audio":
                encoded, hidden, attentions = encoder(audio, audio_attention_mask, **flags)
            else:
                encoded, hidden, attentions = encoder(pixel_values, frame_mask)
            branch_hidden[modality], branch_attentions[modality] = hidden, attentions
            vectors.append(self.dropout(self.projections[modality](encoded)))
        tokens = torch.stack(vectors, dim=1)  # (batch, modalities, fusion_out_features)
        fusion_attentions = None
        if config.fusion == "mha":
            attended, fusion_attentions = self.attention(tokens, tokens, tokens, need_weights=True,
                                                         average_attn_weights=False)
            fused = self.attention_norm(tokens + attended).mean(1)  # (batch, fusion_out_features)
        else:
            fused = tokens.flatten(1)  # (batch, modalities * fusion_out_features)
        stages = [fused]
        for i, layer in enumerate(self.feed_forward):
            fused = layer(fused)
            if i % 3 == 2:  # after each (linear, ReLU, dropout) layer
                stages.append(fused)
        if config.l2_normalize:
            fused = F.normalize(fused, dim=-1)
        output = ERCFusionModelOutput(
            fused_representation=fused, fusion_attentions=fusion_attentions, modality_embeddings=tokens,
            hidden_states=tuple(stages) if output_hidden_states else None,
            text_hidden_states=branch_hidden.get("text") if output_hidden_states else None,
            audio_hidden_states=branch_hidden.get("audio") if output_hidden_states else None,
            vision_hidden_states=branch_hidden.get("vision") if output_hidden_states else None,
            text_attentions=branch_attentions.get("text") if output_attentions else None,
            audio_attentions=branch_attentions.get("audio") if output_attentions else None,
        )
        return output if return_dict else output.to_tuple()


class ERCFusionForEmotionRecognition(ERCFusionPreTrainedModel):
    """[`ERCFusionModel`] with a linear classifier over the fused representation."""

    def __init__(self, config: ERCFusionConfig):
        super().__init__(config)
        self.erc_fusion = ERCFusionModel(config)
        self.classifier = nn.Linear(self.erc_fusion.hidden_size, config.num_labels)
        self.post_init()
        self._freeze()

    def _freeze(self):
        self.erc_fusion._freeze()

    def get_input_embeddings(self):
        return self.erc_fusion.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module):
        self.erc_fusion.set_input_embeddings(value)

    @add_start_docstrings(LABELS_DOCSTRING)
    def forward(
        self,
        input_ids: Optional[torch.LongTensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        target_mask: Optional[torch.Tensor] = None,
        context_mask: Optional[torch.Tensor] = None,
        input_values: Optional[torch.FloatTensor] = None,
        audio_attention_mask: Optional[torch.Tensor] = None,
        pixel_values: Optional[torch.FloatTensor] = None,
        frame_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        input_features: Optional[torch.FloatTensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> ERCFusionOutput:
        r"""
        The other inputs: see [`ERCFusionModel.forward`].
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.erc_fusion(
            input_ids=input_ids, attention_mask=attention_mask, target_mask=target_mask, context_mask=context_mask,
            input_values=input_values, audio_attention_mask=audio_attention_mask, pixel_values=pixel_values,
            frame_mask=frame_mask, input_features=input_features, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        logits = self.classifier(outputs.fused_representation)
        loss = None
        if labels is not None:
            loss = classification_loss(self.config, logits, labels)
            if self.config.triplet_weight > 0 and self.config.problem_type == "single_label_classification":
                loss = loss + triplet_loss(self.config, outputs.fused_representation, labels)
        output = ERCFusionOutput(loss=loss, logits=logits, **outputs)
        return output if return_dict else output.to_tuple()

    @classmethod
    def from_pretrained_backbones(cls, text: Optional[str] = None, audio: Optional[str] = None,
                                  vision: Optional[str] = None, vision_pretrained_cfg_overlay: Optional[dict] = None,
                                  audio_window_seconds: Optional[float] = None, **config_kwargs):
        """A new model whose branches start from pretrained encoders; the fusion and classifier are random.

        Args:
            text (`str`, *optional*): any transformers text checkpoint (Hub id or folder: `"gpt2"`,
                `"sentence-transformers/all-MiniLM-L6-v2"`, `"roberta-base"`...): its config becomes `text_config`
                and its weights the `"transformer"` text branch's.
            audio (`str`, *optional*): a speech encoder checkpoint (`"facebook/wav2vec2-base"`,
                `"openai/whisper-base"`...): its (encoder) config becomes `audio_config`, its encoder weights the
                `"speech_encoder"` branch's.
            vision (`str`, *optional*): a timm model name (e.g. `"resnet50"`): `vision_config.model_name`, created
                with `pretrained=True`.
            vision_pretrained_cfg_overlay (`dict`, *optional*): passed to `timm.create_model`, e.g.
                `{"file": "resnet50.safetensors"}` to read the weights from a local file.
            audio_window_seconds (`float`, *optional*): Whisper only: seconds of audio per forward (its position
                table is cut to them; the processor's `WhisperFeatureExtractor` needs `chunk_length` equal to it).
            config_kwargs: the other [`ERCFusionConfig`] arguments (labels, branches, fusion, loss...).
        """
        pretrained = {}
        if text is not None:
            pretrained["text"] = AutoModel.from_pretrained(text, dtype=torch.float32)
            config_kwargs["text_config"] = pretrained["text"].config
        if audio is not None:
            config_kwargs["audio_config"], pretrained["audio"] = load_pretrained_speech_encoder(
                audio, window_seconds=audio_window_seconds)
        if vision is not None:
            vision_config = config_kwargs.pop("vision_config", None) or {}
            model_kwargs = vision_config["model_kwargs"] if "model_kwargs" in vision_config else {}
            config_kwargs["vision_config"] = {"model_name": vision, "model_kwargs": model_kwargs}
            pretrained["vision"] = timm.create_model(vision, pretrained=True, num_classes=0,
                                                     pretrained_cfg_overlay=vision_pretrained_cfg_overlay,
                                                     **model_kwargs)
        config = ERCFusionConfig(**config_kwargs)
        branches = {"text": config.text_branch, "audio": config.audio_branch, "vision": config.vision_branch}
        expected = {"text": "transformer", "audio": "speech_encoder", "vision": "timm"}
        names = {"text": text, "audio": audio, "vision": vision}
        for modality in pretrained:
            if branches[modality] != expected[modality]:
                raise ValueError(f"`{modality}={names[modality]!r}` loads a pretrained encoder but "
                                 f"`{modality}_branch` is {branches[modality]!r}, not {expected[modality]!r}")
        model = cls(config)
        encoders = model.erc_fusion.encoders
        for modality, source in pretrained.items():
            target = encoders[modality].backbone if modality == "vision" else encoders[modality].encoder
            target.load_state_dict(source.state_dict())
        model._freeze()
        return model

    def backbone_parameter_names(self) -> list[str]:
        """Names of the parameters of the encoders (text, audio, vision): what `from_pretrained_backbones` loads; the
        projections, fusion, feed-forward layers and classifier are the head (train.py's `head_learning_rate`)."""
        return [name for name, _ in self.named_parameters() if name.startswith("erc_fusion.encoders.")]

    def load_word_vectors(self, path: str, vocab: dict) -> int:
        """Initialise the text encoder's token embeddings from a GloVe-format text file (`word v1 ... vD` lines).

        `vocab` maps tokens to ids. A byte-level BPE token is looked up as the word it spells (`"ĠHello"` ->
        `"hello"`): GloVe 6B is uncased. Tokens without a vector keep their random rows, rescaled to the vectors'
        standard deviation. Works for the `"mean_embedding"` encoder and for GPT2's `wte` when the widths match.
        Returns how many tokens got a vector.
        """
        embeddings = self.get_input_embeddings()
        if embeddings is None:
            raise ValueError("this model has no text encoder to initialise from word vectors")
        weight = embeddings.weight
        words = {}
        for token, index in vocab.items():
            if index < weight.shape[0]:
                words.setdefault(token.replace("\u0120", "").replace("\u010a", "").strip().lower(), []).append(index)
        words.pop("", None)
        rows, found = {}, 0
        with open(path, encoding="utf-8") as f:
            for line_number, line in enumerate(f, start=1):
                word, _, rest = line.rstrip("\n").partition(" ")
                if word not in words or word in rows:
                    continue
                values = np.asarray(rest.split(" "), dtype=np.float32)
                if values.shape[0] != weight.shape[1]:
                    raise ValueError(f"{path}, line {line_number} (word {word!r}): {values.shape[0]} values, but the "
                                     f"text encoder's embeddings are {weight.shape[1]} wide")
                rows[word] = values
        if not rows:
            raise ValueError(f"{path}: none of the {len(vocab)} tokens spells a word of this file")
        ids = [i for word in rows for i in words[word]]
        vectors = torch.from_numpy(np.stack([rows[word] for word in rows for _ in words[word]]))
        found = len(ids)
        with torch.no_grad():
            known = torch.zeros(weight.shape[0], dtype=torch.bool)
            known[ids] = True
            scale = vectors.std() / weight[~known].std().clamp_min(1e-12) if (~known).any() else 1.0
            weight[~known] *= scale
            weight[ids] = vectors.to(weight.dtype)
        self.config.word_vectors = self.config.word_vectors or path.rsplit("/", 1)[-1]
        logger.info(f"initialised {found}/{len(vocab)} token embeddings from {path}")
        return found


__all__ = [
    "ERCFusionForEmotionRecognition",
    "ERCFusionModel",
    "ERCFusionModelOutput",
    "ERCFusionOutput",
    "ERCFusionPreTrainedModel",
]
