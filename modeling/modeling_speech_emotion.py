"""SpeechEmotion: speech emotion recognition over any transformers speech encoder, pooled over the real frames.

Encoder frame states (the last layer, or a softmax-weighted sum of all layers), an optional per-frame linear
projector, a mean / max / mean+max / attentive-statistics pooling over the frames that hold audio, dropout and a linear
classifier. Head parameter names are the stock heads' (`layer_weights` lives in `layer_sum.weight`, `projector`,
`classifier`), so a mean-pooled model exports to the encoder's stock class (`Wav2Vec2ForSequenceClassification`,
`HubertForSequenceClassification`, `WavLMForSequenceClassification`, `Data2VecAudioForSequenceClassification`,
`WhisperForAudioClassification`), which the Hub's hosted widget runs.

Whisper runs on a short window (`config.window_seconds`): its encoder is built with that many positions, the
feature extractor pads each clip to the window, and the pooling covers only the frames of the clip.
"""

import copy
from typing import Optional

import torch
from torch import nn
from transformers import AutoModelForAudioClassification, PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput
from transformers.models.whisper.modeling_whisper import sinusoids
from transformers.utils import add_start_docstrings, logging

from .configuration_speech_emotion import SAMPLING_RATE, SpeechEmotionConfig
from .initialization_utils import FreezeAfterLoadingMixin, NestedModelInitMixin
from .losses import LABELS_DOCSTRING, classification_loss
from .pipeline_audio_classification import EmotionAudioClassificationPipeline  # noqa: F401  (copied with the code)
from .pooling_utils import weighted_statistics_pooling
from .speech_encoders import (SPEECH_ENCODER_TYPES, build_speech_encoder, is_whisper, load_pretrained_speech_encoder,
                              speech_encoder_config_from_dict, speech_encoder_frame_mask, whisper_window_positions)


logger = logging.get_logger(__name__)

# `from_pretrained` keywords that say where a checkpoint is (they also read a plain encoder checkpoint).
HUB_KEYS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")

# Encoder families whose top layers run on cached lower-layer states (`trainable_encoder_layers`): WavLM's layers
# need the relative position bias its first layer computes.
TOP_LAYER_ENCODERS = ("whisper", "wav2vec2", "hubert", "data2vec-audio")


def top_layers_blocker(config) -> Optional[str]:
    """Why the top layers of `config`'s encoder cannot run on their own from the states below them (None: they
    can)."""
    if config.encoder_type in TOP_LAYER_ENCODERS:
        return None
    return (f"the top layers of a {config.encoder_type!r} encoder cannot run from the states below them (WavLM's "
            f"relative position bias comes from its first layer)")


def _select_hidden_states(hidden_states, output_hidden_states):
    """`hidden_states` as `output_hidden_states` asks for them: all (`True`), none (`False` / `None`), or those at an
    index or a list of indices, negative ones from the end, the others `None` (as transformers 5's models give them)."""
    if not output_hidden_states or hidden_states is None:
        return None
    if output_hidden_states is True:
        return hidden_states
    count = len(hidden_states)
    selected = [output_hidden_states] if isinstance(output_hidden_states, int) else list(output_hidden_states)
    keep = {index % count for index in selected if -count <= index < count}
    return tuple(state if index in keep else None for index, state in enumerate(hidden_states))


def _eager() -> bool:
    """True outside torch.compile / torch.export / tracing: value checks (NaN, too-short clips) run only then."""
    return not (torch.compiler.is_compiling() or torch.jit.is_tracing())


class SpeechEmotionWeightedLayerSum(nn.Module):
    """Softmax-weighted sum of the hidden states of every layer (input embeddings included), as in the stock heads.

    A module rather than a bare parameter so that peft can train it through `modules_to_save=["layer_sum", ...]`.
    """

    def __init__(self, num_layers: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_layers) / num_layers)

    def forward(self, hidden_states) -> torch.Tensor:
        # A tuple of (batch, frames, hidden), or those already stacked as (batch, layers, frames, hidden) (the cache),
        # or every layer's mean over the frames (batch, layers, hidden) (the cache of a mean-pooled head).
        stacked = hidden_states if isinstance(hidden_states, torch.Tensor) else torch.stack(hidden_states, dim=1)
        weights = nn.functional.softmax(self.weight, dim=-1)
        return (stacked * weights.view(-1, *[1] * (stacked.dim() - 2)).to(stacked.dtype)).sum(dim=1)


class SpeechEmotionLayerConcat(nn.Module):
    """Every hidden state side by side: `(batch, layers, frames, hidden)` (or a tuple of `(batch, frames, hidden)`, or
    the layers' means `(batch, layers, hidden)`) -> `(batch, frames, layers * hidden)` (`(batch, layers * hidden)`).
    The head then pools and standardises each layer's channels on their own (`concatenate_layers`)."""

    def forward(self, hidden_states) -> torch.Tensor:
        stacked = hidden_states if isinstance(hidden_states, torch.Tensor) else torch.stack(hidden_states, dim=1)
        return stacked.movedim(1, -2).flatten(-2)  # layers next to the channels, then merged with them


class SpeechEmotionPooling(nn.Module):
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


