"""Waveform baseline configuration: logistic regression or an MLP over the raw samples."""

import copy

from transformers import PretrainedConfig

from .losses import validate_loss_arguments
from .pipeline_audio_classification import AUDIO_CUSTOM_PIPELINES


ACTIVATIONS = ("relu", "tanh", "gelu")


class WaveformMLPConfig(PretrainedConfig):
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
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, `"weighted_ce"`, `"focal"` or `"dice"`, the loss of
            single-label classification.
        problem_type (`str`, *optional*): `"single_label_classification"` (int label ids, `loss_type`),
            `"multi_label_classification"` (0/1 float targets per label, binary cross-entropy; the pipeline gives
            independent sigmoid scores) or `"regression"` (float targets, mean squared error); inferred from the labels
            at the first loss when unset, as in transformers' stock heads.
        class_weights (`list[float]`, *optional*): one weight per label in label-id order (required by `"weighted_ce"`).
        focal_gamma (`float`, *optional*, defaults to 2.0): focusing parameter of the focal loss.
        dice_smooth (`float`, *optional*, defaults to 1.0): smoothing term of the Dice loss.
    """

    model_type = "waveform_mlp"

    def __init__(
        self,
        input_length=44100,
        hidden_sizes=(100, 200, 60),
        hidden_act="relu",
        dropout=0.25,
        input_dropout=0.0,
        loss_type="ce",
        class_weights=None,
        focal_gamma=2.0,
        dice_smooth=1.0,
        **kwargs,
    ):
        hidden_sizes = [int(h) for h in hidden_sizes]
        if not isinstance(input_length, int) or input_length < 1:
            raise ValueError(f"`input_length` must be a positive int (samples per clip), got {input_length!r}")
        if hidden_sizes and min(hidden_sizes) < 1:
            raise ValueError(f"`hidden_sizes` must be positive ints (or empty for logistic regression), got {hidden_sizes}")
        if hidden_act not in ACTIVATIONS:
            raise ValueError(f"`hidden_act` must be one of {ACTIVATIONS}, got {hidden_act!r}")
        for name, p in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {p}")
        kwargs.setdefault("custom_pipelines", copy.deepcopy(AUDIO_CUSTOM_PIPELINES))
        super().__init__(**kwargs)
        validate_loss_arguments(loss_type, class_weights, focal_gamma, dice_smooth, self.num_labels)
        self.input_length = input_length
        self.hidden_sizes = hidden_sizes
        self.hidden_act = hidden_act
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.loss_type = loss_type
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.focal_gamma = focal_gamma
        self.dice_smooth = dice_smooth


__all__ = ["WaveformMLPConfig"]
