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
        ({"window_seconds": 0.001}, r"`window_seconds` \(0.001\) must be at least 0.1 s"),
        ({"window_seconds": 1.0, "hop_seconds": 1e-5}, "at least one sample"),
    ]:
        with pytest.raises(ValueError, match=message):
            classify_windows(model, extractor, waveform, SR, **kwargs)
    with pytest.raises(ValueError, match="`sampling_rate` must be a positive int"):
        classify_windows(model, extractor, waveform, 0, window_seconds=1.0)
    with pytest.raises(ValueError, match=r"must be 1-D \(samples,\), got shape \(2, 8000\)"):
        classify_windows(model, extractor, waveform.reshape(2, -1), SR, window_seconds=1.0)
    with pytest.raises(ValueError, match="`waveform` is empty"):
        classify_windows(model, extractor, waveform[:0], SR, window_seconds=1.0)
    with pytest.raises(ValueError, match="`waveform` holds NaN or infinite values"):
        classify_windows(model, extractor, np.where(np.arange(16000) == 7, np.inf, waveform), SR, window_seconds=1.0)
    # The feature extractor refuses a sampling rate it was not made for.
    with pytest.raises(ValueError, match="sampling rate"):
        classify_windows(model, extractor, waveform, 8000, window_seconds=1.0)


class NoForward:
    """A feature extractor that fails the test when any window is computed: refusals come before the first window."""

    def __call__(self, *args, **kwargs):
        raise AssertionError("a window was computed")


def test_absurd_windows_are_refused_before_any_window():
    recording = np.zeros(3600 * 100, dtype=np.float32)  # an hour at 100 Hz
    with pytest.raises(ValueError, match=r"`window_seconds` \(0.001\) must be at least 0.1 s"):
        classify_windows(EnergyModel(), NoForward(), recording, 100, window_seconds=0.001)
    with pytest.raises(ValueError, match=r"3600 s of audio in windows of 0.1 s every 0.01 s gives 359991 windows "
                                         r"\(more than 100000\)"):
        classify_windows(EnergyModel(), NoForward(), recording, 100, window_seconds=0.1, hop_seconds=0.01)


# -- Whisper: a fixed window --------------------------------------------------------------------------------------------
# 8 mel bins, a 2 s window (100 positions, 200 mel frames).
WHISPER = dict(model_type="whisper", d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
               num_mel_bins=8, max_source_positions=100, decoder_layers=1, decoder_attention_heads=2,
               decoder_ffn_dim=16, vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2,
               decoder_start_token_id=1)
EMOTIONS = ["angry", "happy", "neutral"]


