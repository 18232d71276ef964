"""Waveform baseline configuration: logistic regression or an MLP over the raw samples."""

from typing import Literal

from huggingface_hub.dataclasses import strict

from .configuration_utils import EmotionClassifierConfig, positive_int, positive_ints, probability
from .pipeline_audio_classification import AUDIO_CUSTOM_PIPELINES


@strict
class WaveformMLPConfig(EmotionClassifierConfig):
    r"""
    Configuration of the source report's raw-waveform baselines: the waveform, scaled to [-1, 1] and padded or trimmed
    to a fixed number of samples, goes through fully connected layers. `hidden_sizes=[]` is multinomial logistic
    regression; the default is the report's MLP (100, 200 and 60 units, dropout 0.25).

    Args:
        input_length (`int`, *optional*, defaults to 44100): samples per clip (1 s at 44.1 kHz); inputs must have
            exactly this length (the feature extractor pads or crops clips to its `max_length_seconds`).
        hidden_sizes (`list[int]`, *optional*, defaults to `[100, 200, 60]`): widths of the hidden layers; empty for
            logistic regression.
        hidden_act (`str`, *optional*, defaults to `"relu"`): activation of the hidden layers, one of `relu`, `tanh`,
            `gelu`.
        dropout (`float`, *optional*, defaults to 0.25): dropout after each hidden layer.
        input_dropout (`float`, *optional*, defaults to 0.0): dropout on the input samples.
    """

    model_type = "waveform_mlp"
    default_custom_pipelines = AUDIO_CUSTOM_PIPELINES

    input_length: int = positive_int(default=44100)
    hidden_sizes: list[int] | tuple[int, ...] = positive_ints(default=(100, 200, 60))
    hidden_act: Literal["relu", "tanh", "gelu"] = "relu"
    dropout: float | int = probability(default=0.25)
    input_dropout: float | int = probability(default=0.0)


__all__ = ["WaveformMLPConfig"]
