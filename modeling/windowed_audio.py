"""Classifying recordings longer than a model's training clips: overlapping windows, scores averaged (softmax
probabilities; per-label sigmoid probabilities for a multi-label model; the predicted values for a regression model).

Model-agnostic: it only calls `feature_extractor(list_of_windows, sampling_rate=sr, return_tensors="pt")` and
`model(**inputs).logits`, so it serves every audio classifier of the package (wav2vec2, spectrogram, MFCC, waveform)
and their pipelines. Windows are slices (views) of the waveform, processed `batch_size` at a time, so memory stays
bounded for an hour of audio. All windows have the same length, so a batch holds no padding.
"""

import math

import numpy as np
import torch


def window_starts(num_samples: int, window_length: int, hop_length: int) -> list[int]:
    """Start samples of the windows over `num_samples`: every `hop_length` samples, the last window ending at the last
    sample; a recording no longer than one window is one window starting at 0."""
    if num_samples <= window_length:
        return [0]
    starts = list(range(0, num_samples - window_length + 1, hop_length))
    if starts[-1] + window_length < num_samples:
        starts.append(num_samples - window_length)
    return starts


def _check_arguments(waveform, sampling_rate, window_seconds, hop_seconds, batch_size):
    if waveform.ndim != 1:
        raise ValueError(f"`waveform` must be 1-D (samples,), got shape {tuple(waveform.shape)}; mix stereo to mono")
    if waveform.shape[0] == 0:
        raise ValueError("`waveform` is empty")
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be a positive int (Hz), got {sampling_rate!r}")
    for name, value in (("window_seconds", window_seconds), ("hop_seconds", hop_seconds)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"`{name}` must be a positive number of seconds, got {value!r}")
    if hop_seconds is not None and hop_seconds > window_seconds:
        raise ValueError(f"`hop_seconds` ({hop_seconds}) must not exceed `window_seconds` ({window_seconds}): the audio "
                         f"between windows would be skipped")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}")


def window_scores(logits: torch.Tensor, problem_type) -> torch.Tensor:
    """What is averaged over windows: softmax probabilities, independent sigmoid probabilities for
    `"multi_label_classification"`, the values themselves for `"regression"`."""
    if problem_type == "multi_label_classification":
        return logits.float().sigmoid()
    if problem_type == "regression":
        return logits.float()
    return logits.float().softmax(dim=-1)


def _to_model(inputs, device, dtype) -> dict:
    """The feature extractor's tensors on the model's device; floating ones in the model's dtype (as pipelines do)."""
    moved = {}
    for name, value in inputs.items():
        if isinstance(value, torch.Tensor):
            cast = dtype if dtype is not None and value.is_floating_point() else value.dtype
            value = value.to(device=device, dtype=cast)
        moved[name] = value
    return moved


def classify_windows(model, feature_extractor, waveform, sampling_rate: int, window_seconds: float,
                     hop_seconds: float = None, batch_size: int = 8) -> dict:
    """Classify a long 1-D recording by averaging the probabilities of overlapping windows (softmax; per-label
    sigmoid for a multi-label model, the values for regression: `model.config.problem_type`).

    Args:
        model: any audio classifier whose output has `.logits` of shape `(batch, num_labels)`; run in eval mode under
            `torch.no_grad` (its training mode is restored afterwards).
        feature_extractor: called as `feature_extractor(list_of_windows, sampling_rate=sampling_rate,
            return_tensors="pt")`; it refuses a sampling rate it was not made for.
        waveform (`np.ndarray` or `torch.Tensor` of shape `(samples,)`): the recording, mono.
        sampling_rate (`int`): its sampling rate in Hz.
        window_seconds (`float`): window length; use the clip length the model was trained on.
        hop_seconds (`float`, *optional*, defaults to `window_seconds / 2`): distance between window starts, at most
            `window_seconds`. The last window is aligned to the end of the recording (it may overlap its neighbour
            more); a recording shorter than one window is a single window of its own length.
        batch_size (`int`, *optional*, defaults to 8): windows per model call.

    Returns:
        `dict` with `probabilities` (`np.ndarray` `(num_labels,)`, the mean of the window probabilities),
        `window_probabilities` (`(num_windows, num_labels)`), `window_starts` and `window_ends` (`(num_windows,)`,
        seconds).
    """
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu().numpy()  # a view of a CPU tensor, no copy
    elif not isinstance(waveform, np.ndarray):
        waveform = np.asarray(waveform, dtype=np.float32)
    _check_arguments(waveform, sampling_rate, window_seconds, hop_seconds, batch_size)
    window_length = int(round(window_seconds * sampling_rate))
    hop_length = int(round(hop_seconds * sampling_rate)) if hop_seconds is not None else window_length // 2
    if window_length < 1 or hop_length < 1:
        raise ValueError(f"`window_seconds` ({window_seconds}) and `hop_seconds` ({hop_seconds}) must each hold at least "
                         f"one sample at {sampling_rate} Hz (hop defaults to half the window)")
    starts = window_starts(waveform.shape[0], window_length, hop_length)

    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else None
    was_training = model.training
    model.eval()
    batches = []
    try:
        with torch.no_grad():
            for first in range(0, len(starts), batch_size):
                windows = [waveform[s:s + window_length] for s in starts[first:first + batch_size]]  # views
                inputs = feature_extractor(windows, sampling_rate=sampling_rate, return_tensors="pt")
                logits = model(**_to_model(inputs, device, dtype)).logits
                problem_type = getattr(getattr(model, "config", None), "problem_type", None)
                batches.append(window_scores(logits, problem_type).cpu())
    finally:
        model.train(was_training)
    window_probabilities = torch.cat(batches).numpy()
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.minimum(starts + window_length, waveform.shape[0])
    return {
        "probabilities": window_probabilities.mean(axis=0),
        "window_probabilities": window_probabilities,
        "window_starts": starts / sampling_rate,
        "window_ends": ends / sampling_rate,
    }


__all__ = ["classify_windows", "window_scores", "window_starts"]
