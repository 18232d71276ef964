"""Classifying recordings longer than a model's training clips: overlapping windows, scores averaged (softmax
probabilities; per-label sigmoid probabilities for a multi-label model; the predicted values for a regression model).

Model-agnostic: it only calls `feature_extractor(list_of_windows, sampling_rate=sr, return_tensors="pt")` and
`model(**inputs).logits`, so it serves every audio classifier of the package (wav2vec2, spectrogram, MFCC, waveform)
and their pipelines. Windows are slices (views) of the waveform, processed `batch_size` at a time, so memory stays
bounded for an hour of audio. All windows have the same length, so a batch holds no padding.

A window is never longer than what the model reads in one forward ([`model_window_seconds`]: Whisper's window, or a
feature extractor that pads / cuts every clip to a fixed length): such a window would be cut to its start and the rest
of it never heard, so it is refused by name. Windows shorter than `MIN_WINDOW_SECONDS`, or so short that a recording
would give more than `MAX_WINDOWS` of them, are refused too.
"""

import inspect
import math
from typing import Optional

import numpy as np
import torch


# Shorter windows hold no emotion to classify (a syllable lasts about 0.2 s) and make a recording cost thousands of
# forwards per minute.
MIN_WINDOW_SECONDS = 0.1
# More windows than this (about 28 hours in 2 s windows every second) is a window or hop chosen by mistake.
MAX_WINDOWS = 100_000
# Whisper's encoder makes 50 frames per second: `max_source_positions / 50` seconds per forward.
WHISPER_FRAMES_PER_SECOND = 50


def window_starts(num_samples: int, window_length: int, hop_length: int) -> list[int]:
    """Start samples of the windows over `num_samples`: every `hop_length` samples, the last window ending at the last
    sample; a recording no longer than one window is one window starting at 0."""
    if num_samples <= window_length:
        return [0]
    starts = list(range(0, num_samples - window_length + 1, hop_length))
    if starts[-1] + window_length < num_samples:
        starts.append(num_samples - window_length)
    return starts


def _check_arguments(waveform, sampling_rate, window_seconds, hop_seconds, batch_size, model_window=None):
    if waveform.ndim != 1:
        raise ValueError(f"`waveform` must be 1-D (samples,), got shape {tuple(waveform.shape)}; mix stereo to mono")
    if waveform.shape[0] == 0:
        raise ValueError("`waveform` is empty")
    if not (np.isfinite(waveform.min()) and np.isfinite(waveform.max())):  # NaN propagates through min/max: O(1) memory
        raise ValueError("`waveform` holds NaN or infinite values; the audio must be finite")
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be a positive int (Hz), got {sampling_rate!r}")
    check_window_arguments(window_seconds, hop_seconds, model_window)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}")


def check_window_arguments(window_seconds, hop_seconds=None, model_window=None) -> None:
    """Refuse a window or hop that is not a positive number of seconds; a window shorter than `MIN_WINDOW_SECONDS`
    (or than the model's own window, where that is shorter), or longer than `model_window` (the seconds one forward
    reads: [`model_window_seconds`]; the rest of the window would never be heard); a hop longer than the window (the
    audio between windows would never be heard)."""
    for name, value in (("window_seconds", window_seconds), ("hop_seconds", hop_seconds)):
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and math.isfinite(value) and value > 0):
            raise ValueError(f"`{name}` must be a positive number of seconds, got {value!r}")
    if window_seconds is None:
        raise ValueError("`window_seconds` must be a positive number of seconds, got None")
    smallest = min(MIN_WINDOW_SECONDS, model_window) if model_window else MIN_WINDOW_SECONDS
    if window_seconds < smallest - 1e-9:
        raise ValueError(f"`window_seconds` ({window_seconds:g}) must be at least {smallest:g} s: a shorter window holds "
                         f"no emotion to classify")
    if model_window is not None and window_seconds > model_window + 1e-9:
        raise ValueError(f"`window_seconds` ({window_seconds:g}) is longer than the {model_window:g} s this model reads "
                         f"in one forward: each window would be cut to its first {model_window:g} s and the rest never "
                         f"heard; use window_seconds <= {model_window:g} (unset in the pipeline: windows of "
                         f"{model_window:g} s)")
    if hop_seconds is not None and hop_seconds > window_seconds:
        raise ValueError(f"`hop_seconds` ({hop_seconds}) must not exceed `window_seconds` ({window_seconds}): the audio "
                         f"between windows would be skipped")


