"""ERCFusion: emotion recognition in conversation from the text, voice and face of an utterance in its dialogue.

One encoder per modality (GPT2 over the dialogue prompt or a mean word embedding; wav2vec2 or a waveform MLP; a timm
CNN over video frames), a projection of each to a common width, a fusion by concatenation or multi-head attention
over the modality vectors, feed-forward layers, optional L2 normalisation and a linear classifier.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn
from transformers import GPT2Config, GPT2Model, PreTrainedModel, Wav2Vec2Config, Wav2Vec2Model
from transformers import initialization as init
from transformers.utils import ModelOutput, logging

from .configuration_erc_fusion import ERCFusionConfig
from .initialization_utils import FreezeAfterLoadingMixin
from .losses import classification_loss, triplet_loss
from .pipeline_erc import EmotionRecognitionInConversationPipeline  # noqa: F401  (copied with the model code)


logger = logging.get_logger(__name__)


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
    """

    fused_representation: torch.FloatTensor = None
    fusion_attentions: Optional[torch.FloatTensor] = None
    modality_embeddings: Optional[torch.FloatTensor] = None


@dataclass
class ERCFusionOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is given): the classification loss
            (plus the weighted triplet loss when `config.triplet_weight > 0`).
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`): classification scores before softmax.
        fused_representation, fusion_attentions, modality_embeddings: see [`ERCFusionModelOutput`].
    """

    loss: Optional[torch.FloatTensor] = None
    logits: torch.FloatTensor = None
    fused_representation: torch.FloatTensor = None
    fusion_attentions: Optional[torch.FloatTensor] = None
    modality_embeddings: Optional[torch.FloatTensor] = None


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` `(batch, time, dim)` over the positions where `mask` `(batch, time)` is set; zeros if none."""
    mask = mask.to(values.dtype)[..., None]
    return (values * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def masked_max(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max of `values` over the masked positions; zeros for a row without any."""
    pooled = values.masked_fill(~mask.bool()[..., None], float("-inf")).amax(1)
    return pooled.masked_fill(torch.isinf(pooled), 0.0)


# ---------------------------------------------------------------------------------------------------------------------
# Text encoders
# ---------------------------------------------------------------------------------------------------------------------
class ERCGPT2TextEncoder(nn.Module):
    """GPT2's last-layer state at the last token of the dialogue prompt (the processor ends it with `eos`).

    Position ids count only attended tokens, and the state is gathered at the last attended position, so left and
    right padding give the same result as no padding.
    """

    def __init__(self, config: GPT2Config):
        super().__init__()
        self.gpt2 = GPT2Model(config)
        self.out_features = config.n_embd

    def forward(self, input_ids, attention_mask, **unused):
        max_positions = self.gpt2.config.n_positions
        if input_ids.shape[1] > max_positions:
            # Keep the end: the target utterance is the last turn of the prompt.
            logger.warning_once(f"prompt of {input_ids.shape[1]} tokens cut to its last {max_positions} "
                                f"(GPT2 `n_positions`); build prompts with the processor's `max_prompt_tokens`")
            input_ids, attention_mask = input_ids[:, -max_positions:], attention_mask[:, -max_positions:]
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)
        hidden = self.gpt2(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).last_hidden_state
        # Index of the last attended token of each row (batch,), whichever side the padding is on.
        last = attention_mask.shape[1] - 1 - attention_mask.long().flip(-1).argmax(-1)
        return hidden[torch.arange(len(hidden), device=hidden.device), last]


class ERCMeanEmbeddingTextEncoder(nn.Module):
    """Mean word embedding of the target utterance's tokens (+ that of the context utterances' tokens)."""

    def __init__(self, vocab_size: int, embedding_dim: int, with_context: bool):
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.with_context = with_context
        self.out_features = embedding_dim * (2 if with_context else 1)

    def forward(self, input_ids, attention_mask, target_mask=None, context_mask=None):
        embedded = self.embeddings(input_ids)  # (batch, tokens, dim)
        target_mask = attention_mask if target_mask is None else target_mask * attention_mask
        pooled = masked_mean(embedded, target_mask)
        if self.with_context:
            context_mask = torch.zeros_like(attention_mask) if context_mask is None else context_mask * attention_mask
            pooled = torch.cat([pooled, masked_mean(embedded, context_mask)], dim=-1)
        return pooled