class SpeechEmotionPreTrainedModel(NestedModelInitMixin, FreezeAfterLoadingMixin, PreTrainedModel):
    config_class = SpeechEmotionConfig
    config: SpeechEmotionConfig
    base_model_prefix = "audio_encoder"
    main_input_name = "input_values"
    input_modalities = "audio"
    supports_gradient_checkpointing = True
    # Attention happens only inside the nested encoder; every supported family implements these.
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True

    @torch.no_grad()
    def _init_weights(self, module):
        # The nested encoder is a PreTrainedModel: transformers runs its own `_init_weights` on its modules.
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):  # `standardize_pooled`: statistics of no data yet
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, SpeechEmotionWeightedLayerSum):
            init.constant_(module.weight, 1.0 / module.weight.numel())

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`, every loader keyword included (`output_loading_info`, `dtype`,
        `device_map`...), for our own checkpoints and for a plain encoder checkpoint (`facebook/wav2vec2-base`,
        `openai/whisper-base`, a `Wav2Vec2Model` folder...). The latter becomes a new classifier on that encoder, as the
        stock classes load it: its weights and config fill the encoder, the head is new (and reported missing), config
        overrides (`num_labels`, `pooling`, `window_seconds`...) make the rest of the config.

        A Whisper model loads on another window (`window_seconds=N`, or a `config` of another window): its position
        table is made for that window by Whisper's own rule (the fixed sinusoids), the rows the checkpoint has kept."""
        path = pretrained_model_name_or_path
        if not (isinstance(path, (str, bytes)) or hasattr(path, "__fspath__")):
            return super().from_pretrained(path, *model_args, **kwargs)
        saved, _ = PretrainedConfig.get_config_dict(path, **{k: kwargs[k] for k in HUB_KEYS if k in kwargs})
        if saved.get("model_type") in SPEECH_ENCODER_TYPES:
            return cls._from_encoder_checkpoint(path, *model_args, **kwargs)
        saved_audio = saved.get("audio_config") or saved.get("wav2vec2_config") or {}
        positions = None  # the Whisper window to load on, where it differs from the checkpoint's
        if saved_audio.get("model_type") == "whisper":
            saved_positions = speech_encoder_config_from_dict(saved_audio, "audio_config").max_source_positions
            config = kwargs.get("config")
            if kwargs.get("window_seconds") is not None:
                positions = whisper_window_positions(kwargs.pop("window_seconds"))
            elif isinstance(getattr(config, "audio_config", None), PretrainedConfig):
                positions = config.audio_config.max_source_positions if is_whisper(config.audio_config) else None
            if positions == saved_positions:
                positions = None
            elif positions is not None and config is not None:
                # Built on the checkpoint's window, so that its table loads; it is made for the new one below.
                config = kwargs["config"] = copy.deepcopy(config)
                config.audio_config.max_source_positions = saved_positions
        loaded = super().from_pretrained(path, *model_args, **kwargs)
        if positions is not None:
            (loaded[0] if isinstance(loaded, tuple) else loaded)._set_whisper_positions(positions)
        return loaded

    @classmethod
    def _from_encoder_checkpoint(cls, path, *model_args, config=None, **kwargs):
        """A new classifier over the encoder checkpoint at `path`, through the loader (its keywords apply)."""
        hub = {k: kwargs.pop(k) for k in HUB_KEYS if k in kwargs}
        if config is not None and not isinstance(config, cls.config_class):
            raise ValueError(f"`config` must be a {cls.config_class.__name__} to load the plain encoder checkpoint "
                             f"{path!s} into a {cls.__name__}, got {type(config).__name__}")
        for key in ("audio_config", "wav2vec2_config"):
            if key in kwargs:
                raise ValueError(f"`{key}` comes from the encoder checkpoint {path!s}; change its fine-tuning settings "
                                 f"with `backbone_config_overrides`")
        window = config.window_seconds if config is not None else kwargs.get("window_seconds")
        encoder_config, encoder = load_pretrained_speech_encoder(path, window, kwargs.pop("backbone_config_overrides",
                                                                                          None), **hub)
        encoder_config._name_or_path = str(path)
        if config is None:
            # The config overrides (labels, head settings, the Whisper window) make the config around the
            # encoder's; what is left are the loader's keywords, as in `PreTrainedModel.from_pretrained`.
            config, kwargs = cls.config_class.from_dict({"audio_config": encoder_config}, return_unused_kwargs=True,
                                                        **kwargs)
        state = {f"{cls.base_model_prefix}.{name}": tensor for name, tensor in encoder.state_dict().items()}
        loaded = super().from_pretrained(None, *model_args, config=config, state_dict=state, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded).config._name_or_path = str(path)
        return loaded

    @torch.no_grad()
    def _set_whisper_positions(self, positions: int):
        """Make the Whisper encoder's position table `positions` frames long: Whisper's fixed sinusoids (the rule of
        its `_init_weights`), keeping the rows the current table has."""
        encoder = getattr(self, self.base_model_prefix)
        old = encoder.embed_positions.weight
        table = nn.Embedding(positions, old.shape[1], device=old.device, dtype=old.dtype)
        table.weight.copy_(sinusoids(positions, old.shape[1]))
        rows = min(positions, old.shape[0])
        table.weight[:rows] = old[:rows]
        table.requires_grad_(old.requires_grad)
        encoder.embed_positions = table
        encoder.max_source_positions = encoder.config.max_source_positions = positions
        self.config.audio_config.max_source_positions = positions


class SpeechEmotionForAudioClassification(SpeechEmotionPreTrainedModel):
    """A transformers speech encoder with an emotion classification head: optional weighted layer sum, per-frame
    projector, pooling over the frames that hold audio (see [`SpeechEmotionConfig`]), dropout and a linear classifier.

    The encoder is built from `config.audio_config` with random weights; pretrained weights come in through
    [`~SpeechEmotionForAudioClassification.from_pretrained_backbone`] (or `from_pretrained` on a plain encoder
    checkpoint), our own checkpoints through `from_pretrained`.

    Head modules (peft's `modules_to_save` for LoRA): [`head_module_names`]. The encoder's attention projections are
    `q_proj`, `k_proj`, `v_proj`, `out_proj` in every supported family (LoRA `target_modules`).
    """

    def __init__(self, config: SpeechEmotionConfig):
        super().__init__(config)
        # The encoder sits under `base_model_prefix` (`audio_encoder`; `wav2vec2` in Wav2Vec2Emotion folders).
        setattr(self, self.base_model_prefix, build_speech_encoder(config.audio_config))
        self.main_input_name = config.input_name
        # What combines the hidden states of every layer (None: the head reads the last one alone).
        self.layer_sum = (SpeechEmotionWeightedLayerSum(config.num_hidden_states) if config.use_weighted_layer_sum
                          else SpeechEmotionLayerConcat() if config.concatenate_layers else None)
        self.projector = nn.Linear(config.layer_output_size, config.projector_size) if config.projector_size else None
        self.pooler = SpeechEmotionPooling(config.pooling, config.frame_size, config.attention_hidden_size)
        self.pooled_norm = nn.BatchNorm1d(config.pooled_size, affine=False) if config.standardize_pooled else None
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.pooled_size, config.num_labels)
        self.post_init()
        self._freeze()

    @property
    def encoder(self) -> nn.Module:
        return getattr(self, self.base_model_prefix)

    @property
    def encoder_layers(self) -> nn.ModuleList:
        """The encoder's transformer layers, bottom to top."""
        return self.encoder.layers if is_whisper(self.config.audio_config) else self.encoder.encoder.layers

    def trained_encoder_modules(self) -> list[nn.Module]:
        """With `trainable_encoder_layers=N`: the top N layers and the layer norm after them, if any
        ([`final_encoder_norm`]); empty otherwise."""
        n = self.config.trainable_encoder_layers
        if not n:
            return []
        modules = list(self.encoder_layers[-n:])
        final_norm = self.final_encoder_norm()
        return modules + ([final_norm] if final_norm is not None else [])

    def final_encoder_norm(self) -> Optional[nn.Module]:
        """The layer norm after the encoder's last layer (Whisper's; the waveform encoders' with
        `do_stable_layer_norm`), which makes its `last_hidden_state`; None where there is none."""
        audio = self.config.audio_config
        if is_whisper(audio):
            return self.encoder.layer_norm
        return self.encoder.encoder.layer_norm if getattr(audio, "do_stable_layer_norm", False) else None

    def _freeze(self):
        if self.config.freeze_backbone or self.config.trainable_encoder_layers:
            self.encoder.requires_grad_(False)
        for module in self.trained_encoder_modules():
            module.requires_grad_(True)
        if self.config.freeze_backbone or self.config.freeze_feature_encoder or self.config.trainable_encoder_layers:
            self.freeze_feature_encoder()

    def train(self, mode: bool = True):
        """As `nn.Module.train`; with `trainable_encoder_layers` the encoder's fixed part (front end, lower layers,
        the encoder's own SpecAugment and LayerDrop) stays in inference mode, so it computes what a frozen-encoder
        cache stores; the top layers train with their dropout."""
        super().train(mode)
        trained = self.trained_encoder_modules()
        if mode and trained:
            keep = {id(m) for module in trained for m in module.modules()}
            for module in self.encoder.modules():
                if id(module) not in keep:
                    module.training = False
        return self

    def freeze_feature_encoder(self):
        """Stop the gradient of the convolutional front end (as the stock classes' method of that name)."""
        if is_whisper(self.config.audio_config):
            self.encoder.conv1.requires_grad_(False)
            self.encoder.conv2.requires_grad_(False)
        else:
            # The convolutional feature encoder of every waveform family; this also stops it marking its input as
            # requiring a gradient.
            self.encoder.feature_extractor._freeze_parameters()

    def head_module_names(self) -> list[str]:
        """Names of this model's head modules with weights or statistics, e.g. `["projector", "classifier"]`."""
        names = ("layer_sum", "projector", "pooler", "pooled_norm", "classifier")
        return [n for n in names if getattr(self, n) is not None
                and any(True for _ in (*getattr(self, n).parameters(), *getattr(self, n).buffers()))]

    def get_input_embeddings(self):
        return None  # audio encoders have no token embeddings

    # -----------------------------------------------------------------------------------------------------------------
    # Forward: encode (the part a frozen-encoder cache stores), then the head
    # -----------------------------------------------------------------------------------------------------------------
    def _check_inputs(self, inputs, attention_mask):
        name, audio = self.config.input_name, self.config.audio_config
        expected = "(batch, samples)" if name == "input_values" else (
            f"(batch, {audio.num_mel_bins}, {2 * audio.max_source_positions}) (log-mel frames of a "
            f"{self.config.window_seconds:g} s window: a WhisperFeatureExtractor with chunk_length="
            f"{self.config.window_seconds:g})")
        shape_ok = isinstance(inputs, torch.Tensor) and (
            inputs.dim() == 2 if name == "input_values"
            else inputs.dim() == 3 and tuple(inputs.shape[1:]) == (audio.num_mel_bins, 2 * audio.max_source_positions))
        if not shape_ok:
            shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
            raise ValueError(f"`{name}` must be a float tensor of shape {expected}, got {shape}; for one clip add a "
                             f"batch axis, and mix stereo down to one channel")
        if not inputs.is_floating_point():
            raise ValueError(f"`{name}` must be a float tensor, got dtype {inputs.dtype}")
        mask_shape = tuple(inputs.shape) if name == "input_values" else (inputs.shape[0], inputs.shape[-1])
        if attention_mask is not None and tuple(attention_mask.shape) != mask_shape:
            raise ValueError(f"`attention_mask` must have the shape {mask_shape} (one entry per "
                             f"{'sample' if name == 'input_values' else 'mel frame'}), got {tuple(attention_mask.shape)}")
        if not _eager():
            return
        if not bool(torch.isfinite(inputs).all()):
            raise ValueError(f"`{name}` contains NaN or infinite values; the audio must be finite")
        if name == "input_values":
            lengths = attention_mask.sum(-1) if attention_mask is not None else torch.tensor([inputs.shape[1]])
            minimum = self.config.receptive_field
            if bool((lengths < minimum).any()):
                raise ValueError(f"a clip of {int(lengths.min())} samples is shorter than "
                                 f"{self.config.encoder_type}'s convolutional receptive field: at least {minimum} samples ({minimum / SAMPLING_RATE:.4g} s at "
                                 f"{SAMPLING_RATE // 1000} kHz) are needed for one frame; drop such clips or zero-pad "
                                 f"them to that length")
        elif attention_mask is not None and bool((attention_mask.sum(-1) < 1).any()):
            raise ValueError("a clip has no audio frame (its attention_mask is all zeros)")

    def encode(self, inputs: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
               output_hidden_states: bool = False, output_attentions: bool = False):
        """`(encoder outputs, frame_mask)`: the encoder run on `inputs` (`input_values` or `input_features`), and the
        bool mask `(batch, frames)` of the frames that hold audio (None without an `attention_mask`)."""
        # In transformers 5 a layer that LayerDrop skips records no hidden state, so a training forward that needs
        # every layer's state (the weighted layer sum) would get fewer of them (the stock classes then fail in their
        # weighted sum). LayerDrop is off for such forwards; the other dropouts stay.
        # (WhisperEncoder copies `encoder_layerdrop` to an attribute; the waveform encoders read their config's.)
        holder = self.encoder if is_whisper(self.config.audio_config) else self.encoder.config
        layerdrop = getattr(holder, "layerdrop", 0.0) or 0.0
        pause_layerdrop = self.training and output_hidden_states and layerdrop > 0
        if pause_layerdrop:
            logger.warning_once(f"LayerDrop ({layerdrop:g}) is not applied while every layer's hidden state is needed "
                                f"(weighted layer sum / output_hidden_states): a dropped layer leaves none")
            holder.layerdrop = 0.0
        try:
            if is_whisper(self.config.audio_config):
                # Whisper attends over the whole window (no attention mask); the mask only restricts the pooling.
                outputs = self.encoder(inputs, output_hidden_states=output_hidden_states,
                                       output_attentions=output_attentions)
            else:
                outputs = self.encoder(inputs, attention_mask=attention_mask,
                                       output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        finally:
            if pause_layerdrop:
                holder.layerdrop = layerdrop
        frame_mask = speech_encoder_frame_mask(self.config.audio_config, attention_mask,
                                               outputs.last_hidden_state.shape[1])
        return outputs, frame_mask

    def encode_top_layers(self, fixed_hidden_states: torch.Tensor,
                          frame_mask: Optional[torch.Tensor] = None) -> BaseModelOutput:
        """The encoder's outputs (`last_hidden_state` and every hidden state, as [`encode`] returns them) from the
        hidden states its fixed part makes: `fixed_hidden_states` `(batch,
        num_fixed_hidden_states, frames, hidden)` (the input embeddings and the outputs of the layers below the trained
        ones, as a cache keeps them) go through the top `trainable_encoder_layers` layers. Whisper attends over the
        whole window (its cached states cover every frame of it); the waveform encoders attend over `frame_mask`."""
        n, audio = self.config.trainable_encoder_layers, self.config.audio_config
        if not n:
            raise ValueError("`encode_top_layers` needs `config.trainable_encoder_layers`")
        blocker = top_layers_blocker(self.config)
        if blocker:
            raise ValueError(f"{blocker}; run the whole encoder instead")
        hidden = fixed_hidden_states[:, -1]
        attention = None
        if not is_whisper(audio) and frame_mask is not None:
            attention = create_bidirectional_mask(config=self.encoder.config, inputs_embeds=hidden,
                                                  attention_mask=frame_mask)
        states = list(fixed_hidden_states.unbind(dim=1))
        for layer in self.encoder_layers[-n:]:
            hidden = layer(hidden, attention_mask=attention)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
            states.append(hidden)
        final_norm = self.final_encoder_norm()
        last = final_norm(hidden) if final_norm is not None else hidden
        if is_whisper(audio):
            states[-1] = last  # Whisper records its last hidden state after the final norm, the others before it
        return BaseModelOutput(last_hidden_state=last, hidden_states=tuple(states))

    def _head_hidden_states(self, outputs) -> tuple:
        """What the head reads of the encoder's outputs: every hidden state for the weighted layer sum, else the
        `last_hidden_state` (after a final layer norm, which the recorded hidden states lack in stable-layer-norm
        encoders), as the stock heads do."""
        return outputs.hidden_states if self.layer_sum is not None else (outputs.last_hidden_state,)

    def classify_hidden_states(self, hidden_states, frame_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits from encoder hidden states: a tuple of `(batch, frames, hidden)` (or a `(batch, layers, frames,
        hidden)` stack, as a frozen-encoder cache keeps them) and the frame mask. This is the trainable head."""
        return self.classify_pooled(self.pool_hidden_states(hidden_states, frame_mask))

    def pool_hidden_states(self, hidden_states, frame_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The pooled vector `(batch, config.pooled_size)` of encoder hidden states (as [`classify_hidden_states`]
        takes them): the head up to the pooling, before `standardize_pooled`'s statistics and the classifier."""
        if self.config.normalize_hidden_states:
            stacked = hidden_states if isinstance(hidden_states, torch.Tensor) else torch.stack(hidden_states, dim=1)
            hidden_states = nn.functional.layer_norm(stacked, stacked.shape[-1:])  # per frame, over channels
        if self.layer_sum is not None:
            hidden = self.layer_sum(hidden_states)
        else:
            hidden = hidden_states[-1] if isinstance(hidden_states, (tuple, list)) else hidden_states[:, -1]
        if self.projector is not None:
            hidden = self.projector(hidden)  # (batch, frames, projector_size): per frame, as the stock head does
        return self.pooler(hidden, frame_mask)

    def pooled_output(self, input_values: Optional[torch.Tensor] = None, attention_mask: Optional[torch.Tensor] = None,
                      input_features: Optional[torch.Tensor] = None,
                      encoder_hidden_states: Optional[torch.Tensor] = None, frame_mask: Optional[torch.Tensor] = None,
                      pooled_hidden_states: Optional[torch.Tensor] = None, **unused) -> torch.Tensor:
        """The pooled vectors `(batch, config.pooled_size)` the classifier reads, before `standardize_pooled`'s
        statistics, from the inputs `forward` takes (audio, or a batch of frozen-encoder cache entries:
        `encoder_hidden_states` / `pooled_hidden_states` as [`collate_cache_entries`] makes them; other keys such as
        `labels` are ignored). Label-free adaptation re-estimates the statistics from these."""
        if pooled_hidden_states is not None:
            return self.pool_layer_means(pooled_hidden_states)
        if encoder_hidden_states is not None:
            return self.pool_hidden_states(self._cached_head_states(encoder_hidden_states, frame_mask), frame_mask)
        inputs = input_features if input_features is not None else input_values
        self._check_inputs(inputs, attention_mask)
        outputs, frame_mask = self.encode(inputs, attention_mask, output_hidden_states=self.layer_sum is not None)
        return self.pool_hidden_states(self._head_hidden_states(outputs), frame_mask)

    def classify_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits from pooled vectors: `standardize_pooled`'s statistics, dropout and the classifier."""
        if self.pooled_norm is not None:
            norm = self.pooled_norm
            if self.training and pooled.shape[0] == 1:  # batch statistics need two vectors: a lone one (the last
                # batch of an epoch) is standardised with the running statistics, which it does not update
                pooled = nn.functional.batch_norm(pooled, norm.running_mean, norm.running_var, training=False,
                                                  eps=norm.eps)
            else:
                pooled = norm(pooled)
        return self.classifier(self.dropout(pooled))

    def pool_layer_means(self, pooled_hidden_states: torch.Tensor) -> torch.Tensor:
        """The pooled vector of [`pool_hidden_states`] from `pooled_hidden_states` `(batch, states, hidden)`: every
        hidden state the head reads, averaged over the clip's real frames (after the per-frame normalisation of
        `normalize_hidden_states`), as a `"layer_means"` cache entry holds them ([`encoder_cache_spec`]). With
        `pooling="mean"` the rest of the head (weighted layer sum, projector) is linear, so averaging first gives the
        same vector up to float rounding."""
        if self.config.pooling != "mean":
            raise ValueError(f"`pooled_hidden_states` (every state's mean over the frames) give the pooled vector of "
                             f"pooling='mean' only; this model pools with {self.config.pooling!r}: pass the frames "
                             f"(`encoder_hidden_states`)")
        expected = self.config.num_hidden_states if self.layer_sum is not None else 1
        if pooled_hidden_states.dim() != 3 or tuple(pooled_hidden_states.shape[1:]) != (expected, self.config.hidden_size):
            raise ValueError(f"`pooled_hidden_states` must have shape (batch, {expected}, {self.config.hidden_size}), "
                             f"got {tuple(pooled_hidden_states.shape)}")
        hidden = self.layer_sum(pooled_hidden_states) if self.layer_sum is not None else pooled_hidden_states[:, -1]
        return self.projector(hidden) if self.projector is not None else hidden

    def _cached_head_states(self, encoder_hidden_states: torch.Tensor, frame_mask: Optional[torch.Tensor] = None):
        """The hidden states the head reads from cached `encoder_hidden_states` (see `forward`): the stack as it
        is, or, with `trainable_encoder_layers`, the top layers run on the fixed states below them."""
        counts = [self.config.num_hidden_states]
        if self.config.trainable_encoder_layers:
            counts.insert(0, self.config.num_fixed_hidden_states)
        elif self.layer_sum is None:
            counts.insert(0, 1)  # the `last_hidden_state` alone, what a head without the layer sum reads
        if encoder_hidden_states.dim() != 4 or encoder_hidden_states.shape[1] not in counts:
            raise ValueError(f"`encoder_hidden_states` must have shape (batch, "
                             f"{' or '.join(map(str, counts))}, frames, {self.config.hidden_size}), got "
                             f"{tuple(encoder_hidden_states.shape)}")
        if self.config.trainable_encoder_layers and encoder_hidden_states.shape[1] < self.config.num_hidden_states:
            return self._head_hidden_states(self.encode_top_layers(encoder_hidden_states, frame_mask))
        return encoder_hidden_states

    # -----------------------------------------------------------------------------------------------------------------
    # What the head reads of the encoder: the contract of a frozen-encoder cache
    # -----------------------------------------------------------------------------------------------------------------
    def encoder_cache_spec(self) -> Optional[dict]:
        """What the trained part of this model reads of its encoder's fixed part, so that a cache of the fixed part
        (train.py's frozen-encoder cache) stores that and no more; None when no part of the encoder is fixed (or its
        trained top layers cannot run from the states below them). A JSON-able dict, part of the cache's key:

        - `layout`: `"layer_means"` with `pooling="mean"` over a frozen encoder: the per-frame normalisation is
          fixed and the weighted layer sum, the projector and the mean over the frames are linear, so the head reads
          each hidden state's mean over the clip's real frames (`(states, hidden)`, a few KB per clip; see
          [`pool_layer_means`]). `"frames"` for every other head (max or attentive pooling, trained top layers):
          `(states, frames, hidden)` of the clip's real frames, and for Whisper's trained top layers every frame of
          the window (they attend to its padding frames too), with `num_frames`, the real ones; float32.
        - `states`: how many hidden states an entry holds, bottom up: all of them for the weighted layer sum, the
          `num_fixed_hidden_states` below trained top layers, else 1: the `last_hidden_state` (after a final norm that
          the recorded states of stable-layer-norm encoders lack: `last_hidden_state: true`).
        - `normalized`: the layer means are taken after the per-frame normalisation (`normalize_hidden_states`).
        - `dtype`: float32. (Frames stored in float16 moved the head's weights by 3e-4 after two epochs of the
          tests' cache-equality run, over their 1e-4 tolerance: a cache must not change what is trained.)
        - `batch_independent`: False for a group-normalised wav2vec2 front end (wav2vec2-base), which normalises over
          the padded batch: such clips must be encoded one at a time.
        """
        config = self.config
        if not config.num_fixed_hidden_states or (config.trainable_encoder_layers and top_layers_blocker(config)):
            return None
        top = bool(config.trainable_encoder_layers)
        layout = "frames" if top or config.pooling != "mean" else "layer_means"
        last_only = not top and self.layer_sum is None
        return {"layout": layout,
                "states": config.num_fixed_hidden_states if top else (1 if last_only else config.num_hidden_states),
                "last_hidden_state": last_only,
                "normalized": layout == "layer_means" and config.normalize_hidden_states,
                "window": top and is_whisper(config.audio_config),
                "dtype": "float32",
                "batch_independent": getattr(config.audio_config, "feat_extract_norm", None) != "group"}

    @torch.no_grad()
    def encode_for_cache(self, input_values: Optional[torch.Tensor] = None,
                         attention_mask: Optional[torch.Tensor] = None,
                         input_features: Optional[torch.Tensor] = None) -> list[dict]:
        """The cache entries of a batch of clips ([`encoder_cache_spec`]): one dict of CPU tensors per clip,
        `{"layer_means": (states, hidden)}` or `{"hidden_states": (states, frames, hidden), "num_frames": (1,)}`.
        The fixed encoder runs in inference mode whatever mode the model is in."""
        spec = self.encoder_cache_spec()
        if spec is None:
            raise ValueError("encode_for_cache: no part of this model's encoder is fixed (set `freeze_backbone` or "
                             "`trainable_encoder_layers` on an encoder whose top layers run alone)")
        inputs = input_features if input_features is not None else input_values
        if (input_features is None) == (input_values is None):
            raise ValueError(f"pass exactly one of `input_values` / `input_features`; this "
                             f"{self.config.encoder_type} encoder reads `{self.config.input_name}`")
        self._check_inputs(inputs, attention_mask)
        was_training = self.training
        self.eval()
        try:
            outputs, frame_mask = self.encode(inputs.to(self.device),
                                              attention_mask.to(self.device) if attention_mask is not None else None,
                                              output_hidden_states=not spec["last_hidden_state"])
        finally:
            self.train(was_training)
        if spec["last_hidden_state"]:
            states = outputs.last_hidden_state[:, None]
        else:
            states = torch.stack(outputs.hidden_states[:spec["states"]], dim=1)
        states = states.float()  # (batch, states, frames, hidden)
        if frame_mask is None:
            frame_mask = torch.ones(states.shape[0], states.shape[2], dtype=torch.bool, device=states.device)
        counts = frame_mask.sum(-1)
        if spec["layout"] == "layer_means":
            if spec["normalized"]:
                states = nn.functional.layer_norm(states, states.shape[-1:])  # per frame, as `pool_hidden_states`
            # The masked mean of `SpeechEmotionPooling`, over the frames axis of every state at once.
            means = states.masked_fill(~frame_mask[:, None, :, None], 0.0).sum(dim=2) / counts.view(-1, 1, 1)
            return [{"layer_means": clip.cpu().clone()} for clip in means]
        entries = []
        for clip, n in zip(states, counts.tolist()):
            kept = clip if spec["window"] else clip[:, :n]
            entries.append({"hidden_states": kept.cpu().contiguous().clone(), "num_frames": torch.tensor([n])})
        return entries

    @staticmethod
    def collate_cache_entries(entries: list) -> dict:
        """The `forward` keyword arguments of a batch of cache entries ([`encode_for_cache`]): `pooled_hidden_states`
        `(batch, states, hidden)`, or `encoder_hidden_states` `(batch, states, frames, hidden)` zero-padded to the
        longest clip with the bool `frame_mask` `(batch, frames)` of the real frames."""
        if "layer_means" in entries[0]:
            return {"pooled_hidden_states": torch.stack([entry["layer_means"].float() for entry in entries])}
        first = entries[0]["hidden_states"]
        frames = max(entry["hidden_states"].shape[1] for entry in entries)
        states = torch.zeros(len(entries), first.shape[0], frames, first.shape[2])
        mask = torch.zeros(len(entries), frames, dtype=torch.bool)
        for i, entry in enumerate(entries):
            states[i, :, :entry["hidden_states"].shape[1]] = entry["hidden_states"]
            mask[i, :int(entry["num_frames"])] = True  # the real frames (Whisper's window keeps padding frames)
        return {"encoder_hidden_states": states, "frame_mask": mask}

    @add_start_docstrings(LABELS_DOCSTRING)
    def forward(
        self,
        input_values: Optional[torch.FloatTensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        output_attentions: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        input_features: Optional[torch.FloatTensor] = None,
        encoder_hidden_states: Optional[torch.FloatTensor] = None,
        frame_mask: Optional[torch.Tensor] = None,
        pooled_hidden_states: Optional[torch.FloatTensor] = None,
    ) -> SequenceClassifierOutput:
        r"""
        input_values (`torch.FloatTensor` of shape `(batch_size, samples)`): 16 kHz waveforms, for the waveform
            encoders, as made by a `Wav2Vec2FeatureExtractor` (zero-padded on the right).
        input_features (`torch.FloatTensor` of shape `(batch_size, mel_bins, 100 * window_seconds)`): Whisper's
            log-mel input, from a `WhisperFeatureExtractor(chunk_length=window_seconds)`.
        attention_mask (`torch.Tensor`, *optional*): 1 for real samples (waveform encoders) or mel frames (Whisper:
            `return_attention_mask=True`), 0 for padding. Given, it restricts the pooling (and a waveform encoder's
            attention) to the clip. Without it every frame is pooled, padding included, as in the stock classes.
        output_hidden_states, output_attentions (`bool`, *optional*): return the encoder's hidden states / attention
            weights (attention weights need `attn_implementation="eager"`).
        encoder_hidden_states (`torch.FloatTensor` of shape `(batch_size, num_hidden_states, frames, hidden)`,
            *optional*): precomputed hidden states of the (frozen) encoder, every layer stacked (what
            [`encode`] returns, as a frozen-encoder cache keeps them; without the weighted layer sum the last one is
            the `last_hidden_state` the head reads), instead of audio: only the head runs.
            With `trainable_encoder_layers` it may hold only the `config.num_fixed_hidden_states` states below the
            trained layers (for Whisper over every frame of the window): the top layers then run on them
            ([`encode_top_layers`]). `frame_mask` `(batch_size, frames)` (bool) marks the real frames (None: all).
            A head without the weighted layer sum may get the `last_hidden_state` alone (`(batch_size, 1, frames,
            hidden)`).
        pooled_hidden_states (`torch.FloatTensor` of shape `(batch_size, states, hidden)`, *optional*): with
            `pooling="mean"` over a frozen encoder, every hidden state the head reads (all of them for the weighted
            layer sum, else the last) averaged over the clip's real frames after the per-frame normalisation: what
            the frozen-encoder cache stores for such heads ([`encoder_cache_spec`]); only the head runs.
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if encoder_hidden_states is not None or pooled_hidden_states is not None:
            if input_values is not None or input_features is not None or (
                    encoder_hidden_states is not None and pooled_hidden_states is not None):
                raise ValueError("pass one of audio (`input_values` / `input_features`), `encoder_hidden_states` or "
                                 "`pooled_hidden_states`")
            if pooled_hidden_states is not None:
                logits = self.classify_pooled(self.pool_layer_means(pooled_hidden_states))
            else:
                logits = self.classify_hidden_states(self._cached_head_states(encoder_hidden_states, frame_mask),
                                                     frame_mask)
            loss = classification_loss(self.config, logits, labels) if labels is not None else None
            output = SequenceClassifierOutput(loss=loss, logits=logits)
            return output if return_dict else output.to_tuple()
        inputs = input_features if input_features is not None else input_values
        if (input_features is None) == (input_values is None):
            raise ValueError(f"pass exactly one of `input_values` / `input_features`; this "
                             f"{self.config.encoder_type} encoder reads `{self.config.input_name}`")
        self._check_inputs(inputs, attention_mask)
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions

        # The weighted layer sum reads every hidden state, whichever of them `output_hidden_states` selects.
        encoded_states = True if self.layer_sum is not None else output_hidden_states
        outputs, frame_mask = self.encode(inputs, attention_mask, output_attentions=output_attentions,
                                          output_hidden_states=encoded_states)
        hidden_states = self._head_hidden_states(outputs)
        logits = self.classify_hidden_states(hidden_states, frame_mask)

        loss = classification_loss(self.config, logits, labels) if labels is not None else None
        output = SequenceClassifierOutput(loss=loss, logits=logits,
                                          hidden_states=_select_hidden_states(outputs.hidden_states,
                                                                              output_hidden_states),
                                          attentions=outputs.attentions if output_attentions else None)
        return output if return_dict else output.to_tuple()

    @classmethod
    def from_pretrained_backbone(cls, backbone: str, backbone_config_overrides: Optional[dict] = None,
                                 **config_kwargs) -> "SpeechEmotionForAudioClassification":
        """A new model whose encoder starts from a pretrained checkpoint; the head is random.

        Args:
            backbone (`str`): a speech-encoder checkpoint, Hub id or folder (`"facebook/wav2vec2-base"`,
                `"microsoft/wavlm-base-plus"`, `"openai/whisper-base"`, a local folder...). Its `model_type` picks the
                encoder family; its config becomes `audio_config`, its weights the encoder's (float32).
            backbone_config_overrides (`dict`, *optional*): settings that change no weights, e.g.
                `{"mask_time_prob": 0.05, "layerdrop": 0.05}`.
            config_kwargs: the other [`SpeechEmotionConfig`] arguments (labels, `window_seconds` for Whisper, pooling,
                projector, loss...).
        """
        for key in ("audio_config", "wav2vec2_config"):
            if key in config_kwargs:
                raise ValueError(f"`{key}` comes from the `backbone` checkpoint; change its fine-tuning settings with "
                                 f"`backbone_config_overrides`")
        encoder_config, encoder = load_pretrained_speech_encoder(backbone, config_kwargs.get("window_seconds"),
                                                                 backbone_config_overrides)
        encoder_config._name_or_path = str(backbone)
        model = cls(cls.config_class(audio_config=encoder_config, **config_kwargs))
        model.encoder.load_state_dict(encoder.state_dict(), strict=True)
        return model

    # -----------------------------------------------------------------------------------------------------------------
    # Export as the encoder's stock classifier
    # -----------------------------------------------------------------------------------------------------------------
    @property
    def stock_class_name(self) -> str:
        """The encoder's stock audio classifier, e.g. `"Wav2Vec2ForSequenceClassification"`."""
        from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES

        return MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES[self.config.encoder_type]

    def stock_export_blockers(self) -> list[str]:
        """Why this model cannot be exported as its encoder's stock classifier (empty list: it can)."""
        return self.config.stock_export_blockers_of(self.config.pooling, self.config.normalize_hidden_states,
                                                    self.config.concatenate_layers)

    def to_stock_model(self) -> PreTrainedModel:
        """The same network as the encoder's stock classifier (`Wav2Vec2ForSequenceClassification`,
        `HubertForSequenceClassification`, `WavLMForSequenceClassification`, `Data2VecAudioForSequenceClassification`
        or `WhisperForAudioClassification` with `max_source_positions` of our window), with the same weights.

        Needs `pooling="mean"`. The weighted layer sum, the projector width and the labels carry over; dropout is
        dropped (identity at inference); a model without projector gets an identity one; `standardize_pooled`'s
        running statistics are folded into the classifier. The stock classes train with
        plain cross-entropy. Whisper's stock class pools every frame of the window: its logits equal ours on clips
        that fill the window (or without an `attention_mask`), not on shorter padded clips.
        """
        blockers = self.stock_export_blockers()
        if blockers:
            raise ValueError(f"this model cannot be exported as a {self.stock_class_name}: " + "; ".join(blockers))
        config = self.config
        stock_config = copy.deepcopy(config.audio_config)
        stock_config.__dict__.pop("auto_map", None)  # the nested config of a remote-code checkpoint may carry one
        stock_config.architectures = None  # save_pretrained writes the stock class name
        stock_config.use_weighted_layer_sum = config.use_weighted_layer_sum
        stock_config.classifier_proj_size = config.frame_size
        stock_config.id2label = dict(config.id2label)
        stock_config.label2id = dict(config.label2id)
        stock_config.problem_type = config.problem_type
        stock_config._name_or_path = ""
        stock = AutoModelForAudioClassification.from_config(stock_config)

        # The stock classes hold the encoder under their base_model_prefix, except Whisper's (`encoder`).
        prefix = "encoder" if is_whisper(config.audio_config) else stock.base_model_prefix
        state = dict(self.encoder.state_dict(prefix=prefix + "."))
        if self.layer_sum is not None:
            state["layer_weights"] = self.layer_sum.weight.detach()
        if self.projector is not None:
            state["projector.weight"], state["projector.bias"] = self.projector.weight.detach(), self.projector.bias.detach()
        else:
            hidden_size = config.hidden_size
            state["projector.weight"] = torch.eye(hidden_size, dtype=self.classifier.weight.dtype)
            state["projector.bias"] = torch.zeros(hidden_size, dtype=self.classifier.weight.dtype)
        weight, bias = self.classifier.weight.detach(), self.classifier.bias.detach()
        if self.pooled_norm is not None:  # (x - mean) / std, then W x + b: one affine map, folded into the classifier
            norm = self.pooled_norm
            inv_std = torch.rsqrt(norm.running_var + norm.eps).to(weight.dtype)
            bias = bias - weight @ (norm.running_mean.to(weight.dtype) * inv_std)
            weight = weight * inv_std
        state["classifier.weight"], state["classifier.bias"] = weight, bias
        stock.load_state_dict(state, strict=True)
        return stock.to(device=self.device, dtype=self.dtype).train(self.training)

    def save_stock_pretrained(self, save_directory, feature_extractor=None, **save_kwargs) -> PreTrainedModel:
        """Write [`to_stock_model`] to `save_directory` (a plain encoder `model_type`, no `auto_map`, no code: it loads
        without `trust_remote_code` and runs in the Hub's hosted audio-classification widget).

        The stock pipeline checks none of what ours refuses: NaN audio gets NaN scores; a Whisper folder scores an
        empty array as a window of silence, a longer recording by its first window only, and pools a shorter clip
        with the window's padding. `pipeline(..., pipeline_class=EmotionAudioClassificationPipeline)` and
        `classify_windows` on the stock folder refuse such input and score long recordings in windows.

        Args:
            feature_extractor (*optional*): a stock transformers feature extractor (`Wav2Vec2FeatureExtractor`, or
                `WhisperFeatureExtractor` whose `chunk_length` is the window) to save beside it, so that
                `pipeline("audio-classification", model=save_directory)` finds it.
            save_kwargs: passed to `save_pretrained` (`push_to_hub`, `safe_serialization`...).
        """
        if feature_extractor is not None and not type(feature_extractor).__module__.startswith("transformers."):
            raise ValueError(f"{type(feature_extractor).__name__} is not a stock transformers feature extractor: the "
                             f"stock export must load without custom code")
        window = self.config.window_seconds
        if feature_extractor is not None and window is not None and getattr(feature_extractor, "chunk_length", None) != window:
            raise ValueError(f"the feature extractor's chunk_length ({getattr(feature_extractor, 'chunk_length', None)}) "
                             f"must be the model's Whisper window ({window:g} s)")
        stock = self.to_stock_model()
        stock.save_pretrained(save_directory, **save_kwargs)
        if feature_extractor is not None:
            feature_extractor.save_pretrained(save_directory)
        return stock


__all__ = [
    "SpeechEmotionForAudioClassification",
    "SpeechEmotionLayerConcat",
    "SpeechEmotionPooling",
    "SpeechEmotionPreTrainedModel",
    "SpeechEmotionWeightedLayerSum",
]
