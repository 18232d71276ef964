"""The transformers speech encoders our voice and conversation models run on, behind one small interface.

Two input families:
- waveform encoders (wav2vec2, HuBERT, WavLM, data2vec-audio): `input_values` `(batch, samples)` at 16 kHz, a
  convolutional feature encoder (one frame per 20 ms), an optional sample-level `attention_mask`;
- Whisper's encoder: `input_features` `(batch, mel_bins, mel_frames)` (log-mel, 10 ms hop), two convolutions (the
  second of stride 2: one frame per 20 ms) and fixed sinusoidal position embeddings for exactly
  `max_source_positions` frames. The stock encoder needs 30 s (1500 positions); we build it with the positions of our
  window (`whisper_window_positions`), the first rows of the same sinusoid table, so a 3 s clip costs 3 s of compute.

`speech_encoder_frame_mask` turns the feature extractor's mask (samples or mel frames) into a mask of encoder frames,
with tensor arithmetic only (no Python branch on values), so models that pool over it still trace.
"""

import copy
from typing import Optional

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig


WAVEFORM_ENCODERS = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")
SPECTROGRAM_ENCODERS = ("whisper",)
SPEECH_ENCODER_TYPES = WAVEFORM_ENCODERS + SPECTROGRAM_ENCODERS
# Whisper: 100 log-mel frames per second (hop 160 at 16 kHz), halved by the stride-2 convolution.
WHISPER_FRAMES_PER_SECOND = 50


def check_speech_encoder_config(config, name: str = "encoder_config") -> None:
    if not isinstance(config, PretrainedConfig) or config.model_type not in SPEECH_ENCODER_TYPES:
        got = getattr(config, "model_type", type(config).__name__)
        raise ValueError(f"`{name}` must be the config of a speech encoder, one of {SPEECH_ENCODER_TYPES}; got {got!r}")


def speech_encoder_config_from_dict(value, name: str = "encoder_config", default_type: str = "wav2vec2"):
    """A speech-encoder config from a config object, a dict (with `model_type`, else `default_type`) or None."""
    if value is None:
        value = {"model_type": default_type}
    if isinstance(value, dict):
        value = dict(value)
        model_type = value.pop("model_type", default_type)
        value.pop("transformers_version", None)
        if model_type not in SPEECH_ENCODER_TYPES:
            raise ValueError(f"`{name}.model_type` must be one of {SPEECH_ENCODER_TYPES}, got {model_type!r}")
        value = AutoConfig.for_model(model_type, **value)
    check_speech_encoder_config(value, name)
    return value


def is_whisper(config) -> bool:
    return config.model_type in SPECTROGRAM_ENCODERS


def speech_encoder_input_name(config) -> str:
    """`"input_features"` for Whisper, `"input_values"` for the waveform encoders."""
    return "input_features" if is_whisper(config) else "input_values"


def speech_encoder_hidden_size(config) -> int:
    return config.d_model if is_whisper(config) else config.hidden_size


def speech_encoder_num_layers(config) -> int:
    return config.encoder_layers if is_whisper(config) else config.num_hidden_layers


def whisper_window_seconds(config) -> float:
    """Seconds of audio one Whisper forward covers (30 for the stock 1500 positions)."""
    return config.max_source_positions / WHISPER_FRAMES_PER_SECOND


def whisper_window_positions(window_seconds) -> int:
    if not (isinstance(window_seconds, (int, float)) and not isinstance(window_seconds, bool) and window_seconds > 0
            and float(window_seconds).is_integer()):
        raise ValueError(f"a Whisper window must be a positive whole number of seconds (the stock "
                         f"WhisperFeatureExtractor's `chunk_length` is in seconds), got {window_seconds!r}")
    return int(window_seconds) * WHISPER_FRAMES_PER_SECOND


def build_speech_encoder(config) -> nn.Module:
    """The bare encoder of `config`, randomly initialised: `Wav2Vec2Model`, `HubertModel`, `WavLMModel`,
    `Data2VecAudioModel` or `WhisperEncoder` (not the whole encoder-decoder)."""
    check_speech_encoder_config(config)
    if is_whisper(config):
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        return WhisperEncoder(config)
    return AutoModel.from_config(config)


def conv_output_lengths(config, input_lengths: torch.Tensor) -> torch.Tensor:
    """Frames the encoder makes of `input_lengths` samples (waveform encoders) or mel frames (Whisper)."""
    lengths = input_lengths
    if is_whisper(config):
        # conv1: kernel 3, padding 1, stride 1 (same length); conv2: kernel 3, padding 1, stride 2.
        return torch.div(lengths - 1, 2, rounding_mode="floor") + 1
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
    return lengths