# ---------------------------------------------------------------------------------------------------------------------
# Audio encoders
# ---------------------------------------------------------------------------------------------------------------------
def pad_to_receptive_field(input_values, attention_mask, receptive_field):
    """Zero-pad audio shorter than the encoder's receptive field; the padding counts as (silent) audio."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_values, dtype=torch.long)
    lengths = attention_mask.sum(-1)
    if bool((lengths < receptive_field).any()):
        logger.warning_once(f"audio shorter than the encoder's receptive field ({receptive_field} samples) was "
                            f"zero-padded to it")
        if input_values.shape[1] < receptive_field:
            extra = receptive_field - input_values.shape[1]
            input_values = F.pad(input_values, (0, extra))
            attention_mask = F.pad(attention_mask, (0, extra))
        # Padding of a short row is already zeros (the feature extractor pads with 0.0): mark it as audio.
        short = lengths < receptive_field
        positions = torch.arange(input_values.shape[1], device=input_values.device)[None, :]
        input_values = torch.where(short[:, None] & (positions >= lengths[:, None]), 0.0, input_values)
        attention_mask = torch.where(short[:, None] & (positions < receptive_field), 1, attention_mask)
    return input_values, attention_mask


class ERCWav2Vec2AudioEncoder(nn.Module):
    """wav2vec2 frame states pooled over the unpadded frames (mean, or mean and max concatenated)."""

    def __init__(self, config: Wav2Vec2Config, pooling: str, receptive_field: int):
        super().__init__()
        self.wav2vec2 = Wav2Vec2Model(config)
        self.pooling, self.receptive_field = pooling, receptive_field
        self.out_features = config.hidden_size * (2 if pooling == "mean_max" else 1)

    def forward(self, input_values, attention_mask=None):
        input_values, attention_mask = pad_to_receptive_field(input_values, attention_mask, self.receptive_field)
        hidden = self.wav2vec2(input_values, attention_mask=attention_mask).last_hidden_state  # (batch, frames, hidden)
        lengths = self.wav2vec2._get_feat_extract_output_lengths(attention_mask.sum(-1)).clamp(1, hidden.shape[1])
        frame_mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths[:, None]
        pooled = masked_mean(hidden, frame_mask)
        if self.pooling == "mean_max":
            pooled = torch.cat([pooled, masked_max(hidden, frame_mask)], dim=-1)
        return pooled


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

    def forward(self, input_values, attention_mask=None):
        input_values, attention_mask = pad_to_receptive_field(input_values, attention_mask, self.frame_length)
        batch, samples = input_values.shape
        num_frames = -(-samples // self.frame_length)
        input_values = F.pad(input_values, (0, num_frames * self.frame_length - samples))
        frames = input_values.view(batch, num_frames, self.frame_length)  # (batch, frames, frame_length)
        # A frame counts if it starts inside the audio; its tail past the end is zero padding in every batch.
        lengths = -(-attention_mask.sum(-1) // self.frame_length)
        frame_mask = torch.arange(num_frames, device=frames.device)[None, :] < lengths[:, None]
        hidden = self.mlp(frames)
        return torch.cat([masked_mean(hidden, frame_mask), masked_max(hidden, frame_mask)], dim=-1)


# ---------------------------------------------------------------------------------------------------------------------
# Vision encoder
# ---------------------------------------------------------------------------------------------------------------------
class ERCFrameEncoder(nn.Module):
    """A timm backbone (global-pooled features, no classifier) applied to each frame, pooled over the valid frames."""

    def __init__(self, vision_config: dict, pooling: str, frozen: bool):
        super().__init__()
        self.backbone = timm.create_model(vision_config["model_name"], pretrained=False, num_classes=0,
                                          **vision_config.get("model_kwargs", {}))
        # timm initialises its own weights; keep `post_init` from overwriting them.
        for module in self.backbone.modules():
            module._is_hf_initialized = True
        self.pooling, self.frozen = pooling, frozen
        self.out_features = self.backbone.num_features * (2 if pooling == "mean_max" else 1)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # a frozen backbone keeps its batch-norm statistics
        return self

    def forward(self, pixel_values, frame_mask=None):
        if pixel_values.dim() == 4:  # one frame per example: (batch, channels, height, width)
            pixel_values = pixel_values[:, None]
        if pixel_values.dim() != 5:
            raise ValueError(f"`pixel_values` must have shape (batch, frames, channels, height, width), got "
                             f"{tuple(pixel_values.shape)}")
        batch, num_frames = pixel_values.shape[:2]
        if frame_mask is None:
            frame_mask = torch.ones(batch, num_frames, dtype=torch.bool, device=pixel_values.device)
        frame_mask = frame_mask.bool()
        # Only real frames go through the backbone; padded frame slots stay zero and are masked in the pooling.
        features = self.backbone(pixel_values[frame_mask])  # (valid frames, num_features)
        per_frame = features.new_zeros(batch, num_frames, features.shape[-1])
        per_frame[frame_mask] = features
        pooled = masked_mean(per_frame, frame_mask)
        if self.pooling == "mean_max":
            pooled = torch.cat([pooled, masked_max(per_frame, frame_mask)], dim=-1)
        return pooled


# ---------------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------------
class ERCFusionPreTrainedModel(FreezeAfterLoadingMixin, PreTrainedModel):
    config_class = ERCFusionConfig
    config: ERCFusionConfig
    base_model_prefix = "erc_fusion"
    main_input_name = "input_ids"
    input_modalities = ("text", "audio", "image")

    @torch.no_grad()
    def _init_weights(self, module):
        # GPT2Model and Wav2Vec2Model initialise their own modules (they are PreTrainedModels); timm's are flagged.
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
        if config.text_encoder == "gpt2":
            encoders["text"] = ERCGPT2TextEncoder(config.text_config)
        elif config.text_encoder == "mean_embedding":
            encoders["text"] = ERCMeanEmbeddingTextEncoder(config.text_config.vocab_size, config.mean_embedding_dim,
                                                           config.mean_embedding_context)
        if config.audio_encoder == "wav2vec2":
            encoders["audio"] = ERCWav2Vec2AudioEncoder(config.audio_config, config.audio_pooling,
                                                        config.audio_receptive_field)
        elif config.audio_encoder == "waveform_mlp":
            encoders["audio"] = ERCWaveformMLPAudioEncoder(config.waveform_frame_length, config.waveform_hidden_sizes,
                                                           config.dropout)
        if config.vision_encoder == "timm":
            encoders["vision"] = ERCFrameEncoder(config.vision_config, config.frame_pooling, config.freeze_vision_encoder)
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
        if "audio" in self.encoders and config.audio_encoder == "wav2vec2" and config.freeze_audio_feature_encoder:
            self.encoders["audio"].wav2vec2.freeze_feature_encoder()

    def get_input_embeddings(self):
        if "text" not in self.encoders:
            return None
        encoder = self.encoders["text"]
        return encoder.gpt2.wte if isinstance(encoder, ERCGPT2TextEncoder) else encoder.embeddings

    def _check_inputs(self, inputs: dict):
        needed = {"text": "input_ids", "audio": "input_values", "vision": "pixel_values"}
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
        input_ids: Optional[torch.LongTensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        target_mask: Optional[torch.Tensor] = None,
        context_mask: Optional[torch.Tensor] = None,
        input_values: Optional[torch.FloatTensor] = None,
        audio_attention_mask: Optional[torch.Tensor] = None,
        pixel_values: Optional[torch.FloatTensor] = None,
        frame_mask: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> ERCFusionModelOutput:
        self._check_inputs(dict(input_ids=input_ids, input_values=input_values, pixel_values=pixel_values))
        vectors = []
        for modality, encoder in self.encoders.items():
            if modality == "text":
                if attention_mask is None:
                    attention_mask = torch.ones_like(input_ids)
                encoded = encoder(input_ids, attention_mask, target_mask=target_mask, context_mask=context_mask)
            elif modality == "audio":
                encoded = encoder(input_values, audio_attention_mask)
            else:
                encoded = encoder(pixel_values, frame_mask)
            vectors.append(self.dropout(self.projections[modality](encoded)))
        tokens = torch.stack(vectors, dim=1)  # (batch, modalities, fusion_out_features)
        attentions = None
        if self.config.fusion == "mha":
            attended, attentions = self.attention(tokens, tokens, tokens, need_weights=True, average_attn_weights=False)
            fused = self.attention_norm(tokens + attended).mean(1)  # (batch, fusion_out_features)
        else:
            fused = tokens.flatten(1)  # (batch, modalities * fusion_out_features)
        fused = self.feed_forward(fused)
        if self.config.l2_normalize:
            fused = F.normalize(fused, dim=-1)
        return ERCFusionModelOutput(fused_representation=fused, fusion_attentions=attentions, modality_embeddings=tokens)


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
        labels: Optional[torch.LongTensor] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> ERCFusionOutput:
        outputs = self.erc_fusion(input_ids, attention_mask, target_mask, context_mask, input_values,
                                  audio_attention_mask, pixel_values, frame_mask)
        logits = self.classifier(outputs.fused_representation)
        loss = None
        if labels is not None:
            loss = classification_loss(self.config, logits, labels)
            if self.config.triplet_weight > 0:
                loss = loss + triplet_loss(self.config, outputs.fused_representation, labels)
        return ERCFusionOutput(loss=loss, logits=logits, fused_representation=outputs.fused_representation,
                               fusion_attentions=outputs.fusion_attentions,
                               modality_embeddings=outputs.modality_embeddings)

    @classmethod
    def from_pretrained_backbones(cls, text: Optional[str] = None, audio: Optional[str] = None,
                                  vision: Optional[str] = None, vision_pretrained_cfg_overlay: Optional[dict] = None,
                                  **config_kwargs):
        """A new model whose encoders start from pretrained backbones; the fusion and classifier are random.

        Args:
            text (`str`, *optional*): a GPT2 checkpoint (Hub id or folder, e.g. `"gpt2"`): its config becomes
                `text_config` and its weights the `"gpt2"` text encoder's.
            audio (`str`, *optional*): a wav2vec2 checkpoint (e.g. `"facebook/wav2vec2-base"`), same for the audio.
            vision (`str`, *optional*): a timm model name (e.g. `"resnet50"`): `vision_config["model_name"]`, created
                with `pretrained=True`.
            vision_pretrained_cfg_overlay (`dict`, *optional*): passed to `timm.create_model`, e.g.
                `{"file": "resnet50.safetensors"}` to read the weights from a local file.
            config_kwargs: the other [`ERCFusionConfig`] arguments (labels, encoders, fusion, loss...).
        """
        if text is not None:
            config_kwargs["text_config"] = GPT2Config.from_pretrained(text)
        if audio is not None:
            config_kwargs["audio_config"] = Wav2Vec2Config.from_pretrained(audio)
        if vision is not None:
            vision_config = dict(config_kwargs.pop("vision_config", None) or {})
            config_kwargs["vision_config"] = {"model_kwargs": {}, **vision_config, "model_name": vision}
        config = ERCFusionConfig(**config_kwargs)
        model = cls(config)
        encoders = model.erc_fusion.encoders
        if text is not None:
            if config.text_encoder != "gpt2":
                raise ValueError(f"`text={text!r}` loads a GPT2 backbone but `text_encoder` is {config.text_encoder!r}")
            encoders["text"].gpt2.load_state_dict(GPT2Model.from_pretrained(text).state_dict())
        if audio is not None:
            if config.audio_encoder != "wav2vec2":
                raise ValueError(f"`audio={audio!r}` loads a wav2vec2 backbone but `audio_encoder` is "
                                 f"{config.audio_encoder!r}")
            encoders["audio"].wav2vec2.load_state_dict(Wav2Vec2Model.from_pretrained(audio).state_dict())
        if vision is not None:
            if config.vision_encoder != "timm":
                raise ValueError(f"`vision={vision!r}` loads a timm backbone but `vision_encoder` is 'none'")
            pretrained = timm.create_model(vision, pretrained=True, num_classes=0,
                                           pretrained_cfg_overlay=vision_pretrained_cfg_overlay,
                                           **config.vision_config["model_kwargs"])
            encoders["vision"].backbone.load_state_dict(pretrained.state_dict())
        model._freeze()
        return model

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
