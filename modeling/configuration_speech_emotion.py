"""SpeechEmotion configuration: any transformers speech encoder (wav2vec2, HuBERT, WavLM, data2vec-audio, Whisper), an
optional weighted layer sum and per-frame projector, a pooling over the real frames and a linear emotion classifier."""

import copy
from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .configuration_utils import EmotionClassifierConfig, non_negative, positive_int, probability
from .pipeline_audio_classification import AUDIO_CUSTOM_PIPELINES
from .speech_encoders import (SPEECH_ENCODER_TYPES, is_whisper, minimum_input_length, speech_encoder_config_from_dict,
                              speech_encoder_hidden_size, speech_encoder_input_name, speech_encoder_num_layers,
                              whisper_window_positions, whisper_window_seconds)


Pooling = Literal["mean", "max", "mean_max", "attentive_stats"]
POOLINGS = Pooling.__args__
# Every supported encoder reads 16 kHz audio; used to state lengths in seconds in error messages.
SAMPLING_RATE = 16000


@strict
class SpeechEmotionConfig(EmotionClassifierConfig):
    r"""
    Configuration of [`SpeechEmotionForAudioClassification`]: a transformers speech encoder (the nested
    `audio_config`), optionally a softmax-weighted sum of its hidden layers, an optional per-frame linear projector, a
    pooling over the frames that hold audio, dropout and a linear classifier.

    With `pooling="mean"` the model computes what the encoder's stock `*ForSequenceClassification` /
    `WhisperForAudioClassification` computes, and [`~SpeechEmotionForAudioClassification.to_stock_model`] exports it as
    that stock class (for Whisper, on inputs that fill the window: the stock class pools padding frames too).

    Args:
        audio_config (`dict` or [`PretrainedConfig`], *optional*): the encoder: a config (or its dict, with
            `model_type`) of `wav2vec2` (the default, wav2vec2-base sized), `hubert`, `wavlm`, `data2vec-audio` or
            `whisper` (only its encoder is built). The waveform encoders read `input_values` (16 kHz samples); Whisper
            reads `input_features` (log-mel frames from a `WhisperFeatureExtractor`). With `feat_extract_norm="group"`
            (wav2vec2-base style) the first convolution normalises over the whole padded time axis, so only unpadded
            input gives a clip's own logits; `"layer"` models are padding-invariant given the `attention_mask`.
        window_seconds (`int`, *optional*): Whisper only: the seconds of audio one forward reads. The stock encoder
            reads 30 s (`max_source_positions=1500`); a shorter window cuts the fixed sinusoidal position table to its
            first `50 * window_seconds` rows, so a 3 s clip costs 3 s of compute, not 30. Longer recordings go through
            windowed inference (the audio pipeline does it by itself). Defaults to the encoder config's window. The
            feature extractor must then have `chunk_length=window_seconds`.
        pooling (`str`, *optional*, defaults to `"mean"`): pooling of the frame vectors over the frames that hold
            audio: `"mean"`, `"max"`, `"mean_max"` (both, twice the width) or `"attentive_stats"` (a channel-wise
            softmax attention over frames gives a weighted mean and standard deviation, twice the width, as in
            ECAPA-TDNN).
        use_weighted_layer_sum (`bool`, *optional*, defaults to `False`): pool a learned softmax-weighted sum of all
            hidden states (input embeddings and every layer) instead of the last layer, as the stock heads do.
        concatenate_layers (`bool`, *optional*, defaults to `False`): instead of the weighted layer sum, put every
            hidden state side by side (`num_hidden_states * hidden_size` channels per frame): each layer is pooled
            (and, with `standardize_pooled`, standardised) on its own and the classifier weighs every layer's channels
            itself, as a linear probe on the concatenated layers does. Chosen on validation speakers for the
            cross-corpus voice model (README). Not a stock head: such models do not export as stock classes.
        normalize_hidden_states (`bool`, *optional*, defaults to `False`): normalise every frame of every hidden
            state to zero mean and unit variance over its channels (a layer norm without weights) before the layer
            sum, as SUPERB's featurizer does. Whisper's middle layers carry a few channels hundreds of times larger
            than the rest, which otherwise dominate the sum and the pooling. Not part of the stock heads: such models
            do not export as stock classes.
        projector_size (`int`, *optional*, defaults to 256): width of a linear projection of every frame before the
            pooling (the stock `classifier_proj_size`); `None` or 0: no projector.
        classifier_dropout (`float`, *optional*, defaults to 0.0): dropout on the pooled vector.
        standardize_pooled (`bool`, *optional*, defaults to `False`): standardise every channel of the pooled vector
            with the training set's running mean and variance (a `BatchNorm1d` without weights) before the dropout
            and the classifier: what a linear probe's `StandardScaler` does, learned in training. On a frozen encoder
            with a few hundred clips it lets the linear classifier train at one learning rate for every channel.
            Folded into the classifier when exported as a stock class.
        attention_hidden_size (`int`, *optional*, defaults to 128): bottleneck width of the `"attentive_stats"`
            attention.
        freeze_feature_encoder (`bool`, *optional*, defaults to `True`): keep the convolutional front end fixed
            (wav2vec2's feature encoder, Whisper's two convolutions).
        freeze_backbone (`bool`, *optional*, defaults to `False`): keep the whole encoder fixed and train only the head
            (layer weights, projector, pooling attention, classifier); train.py then runs the encoder once per clip
            and trains the head from its cached hidden states.
        trainable_encoder_layers (`int`, *optional*): fine-tune only the top `trainable_encoder_layers` transformer
            layers of the encoder (and a final layer norm after them, Whisper's): the front end and the layers below
            stay fixed and run in inference mode (no dropout, SpecAugment or LayerDrop there), the top layers train
            with their own dropout. train.py then runs the fixed part once per clip and trains the top layers and the
            head from its cached hidden states (Whisper, wav2vec2, HuBERT, data2vec-audio). `None`: the whole encoder
            follows `freeze_backbone`. Needs `freeze_backbone=False`.

    The head is initialised with a normal of standard deviation `audio_config.initializer_range`
    (`init_std` for Whisper), as in the stock classes.
    """

    model_type = "speech_emotion"
    sub_configs_defaults = {"audio_config": SubConfigSpec(AutoConfig, model_type="wav2vec2")}
    default_encoder_type = "wav2vec2"
    default_custom_pipelines = AUDIO_CUSTOM_PIPELINES

    audio_config: dict | PretrainedConfig | None = None
    pooling: Pooling = "mean"
    use_weighted_layer_sum: bool = False
    concatenate_layers: bool = False
    normalize_hidden_states: bool = False
    projector_size: int | None = non_negative(default=256)
    classifier_dropout: float | int = probability(default=0.0)
    standardize_pooled: bool = False
    attention_hidden_size: int = positive_int(default=128)
    freeze_feature_encoder: bool = True
    freeze_backbone: bool = False
    trainable_encoder_layers: int | None = positive_int(default=None)

    def __post_init__(self, window_seconds: int | float | None = None, **kwargs):
        audio_config = speech_encoder_config_from_dict(self.audio_config, "audio_config", self.default_encoder_type)
        if getattr(audio_config, "add_adapter", False):
            raise ValueError("`audio_config.add_adapter=True` is not supported: the adapter downsamples the frames of "
                             "a sequence-to-sequence decoder, and the stock sequence classifiers refuse it too")
        if window_seconds is not None:
            if not is_whisper(audio_config):
                raise ValueError(f"`window_seconds` sets a Whisper encoder's window; a {audio_config.model_type!r} "
                                 f"encoder reads clips of any length (leave it unset)")
            positions = whisper_window_positions(window_seconds)
            if positions != audio_config.max_source_positions:
                audio_config = copy.deepcopy(audio_config)
                audio_config.max_source_positions = positions
        # Set before `super().__post_init__`, which resolves the sub-configs named in `sub_configs_defaults`.
        self.audio_config = audio_config
        self.projector_size = self.projector_size or None
        self.classifier_dropout = float(self.classifier_dropout)
        super().__post_init__(**kwargs)

    def validate_layers(self):
        if self.use_weighted_layer_sum and self.concatenate_layers:
            raise ValueError("`use_weighted_layer_sum` and `concatenate_layers` are two ways to combine the layers: "
                             "set one of them")
        layers = speech_encoder_num_layers(self.audio_config)
        if self.trainable_encoder_layers is not None and self.trainable_encoder_layers > layers:
            raise ValueError(f"`trainable_encoder_layers` must be an int from 1 to the encoder's {layers} layers, "
                             f"or None, got {self.trainable_encoder_layers!r}")
        if self.trainable_encoder_layers is not None and self.freeze_backbone:
            raise ValueError(f"`freeze_backbone=True` trains no encoder layer and `trainable_encoder_layers="
                             f"{self.trainable_encoder_layers}` trains the top ones: set one of them")

    # The config values a stock export depends on, with their defaults (read by train.py before any work).
    stock_export_checks = (("pooling", "mean"), ("normalize_hidden_states", False), ("concatenate_layers", False))

    @staticmethod
    def stock_export_blockers_of(pooling="mean", normalize_hidden_states=False, concatenate_layers=False) -> list[str]:
        """Why a model with these settings cannot be exported as its encoder's stock classifier (empty: it can)."""
        blockers = []
        if pooling != "mean":
            blockers.append(f"pooling={pooling!r} (the stock class mean-pools; only pooling='mean' exports)")
        if normalize_hidden_states:
            blockers.append("normalize_hidden_states=True (the stock heads use the hidden states as they are)")
        if concatenate_layers:
            blockers.append("concatenate_layers=True (the stock heads sum the layers)")
        return blockers

    @property
    def encoder_type(self) -> str:
        """The encoder's `model_type` (`"wav2vec2"`, `"hubert"`, `"wavlm"`, `"data2vec-audio"`, `"whisper"`)."""
        return self.audio_config.model_type

    @property
    def input_name(self) -> str:
        """`"input_features"` (Whisper) or `"input_values"` (the waveform encoders)."""
        return speech_encoder_input_name(self.audio_config)

    @property
    def window_seconds(self):
        """Seconds one Whisper forward reads; None for the waveform encoders (any length)."""
        return whisper_window_seconds(self.audio_config) if is_whisper(self.audio_config) else None

    @property
    def hidden_size(self) -> int:
        return speech_encoder_hidden_size(self.audio_config)

    @property
    def num_hidden_states(self) -> int:
        """Hidden states the encoder returns: the input embeddings and one per layer."""
        return speech_encoder_num_layers(self.audio_config) + 1

    @property
    def num_fixed_hidden_states(self) -> int:
        """Hidden states that no trained layer changes: all of them with `freeze_backbone`, those below the
        trained layers with `trainable_encoder_layers` (a frozen-encoder cache keeps these), else 0."""
        if self.trainable_encoder_layers:
            return self.num_hidden_states - self.trainable_encoder_layers
        return self.num_hidden_states if self.freeze_backbone else 0

    @property
    def initializer_range(self) -> float:
        return getattr(self.audio_config, "initializer_range", None) or getattr(self.audio_config, "init_std", 0.02)

    @property
    def layer_output_size(self) -> int:
        """Width of a frame after the layers are combined: the hidden size, or every layer's with
        `concatenate_layers`."""
        return self.hidden_size * (self.num_hidden_states if getattr(self, "concatenate_layers", False) else 1)

    @property
    def frame_size(self) -> int:
        """Width of the frame vectors that are pooled (the projector's, else the combined layers')."""
        return self.projector_size or self.layer_output_size

    @property
    def pooled_size(self) -> int:
        """Width of the pooled vector the classifier reads."""
        return self.frame_size * (2 if self.pooling in ("mean_max", "attentive_stats") else 1)

    @property
    def receptive_field(self) -> int:
        """Samples (waveform encoders) or mel frames (Whisper) one encoder frame needs (400 = 25 ms for wav2vec2)."""
        return minimum_input_length(self.audio_config)


__all__ = ["POOLINGS", "SAMPLING_RATE", "SPEECH_ENCODER_TYPES", "SpeechEmotionConfig"]