def signal(seconds, seed=0):
    """Stationary 'speech': a tone with noise, the same statistics in every window."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * rng.standard_normal(t.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def whisper():
    """A tiny random Whisper classifier (2 s window) whose head is set so that silence reads 'neutral' and the signal
    'angry' (a linear classifier on the pooled vectors of the two, margin 10 logits), and its feature extractor."""
    from transformers import WhisperFeatureExtractor

    from emotion_hub.modeling import SpeechEmotionConfig, SpeechEmotionForAudioClassification

    torch.manual_seed(0)
    model = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=dict(WHISPER), projector_size=8, id2label=dict(enumerate(EMOTIONS)),
        label2id={n: i for i, n in enumerate(EMOTIONS)})).eval()
    extractor = WhisperFeatureExtractor(feature_size=8, chunk_length=2)
    pooled = []
    hook = model.classifier.register_forward_hook(lambda module, args, output: pooled.append(args[0][0].detach()))
    with torch.no_grad():
        for wave in (np.zeros(2 * SR, dtype=np.float32), signal(2.0, seed=99)):
            model(**extractor(wave, sampling_rate=SR, return_attention_mask=True, return_tensors="pt"))
    hook.remove()
    silence, speech = pooled
    direction = (speech - silence) / (speech - silence).norm()
    middle = (speech + silence) / 2
    scale = 10.0 / float(direction @ (speech - middle))
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.weight[0] = direction * scale
        model.classifier.weight[2] = -direction * scale
        model.classifier.bias.copy_(torch.tensor([-1.0, 0.0, 1.0]) * float(direction @ middle) * scale)
        model.classifier.bias[1] = -5.0
    return model, extractor


def top(result):
    return max(result, key=lambda r: r["score"])["label"]


def test_a_long_recording_is_scored_from_every_part_and_a_longer_window_is_refused(whisper):
    """2 s of silence, then 58 s of 'speech': the answer is the speech's. A `window_seconds` longer than the model's
    2 s window used to be cut to its first 2 s (the silence's answer); it is refused by name."""
    from transformers import pipeline

    from emotion_hub.modeling.pipeline_audio_classification import EmotionAudioClassificationPipeline

    model, extractor = whisper
    classifier = pipeline("audio-classification", model=model, feature_extractor=extractor,
                          pipeline_class=EmotionAudioClassificationPipeline)
    recording = np.concatenate([np.zeros(2 * SR, dtype=np.float32), signal(58.0)])
    assert top(classifier(recording[:2 * SR])) == "neutral"  # the silence alone
    assert top(classifier(recording[2 * SR:4 * SR])) == "angry"  # the speech alone
    message = r"`window_seconds` \(60\) is longer than the 2 s this model reads in one forward"
    with pytest.raises(ValueError, match=message):
        classifier(recording, window_seconds=60)
    with pytest.raises(ValueError, match=message):
        classify_windows(model, extractor, recording, SR, window_seconds=60)
    # Unset (the model's window), or given as it: every part heard, the speech's answer.
    for kwargs in ({}, {"window_seconds": 2.0}, {"window_seconds": 2.0, "hop_seconds": 2.0}):
        result = classifier(recording, top_k=None, **kwargs)
        assert top(result) == "angry", kwargs
        assert {r["label"]: r["score"] for r in result}["angry"] > 0.9, kwargs
    windows = classify_windows(model, extractor, recording, SR, window_seconds=2.0)
    assert windows["window_ends"][-1] == 60.0 and len(windows["window_starts"]) == 59  # 0, 1, ..., 58 s
    assert windows["window_probabilities"][0].argmax() == 2 and (windows["window_probabilities"][2:].argmax(1) == 0).all()


def test_windows_shorter_than_whisper_window_are_pooled_over_their_own_audio(whisper):
    """1 s windows of a 2 s Whisper model: each is padded to the window and pooled over its own frames only, as the
    pipeline pools a 1 s clip (the feature extractor's mask is asked for)."""
    model, extractor = whisper
    recording = np.concatenate([signal(1.0, seed=3), np.zeros(SR // 2, dtype=np.float32), signal(1.5, seed=4)])
    result = classify_windows(model, extractor, recording, SR, window_seconds=1.0, hop_seconds=0.5)
    with torch.no_grad():
        for start, probabilities in zip(result["window_starts"], result["window_probabilities"]):
            window = recording[int(round(start * SR)):int(round(start * SR)) + SR]
            inputs = extractor(window, sampling_rate=SR, return_attention_mask=True, return_tensors="pt")
            np.testing.assert_allclose(probabilities, model(**inputs).logits[0].softmax(-1).numpy(), atol=1e-5)


def test_stock_whisper_export_exact_behaviour_and_the_safe_paths(whisper, tmp_path):
    """What the README states of the stock `WhisperForAudioClassification` folder (`export_stock`) under the stock
    pipeline (the Hub widget's), and that our pipeline class / `classify_windows` on the same folder refuse NaN and
    empty audio and hear every part of a long recording."""
    from transformers import pipeline

    from emotion_hub.modeling.pipeline_audio_classification import EmotionAudioClassificationPipeline

    model, extractor = whisper
    model.save_stock_pretrained(tmp_path / "stock", feature_extractor=extractor)
    stock = pipeline("audio-classification", model=str(tmp_path / "stock"), top_k=None)
    assert type(stock.model).__name__ == "WhisperForAudioClassification"
    recording = np.concatenate([np.zeros(2 * SR, dtype=np.float32), signal(58.0)])
    silence_scores = {r["label"]: r["score"] for r in stock(np.zeros(2 * SR, dtype=np.float32))}
    # The stock pipeline checks nothing: NaN audio gets NaN scores, an empty array the answer of 2 s of silence (the
    # window the extractor pads it to), a long recording the answer of its first 2 s only.
    assert all(np.isnan(r["score"]) for r in stock(np.full(SR, np.nan, dtype=np.float32)))
    assert {r["label"]: r["score"] for r in stock(np.zeros(0, dtype=np.float32))} == pytest.approx(silence_scores)
    assert top(stock(recording)) == "neutral"
    # A bare array carries no rate: it is taken to be at the extractor's 16 kHz (as in our pipeline; pass
    # {"raw", "sampling_rate"} to have it resampled); the stock extractor itself refuses another rate.
    with pytest.raises(ValueError, match="sampling rate"):
        stock.feature_extractor(signal(1.0), sampling_rate=8000)
    # The same folder through our pipeline class, or classify_windows: refused, or every part heard.
    ours = pipeline("audio-classification", model=str(tmp_path / "stock"),
                    pipeline_class=EmotionAudioClassificationPipeline)
    with pytest.raises(ValueError, match="audio: the waveform holds NaN or infinite values"):
        ours(np.full(SR, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"audio: the waveform is empty \(0 samples\)"):
        ours(np.zeros(0, dtype=np.float32))
    assert top(ours(recording)) == "angry"
    windows = classify_windows(stock.model, stock.feature_extractor, recording, SR, window_seconds=2.0)
    assert windows["probabilities"].argmax() == 0
    with pytest.raises(ValueError, match=r"`window_seconds` \(60\) is longer than the 2 s"):
        classify_windows(stock.model, stock.feature_extractor, recording, SR, window_seconds=60)


def test_recipe_stock_export_checks_the_window_first_and_states_the_stock_behaviour(whisper, tmp_path):
    """train.py's `export_stock` (AudioClassificationTask.save_model) with a Whisper model: an extractor of another
    window is refused before anything is written; otherwise the warning states what the stock pipeline does with the
    inputs ours refuses (as measured in the test above)."""
    from types import SimpleNamespace

    from transformers import WhisperFeatureExtractor
    from transformers.testing_utils import CaptureLogger

    from emotion_hub.training import audio

    model, extractor = whisper
    task = SimpleNamespace(recipe=SimpleNamespace(export_stock=True),
                           processor=WhisperFeatureExtractor(feature_size=8, chunk_length=3))
    with pytest.raises(ValueError, match=r"chunk_length \(3\) must be the model's Whisper window \(2 s\)"):
        audio.AudioClassificationTask.save_model(task, model, str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()
    task.processor = extractor
    with CaptureLogger(audio.logger) as captured:
        audio.AudioClassificationTask.save_model(task, model, str(tmp_path / "stock"))
    assert (tmp_path / "stock" / "preprocessor_config.json").is_file()
    for behaviour in ("NaN audio gets NaN scores", "an empty array the answer of 2 s of silence",
                      "a recording longer than 2 s the answer of its first 2 s only",
                      "pipeline_class=EmotionAudioClassificationPipeline"):
        assert behaviour in captured.out


def test_model_window_is_what_one_forward_reads(whisper):
    """The window the pipeline scores long recordings in: the Whisper model's, a Whisper extractor's chunk, an AST
    extractor's `max_length` frames (exactly that many frames, one sample less is one frame less), a fixed-length
    extractor of ours; None for models that read any length."""
    from transformers import ASTFeatureExtractor

    from emotion_hub.modeling.windowed_audio import model_window_seconds
    from emotion_hub.processing import EmotionAudioFeatureExtractor

    model, extractor = whisper
    assert model_window_seconds(model, None) == model_window_seconds(None, extractor) == 2.0
    ast = ASTFeatureExtractor(max_length=100, num_mel_bins=16, do_normalize=False)  # padded frames stay 0
    window = model_window_seconds(None, ast)
    assert window == pytest.approx(1.015)
    samples = int(round(window * SR))
    frames = [int(np.abs(ast(np.full(n, 0.1, np.float32), sampling_rate=SR, return_tensors="np")["input_values"][0])
                  .sum(-1).astype(bool).sum()) for n in (samples, samples - 1)]
    assert frames == [100, 99]
    assert model_window_seconds(None, EmotionAudioFeatureExtractor(max_length_seconds=1.5)) == 1.5
    assert model_window_seconds(tiny_model(norm=GROUP_NORM), Wav2Vec2FeatureExtractor()) is None


def test_a_model_window_under_the_minimum_is_its_own_minimum():
    """A fixed-length model shorter than `MIN_WINDOW_SECONDS` (a 50 ms extractor) is still scored in windows of its
    own length; shorter ones are refused."""
    from emotion_hub.processing import EmotionAudioFeatureExtractor

    class FixedLength(EnergyModel):
        def forward(self, input_values, attention_mask=None):
            return super().forward(input_values)

    extractor = EmotionAudioFeatureExtractor(feature_type="waveform", sampling_rate=1000, max_length_seconds=0.05)
    wave = synthetic_recording(1.0, sampling_rate=1000)
    model = FixedLength()
    result = classify_windows(model, extractor, wave, 1000, window_seconds=0.05)
    assert len(result["window_starts"]) == 39
    with pytest.raises(ValueError, match=r"`window_seconds` \(0.04\) must be at least 0.05 s"):
        classify_windows(model, extractor, wave, 1000, window_seconds=0.04)
    with pytest.raises(ValueError, match=r"`window_seconds` \(0.06\) is longer than the 0.05 s this model reads"):
        classify_windows(model, extractor, wave, 1000, window_seconds=0.06)