def feature_extractor_kwargs(model, feature_extractor) -> dict:
    """What to ask of `feature_extractor` beyond its defaults so that `model` pools only the clip: a
    `WhisperFeatureExtractor` pads every clip to its window and returns the mask of the clip's mel frames only when
    asked (`return_attention_mask=True`), for a model whose forward takes it (ours; not the stock
    `WhisperForAudioClassification`, which pools the whole window)."""
    if type(feature_extractor).__name__ != "WhisperFeatureExtractor":
        return {}
    try:
        takes_mask = "attention_mask" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        takes_mask = False
    return {"return_attention_mask": True} if takes_mask else {}


def model_window_seconds(model=None, feature_extractor=None) -> Optional[float]:
    """Seconds of audio one forward of `model` reads through `feature_extractor`, or None when any length is read
    whole: a Whisper encoder's window (ours: `config.window_seconds`; the stock `WhisperForAudioClassification`:
    `max_source_positions / 50`), a `WhisperFeatureExtractor`'s `chunk_length` (it pads and cuts every clip to it),
    an `ASTFeatureExtractor`'s `max_length` frames (10.255 s for 1024), a feature extractor with a fixed
    `max_length_seconds` (ours: longer clips are cropped). The shortest of them."""
    windows = []
    config = getattr(model, "config", None)
    if config is not None:
        if getattr(config, "window_seconds", None):
            windows.append(float(config.window_seconds))
        elif getattr(config, "model_type", None) == "whisper" and getattr(config, "max_source_positions", None):
            windows.append(config.max_source_positions / WHISPER_FRAMES_PER_SECOND)
    if feature_extractor is not None:
        rate = getattr(feature_extractor, "sampling_rate", None)
        if type(feature_extractor).__name__ == "WhisperFeatureExtractor" and rate:
            windows.append(feature_extractor.n_samples / rate)
        elif type(feature_extractor).__name__ == "ASTFeatureExtractor":
            # Kaldi fbank frames of 25 ms every 10 ms, padded / cut to `max_length` frames.
            windows.append((feature_extractor.max_length - 1) * 0.010 + 0.025)
        elif getattr(feature_extractor, "max_length_seconds", None):
            windows.append(float(feature_extractor.max_length_seconds))
    return min(windows) if windows else None


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
        window_seconds (`float`): window length; use the clip length the model was trained on. At least
            `MIN_WINDOW_SECONDS`, and no longer than what the model reads in one forward ([`model_window_seconds`]:
            a Whisper window, a feature extractor's fixed length); the recording may give at most `MAX_WINDOWS`.
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
    _check_arguments(waveform, sampling_rate, window_seconds, hop_seconds, batch_size,
                     model_window_seconds(model, feature_extractor))
    window_length = int(round(window_seconds * sampling_rate))
    hop_length = int(round(hop_seconds * sampling_rate)) if hop_seconds is not None else window_length // 2
    if window_length < 1 or hop_length < 1:
        raise ValueError(f"`window_seconds` ({window_seconds}) and `hop_seconds` ({hop_seconds}) must each hold at least "
                         f"one sample at {sampling_rate} Hz (hop defaults to half the window)")
    num_samples = waveform.shape[0]
    count = 1 if num_samples <= window_length else -(-(num_samples - window_length) // hop_length) + 1
    if count > MAX_WINDOWS:
        raise ValueError(f"{num_samples / sampling_rate:g} s of audio in windows of {window_seconds:g} s every "
                         f"{hop_length / sampling_rate:g} s gives {count} windows (more than {MAX_WINDOWS}); use a "
                         f"longer `window_seconds` or `hop_seconds`")
    starts = window_starts(num_samples, window_length, hop_length)
    extra = feature_extractor_kwargs(model, feature_extractor)

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
                inputs = feature_extractor(windows, sampling_rate=sampling_rate, return_tensors="pt", **extra)
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


__all__ = ["MAX_WINDOWS", "MIN_WINDOW_SECONDS", "check_window_arguments", "classify_windows", "feature_extractor_kwargs",
           "model_window_seconds", "window_scores", "window_starts"]
