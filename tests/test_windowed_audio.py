import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn
from transformers import Wav2Vec2FeatureExtractor
from transformers.modeling_outputs import SequenceClassifierOutput

from emotion_hub.modeling import classify_windows
from emotion_hub.modeling.windowed_audio import window_starts
from tests.wav2vec2_utils import GROUP_NORM, tiny_model


SR = 16000


@pytest.fixture(scope="module")
def model():
    return tiny_model(norm=GROUP_NORM, pooling="mean_max")  # wav2vec2-base style: equal-length windows batch exactly


@pytest.fixture(scope="module")
def extractor():
    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, padding_value=0.0, do_normalize=True,
                                    return_attention_mask=False)


def synthetic_recording(seconds, sampling_rate=SR, seed=0):
    """A tone whose pitch changes every second, plus noise: windows differ from one another."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    pitch = 150 + 100 * np.floor(t) % 400
    return (0.4 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)


def test_window_starts():
    assert window_starts(100, 40, 20) == [0, 20, 40, 60]  # the last window ends exactly at the end
    assert window_starts(105, 40, 20) == [0, 20, 40, 60, 65]  # a last window aligned to the end
    assert window_starts(40, 40, 20) == [0]
    assert window_starts(10, 40, 20) == [0]  # shorter than a window: one window
    assert window_starts(100, 40, 40) == [0, 40, 60]


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_equals_manual_per_window_averaging(model, extractor, batch_size):
    waveform = synthetic_recording(3.3)
    result = classify_windows(model, extractor, waveform, SR, window_seconds=1.0, hop_seconds=0.4,
                              batch_size=batch_size)
    np.testing.assert_allclose(result["window_starts"], [0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.3])
    np.testing.assert_allclose(result["window_ends"], result["window_starts"] + 1.0)
    manual = []
    with torch.no_grad():
        for start in result["window_starts"]:
            window = waveform[int(round(start * SR)):int(round(start * SR)) + SR]
            manual.append(model(**extractor(window, sampling_rate=SR, return_tensors="pt")).logits[0].softmax(-1))
    manual = torch.stack(manual).numpy()
    assert result["window_probabilities"].shape == (7, 3) and result["probabilities"].shape == (3,)
    np.testing.assert_allclose(result["window_probabilities"], manual, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result["probabilities"], manual.mean(0), rtol=1e-5, atol=1e-6)
    assert np.ptp(manual[:, 0]) > 1e-3  # the windows do differ: the average is not trivially any one of them


def test_long_recording_default_hop_and_model_mode(model, extractor):
    waveform = torch.from_numpy(synthetic_recording(20.0, seed=1))  # a torch tensor works too
    model.train()
    result = classify_windows(model, extractor, waveform, SR, window_seconds=2.0)
    assert model.training  # the caller's mode comes back; the windows ran in eval mode (no dropout):
    again = classify_windows(model, extractor, waveform, SR, window_seconds=2.0, batch_size=5)
    np.testing.assert_allclose(again["window_probabilities"], result["window_probabilities"], rtol=1e-5, atol=1e-6)
    model.eval()
    np.testing.assert_allclose(result["window_starts"], np.arange(19.0))  # hop = window / 2 = 1 s
    assert result["window_probabilities"].shape == (19, 3)
    np.testing.assert_allclose(result["window_probabilities"].sum(-1), 1.0, rtol=1e-5)


def test_short_clip_is_one_window(model, extractor):
    clip = synthetic_recording(0.5)
    result = classify_windows(model, extractor, clip, SR, window_seconds=2.0)
    np.testing.assert_allclose(result["window_starts"], [0.0])
    np.testing.assert_allclose(result["window_ends"], [0.5])
    with torch.no_grad():
        expected = model(**extractor(clip, sampling_rate=SR, return_tensors="pt")).logits[0].softmax(-1).numpy()
    np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-5, atol=1e-6)
    # Too short for the model itself: its own error comes through.
    with pytest.raises(ValueError, match="shorter than wav2vec2's convolutional receptive field"):
        classify_windows(model, extractor, clip[:10], SR, window_seconds=2.0)


class EnergyModel(nn.Module):
    """A stand-in audio classifier (any model works): logits from each window's mean, energy and peak."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, input_values):
        stats = torch.stack([input_values.mean(-1), input_values.pow(2).mean(-1), input_values.abs().amax(-1)], -1)
        return SequenceClassifierOutput(logits=stats * self.scale)


class RecordingExtractor:
    """A feature extractor that checks it is given views of the recording, in batches of at most `batch_size`."""

    def __init__(self, waveform, batch_size):
        self.waveform, self.batch_size, self.calls = waveform, batch_size, 0

    def __call__(self, windows, sampling_rate, return_tensors):
        assert return_tensors == "pt" and len(windows) <= self.batch_size
        assert all(np.shares_memory(w, self.waveform) for w in windows)
        self.calls += 1
        return {"input_values": torch.from_numpy(np.stack(windows))}


def test_one_hour_in_bounded_memory():
    sampling_rate = 1000  # an hour at 1 kHz keeps the test light; the windowing does not depend on the rate
    waveform = np.random.default_rng(0).standard_normal(3600 * sampling_rate).astype(np.float32)
    extractor = RecordingExtractor(waveform, batch_size=16)
    tracemalloc.start()
    result = classify_windows(EnergyModel(), extractor, waveform, sampling_rate, window_seconds=2.0, batch_size=16)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(result["window_starts"]) == 3599 and extractor.calls == -(-3599 // 16)
    # The recording is 14.4 MB; a copy of it, or of all 3599 windows (28.8 MB), would show here.
    assert peak < 2_000_000, peak
    first = torch.from_numpy(waveform[:2000])
    expected = torch.stack([first.mean(), first.pow(2).mean(), first.abs().max()]).softmax(-1).numpy()
    np.testing.assert_allclose(result["window_probabilities"][0], expected, rtol=1e-5)


def test_bad_arguments(model, extractor):
    waveform = synthetic_recording(1.0)
    for kwargs, message in [
        ({"window_seconds": 0}, "`window_seconds` must be a positive number"),
        ({"window_seconds": -1.0}, "`window_seconds` must be a positive number"),
        ({"window_seconds": float("nan")}, "`window_seconds` must be a positive number"),
        ({"window_seconds": 1.0, "hop_seconds": 0}, "`hop_seconds` must be a positive number"),
        ({"window_seconds": 1.0, "hop_seconds": 1.5}, r"`hop_seconds` \(1.5\) must not exceed `window_seconds` \(1.0\)"),
        ({"window_seconds": 1.0, "batch_size": 0}, "`batch_size` must be a positive int"),
        ({"window_seconds": 1e-5}, "at least one sample"),
    ]:
        with pytest.raises(ValueError, match=message):
            classify_windows(model, extractor, waveform, SR, **kwargs)
    with pytest.raises(ValueError, match="`sampling_rate` must be a positive int"):
        classify_windows(model, extractor, waveform, 0, window_seconds=1.0)
    with pytest.raises(ValueError, match=r"must be 1-D \(samples,\), got shape \(2, 8000\)"):
        classify_windows(model, extractor, waveform.reshape(2, -1), SR, window_seconds=1.0)
    with pytest.raises(ValueError, match="`waveform` is empty"):
        classify_windows(model, extractor, waveform[:0], SR, window_seconds=1.0)
    # The feature extractor refuses a sampling rate it was not made for.
    with pytest.raises(ValueError, match="sampling rate"):
        classify_windows(model, extractor, waveform, 8000, window_seconds=1.0)