def speech_encoder_frame_mask(config, attention_mask: Optional[torch.Tensor], num_frames: int) -> Optional[torch.Tensor]:
    """Bool mask `(batch, num_frames)` of the encoder frames that hold audio, from the feature extractor's mask
    (`(batch, samples)` for waveform encoders, `(batch, mel_frames)` for Whisper); None stays None (every frame)."""
    if attention_mask is None:
        return None
    lengths = conv_output_lengths(config, attention_mask.long().sum(-1))
    # At least one frame per clip, so that a pooled mean is never 0/0 (the processors refuse such clips anyway).
    lengths = lengths.clamp(min=1, max=num_frames)
    return torch.arange(num_frames, device=attention_mask.device)[None, :] < lengths[:, None]


def minimum_input_length(config) -> int:
    """Samples (waveform encoders) or mel frames (Whisper) one encoder frame needs."""
    if is_whisper(config):
        return 1
    field = 1
    for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride))):
        field = (field - 1) * stride + kernel
    return field


def resize_whisper_positions(state_dict: dict, positions: int, prefix: str = "") -> dict:
    """Cut a Whisper encoder state dict's sinusoidal position table to its first `positions` rows."""
    key = prefix + "embed_positions.weight"
    state = dict(state_dict)
    table = state[key]
    if table.shape[0] < positions:
        raise ValueError(f"the checkpoint's Whisper encoder has {table.shape[0]} positions "
                         f"({table.shape[0] / WHISPER_FRAMES_PER_SECOND:g} s); a {positions}-position window needs more")
    state[key] = table[:positions].clone()
    return state


def load_pretrained_speech_encoder(name_or_path: str, window_seconds: Optional[float] = None,
                                   config_overrides: Optional[dict] = None, **hub_kwargs):
    """`(encoder_config, encoder)` of a pretrained checkpoint (Hub id or folder), in float32.

    The encoder family comes from the checkpoint's `model_type`. Whisper checkpoints (whole encoder-decoder, or an
    encoder-only folder saved in that layout) give their `WhisperEncoder`; with `window_seconds` its position table
    is cut to that window (`max_source_positions = 50 * window_seconds`). `config_overrides` are fine-tuning settings
    that change no weights (`mask_time_prob`, `layerdrop`, `attention_dropout`...).
    """
    config = AutoConfig.from_pretrained(name_or_path, **hub_kwargs)
    check_speech_encoder_config(config, f"the config of {name_or_path!r}")
    for key, value in (config_overrides or {}).items():
        if not hasattr(config, key):
            raise ValueError(f"`{key}` is not a setting of {type(config).__name__} ({name_or_path})")
        setattr(config, key, value)
    if not is_whisper(config):
        encoder = AutoModel.from_pretrained(name_or_path, config=config, dtype=torch.float32, **hub_kwargs)
        return encoder.config, encoder
    from transformers import WhisperForAudioClassification

    # The audio-classification class holds only the encoder, so the decoder weights are never materialised.
    full = WhisperForAudioClassification.from_pretrained(name_or_path, config=config, dtype=torch.float32, **hub_kwargs)
    state = full.encoder.state_dict()
    encoder_config = copy.deepcopy(full.config)
    if window_seconds is not None:
        encoder_config.max_source_positions = whisper_window_positions(window_seconds)
        state = resize_whisper_positions(state, encoder_config.max_source_positions)
    encoder = build_speech_encoder(encoder_config)
    encoder.load_state_dict(state, strict=True)
    return encoder_config, encoder


__all__ = [
    "SPECTROGRAM_ENCODERS",
    "SPEECH_ENCODER_TYPES",
    "WAVEFORM_ENCODERS",
    "WHISPER_FRAMES_PER_SECOND",
    "build_speech_encoder",
    "check_speech_encoder_config",
    "conv_output_lengths",
    "is_whisper",
    "load_pretrained_speech_encoder",
    "minimum_input_length",
    "resize_whisper_positions",
    "speech_encoder_config_from_dict",
    "speech_encoder_frame_mask",
    "speech_encoder_hidden_size",
    "speech_encoder_input_name",
    "speech_encoder_num_layers",
    "whisper_window_positions",
    "whisper_window_seconds",
]
