"""Feature extractor of the voice models: raw audio (any channel layout, float or integer PCM) to a log-mel
spectrogram, MFCC (+ deltas) or a fixed-length waveform, batched in torch and numerically equal to librosa."""

import concurrent.futures
import contextlib
import copy
import functools
import math
import numbers
import threading
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.utils import TensorType, logging


logger = logging.get_logger(__name__)

FEATURE_TYPES = ("log_mel", "mfcc", "waveform")
CROPS = ("start", "center")
WAVEFORM_NORMALIZATIONS = (None, "peak", "zero_mean_unit_var")
FEATURE_NORMALIZATIONS = (None, "utterance", "global")
WINDOWS = ("hann", "hamming", "blackman")
MEL_SCALES = ("slaney", "htk")
MEL_NORMS = ("slaney", None)
DELTA_LAYOUTS = ("stack", "channels")
MAX_CHANNELS = 8
_TRIM_CHUNK = 1 << 20  # samples per float64 block of the silence detector's running energy sum
_STFT_BLOCK_FRAMES = 512  # frames per block of the STFT -> mel pipeline (about 2 MB of spectrum at n_fft=1024)
_VARIANCE_EPSILON = 1e-7  # as in Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm


# -- the fixed matrices, built once per setting by the library functions librosa itself uses --------------------------
@functools.lru_cache(maxsize=16)
def _fixed_matrices(sampling_rate: int, n_fft: int, win_length: int, window: str, n_mels: int, f_min: float,
                    f_max: Optional[float], mel_scale: str, mel_norm: Optional[str], n_mfcc: int,
                    delta_width: int) -> dict:
    """Window, mel filters, DCT and Savitzky-Golay delta operators as float32 tensors (shared, never written to)."""
    import librosa  # imported here: a saved feature extractor that only makes waveforms needs none of this
    import scipy.fft
    import scipy.signal

    pad = n_fft - win_length
    # the periodic window centred in n_fft samples, as librosa.util.pad_center and torch.stft place it
    window_tensor = F.pad(torch.from_numpy(scipy.signal.get_window(window, win_length, fftbins=True)).float(),
                          (pad // 2, pad - pad // 2))
    mel = librosa.filters.mel(sr=sampling_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max,
                              htk=mel_scale == "htk", norm=mel_norm, dtype=np.float64)  # (n_mels, 1 + n_fft // 2)
    # librosa.feature.mfcc: scipy.fft.dct(S, type=2, norm="ortho", axis=-2)[:n_mfcc]; its matrix is the DCT of identity
    dct = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]  # (n_mfcc, n_mels)
    matrices = {"window": window_tensor,
                "mel_t": torch.from_numpy(mel.T).float().contiguous(),  # (1 + n_fft // 2, n_mels)
                "dct_t": torch.from_numpy(dct.T).float().contiguous()}  # (n_mels, n_mfcc)
    half = delta_width // 2
    for order in (1, 2):  # librosa.feature.delta = savgol_filter(width, polyorder=order, deriv=order, mode="interp")
        matrices[f"delta{order}"] = tuple(
            savgol_operator(delta_width, order, positions)
            for positions in ([half], range(half), range(delta_width - half, delta_width)))  # centre, start, end
    return matrices


def savgol_operator(num_points: int, order: int, positions) -> torch.Tensor:
    """`(len(positions), num_points)` float32: the `order`-th derivative, at `positions`, of the least-squares
    polynomial of degree `order` (fewer if there are too few points; then a zero derivative) through `num_points`
    frames, `scipy.signal.savgol_coeffs(num_points, order, deriv=order, pos=p, use="dot")` per position. At the window
    centre it is the delta filter; at its first/last positions `savgol_filter(mode="interp")`'s edge fit."""
    import scipy.signal

    degree = min(order, num_points - 1)
    return torch.from_numpy(np.stack([scipy.signal.savgol_coeffs(num_points, degree, deriv=order, pos=position,
                                                                 use="dot") for position in positions])).float()


# -- threads: clip blocks on a small pool, one torch thread each -------------------------------------------------------
_THREADS_LOCK = threading.Lock()
_THREADS_STATE = {"depth": 0, "caller": 1}


@contextlib.contextmanager
def _one_torch_thread():
    """Run torch single-threaded inside, and give the caller back its `torch.get_num_threads()` on the way out (also
    when calls overlap from several threads: the first one in saves the setting, the last one out restores it).

    Intra-op threads on the small blocks of one clip are slower than none on a loaded CPU: OpenMP workers spin-wait at
    every parallel region and, when a competing job holds a core, wait for each other instead of working (the batched
    MFCC + deltas measured 0.1x a librosa loop there). The extractor parallelises over blocks of clips instead, on a
    pool of Python threads (torch releases the GIL inside each op)."""
    with _THREADS_LOCK:
        if _THREADS_STATE["depth"] == 0:
            _THREADS_STATE["caller"] = torch.get_num_threads()
            if _THREADS_STATE["caller"] != 1:
                torch.set_num_threads(1)
        _THREADS_STATE["depth"] += 1
    try:
        yield _THREADS_STATE["caller"]
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["depth"] -= 1
            if _THREADS_STATE["depth"] == 0 and torch.get_num_threads() != _THREADS_STATE["caller"]:
                torch.set_num_threads(_THREADS_STATE["caller"])


@contextlib.contextmanager
def _block_runner(threads: int):
    """A `run(function, blocks)` that returns `[function(block) for block in blocks]`, computed on one pool of up to
    `threads` threads (created here, shut down on exit) when there is more than one block."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="emotion-audio") \
        if threads > 1 else None

    def run(function, blocks):
        if pool is None or len(blocks) < 2:
            return [function(block) for block in blocks]
        return list(pool.map(function, blocks))

    try:
        yield run
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


# -- silence trimming in O(n) memory -----------------------------------------------------------------------------------
def _prefix_energy(samples: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`sum(samples[:k] ** 2)` for every k in `positions`, in float64, one block of the signal at a time."""
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    result = np.empty(positions.shape, dtype=np.float64)
    total = 0.0
    for block_start in range(0, samples.shape[0], _TRIM_CHUNK):
        block_end = min(samples.shape[0], block_start + _TRIM_CHUNK)
        block = samples[block_start:block_end].astype(np.float64)
        np.square(block, out=block)
        running = np.cumsum(block)
        low = np.searchsorted(ordered, block_start, side="left")
        high = np.searchsorted(ordered, block_end, side="right")
        inside = ordered[low:high] - block_start  # 0 .. block length
        result[order[low:high]] = total + np.where(inside > 0, running[np.maximum(inside - 1, 0)], 0.0)
        total += float(running[-1])
    return result


def silence_bounds(samples: np.ndarray, top_db: float = 60.0, frame_length: int = 2048,
                   hop_length: int = 512) -> tuple[int, int]:
    """`(start, end)` of `librosa.effects.trim(samples, top_db=top_db, frame_length=frame_length,
    hop_length=hop_length)[1]`: frames (centred, zero-padded) whose RMS is within `top_db` of the loudest frame's are
    sound. Frame energies come from a running sum of squares, so memory stays O(len(samples)) (librosa frames the
    signal into a `frame_length` x frames matrix). A clip without any sound frame is kept whole."""
    num_samples = samples.shape[0]
    pad = frame_length // 2
    num_frames = 1 + (num_samples + 2 * pad - frame_length) // hop_length
    starts = np.arange(num_frames, dtype=np.int64) * hop_length - pad
    ends = np.clip(starts + frame_length, 0, num_samples)
    starts = np.clip(starts, 0, num_samples)
    energy = _prefix_energy(samples, np.concatenate([starts, ends]))
    mean_square = np.maximum(energy[num_frames:] - energy[:num_frames], 0.0) / frame_length
    amin = 1e-10  # librosa.amplitude_to_db's amin (1e-5) squared
    db = 10.0 * np.log10(np.maximum(mean_square, amin)) - 10.0 * np.log10(max(amin, float(mean_square.max())))
    sound = np.flatnonzero(db > -top_db)
    if sound.size == 0:
        return 0, num_samples
    return int(sound[0]) * hop_length, min(num_samples, (int(sound[-1]) + 1) * hop_length)


def _broadcast_mask(mask: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """`(batch, frames)` -> `(batch, frames, 1, ...)`, broadcastable to time-first features."""
    return mask.view(*mask.shape, *([1] * (features.dim() - 2)))


def _check_choice(name, value, allowed):
    if not any(value is choice or (choice is not None and value == choice) for choice in allowed):
        raise ValueError(f"`{name}` must be one of {list(allowed)}, got {value!r}")


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_float(name, value, minimum=None, strict=True, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or (
            minimum is not None and (value <= minimum if strict else value < minimum)):
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
        raise ValueError(f"`{name}` must be a finite number{bound}{' or None' if allow_none else ''}, got {value!r}")
    return float(value)


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


class EmotionAudioFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns raw audio into the inputs of the voice models: a log-mel spectrogram (spectrogram ViT), MFCC with optional
    deltas (CNN), or the waveform itself (logistic-regression / MLP baselines).

    Per clip, in this order: integer PCM is scaled to [-1, 1]; multi-channel audio is averaged to mono; audio at
    another sampling rate is resampled (only with `resample=True`, refused otherwise); leading and trailing silence is
    trimmed (`trim_silence`); the clip is cropped to `max_length_seconds` (`crop`, or a random offset with
    `random_crop=True`); the waveform is normalised over its real samples (`normalize_waveform`); then the batch is
    zero-padded at the end, to `max_length_seconds` or to the longest clip, and featurised as one tensor (STFT, power,
    mel filters and dB on cache-sized blocks of frames, then per block of clips the dB reference, the DCT and the
    delta filters). The blocks run on a pool of up to `torch.get_num_threads()` Python threads with torch itself
    single-threaded for the call (the caller's setting is restored after it): intra-op threads on such small blocks
    spin-wait and stall on a CPU shared with other jobs, while whole blocks per thread keep the cores busy. Features
    are float32 and equal librosa's with the same settings (to about 1e-6 of the largest value): `log_mel` is
    `librosa.power_to_db(librosa.feature.melspectrogram(y=clip, ...), ref=np.max or db_reference, amin=amin,
    top_db=top_db)`, `mfcc` is `librosa.feature.mfcc(S=<that>, n_mfcc=n_mfcc)` stacked with
    `librosa.feature.delta(mfcc, width=delta_width, order=1 | 2)`, where `clip` is the clip after cropping and, with
    `max_length_seconds`, zero-padding. In a batch padded to its longest clip, each clip's real frames equal those of
    the clip on its own: `db_reference="max"` and `top_db` use the clip's own frames, the deltas' `"interp"` edge is at
    its own last frame.

    `attention_mask` marks real audio: a spectral frame is real if its centre sample (frame `t` is centred on sample
    `t * hop_length`, or `t * hop_length + n_fft // 2` with `center=False`) is inside the clip, i.e. a clip of
    `length` samples has `ceil(length / hop_length)` real frames (at least one); a waveform sample is real if it is
    not padding. Padding frames hold the features computed over the zero padding (the dB floor), normalised like the
    rest: mask them, do not rely on their values. Padded waveform samples hold `padding_value`.

    Args:
        feature_type (`str`, *optional*, defaults to `"log_mel"`): `"log_mel"` (`input_features` of shape
            `(batch, n_mels, frames)`), `"mfcc"` (`(batch, n_mfcc * (1 + deltas), frames)`, or `(batch, 1 + deltas,
            n_mfcc, frames)` with `delta_layout="channels"`) or `"waveform"` (`input_values`, `(batch, samples)`).
        sampling_rate (`int`, *optional*, defaults to 44100): sampling rate, in Hz, the features are computed at; every
            call must say the rate of its audio.
        feature_size (`int`, *optional*): values per frame, derived from the settings (`n_mels`, `n_mfcc * (1 +
            deltas)`, or 1 for waveforms); given, it must match.
        padding_value (`float`, *optional*, defaults to 0.0): value of the padded samples of `input_values`
            (spectral features are always computed from zero-padded audio).
        resample (`bool`, *optional*, defaults to `False`): resample audio at another rate to `sampling_rate` with
            `librosa.resample` (soxr, high quality); `False` refuses such audio.
        max_length_seconds (`float`, *optional*): fixed clip length; shorter clips are zero-padded at the end, longer
            ones cropped. `None` pads each batch to its longest clip.
        crop (`str`, *optional*, defaults to `"start"`): which part of a longer clip to keep when not cropping at
            random: `"start"` or `"center"`.
        trim_silence (`bool`, *optional*, defaults to `False`): remove leading and trailing silence first, as
            `librosa.effects.trim` (a clip that is all silence is kept whole).
        trim_top_db (`float`, *optional*, defaults to 60.0): frames quieter than the loudest frame by more than this
            many dB are silence.
        trim_frame_length (`int`, *optional*, defaults to 2048): frame length, in samples, of the silence detector.
        trim_hop_length (`int`, *optional*, defaults to 512): hop, in samples, of the silence detector.
        normalize_waveform (`str`, *optional*): `None`, `"peak"` (divide by the largest absolute sample; silence stays
            zeros) or `"zero_mean_unit_var"` (as `Wav2Vec2FeatureExtractor(do_normalize=True)`); computed over the
            real samples of the clip after cropping, i.e. over what the model sees.
        n_fft (`int`, *optional*, defaults to 1024): FFT size.
        win_length (`int`, *optional*): window length (<= `n_fft`, centred in it), defaults to `n_fft`.
        hop_length (`int`, *optional*, defaults to 64): samples between frames.
        window (`str`, *optional*, defaults to `"hann"`): periodic window, `"hann"`, `"hamming"` or `"blackman"`.
        center (`bool`, *optional*, defaults to `True`): zero-pad `n_fft // 2` samples on both sides so that frame `t`
            is centred on sample `t * hop_length` (librosa's `center=True, pad_mode="constant"`).
        n_mels (`int`, *optional*, defaults to 64): mel bands.
        f_min (`float`, *optional*, defaults to 0.0): lowest mel-band edge, in Hz.
        f_max (`float`, *optional*): highest mel-band edge, in Hz; `None` is `sampling_rate / 2`.
        power (`float`, *optional*, defaults to 2.0): exponent of the magnitude spectrogram (2 = power).
        mel_scale (`str`, *optional*, defaults to `"slaney"`): `"slaney"` or `"htk"` mel scale.
        mel_norm (`str`, *optional*, defaults to `"slaney"`): `"slaney"` (area-normalised filters) or `None`.
        top_db (`float`, *optional*, defaults to 80.0): floor of the dB spectrogram below its per-clip maximum; `None`
            does not clip.
        db_reference (`str` or `float`, *optional*, defaults to `"max"`): dB reference power: `"max"` (per clip, as
            `ref=np.max`) or a positive number (`ref=1.0` gives absolute dB).
        amin (`float`, *optional*, defaults to 1e-10): smallest power before the logarithm.
        n_mfcc (`int`, *optional*, defaults to 40): cepstral coefficients (`mfcc` only; at most `n_mels`).
        deltas (`int`, *optional*, defaults to 0): 0, 1 (add the delta) or 2 (add the delta and delta-delta, the
            Savitzky-Golay second derivative of `librosa.feature.delta(order=2)`).
        delta_width (`int`, *optional*, defaults to 9): odd window, in frames, of the delta filters (a clip with fewer
            frames fits its polynomial over all of them; librosa refuses it).
        delta_layout (`str`, *optional*, defaults to `"stack"`): `"stack"` (deltas concatenated on the feature axis)
            or `"channels"` (a channel axis of size `1 + deltas`).
        feature_normalization (`str`, *optional*): `None`, `"utterance"` (subtract each clip's mean and divide by its
            standard deviation, both over all values of its real frames) or `"global"` (`feature_mean`,
            `feature_std`). Applies to `input_values` too.
        normalize_per_bin (`bool`, *optional*, defaults to `False`): normalise every feature row (mel band, MFCC
            coefficient, delta row) on its own instead of all values together: `"utterance"` becomes per-clip cepstral
            mean and variance normalisation (CMVN), `"global"` takes one mean and standard deviation per row. MFCC
            rows differ in scale by orders of magnitude (c0 against the deltas), which a single scalar keeps.
            Spectral features only.
        feature_mean (`float` or `list`, *optional*): mean of the `"global"` normalisation (see
            `compute_global_statistics`); with `normalize_per_bin`, one value per feature row (nested `(1 + deltas,
            n_mfcc)` for the `"channels"` layout).
        feature_std (`float` or `list`, *optional*): standard deviation of the `"global"` normalisation, shaped as
            `feature_mean`.
        return_attention_mask (`bool`, *optional*, defaults to `True`): return `attention_mask`.
    """

    def __init__(self, feature_type="log_mel", sampling_rate=44100, feature_size=None, padding_value=0.0,
                 resample=False, max_length_seconds=None, crop="start", trim_silence=False, trim_top_db=60.0,
                 trim_frame_length=2048, trim_hop_length=512, normalize_waveform=None, n_fft=1024, win_length=None,
                 hop_length=64, window="hann", center=True, n_mels=64, f_min=0.0, f_max=None, power=2.0,
                 mel_scale="slaney", mel_norm="slaney", top_db=80.0, db_reference="max", amin=1e-10, n_mfcc=40,
                 deltas=0, delta_width=9, delta_layout="stack", feature_normalization=None, feature_mean=None,
                 feature_std=None, normalize_per_bin=False, return_attention_mask=True, **kwargs):
        _check_choice("feature_type", feature_type, FEATURE_TYPES)
        sampling_rate = _check_int("sampling_rate", sampling_rate)
        padding_value = _check_float("padding_value", padding_value)
        self.resample = _check_bool("resample", resample)
        self.max_length_seconds = _check_float("max_length_seconds", max_length_seconds, 0.0, allow_none=True)
        if self.max_length_seconds is not None and round(self.max_length_seconds * sampling_rate) < 1:
            raise ValueError(f"`max_length_seconds`={max_length_seconds} is less than one sample at {sampling_rate} Hz")
        _check_choice("crop", crop, CROPS)
        self.trim_silence = _check_bool("trim_silence", trim_silence)
        self.trim_top_db = _check_float("trim_top_db", trim_top_db, 0.0)
        self.trim_frame_length = _check_int("trim_frame_length", trim_frame_length)
        self.trim_hop_length = _check_int("trim_hop_length", trim_hop_length)
        _check_choice("normalize_waveform", normalize_waveform, WAVEFORM_NORMALIZATIONS)
        self._set_spectrogram(sampling_rate, n_fft, win_length, hop_length, window, center, n_mels, f_min, f_max, power,
                              mel_scale, mel_norm, top_db, db_reference, amin)
        self.n_mfcc = _check_int("n_mfcc", n_mfcc)
        if feature_type == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(f"`n_mfcc` must be <= `n_mels` ({self.n_mels}), got {n_mfcc}")
        _check_choice("deltas", deltas, (0, 1, 2))
        if isinstance(deltas, bool):
            raise ValueError(f"`deltas` must be one of [0, 1, 2], got {deltas!r}")
        self.delta_width = _check_int("delta_width", delta_width, 3)
        if self.delta_width % 2 == 0:
            raise ValueError(f"`delta_width` must be an odd int >= 3, got {delta_width!r}")
        _check_choice("delta_layout", delta_layout, DELTA_LAYOUTS)
        _check_choice("feature_normalization", feature_normalization, FEATURE_NORMALIZATIONS)
        self.normalize_per_bin = _check_bool("normalize_per_bin", normalize_per_bin)
        if self.normalize_per_bin and feature_type == "waveform":
            raise ValueError("`normalize_per_bin` normalises spectral feature rows; waveforms have none")
        self.feature_mean = self._check_statistic("feature_mean", feature_mean, feature_type, n_mels, n_mfcc, deltas,
                                                  delta_layout)
        self.feature_std = self._check_statistic("feature_std", feature_std, feature_type, n_mels, n_mfcc, deltas,
                                                 delta_layout, positive=True)
        return_attention_mask = _check_bool("return_attention_mask", return_attention_mask)
        if kwargs.get("padding_side", "right") != "right":
            raise ValueError(f"`padding_side` must be 'right' (clips are padded at the end), got {kwargs['padding_side']!r}")
        self.feature_type = feature_type
        self.crop = crop
        self.normalize_waveform = normalize_waveform
        self.deltas = int(deltas)
        self.delta_layout = delta_layout
        self.feature_normalization = feature_normalization
        derived = self._feature_size()
        if feature_size is not None and feature_size != derived:
            raise ValueError(f"`feature_size` is derived from the settings ({derived} for {feature_type!r}); got "
                             f"{feature_size!r}: leave it unset")
        self._cache_key = None
        self._cache = {}
        super().__init__(feature_size=derived, sampling_rate=sampling_rate, padding_value=padding_value,
                         return_attention_mask=return_attention_mask, **kwargs)

    def _set_spectrogram(self, sampling_rate, n_fft, win_length, hop_length, window, center, n_mels, f_min, f_max,
                         power, mel_scale, mel_norm, top_db, db_reference, amin):
        """Check and set the STFT, mel and dB settings (see the class docstring)."""
        self.n_fft = _check_int("n_fft", n_fft, 2)
        win_length = self.n_fft if win_length is None else _check_int("win_length", win_length)
        if win_length > self.n_fft:
            raise ValueError(f"`win_length` must be <= `n_fft` ({self.n_fft}), got {win_length}")
        self.win_length = win_length
        self.hop_length = _check_int("hop_length", hop_length)
        _check_choice("window", window, WINDOWS)
        self.center = _check_bool("center", center)
        self.n_mels = _check_int("n_mels", n_mels)
        self.f_min = _check_float("f_min", f_min, 0.0, strict=False)
        self.f_max = _check_float("f_max", f_max, self.f_min, allow_none=True)
        if self.f_max is not None and self.f_max > sampling_rate / 2:
            raise ValueError(f"`f_max` must be <= sampling_rate / 2 ({sampling_rate / 2} Hz) or None, got {f_max!r}")
        if self.f_max is None and self.f_min >= sampling_rate / 2:
            raise ValueError(f"`f_min` must be < sampling_rate / 2 ({sampling_rate / 2} Hz), got {f_min!r}")
        self.power = _check_float("power", power, 0.0)
        _check_choice("mel_scale", mel_scale, MEL_SCALES)
        _check_choice("mel_norm", mel_norm, MEL_NORMS)
        self.top_db = _check_float("top_db", top_db, 0.0, allow_none=True)
        if db_reference != "max":
            if isinstance(db_reference, str):
                raise ValueError(f"`db_reference` must be 'max' or a positive number, got {db_reference!r}")
            db_reference = _check_float("db_reference", db_reference, 0.0)
        self.amin = _check_float("amin", amin, 0.0)
        self.window, self.mel_scale, self.mel_norm, self.db_reference = window, mel_scale, mel_norm, db_reference

    # -- shapes ------------------------------------------------------------------------------------------------------
    def _feature_size(self) -> int:
        return {"log_mel": self.n_mels, "mfcc": self.n_mfcc * (1 + self.deltas), "waveform": 1}[self.feature_type]

    @property
    def model_input_names(self):
        return ["input_values" if self.feature_type == "waveform" else "input_features", "attention_mask"]

    @property
    def max_length_samples(self) -> Optional[int]:
        """`max_length_seconds` in samples (rounded), or `None`."""
        if self.max_length_seconds is None:
            return None
        return int(round(self.max_length_seconds * self.sampling_rate))

    def num_frames(self, num_samples: int) -> int:
        """Frames of a clip of `num_samples` samples: `1 + num_samples // hop_length` with `center=True` (librosa's
        count), `1 + (max(num_samples, n_fft) - n_fft) // hop_length` without; for waveforms, `num_samples`."""
        num_samples = int(num_samples)
        if self.feature_type == "waveform":
            return num_samples
        if self.center:
            return 1 + num_samples // self.hop_length
        return 1 + (max(num_samples, self.n_fft) - self.n_fft) // self.hop_length

    def output_shape(self) -> tuple:
        """Shape of one clip's features with `max_length_seconds` set, computed from the settings alone: e.g.
        `(64, 690)` for the default log-mel of 1 s at 44.1 kHz, `(samples,)` for waveforms."""
        if self.max_length_samples is None:
            raise ValueError("`output_shape()` needs a fixed length: set `max_length_seconds` (with None, every batch "
                             "is padded to its longest clip)")
        frames = self.num_frames(self.max_length_samples)
        if self.feature_type == "waveform":
            return (frames,)
        if self.feature_type == "log_mel":
            return (self.n_mels, frames)
        if self.delta_layout == "channels":
            return (1 + self.deltas, self.n_mfcc, frames)
        return (self.n_mfcc * (1 + self.deltas), frames)

    def _bin_shape(self, feature_type=None, n_mels=None, n_mfcc=None, deltas=None, delta_layout=None) -> tuple:
        """Shape of one frame's features (the rows `normalize_per_bin` normalises one by one)."""
        feature_type = feature_type or self.feature_type
        if feature_type == "log_mel":
            return (n_mels or self.n_mels,)
        n_mfcc = n_mfcc or self.n_mfcc
        deltas = self.deltas if deltas is None else int(deltas)
        if (delta_layout or self.delta_layout) == "channels":
            return (1 + deltas, n_mfcc)
        return (n_mfcc * (1 + deltas),)

    def _check_statistic(self, name, value, feature_type, n_mels, n_mfcc, deltas, delta_layout, positive=False):
        if value is None or not self.normalize_per_bin:
            return _check_float(name, value, 0.0 if positive else None, allow_none=True)
        shape = self._bin_shape(feature_type, n_mels, n_mfcc, deltas, delta_layout)
        array = np.asarray(value, dtype=np.float64)
        if array.shape != shape or not np.isfinite(array).all() or (positive and (array <= 0).any()):
            raise ValueError(f"`{name}` with `normalize_per_bin` must be {'positive ' if positive else ''}finite "
                             f"values of shape {shape} (one per feature row), got shape {array.shape}")
        return array.tolist()

    def to_dict(self):
        output = {key: copy.deepcopy(value) for key, value in self.__dict__.items() if not key.startswith("_")}
        output["feature_size"] = self._feature_size()  # follows settings changed after construction
        output["feature_extractor_type"] = self.__class__.__name__
        return output

    # -- cached tensors ----------------------------------------------------------------------------------------------
    def _tensors(self) -> dict:
        """Window, mel filters, DCT and delta operators of the current settings (float32, built once, shared)."""
        return _fixed_matrices(self.sampling_rate, self.n_fft, self.win_length, self.window, self.n_mels, self.f_min,
                               self.f_max, self.mel_scale, self.mel_norm, self.n_mfcc, self.delta_width)

    # -- inputs ------------------------------------------------------------------------------------------------------
    @staticmethod
    def _as_clips(raw_speech) -> list:
        """One clip or a list of clips -> a list of clips."""
        if isinstance(raw_speech, (np.ndarray, torch.Tensor)):
            return [raw_speech]
        if isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise ValueError("`raw_speech` is an empty list: pass one clip or a list of clips")
            if all(isinstance(value, numbers.Number) for value in raw_speech):
                return [raw_speech]
            return list(raw_speech)
        raise ValueError(f"`raw_speech` must be a clip (1-D or 2-D numpy array, torch tensor or list of floats) or a "
                         f"list of clips, got {type(raw_speech).__name__}")

    def _sampling_rates(self, sampling_rate, num_clips: int) -> list:
        if sampling_rate is None:
            raise ValueError(
                f"`sampling_rate` is missing: pass the rate of the audio, e.g. `feature_extractor(audio, "
                f"sampling_rate={self.sampling_rate})`. This feature extractor expects {self.sampling_rate} Hz; "
                f"features of audio at an unknown rate would be silently wrong")
        rates = list(sampling_rate) if isinstance(sampling_rate, (list, tuple, np.ndarray)) else [sampling_rate] * num_clips
        if len(rates) != num_clips:
            raise ValueError(f"`sampling_rate` has {len(rates)} rates for {num_clips} clips: give one int, or one per clip")
        for index, rate in enumerate(rates):
            if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not rate > 0 or rate != int(rate):
                raise ValueError(f"clip #{index}: `sampling_rate` must be a positive int (Hz), got {rate!r}")
            if int(rate) != self.sampling_rate and not self.resample:
                raise ValueError(
                    f"clip #{index} is sampled at {int(rate)} Hz but this feature extractor expects "
                    f"{self.sampling_rate} Hz: resample the audio to {self.sampling_rate} Hz first (e.g. "
                    f"`librosa.resample(y, orig_sr={int(rate)}, target_sr={self.sampling_rate})` or "
                    f"`dataset.cast_column('audio', Audio(sampling_rate={self.sampling_rate}))`), or create the "
                    f"feature extractor with `resample=True`")
        return [int(rate) for rate in rates]

    def _mono(self, clip, index: int) -> np.ndarray:
        """One clip -> a 1-D float32 numpy waveform in [-1, 1] for integer PCM (no copy for 1-D float32 arrays)."""
        if isinstance(clip, torch.Tensor):
            clip = clip.detach().cpu()
            clip = clip.float().numpy() if clip.is_floating_point() and clip.dtype != torch.float64 else clip.numpy()
        elif isinstance(clip, (list, tuple)):
            try:
                clip = np.asarray(clip, dtype=np.float32)
            except (TypeError, ValueError) as err:
                raise ValueError(f"clip #{index} is a list that is not a (nested) list of numbers: {err}") from None
        elif not isinstance(clip, np.ndarray):
            raise ValueError(f"clip #{index} must be a numpy array, torch tensor or list of floats, got "
                             f"{type(clip).__name__}")
        if clip.ndim == 0 or clip.ndim > 2:
            raise ValueError(f"clip #{index} has {clip.ndim} dimensions (shape {tuple(clip.shape)}); expected a 1-D "
                             f"waveform or a 2-D (channels, samples) / (samples, channels) array with at most "
                             f"{MAX_CHANNELS} channels (pass a batch as a list of clips)")
        if clip.size == 0:
            raise ValueError(f"clip #{index} is empty (shape {tuple(clip.shape)}); expected at least one sample")
        if clip.dtype == np.uint8:
            clip = (clip.astype(np.float32) - 128.0) / 128.0
        elif np.issubdtype(clip.dtype, np.signedinteger):
            clip = clip.astype(np.float32) / float(2 ** (8 * clip.dtype.itemsize - 1))
        elif np.issubdtype(clip.dtype, np.floating):
            clip = clip.astype(np.float32, copy=False)
        else:
            raise ValueError(f"clip #{index} has samples of type {clip.dtype}; expected floats or signed integer PCM "
                             f"(int8/int16/int32/int64, or uint8)")
        if clip.ndim == 2:
            channels = min(clip.shape)
            if channels > MAX_CHANNELS or clip.shape[0] == clip.shape[1]:
                raise ValueError(f"clip #{index} has shape {tuple(clip.shape)}: which axis holds the channels is "
                                 f"ambiguous; expected (channels, samples) or (samples, channels) with at most "
                                 f"{MAX_CHANNELS} channels, the other axis longer")
            clip = clip.mean(axis=0 if clip.shape[0] == channels else 1, dtype=np.float32)
        if not (np.isfinite(clip.min()) and np.isfinite(clip.max())):  # NaN propagates through min/max: O(1) memory
            raise ValueError(f"clip #{index} has NaN or infinite samples; expected finite audio")
        return clip

    def _prepare(self, clip, index: int, rate: int, random_crop: bool, generator) -> np.ndarray:
        samples = self._mono(clip, index)
        if rate != self.sampling_rate:
            try:
                import librosa
            except ImportError as err:
                raise ImportError("`resample=True` needs librosa (`pip install librosa`)") from err
            samples = librosa.resample(samples, orig_sr=rate, target_sr=self.sampling_rate).astype(np.float32,
                                                                                                   copy=False)
            if samples.size == 0:
                raise ValueError(f"clip #{index} is too short to resample from {rate} to {self.sampling_rate} Hz")
        if self.trim_silence:
            start, end = silence_bounds(samples, self.trim_top_db, self.trim_frame_length, self.trim_hop_length)
            samples = samples[start:end]
        max_length = self.max_length_samples
        if max_length is not None and samples.shape[0] > max_length:
            extra = samples.shape[0] - max_length
            if random_crop:
                offset = int(torch.randint(0, extra + 1, (1,), generator=generator).item())
            else:
                offset = 0 if self.crop == "start" else extra // 2
            samples = samples[offset:offset + max_length]
        if self.normalize_waveform == "peak":
            peak = float(np.abs(samples).max())
            samples = samples / peak if peak > 0 else np.zeros_like(samples)
        elif self.normalize_waveform == "zero_mean_unit_var":
            samples = ((samples - samples.mean(dtype=np.float64)) / np.sqrt(samples.var(dtype=np.float64)
                                                                             + _VARIANCE_EPSILON)).astype(np.float32)
        return samples

    # -- features ----------------------------------------------------------------------------------------------------
    def _deltas(self, features: torch.Tensor, own_frames: torch.Tensor, order: int) -> torch.Tensor:
        """`librosa.feature.delta(width=delta_width, order=order, mode="interp")` along the frames of `(batch, frames,
        coefficients)`, each clip's end edge at its own last frame (`own_frames`)."""
        batch, frames, coefficients = features.shape
        width, half = self.delta_width, self.delta_width // 2
        centre, start_edge, end_edge = self._tensors()[f"delta{order}"]
        out = torch.zeros_like(features)
        if frames >= width:
            interior = out[:, half:frames - half]
            for offset, weight in enumerate(centre[0].tolist()):  # the Savitzky-Golay filter, as shifted adds
                interior.add_(features[:, offset:frames - width + 1 + offset], alpha=weight)
            out[:, :half] = torch.einsum("hw,bwc->bhc", start_edge, features[:, :width])
            long_clips = torch.nonzero(own_frames >= width).flatten()
            if long_clips.numel():
                ends = own_frames[long_clips].view(-1, 1)
                window = features[long_clips.view(-1, 1), ends - width + torch.arange(width)]  # (clips, width, coef)
                out[long_clips.view(-1, 1), ends - half + torch.arange(half)] = torch.einsum("hw,bwc->bhc", end_edge,
                                                                                              window)
        for clip in torch.nonzero(own_frames < width).flatten().tolist():  # too short for the window: fit them all
            count = int(own_frames[clip])
            out[clip, :count] = savgol_operator(count, order, range(count)) @ features[clip, :count]
        return out

    def _extract(self, raw_speech, sampling_rate, random_crop=False, generator=None, first_index=0):
        """Un-normalised features, time first (`(batch, frames, ...)`; `(batch, samples)` for waveforms), the
        real-frame mask `(batch, frames)` and each clip's own frame count."""
        clips = self._as_clips(raw_speech)
        rates = self._sampling_rates(sampling_rate, len(clips))
        if not isinstance(random_crop, (bool, np.bool_)):
            raise ValueError(f"`random_crop` must be True or False, got {random_crop!r}")
        if random_crop and self.max_length_samples is None:
            raise ValueError("`random_crop=True` needs a fixed length: set `max_length_seconds`")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"`generator` must be a torch.Generator or None, got {type(generator).__name__}")
        waveforms = [self._prepare(clip, index, rate, bool(random_crop), generator)
                     for index, (clip, rate) in enumerate(zip(clips, rates), start=first_index)]
        lengths = torch.tensor([waveform.shape[0] for waveform in waveforms])
        total = self.max_length_samples or int(lengths.max())
        if self.feature_type == "waveform":
            batch = torch.full((len(waveforms), total), self.padding_value, dtype=torch.float32)
            rows = batch.numpy()  # a view: read-only inputs (decoded files) copy in without torch's warning
            for row, waveform in enumerate(waveforms):
                rows[row, :waveform.shape[0]] = waveform
            mask = torch.arange(total).view(1, -1) < lengths.view(-1, 1)
            return batch, mask, lengths
        # one zero-padded batch; frames of real audio per the centre rule
        padded_length = total if self.center else max(total, self.n_fft)
        batch = torch.zeros((len(waveforms), padded_length), dtype=torch.float32)
        rows = batch.numpy()
        for row, waveform in enumerate(waveforms):
            rows[row, :waveform.shape[0]] = waveform
        own_frames = torch.tensor([self.num_frames(total if self.max_length_samples else int(n)) for n in lengths])
        with _one_torch_thread() as threads:
            features = self._spectral_features(batch, own_frames, threads)
        first_centre = 0 if self.center else self.n_fft // 2
        real = ((lengths - first_centre + self.hop_length - 1).div(self.hop_length, rounding_mode="floor")).clamp(1)
        mask = torch.arange(features.shape[1]).view(1, -1) < real.view(-1, 1)
        return features, mask, own_frames

    def _spectral_features(self, batch: torch.Tensor, own_frames: torch.Tensor, threads: int) -> torch.Tensor:
        """Log-mel or MFCC (+ deltas) of every row of `(batch, samples)`, time first, on up to `threads` pool threads
        running single-threaded torch: first the STFT -> mel -> log of blocks of `_STFT_BLOCK_FRAMES` frames of any
        clip (so that one long clip still spreads over the threads), then the per-clip dB reference, DCT and deltas
        on blocks of clips."""
        tensors = self._tensors()
        if self.center:  # librosa's center=True, pad_mode="constant"
            batch = F.pad(batch, (self.n_fft // 2, self.n_fft // 2))
        frames = batch.unfold(-1, self.n_fft, self.hop_length)  # (batch, frames, n_fft), a view
        db = torch.empty(frames.shape[0], frames.shape[1], self.n_mels)

        # A block's spectrum (block x (1 + n_fft // 2) complex) stays in the CPU cache, where a whole batch's would go
        # to memory and back (3x slower on the development machine).
        def log_mel_block(unit):
            row, start = unit
            spectrum = torch.fft.rfft(frames[row, start:start + _STFT_BLOCK_FRAMES] * tensors["window"])
            if self.power == 2.0:
                parts = torch.view_as_real(spectrum)
                spectrum = torch.addcmul(parts[..., 0].square(), parts[..., 1], parts[..., 1])
            else:
                spectrum = spectrum.abs().pow_(self.power)
            block = db[row, start:start + _STFT_BLOCK_FRAMES]
            torch.matmul(spectrum, tensors["mel_t"], out=block)
            block.clamp_(min=self.amin).log10_().mul_(10.0)

        def finish_clips(rows):
            return self._finish(db[rows], own_frames[rows])

        units = [(row, start) for row in range(frames.shape[0]) for start in range(0, frames.shape[1], _STFT_BLOCK_FRAMES)]
        rows_per_block = max(1, math.ceil(db.shape[0] / (4 * threads)))  # small blocks: a slowed thread holds up less
        blocks = [slice(start, start + rows_per_block) for start in range(0, db.shape[0], rows_per_block)]
        with _block_runner(min(threads, len(units))) as run:
            run(log_mel_block, units)
            parts = run(finish_clips, blocks)
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def _finish(self, db: torch.Tensor, own_frames: torch.Tensor) -> torch.Tensor:
        """`(clips, frames, n_mels)` of 10 log10(mel power) -> `power_to_db` (the dB reference and floor of a clip from
        its own frames) -> the log-mel, or its MFCC with deltas."""
        own = (torch.arange(db.shape[1]).view(1, -1) < own_frames.view(-1, 1)).unsqueeze(-1)  # (clips, frames, 1)
        if self.db_reference == "max":  # 10 log10(max(amin, max power)) = max of the clip's dB values
            db = db - db.masked_fill(~own, -math.inf).amax(dim=(1, 2), keepdim=True)
        else:
            db = db - 10.0 * math.log10(max(self.amin, self.db_reference))
        if self.top_db is not None:
            db = torch.maximum(db, db.masked_fill(~own, -math.inf).amax(dim=(1, 2), keepdim=True) - self.top_db)
        if self.feature_type != "mfcc":
            return db
        mfcc = torch.matmul(db, self._tensors()["dct_t"])  # (clips, frames, n_mfcc)
        parts = [mfcc] + [self._deltas(mfcc, own_frames, order) for order in range(1, self.deltas + 1)]
        return torch.stack(parts, dim=2) if self.delta_layout == "channels" else torch.cat(parts, dim=2)

    def _normalize_features(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Feature normalisation of time-first features with the real-frame mask `(batch, frames)`."""
        if self.feature_normalization is None:
            return features
        if self.feature_normalization == "global":
            if self.feature_mean is None or self.feature_std is None:
                raise ValueError("`feature_normalization='global'` needs `feature_mean` and `feature_std`: set them "
                                 "from the training split, e.g. `fe.feature_mean, fe.feature_std = "
                                 "fe.compute_global_statistics(train_waveforms, sampling_rate)`")
            mean = torch.as_tensor(self.feature_mean, dtype=features.dtype)  # a scalar or one value per row
            std = torch.as_tensor(self.feature_std, dtype=features.dtype)
            return (features - mean) / std
        if self.normalize_per_bin:  # per-clip CMVN: each row's mean and variance over the clip's real frames
            weights = _broadcast_mask(mask, features).to(features.dtype)  # (batch, frames, 1...)
            count = weights.sum(dim=1, keepdim=True)
            mean = (features * weights).sum(dim=1, keepdim=True) / count
            centred = features - mean
            variance = (centred.square() * weights).sum(dim=1, keepdim=True) / count
            return centred / torch.sqrt(variance + _VARIANCE_EPSILON)
        # utterance: mean and variance over every value of the clip's real frames
        dims = tuple(range(1, features.dim()))
        view = (-1,) + (1,) * (features.dim() - 1)
        weights = _broadcast_mask(mask, features).to(features.dtype)
        count = weights.sum(dim=dims) * (features[0, 0].numel())
        mean = (features * weights).sum(dim=dims) / count
        centred = features - mean.view(view)
        variance = (centred.square() * weights).sum(dim=dims) / count
        return centred / torch.sqrt(variance.view(view) + _VARIANCE_EPSILON)

    def _output_layout(self, features: torch.Tensor) -> torch.Tensor:
        """Time-first features -> the documented layout, frames last."""
        if self.feature_type == "waveform":
            return features
        if features.dim() == 4:  # (batch, frames, 1 + deltas, n_mfcc) -> (batch, 1 + deltas, n_mfcc, frames)
            return features.permute(0, 2, 3, 1).contiguous()
        return features.transpose(1, 2).contiguous()

    def __call__(self, raw_speech, sampling_rate: Optional[Union[int, list]] = None, random_crop: bool = False,
                 generator: Optional[torch.Generator] = None,
                 return_tensors: Optional[Union[str, TensorType]] = "pt",
                 return_attention_mask: Optional[bool] = None, **kwargs) -> BatchFeature:
        """
        Featurise one clip or a batch of clips.

        Args:
            raw_speech (`np.ndarray`, `torch.Tensor`, `list[float]` or a list of them): one clip or a list of clips. A
                clip is a 1-D waveform, or 2-D `(channels, samples)` / `(samples, channels)` (at most 8 channels, the
                shorter axis) averaged to mono. Floats are used as they are; integer PCM (int8/16/32/64, uint8) is
                scaled to [-1, 1]. Empty or non-finite clips are refused.
            sampling_rate (`int` or `list[int]`): rate of the audio in Hz, one for the batch or one per clip; required.
                A rate other than `self.sampling_rate` is resampled with `resample=True` and refused otherwise.
            random_crop (`bool`, *optional*, defaults to `False`): crop clips longer than `max_length_seconds` at an
                offset drawn with `torch.randint` (the global torch RNG, or `generator`), one draw per cropped clip in
                batch order; otherwise crop at `crop`.
            generator (`torch.Generator`, *optional*): RNG of the random crops.
            return_tensors (`str` or [`~utils.TensorType`], *optional*, defaults to `"pt"`): `"pt"`, `"np"`, or `None`
                for lists of per-clip numpy arrays.
            return_attention_mask (`bool`, *optional*): defaults to `self.return_attention_mask`.

        Returns:
            [`BatchFeature`]: `input_features` (float32; `input_values` for `feature_type="waveform"`) and
            `attention_mask` (int32, `(batch, frames)` or `(batch, samples)`, 1 = real audio).
        """
        if kwargs:
            raise ValueError(f"unexpected arguments {sorted(kwargs)}: EmotionAudioFeatureExtractor takes "
                             f"`sampling_rate`, `random_crop`, `generator`, `return_tensors` and `return_attention_mask`"
                             f" (lengths, padding and cropping are set on the feature extractor)")
        if return_tensors is not None and str(getattr(return_tensors, "value", return_tensors)) not in ("pt", "np"):
            raise ValueError(f"`return_tensors` must be 'pt', 'np' or None, got {return_tensors!r}")
        features, mask, _ = self._extract(raw_speech, sampling_rate, random_crop, generator)
        features = self._normalize_features(features, mask)
        if self.feature_type == "waveform":
            features = features.masked_fill(~mask, self.padding_value)
        data = {self.model_input_names[0]: self._output_layout(features)}
        if self.return_attention_mask if return_attention_mask is None else return_attention_mask:
            data["attention_mask"] = mask.to(torch.int32)
        return_tensors = getattr(return_tensors, "value", return_tensors)
        if return_tensors == "pt":
            return BatchFeature(data, tensor_type="pt")
        if return_tensors == "np":
            return BatchFeature({key: value.numpy() for key, value in data.items()}, tensor_type="np")
        return BatchFeature({key: list(value.numpy()) for key, value in data.items()}, tensor_type=None)

    def compute_global_statistics(self, waveforms, sampling_rate, batch_size: int = 64):
        """Mean and standard deviation of every value of the real frames (samples, for waveforms) of the features of
        `waveforms` (a list of clips, as `__call__` takes them, at `sampling_rate`), before feature normalisation and
        with the deterministic `crop`; for `feature_normalization="global"`:
        `fe.feature_mean, fe.feature_std = fe.compute_global_statistics(train_waveforms, 44100)`. Two floats, or
        with `normalize_per_bin` two nested lists of one mean and std per feature row."""
        batch_size = _check_int("batch_size", batch_size)
        rates = self._sampling_rates(sampling_rate, len(waveforms))
        count, mean, sum_squares = 0, 0.0, 0.0
        for start in range(0, len(waveforms), batch_size):
            chunk = [waveforms[index] for index in range(start, min(len(waveforms), start + batch_size))]
            features, mask, _ = self._extract(chunk, rates[start:start + len(chunk)], first_index=start)
            if self.normalize_per_bin:
                values = features[mask].double()  # (real frames, *rows): statistics per feature row
            else:
                values = features[_broadcast_mask(mask, features).expand(features.shape)].double()  # every value
            batch_count, batch_mean = values.shape[0], values.mean(0)
            batch_squares = ((values - batch_mean) ** 2).sum(0)
            # Chan et al.'s pairwise update: stable for millions of dB values
            delta = batch_mean - mean
            total = count + batch_count
            mean = mean + delta * batch_count / total
            sum_squares = sum_squares + batch_squares + delta ** 2 * count * batch_count / total
            count = total
        std = (sum_squares / count).sqrt()
        if self.normalize_per_bin:
            return mean.tolist(), std.clamp_min(1e-5).tolist()
        return float(mean), float(std)

__all__ = ["EmotionAudioFeatureExtractor"]
