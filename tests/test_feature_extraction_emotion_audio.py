import glob
import json
import os
import subprocess
import sys
import textwrap
import threading

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

from emotion_hub.processing import EmotionAudioFeatureExtractor
from emotion_hub.processing import feature_extraction_emotion_audio
from emotion_hub.processing.feature_extraction_emotion_audio import silence_bounds
from tests.conftest import REPO, SHARED_DATA
from tests.utils import run_clean_python


SR = 44100
TOLERANCE = 1e-3  # max |ours - librosa| / max |librosa|


def speech_like(seconds, sampling_rate=SR, seed=0, gaps=True):
    """Voiced syllables (harmonics of a gliding pitch), breath noise, a low noise floor and, with `gaps`, digital
    silence (exact zeros) between syllables."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sampling_rate))) / sampling_rate
    pitch = rng.uniform(100, 250) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sampling_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 13))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * t + rng.uniform(0, 2 * np.pi)), 0, None) ** 0.5
    y = 0.3 * envelope * voiced + 0.02 * envelope * rng.standard_normal(t.size) + 1e-4 * rng.standard_normal(t.size)
    if gaps:
        y[int(0.35 * t.size):int(0.45 * t.size)] = 0.0
    return y.astype(np.float32)


def librosa_log_mel(y, fe):
    mel = librosa.feature.melspectrogram(y=y, sr=fe.sampling_rate, n_fft=fe.n_fft, hop_length=fe.hop_length,
                                         win_length=fe.win_length, window=fe.window, center=fe.center,
                                         pad_mode="constant", power=fe.power, n_mels=fe.n_mels, fmin=fe.f_min,
                                         fmax=fe.f_max, htk=fe.mel_scale == "htk", norm=fe.mel_norm)
    return librosa.power_to_db(mel, ref=np.max if fe.db_reference == "max" else fe.db_reference, amin=fe.amin,
                               top_db=fe.top_db)


def librosa_mfcc(y, fe):
    """`(1 + deltas, n_mfcc, frames)`: the MFCC and its librosa deltas."""
    mfcc = librosa.feature.mfcc(S=librosa_log_mel(y, fe), n_mfcc=fe.n_mfcc)
    deltas = [librosa.feature.delta(mfcc, width=fe.delta_width, order=order) for order in range(1, fe.deltas + 1)]
    return np.stack([mfcc] + deltas)


def relative_error(ours, reference):
    return float(np.abs(np.asarray(ours, dtype=np.float64) - reference).max() / np.abs(reference).max())


def assert_log_mel_matches(ours, reference, top_db):
    assert ours.shape == reference.shape
    assert relative_error(ours, reference) < TOLERANCE
    # element by element where librosa is above its floor: relative error (absolute below 1 dB)
    above = reference > reference.max() - top_db + 1e-3 if top_db is not None else np.ones(reference.shape, bool)
    assert above.mean() > 0.3
    difference = np.abs(ours - reference)[above]
    assert (difference <= TOLERANCE * np.maximum(np.abs(reference[above]), 1.0)).all(), difference.max()


def features(fe, clips, **kwargs):
    kwargs.setdefault("sampling_rate", fe.sampling_rate)
    return fe(clips, **kwargs)


def ravdess_files(count=4):
    """Real RAVDESS speech wavs (48 kHz): Actor_01 when present, else the first actor folder the shared data has."""
    folders = sorted(glob.glob(os.path.join(SHARED_DATA, "ravdess", "Actor_*")))
    preferred = [folder for folder in folders if folder.endswith("Actor_01")] or folders[:1]
    return sorted(glob.glob(os.path.join(preferred[0], "*.wav")))[:count] if preferred else []


# -- librosa equivalence -----------------------------------------------------------------------------------------------
def test_fixed_matrices_are_built_once_and_follow_the_settings():
    """Window, mel filters, DCT and delta filters come from librosa/scipy once per setting, shared by extractors."""
    settings = dict(feature_type="mfcc", sampling_rate=16000, n_fft=512, hop_length=160, n_mels=40, n_mfcc=13,
                    deltas=2, window="hamming", win_length=400, mel_scale="htk", mel_norm=None)
    first, second = EmotionAudioFeatureExtractor(**settings), EmotionAudioFeatureExtractor(**settings)
    assert first._tensors()["mel_t"] is second._tensors()["mel_t"]
    matrices = first._tensors()
    np.testing.assert_allclose(matrices["mel_t"].numpy().T, librosa.filters.mel(
        sr=16000, n_fft=512, n_mels=40, htk=True, norm=None), rtol=1e-6, atol=1e-9)
    assert matrices["window"].shape == (512,) and (matrices["window"][:56] == 0).all()  # 400 centred in 512
    assert matrices["dct_t"].shape == (40, 13) and matrices["delta2"][0].shape == (1, 9)
    second.n_mels, second.delta_width = 32, 5  # changed after construction: new matrices, new features
    clip = speech_like(0.5, 16000, seed=30)
    out = features(second, clip)["input_features"][0].numpy()
    reference = librosa_mfcc(clip, second)
    for part in range(3):
        assert relative_error(out.reshape(reference.shape)[part], reference[part]) < TOLERANCE, part


def test_clip_blocks_run_on_a_thread_pool_with_one_torch_thread_each(monkeypatch):
    """The parallelism is over blocks of clips (no intra-op threads spinning on small blocks); results do not depend
    on the thread count, and the caller's torch thread setting comes back, also when calls overlap."""
    fe = EmotionAudioFeatureExtractor(feature_type="mfcc", deltas=2, max_length_seconds=0.5)
    clips = [speech_like(0.5, seed=40 + i) for i in range(6)]
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        expected = fe(clips, sampling_rate=SR)["input_features"]
        seen = set()
        rfft = torch.fft.rfft

        def recording_rfft(*args, **kwargs):
            seen.add((threading.current_thread().name.split("_")[0], torch.get_num_threads()))
            return rfft(*args, **kwargs)

        monkeypatch.setattr(torch.fft, "rfft", recording_rfft)
        torch.set_num_threads(3)
        assert torch.equal(fe(clips, sampling_rate=SR)["input_features"], expected)
        assert seen == {("emotion-audio", 1)} and torch.get_num_threads() == 3
        results = []
        callers = [threading.Thread(target=lambda: results.append(fe(clips, sampling_rate=SR)["input_features"]))
                   for _ in range(3)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        assert len(results) == 3 and all(torch.equal(result, expected) for result in results)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("settings", [
    {},
    {"mel_scale": "htk", "mel_norm": None},
    {"db_reference": 1.0},
    {"db_reference": 1.0, "mel_scale": "htk", "top_db": None},
    {"center": False, "window": "hamming", "win_length": 800},
    {"power": 1.0, "window": "blackman", "f_min": 60.0, "f_max": 8000.0, "n_mels": 40},
    {"sampling_rate": 16000, "n_fft": 400, "hop_length": 160, "n_mels": 80, "amin": 1e-8, "top_db": 60.0},
])
def test_log_mel_matches_librosa(settings):
    fe = EmotionAudioFeatureExtractor(**settings)
    clips = [speech_like(1.3, fe.sampling_rate, seed=1), speech_like(0.4, fe.sampling_rate, seed=2, gaps=False)]
    out = features(fe, clips, return_tensors="np")["input_features"]
    assert out.dtype == np.float32 and out.shape[:2] == (2, fe.n_mels)
    for row, clip in enumerate(clips):
        reference = librosa_log_mel(clip, fe)
        assert_log_mel_matches(out[row, :, :reference.shape[1]], reference, fe.top_db)


@pytest.mark.parametrize("delta_layout", ["stack", "channels"])
@pytest.mark.parametrize("mel_scale", ["slaney", "htk"])
@pytest.mark.parametrize("db_reference", ["max", 1.0])
def test_mfcc_with_deltas_matches_librosa(delta_layout, mel_scale, db_reference):
    fe = EmotionAudioFeatureExtractor(feature_type="mfcc", n_mfcc=40, deltas=2, delta_layout=delta_layout,
                                      mel_scale=mel_scale, db_reference=db_reference, max_length_seconds=1.0)
    clip = speech_like(1.0, seed=3)
    out = features(fe, clip)["input_features"][0].numpy()
    assert out.shape == fe.output_shape()
    reference = librosa_mfcc(clip, fe)
    out = out.reshape(reference.shape)  # "stack": mfcc, delta, delta-delta one after the other on the feature axis
    for part in range(3):  # each of mfcc, delta and delta-delta on its own scale
        assert relative_error(out[part], reference[part]) < TOLERANCE, part


@pytest.mark.parametrize("settings", [{"deltas": 1, "delta_width": 5, "n_mfcc": 13},
                                      {"deltas": 2, "delta_width": 3, "n_mfcc": 20, "n_mels": 40, "center": False}])
def test_other_delta_settings_match_librosa(settings):
    fe = EmotionAudioFeatureExtractor(feature_type="mfcc", sampling_rate=16000, hop_length=160, n_fft=512, **settings)
    clip = speech_like(0.8, 16000, seed=4)
    out = features(fe, clip)["input_features"][0].numpy()
    reference = librosa_mfcc(clip, fe)
    out = out.reshape(reference.shape)
    for part in range(reference.shape[0]):
        assert relative_error(out[part], reference[part]) < TOLERANCE, part


def test_real_ravdess_wavs_match_librosa():
    paths = ravdess_files()
    if not paths:
        pytest.skip(f"no RAVDESS wavs under {SHARED_DATA}/ravdess")
    log_mel = EmotionAudioFeatureExtractor(sampling_rate=48000)
    mfcc = EmotionAudioFeatureExtractor(feature_type="mfcc", sampling_rate=48000, deltas=2, delta_layout="channels")
    for path in paths:
        pcm, sr = sf.read(path, dtype="int16", always_2d=True)  # (samples, channels)
        assert sr == 48000
        y = (pcm.astype(np.float32) / 32768).mean(axis=1)
        ours = log_mel(pcm if pcm.shape[1] > 1 else pcm[:, 0], sampling_rate=sr)["input_features"][0].numpy()
        assert_log_mel_matches(ours, librosa_log_mel(y, log_mel), log_mel.top_db)
        ours = mfcc(y, sampling_rate=sr)["input_features"][0].numpy()
        reference = librosa_mfcc(y, mfcc)
        for part in range(3):
            assert relative_error(ours[part], reference[part]) < TOLERANCE, (path, part)


def test_deltas_of_clips_shorter_than_the_window_fit_all_frames():
    fe = EmotionAudioFeatureExtractor(feature_type="mfcc", deltas=2, n_mfcc=13, delta_layout="channels")
    out = features(fe, np.random.default_rng(0).standard_normal(300).astype(np.float32))["input_features"][0].numpy()
    assert out.shape == (3, 13, 5)  # 5 frames < delta_width 9: librosa refuses, we fit over all 5
    frames = np.arange(5)
    for coefficient in range(13):
        slope = np.polyfit(frames, out[0, coefficient], 1)[0]
        curvature = 2 * np.polyfit(frames, out[0, coefficient], 2)[0]
        np.testing.assert_allclose(out[1, coefficient], slope, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(out[2, coefficient], curvature, rtol=1e-3, atol=1e-3)
    one = features(fe, np.ones(10, np.float32))["input_features"][0].numpy()  # one frame: no slope at all
    assert one.shape == (3, 13, 1) and np.all(one[1:] == 0)


# -- shapes, lengths, masks --------------------------------------------------------------------------------------------
def test_frame_counts_and_output_shape():
    fe = EmotionAudioFeatureExtractor(max_length_seconds=1.0)
    assert fe.output_shape() == (64, 690) and fe.num_frames(44100) == 690 == 1 + 44100 // 64
    assert features(fe, speech_like(0.5))["input_features"].shape == (1, 64, 690)
    shapes = {
        (("feature_type", "mfcc"),): (40, 690),
        (("feature_type", "mfcc"), ("deltas", 2)): (120, 690),
        (("feature_type", "mfcc"), ("deltas", 1), ("delta_layout", "channels")): (2, 40, 690),
        (("feature_type", "waveform"),): (44100,),
        (("center", False),): (64, 1 + (44100 - 1024) // 64),
        (("sampling_rate", 16000), ("hop_length", 160), ("n_fft", 400)): (64, 101),
    }
    for settings, shape in shapes.items():
        fe = EmotionAudioFeatureExtractor(max_length_seconds=1.0, **dict(settings))
        out = features(fe, [speech_like(0.3, fe.sampling_rate), speech_like(1.7, fe.sampling_rate)])
        assert fe.output_shape() == shape, settings
        assert tuple(out[fe.model_input_names[0]].shape) == (2,) + shape, settings
        assert out["attention_mask"].shape == (2, shape[-1]) and out["attention_mask"].dtype == torch.int32
    assert EmotionAudioFeatureExtractor(center=False).num_frames(100) == 1  # shorter than n_fft: padded to it
    assert EmotionAudioFeatureExtractor(feature_type="waveform").num_frames(1234) == 1234
    with pytest.raises(ValueError, match=r"`output_shape\(\)` needs a fixed length: set `max_length_seconds`"):
        EmotionAudioFeatureExtractor().output_shape()


def test_attention_masks_follow_the_frame_centre_rule():
    fe = EmotionAudioFeatureExtractor()
    lengths = [44100, 640, 1000, 1, 64 * 7 + 1]
    clips = [speech_like(n / SR, seed=n) if n > 1 else np.array([0.5], np.float32) for n in lengths]
    mask = features(fe, clips)["attention_mask"]
    assert mask.shape == (5, 690)
    # frame t is centred on sample 64 t: real while 64 t < length
    assert mask.sum(1).tolist() == [690, 10, 16, 1, 8]
    assert all(mask[row, :count].all() and not mask[row, count:].any() for row, count in enumerate([690, 10, 16, 1, 8]))
    centre_false = EmotionAudioFeatureExtractor(center=False)
    mask = features(centre_false, [np.ones(n, np.float32) for n in (3000, 1500, 100)])["attention_mask"]
    # frame t is centred on sample 64 t + 512: real while that is < length; a clip gets at least one frame
    assert mask.shape == (3, 1 + (3000 - 1024) // 64) and mask.sum(1).tolist() == [31, (1500 - 512 + 63) // 64, 1]
    waveform = EmotionAudioFeatureExtractor(feature_type="waveform", padding_value=-1.0)
    out = features(waveform, [np.ones(5, np.float32), np.ones(3, np.float32)])
    assert out["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert out["input_values"].tolist() == [[1.0] * 5, [1.0, 1.0, 1.0, -1.0, -1.0]]


def test_padding_and_cropping():
    clip = speech_like(2.0, seed=5)
    fe = EmotionAudioFeatureExtractor(max_length_seconds=1.0)
    out = features(fe, [clip[:30000], clip])["input_features"].numpy()
    # shorter: zero-padded at the end; longer: its first second
    assert_log_mel_matches(out[0], librosa_log_mel(np.pad(clip[:30000], (0, 14100)), fe), fe.top_db)
    assert_log_mel_matches(out[1], librosa_log_mel(clip[:SR], fe), fe.top_db)
    centre = EmotionAudioFeatureExtractor(max_length_seconds=1.0, crop="center")
    offset = (clip.size - SR) // 2
    assert_log_mel_matches(features(centre, clip)["input_features"][0].numpy(),
                           librosa_log_mel(clip[offset:offset + SR], fe), fe.top_db)
    waveform = EmotionAudioFeatureExtractor(feature_type="waveform", max_length_seconds=0.5, crop="center")
    values = features(waveform, [clip, clip[:100]])["input_values"].numpy()
    np.testing.assert_array_equal(values[0], clip[(clip.size - 22050) // 2:][:22050])
    np.testing.assert_array_equal(values[1], np.pad(clip[:100], (0, 22050 - 100)))


def test_random_crop_is_seeded_and_uses_the_global_rng():
    clip = np.arange(10000, dtype=np.float32) / 10000
    fe = EmotionAudioFeatureExtractor(feature_type="waveform", sampling_rate=1000, max_length_seconds=1.0)
    clips = [clip, clip[:500], clip[:4000]]  # the short one is padded and draws no offset
    first = features(fe, clips, random_crop=True, generator=torch.Generator().manual_seed(7))["input_values"]
    again = features(fe, clips, random_crop=True, generator=torch.Generator().manual_seed(7))["input_values"]
    assert torch.equal(first, again)
    draws = torch.Generator().manual_seed(7)
    offsets = [int(torch.randint(0, extra + 1, (1,), generator=draws)) for extra in (9000, 3000)]
    assert torch.equal(first[0], torch.from_numpy(clip[offsets[0]:offsets[0] + 1000]))
    assert torch.equal(first[2], torch.from_numpy(clip[offsets[1]:offsets[1] + 1000]))
    assert torch.equal(first[1, :500], torch.from_numpy(clip[:500])) and not first[1, 500:].any()
    # without a generator: the global torch RNG, so torch.manual_seed (a resumed training run) replays the crops
    torch.manual_seed(123)
    crops = [features(fe, clips, random_crop=True)["input_values"] for _ in range(3)]
    torch.manual_seed(123)
    assert all(torch.equal(crop, features(fe, clips, random_crop=True)["input_values"]) for crop in crops)
    assert not torch.equal(crops[0], crops[1])
    torch.manual_seed(123)
    expected = int(torch.randint(0, 9001, (1,)))
    assert torch.equal(crops[0][0], torch.from_numpy(clip[expected:expected + 1000]))
    with pytest.raises(ValueError, match=r"`random_crop=True` needs a fixed length: set `max_length_seconds`"):
        features(EmotionAudioFeatureExtractor(), clip, random_crop=True)
    with pytest.raises(ValueError, match=r"`generator` must be a torch.Generator or None, got int"):
        features(fe, clip, random_crop=True, generator=7)


def test_a_batch_equals_its_clips_one_by_one():
    clips = [speech_like(seconds, seed=seed) for seed, seconds in enumerate((1.2, 0.3, 0.61, 0.01))]
    # a click on the last sample: the padding frame after the clip's own last frame is centred nearer to it, so its
    # power is higher; the dB reference and floor must come from the clip's own frames
    clips.append(np.zeros(1087, np.float32))
    clips[-1][-1] = 1.0
    for fe in (EmotionAudioFeatureExtractor(),
               EmotionAudioFeatureExtractor(feature_type="mfcc", deltas=2, feature_normalization="utterance"),
               EmotionAudioFeatureExtractor(feature_type="mfcc", deltas=1, max_length_seconds=0.5,
                                            delta_layout="channels", normalize_waveform="peak"),
               EmotionAudioFeatureExtractor(feature_type="waveform", normalize_waveform="zero_mean_unit_var")):
        name = fe.model_input_names[0]
        batch = features(fe, clips)
        for row, clip in enumerate(clips):
            alone = features(fe, clip)
            real = int(batch["attention_mask"][row].sum())
            assert int(alone["attention_mask"].sum()) == real
            torch.testing.assert_close(batch[name][row, ..., :real], alone[name][0, ..., :real], rtol=1e-5, atol=1e-4)


# -- input kinds -------------------------------------------------------------------------------------------------------
def test_stereo_is_mixed_down_in_both_layouts():
    left, right = speech_like(0.5, seed=6), speech_like(0.5, seed=7)
    mono = (left + right) / 2
    for fe in (EmotionAudioFeatureExtractor(), EmotionAudioFeatureExtractor(feature_type="waveform")):
        name = fe.model_input_names[0]
        expected = features(fe, mono)[name]
        for stereo in (np.stack([left, right]), np.stack([left, right], axis=1), torch.from_numpy(np.stack([left, right])),
                       np.stack([left, right]).astype(np.float64)):
            torch.testing.assert_close(features(fe, stereo)[name], expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(features(fe, [mono[None], mono[:, None]])[name], torch.cat([expected] * 2))
    six = np.stack([left] * 6, axis=1)  # (samples, 6 channels)
    torch.testing.assert_close(features(fe, six)["input_values"], features(fe, left)["input_values"])


def test_integer_pcm_and_other_containers():
    y = speech_like(0.3, seed=8)
    pcm = np.round(y * 32767).astype(np.int16)
    fe = EmotionAudioFeatureExtractor(feature_type="waveform")
    expected = torch.from_numpy(pcm.astype(np.float32) / 32768)
    assert torch.equal(features(fe, pcm)["input_values"][0], expected)
    assert torch.equal(features(fe, torch.from_numpy(pcm))["input_values"][0], expected)
    assert torch.equal(features(fe, pcm.astype(np.int32) * 65536)["input_values"][0], expected)
    assert features(fe, np.array([0, 128, 255], np.uint8))["input_values"].tolist() == [[-1.0, 0.0, 127 / 128]]
    assert features(fe, [0.5, -0.25])["input_values"].tolist() == [[0.5, -0.25]]  # a list of floats is one clip
    assert features(fe, [[0.5, -0.25], [1.0]])["input_values"].tolist() == [[0.5, -0.25], [1.0, 0.0]]
    log_mel = EmotionAudioFeatureExtractor()
    torch.testing.assert_close(features(log_mel, pcm)["input_features"],
                               features(log_mel, pcm.astype(np.float32) / 32768)["input_features"])


def test_silence_is_valid_input():
    silence = np.zeros(SR // 2, np.float32)
    for settings in ({}, {"db_reference": 1.0}, {"trim_silence": True, "normalize_waveform": "peak"},
                     {"feature_type": "mfcc", "deltas": 2, "feature_normalization": "utterance"}):
        fe = EmotionAudioFeatureExtractor(**settings)
        out = features(fe, silence)
        assert torch.isfinite(out["input_features"]).all(), settings
        assert int(out["attention_mask"].sum()) == -(-silence.size // 64), settings  # kept whole
    out = features(EmotionAudioFeatureExtractor(), silence)["input_features"].numpy()[0]
    np.testing.assert_array_equal(out, librosa_log_mel(silence, EmotionAudioFeatureExtractor()))  # all 0 dB
    floor = features(EmotionAudioFeatureExtractor(db_reference=1.0), silence)["input_features"]
    torch.testing.assert_close(floor, torch.full_like(floor, -100.0))  # 10 log10(amin)
    waveform = EmotionAudioFeatureExtractor(feature_type="waveform", normalize_waveform="zero_mean_unit_var")
    assert not features(waveform, silence)["input_values"].any()
    peak = EmotionAudioFeatureExtractor(feature_type="waveform", normalize_waveform="peak")
    assert not features(peak, silence)["input_values"].any()


def test_resampling_when_asked_and_refusal_otherwise():
    y48 = speech_like(0.5, 48000, seed=9)
    fe = EmotionAudioFeatureExtractor(sampling_rate=16000, hop_length=160, n_fft=400, resample=True)
    out = fe([y48, speech_like(0.2, 16000)], sampling_rate=[48000, 16000])["input_features"][0].numpy()
    expected = librosa_log_mel(librosa.resample(y48, orig_sr=48000, target_sr=16000), fe)
    assert_log_mel_matches(out[:, :expected.shape[1]], expected, fe.top_db)
    strict = EmotionAudioFeatureExtractor(sampling_rate=16000, hop_length=160, n_fft=400)
    with pytest.raises(ValueError, match=r"clip #0 is sampled at 48000 Hz but this feature extractor expects 16000 Hz: "
                                         r"resample the audio to 16000 Hz first .*or create the feature extractor "
                                         r"with `resample=True`"):
        strict(y48, sampling_rate=48000)
    with pytest.raises(ValueError, match=r"clip #1 is sampled at 8000 Hz but this feature extractor expects 16000 Hz"):
        strict([y48[:1000], y48[:1000]], sampling_rate=[16000, 8000])
    with pytest.raises(ValueError, match=r"`sampling_rate` is missing: pass the rate of the audio, e.g. "
                                         r"`feature_extractor\(audio, sampling_rate=16000\)`"):
        strict(y48)
    with pytest.raises(ValueError, match=r"`sampling_rate` has 1 rates for 2 clips"):
        strict([y48, y48], sampling_rate=[16000])


@pytest.mark.parametrize("clips,message", [
    ([np.ones(100, np.float32), np.zeros(0, np.float32)], r"clip #1 is empty \(shape \(0,\)\); expected at least one "
                                                          r"sample"),
    (np.zeros((2, 0), np.float32), r"clip #0 is empty \(shape \(2, 0\)\)"),
    ([np.ones(100), np.ones(50), np.array([0.1, np.nan])], r"clip #2 has NaN or infinite samples; expected finite"),
    ([torch.tensor([0.0, float("inf")])], r"clip #0 has NaN or infinite samples"),
    ([np.ones((1, 2, 100), np.float32)], r"clip #0 has 3 dimensions \(shape \(1, 2, 100\)\); expected a 1-D waveform "
                                         r"or a 2-D \(channels, samples\) / \(samples, channels\) array"),
    (np.float32(0.5), r"`raw_speech` must be a clip"),
    ([np.ones((4, 4), np.float32)], r"clip #0 has shape \(4, 4\): which axis holds the channels is ambiguous"),
    ([np.ones(10), np.ones((16, 2000), np.float32)], r"clip #1 has shape \(16, 2000\): which axis holds the channels"),
    ([np.ones(10, np.complex64)], r"clip #0 has samples of type complex64; expected floats or signed integer PCM"),
    ([np.ones(10, bool)], r"clip #0 has samples of type bool"),
    ([np.ones(10), "speech.wav"], r"clip #1 must be a numpy array, torch tensor or list of floats, got str"),
    ([], r"`raw_speech` is an empty list"),
])
def test_unusable_audio_is_refused(clips, message):
    with pytest.raises(ValueError, match=message):
        EmotionAudioFeatureExtractor()(clips, sampling_rate=SR)


def test_call_arguments_are_checked():
    fe = EmotionAudioFeatureExtractor()
    with pytest.raises(ValueError, match=r"unexpected arguments \['max_length', 'padding'\]"):
        fe(np.ones(100), sampling_rate=SR, padding=True, max_length=10)
    with pytest.raises(ValueError, match=r"`return_tensors` must be 'pt', 'np' or None, got 'tf'"):
        fe(np.ones(100), sampling_rate=SR, return_tensors="tf")
    with pytest.raises(ValueError, match=r"clip #0: `sampling_rate` must be a positive int \(Hz\), got 44100.5"):
        fe(np.ones(100), sampling_rate=44100.5)
    as_np = fe([np.ones(100), np.ones(300)], sampling_rate=SR, return_tensors="np")
    assert isinstance(as_np["input_features"], np.ndarray) and as_np["attention_mask"].dtype == np.int32
    as_lists = fe([np.ones(100), np.ones(300)], sampling_rate=SR, return_tensors=None)
    assert len(as_lists["input_features"]) == 2 and as_lists["input_features"][1].shape == (64, 5)
    assert "attention_mask" not in fe(np.ones(100), sampling_rate=SR, return_attention_mask=False)
    assert "attention_mask" not in EmotionAudioFeatureExtractor(return_attention_mask=False)(np.ones(9), sampling_rate=SR)


@pytest.mark.parametrize("settings,message", [
    ({"feature_type": "spectrogram"}, r"`feature_type` must be one of \['log_mel', 'mfcc', 'waveform'\], got "
                                      r"'spectrogram'"),
    ({"sampling_rate": 0}, r"`sampling_rate` must be an int >= 1, got 0"),
    ({"resample": "yes"}, r"`resample` must be True or False, got 'yes'"),
    ({"max_length_seconds": -1.0}, r"`max_length_seconds` must be a finite number > 0.0 or None, got -1.0"),
    ({"crop": "end"}, r"`crop` must be one of \['start', 'center'\], got 'end'"),
    ({"trim_top_db": 0}, r"`trim_top_db` must be a finite number > 0.0, got 0"),
    ({"normalize_waveform": "rms"}, r"`normalize_waveform` must be one of \[None, 'peak', 'zero_mean_unit_var'\]"),
    ({"win_length": 2048}, r"`win_length` must be <= `n_fft` \(1024\), got 2048"),
    ({"window": "kaiser"}, r"`window` must be one of \['hann', 'hamming', 'blackman'\], got 'kaiser'"),
    ({"f_max": 30000.0}, r"`f_max` must be <= sampling_rate / 2 \(22050.0 Hz\) or None, got 30000.0"),
    ({"f_min": 5000.0, "f_max": 4000.0}, r"`f_max` must be a finite number > 5000.0 or None, got 4000.0"),
    ({"mel_scale": "bark"}, r"`mel_scale` must be one of \['slaney', 'htk'\], got 'bark'"),
    ({"mel_norm": "l2"}, r"`mel_norm` must be one of \['slaney', None\], got 'l2'"),
    ({"top_db": -10.0}, r"`top_db` must be a finite number > 0.0 or None, got -10.0"),
    ({"db_reference": "min"}, r"`db_reference` must be 'max' or a positive number, got 'min'"),
    ({"db_reference": 0.0}, r"`db_reference` must be a finite number > 0.0, got 0.0"),
    ({"feature_type": "mfcc", "n_mfcc": 80}, r"`n_mfcc` must be <= `n_mels` \(64\), got 80"),
    ({"deltas": 3}, r"`deltas` must be one of \[0, 1, 2\], got 3"),
    ({"deltas": True}, r"`deltas` must be one of \[0, 1, 2\], got True"),
    ({"delta_width": 4}, r"`delta_width` must be an odd int >= 3, got 4"),
    ({"delta_layout": "planes"}, r"`delta_layout` must be one of \['stack', 'channels'\], got 'planes'"),
    ({"feature_normalization": "batch"}, r"`feature_normalization` must be one of \[None, 'utterance', 'global'\]"),
    ({"feature_std": 0.0}, r"`feature_std` must be a finite number > 0.0 or None, got 0.0"),
    ({"feature_size": 128}, r"`feature_size` is derived from the settings \(64 for 'log_mel'\); got 128"),
    ({"padding_side": "left"}, r"`padding_side` must be 'right'"),
    ({"hop_length": 0}, r"`hop_length` must be an int >= 1, got 0"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        EmotionAudioFeatureExtractor(**settings)


# -- trimming and normalisation ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("top_db,frame_length,hop_length", [(60, 2048, 512), (30, 1024, 256), (45, 1001, 300)])
def test_silence_trimming_is_librosas(top_db, frame_length, hop_length):
    rng = np.random.default_rng(10)
    speech = speech_like(0.8, seed=11)
    y = np.concatenate([1e-5 * rng.standard_normal(9000), speech, 1e-5 * rng.standard_normal(13000)]).astype(np.float32)
    trimmed, (start, end) = librosa.effects.trim(y, top_db=top_db, frame_length=frame_length, hop_length=hop_length)
    assert silence_bounds(y, top_db, frame_length, hop_length) == (start, end)
    assert 0 < start and end < y.size
    fe = EmotionAudioFeatureExtractor(feature_type="waveform", trim_silence=True, trim_top_db=top_db,
                                      trim_frame_length=frame_length, trim_hop_length=hop_length)
    np.testing.assert_array_equal(features(fe, y)["input_values"][0].numpy(), trimmed)
    log_mel = EmotionAudioFeatureExtractor(trim_silence=True, trim_top_db=top_db, trim_frame_length=frame_length,
                                           trim_hop_length=hop_length)
    assert_log_mel_matches(features(log_mel, y)["input_features"][0].numpy(), librosa_log_mel(trimmed, log_mel),
                           log_mel.top_db)
    assert silence_bounds(np.zeros(5000, np.float32)) == (0, 5000)  # all silence: kept whole


def test_waveform_normalisations():
    clips = [speech_like(0.3, seed=12) * 0.1, speech_like(0.1, seed=13) + 0.05]
    wav2vec2 = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, padding_value=0.0, do_normalize=True,
                                        return_attention_mask=True)
    expected = wav2vec2(clips, sampling_rate=SR, padding="longest", return_tensors="pt")
    fe = EmotionAudioFeatureExtractor(feature_type="waveform", normalize_waveform="zero_mean_unit_var")
    out = features(fe, clips)
    torch.testing.assert_close(out["input_values"], expected["input_values"], rtol=1e-4, atol=1e-4)
    assert torch.equal(out["attention_mask"], expected["attention_mask"].to(torch.int32))
    peak = EmotionAudioFeatureExtractor(feature_type="waveform", normalize_waveform="peak", max_length_seconds=0.05)
    values = features(peak, clips)["input_values"]
    # the peak of what the model sees: the cropped clip
    assert torch.allclose(values.abs().amax(1), torch.ones(2)) and torch.equal(
        values[0], torch.from_numpy(clips[0][:2205] / np.abs(clips[0][:2205]).max()))


def test_feature_normalisations_and_global_statistics():
    clips = [speech_like(seconds, seed=seed) for seed, seconds in enumerate((0.5, 0.2, 0.9, 0.35, 0.7))]
    fe = EmotionAudioFeatureExtractor(feature_type="mfcc", deltas=1)
    raw = features(fe, clips)
    mask = raw["attention_mask"].bool()
    values = torch.cat([raw["input_features"][row][:, mask[row]].flatten() for row in range(len(clips))]).double()
    mean, std = fe.compute_global_statistics(clips, SR, batch_size=2)
    assert mean == pytest.approx(float(values.mean()), rel=1e-6) and std == pytest.approx(float(values.std(unbiased=False)),
                                                                                           rel=1e-5)
    fe_global = EmotionAudioFeatureExtractor(feature_type="mfcc", deltas=1, feature_normalization="global",
                                             feature_mean=mean, feature_std=std)
    torch.testing.assert_close(features(fe_global, clips)["input_features"], (raw["input_features"] - mean) / std)
    utterance = EmotionAudioFeatureExtractor(feature_type="mfcc", deltas=1, feature_normalization="utterance")
    normalised = features(utterance, clips)["input_features"]
    for row in range(len(clips)):
        real = normalised[row][:, mask[row]]
        assert abs(float(real.mean())) < 1e-4 and float(real.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match=r"`feature_normalization='global'` needs `feature_mean` and `feature_std`"):
        features(EmotionAudioFeatureExtractor(feature_normalization="global"), clips)
    with pytest.raises(ValueError, match=r"clip #3 has NaN"):  # its index in the list, not in its batch
        fe.compute_global_statistics(clips[:3] + [np.array([np.nan])], SR, batch_size=2)
    waveform = EmotionAudioFeatureExtractor(feature_type="waveform")
    mean, std = waveform.compute_global_statistics(clips, SR)
    joined = np.concatenate(clips).astype(np.float64)
    assert mean == pytest.approx(joined.mean(), abs=1e-9) and std == pytest.approx(joined.std(), rel=1e-6)


# -- a 1-hour recording ------------------------------------------------------------------------------------------------
def test_one_hour_recording_is_fast_and_small():
    """57.6M float32 samples (230 MB) at 16 kHz, trimmed and cropped to 3 s: seconds, and a few MB beyond the input."""
    code = textwrap.dedent("""
        import json, resource, sys, time
        import numpy as np
        sys.path.insert(0, %r)
        from emotion_hub.processing import EmotionAudioFeatureExtractor
        n = 16000 * 3600
        y = np.empty(n, dtype=np.float32)
        np.random.default_rng(0).standard_normal(out=y, dtype=np.float32)
        y *= 0.1
        y[:16000 * 10] = 0.0   # 10 s of silence on both ends
        y[-16000 * 10:] = 0.0
        kinds = {"log_mel": dict(hop_length=160, n_fft=400), "mfcc": dict(deltas=2, hop_length=160, n_fft=400),
                 "waveform": {}}
        extractors = {kind: EmotionAudioFeatureExtractor(feature_type=kind, sampling_rate=16000, max_length_seconds=3.0,
                                                         trim_silence=True, **settings)
                      for kind, settings in kinds.items()}
        for fe in extractors.values():   # warm up (FFT plans, lazy imports)
            fe(y[:100000], sampling_rate=16000)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = {}
        for kind, fe in extractors.items():
            started = time.perf_counter()
            out = fe(y, sampling_rate=16000)
            result[kind] = {"seconds": time.perf_counter() - started,
                            "shape": list(out[fe.model_input_names[0]].shape)}
        result["grown_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        values = out["input_values"][0].numpy()
        # librosa.effects.trim's start: the first 512-sample frame whose 2048-sample window reaches the noise
        result["starts_after_silence"] = bool(np.array_equal(values, y[311 * 512:311 * 512 + 48000]))
        print(json.dumps(result))
    """) % REPO
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["log_mel"]["shape"] == [1, 64, 301] and report["mfcc"]["shape"] == [1, 120, 301]
    assert report["waveform"]["shape"] == [1, 48000] and report["starts_after_silence"]
    assert all(report[kind]["seconds"] < 10 for kind in ("log_mel", "mfcc", "waveform")), report
    # framing the hour for the silence detector (2048 x 112,500 float32) would take 920 MB; a float copy 230 MB
    assert report["grown_mb"] < 100, report


# -- saving and loading ------------------------------------------------------------------------------------------------
SAVED_SETTINGS = dict(feature_type="mfcc", sampling_rate=16000, resample=True, max_length_seconds=1.5, crop="center",
                      trim_silence=True, trim_top_db=50.0, normalize_waveform="peak", n_fft=512, win_length=400,
                      hop_length=160, window="hamming", n_mels=40, f_min=20.0, f_max=7600.0, mel_scale="htk",
                      mel_norm=None, top_db=70.0, db_reference=1.0, amin=1e-9, n_mfcc=20, deltas=2, delta_width=7,
                      delta_layout="channels", feature_normalization="global", feature_mean=-3.5, feature_std=21.0)


def test_save_and_reload_give_identical_features(tmp_path):
    fe = EmotionAudioFeatureExtractor(**SAVED_SETTINGS)
    fe.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["feature_extraction_emotion_audio.py", "preprocessor_config.json"]
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["auto_map"] == {"AutoFeatureExtractor": "feature_extraction_emotion_audio.EmotionAudioFeatureExtractor"}
    assert {key: saved[key] for key in SAVED_SETTINGS} == SAVED_SETTINGS
    assert not any(key.startswith("_") for key in saved)  # no cached filter banks
    reloaded = EmotionAudioFeatureExtractor.from_pretrained(tmp_path)
    assert reloaded.to_dict() == fe.to_dict()
    clips = [speech_like(2.0, 22050, seed=14), speech_like(0.4, 22050, seed=15)]
    expected = fe(clips, sampling_rate=22050)
    out = reloaded(clips, sampling_rate=22050)
    assert out["input_features"].shape == (2,) + fe.output_shape() == (2, 3, 20, 151)
    assert torch.equal(out["input_features"], expected["input_features"])
    assert torch.equal(out["attention_mask"], expected["attention_mask"])


def test_saved_folder_loads_with_trust_remote_code_in_a_clean_python(tmp_path):
    fe = EmotionAudioFeatureExtractor(**SAVED_SETTINGS)
    fe.save_pretrained(tmp_path / "fe")
    clips = [speech_like(2.0, 22050, seed=16), speech_like(0.4, 16000, seed=17)]
    np.save(tmp_path / "a.npy", clips[0])
    np.save(tmp_path / "b.npy", clips[1])
    expected = fe(clips, sampling_rate=[22050, 16000])["input_features"].numpy()
    printed = run_clean_python(f"""
        import numpy as np
        from transformers import AutoFeatureExtractor
        fe = AutoFeatureExtractor.from_pretrained({str(tmp_path / "fe")!r}, trust_remote_code=True)
        assert type(fe).__module__.startswith("transformers_modules"), type(fe).__module__
        assert type(fe).__name__ == "EmotionAudioFeatureExtractor"
        clips = [np.load({str(tmp_path / "a.npy")!r}), np.load({str(tmp_path / "b.npy")!r})]
        out = fe(clips, sampling_rate=[22050, 16000])
        np.save({str(tmp_path / "out.npy")!r}, out["input_features"].numpy())
        try:
            fe(clips[0])
        except ValueError as err:
            print("refused:", err)
    """, cwd=str(tmp_path))
    assert "refused: `sampling_rate` is missing" in printed
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
    local = AutoFeatureExtractor.from_pretrained(tmp_path / "fe", trust_remote_code=True)
    assert local.to_dict()["feature_type"] == "mfcc"


@pytest.mark.parametrize("layout", ["stack", "channels"])
def test_per_bin_global_statistics_and_cmvn(layout):
    """`normalize_per_bin`: one mean/std per MFCC/delta row (global), or per-clip CMVN (utterance)."""
    rng = np.random.default_rng(0)
    clips = [(rng.standard_normal(8000 + 800 * i) * (0.05 + 0.1 * i)).astype(np.float32) for i in range(4)]
    settings = dict(feature_type="mfcc", sampling_rate=16000, n_fft=512, hop_length=160, n_mels=40, n_mfcc=13,
                    deltas=2, delta_layout=layout, normalize_per_bin=True)
    mean, std = EmotionAudioFeatureExtractor(**settings).compute_global_statistics(clips, 16000)
    assert np.shape(mean) == np.shape(std) == ((39,) if layout == "stack" else (3, 13))
    fe = EmotionAudioFeatureExtractor(**settings, feature_normalization="global", feature_mean=mean, feature_std=std)
    out = fe(clips, sampling_rate=16000, return_tensors="pt")
    features, real = out["input_features"], out["attention_mask"].bool()
    rows = (features.transpose(1, 2) if layout == "stack" else features.permute(0, 3, 1, 2))[real]  # (frames, rows)
    assert rows.mean(0).abs().max() < 1e-4 and (rows.std(0, unbiased=False) - 1).abs().max() < 1e-3
    assert EmotionAudioFeatureExtractor.from_dict(fe.to_dict()).feature_mean == fe.feature_mean
    cmvn = EmotionAudioFeatureExtractor(**settings, feature_normalization="utterance")
    out = cmvn(clips, sampling_rate=16000, return_tensors="pt")
    for i in range(len(clips)):
        clip = out["input_features"][i]
        clip = clip.reshape(-1, clip.shape[-1])[:, out["attention_mask"][i].bool()]  # (rows, real frames)
        assert clip.mean(-1).abs().max() < 1e-4 and (clip.std(-1, unbiased=False) - 1).abs().max() < 1e-2
    with pytest.raises(ValueError, match=r"one per feature row\), got shape \(3,\)"):
        EmotionAudioFeatureExtractor(**settings, feature_normalization="global", feature_mean=[0.0] * 3,
                                     feature_std=std)
    with pytest.raises(ValueError, match="waveforms have none"):
        EmotionAudioFeatureExtractor(feature_type="waveform", normalize_per_bin=True)
