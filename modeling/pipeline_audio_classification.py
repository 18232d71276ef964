"""The package's "audio-classification" pipeline: the stock one, plus the inputs users of `datasets` and soundfile
actually have.

Every voice model of the package saves `custom_pipelines = AUDIO_CUSTOM_PIPELINES` in its config and this file next to
its code, so `pipeline("audio-classification", model=repo, trust_remote_code=True)` builds
`EmotionAudioClassificationPipeline`. On top of the stock `AudioClassificationPipeline` it accepts:

- a `datasets` row or its `audio` value: a torchcodec `AudioDecoder` (what `datasets>=4` gives; the stock pipeline
  turns it into a `[channels, samples]` tensor and then refuses it), or a `{"array", "sampling_rate"}` dict;
- multi-channel audio (`(channels, samples)` or `(samples, channels)` arrays or tensors), mixed down to mono;
- integer PCM arrays (int16/int32), scaled to [-1, 1];
- `window_seconds` (and `hop_seconds`): score overlapping windows of a long recording and average them. A model
  that reads a fixed window (Whisper; a feature extractor that pads / cuts every clip to one length) scores a longer
  recording in windows of that length by itself, so every part of it is heard; a `window_seconds` longer than that
  window, shorter than 0.1 s, or giving more than 100000 windows is refused (`windowed_audio.py`).
- `threshold`: keep the labels scoring at least this much. A multi-label model (`problem_type=
  "multi_label_classification"`) gets independent per-label sigmoid scores (as in the stock pipeline), so
  `threshold=0.5` returns the labels it predicts, possibly none; a regression model returns its values.

Audio at another sampling rate is resampled to the feature extractor's (torchaudio when installed, else librosa).
Empty and NaN / infinite audio is refused by name, whatever the model (also a stock folder run through this class:
`pipeline("audio-classification", model=stock_folder, pipeline_class=EmotionAudioClassificationPipeline)`).
"""

import sys
from typing import Any

import numpy as np
from transformers import AudioClassificationPipeline

from .windowed_audio import check_window_arguments, classify_windows, feature_extractor_kwargs, model_window_seconds


AUDIO_TASK = "audio-classification"
AUDIO_CUSTOM_PIPELINES = {
    AUDIO_TASK: {"impl": "pipeline_audio_classification.EmotionAudioClassificationPipeline",
                 "pt": ["AutoModelForAudioClassification"], "tf": [], "type": "audio"}
}
MAX_CHANNELS = 8


def to_mono(array, name: str = "audio") -> np.ndarray:
    """A 1-D float32 waveform from a 1-D or 2-D (channels first or last) array/tensor; int PCM scaled to [-1, 1]."""
    if hasattr(array, "detach"):  # torch tensor
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max + 1)
    array = array.astype(np.float32, copy=False)
    if array.ndim == 2:
        if array.shape[0] <= MAX_CHANNELS < array.shape[1] or array.shape[0] <= min(MAX_CHANNELS, array.shape[1]):
            array = array.mean(axis=0)
        elif array.shape[1] <= MAX_CHANNELS:
            array = array.mean(axis=1)
        else:
            raise ValueError(f"{name}: a 2-D array must be (channels, samples) or (samples, channels) with at most "
                             f"{MAX_CHANNELS} channels, got shape {array.shape}")
    elif array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D waveform or a 2-D (channels, samples) array, got shape {array.shape}")
    return array


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return waveform
    try:
        import torch
        import torchaudio.functional as F

        return F.resample(torch.from_numpy(np.ascontiguousarray(waveform)), orig_sr, target_sr).numpy()
    except ImportError:
        import librosa

        return librosa.resample(waveform, orig_sr=orig_sr, target_sr=target_sr).astype(np.float32)


class EmotionAudioClassificationPipeline(AudioClassificationPipeline):
    """`AudioClassificationPipeline` that also takes `datasets` rows, torchcodec decoders, stereo and int PCM audio,
    and long recordings in windows.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> classifier = pipeline("audio-classification", model="path/to/model", trust_remote_code=True)
    >>> classifier("speech.wav")                                    # any rate, any channels (read by ffmpeg)
    >>> classifier({"array": stereo_int16, "sampling_rate": 48000})  # resampled, mixed down
    >>> classifier(dataset[0])                                      # a datasets row with an "audio" column
    >>> classifier("one_hour.wav", window_seconds=2.0, hop_seconds=1.0)
    ```
    """

    def check_model_type(self, supported_models):
        # Our models register with AutoModelForAudioClassification only where the package is imported; the stock
        # check would log an error for them in a Python that loads them through `trust_remote_code`.
        if getattr(self.model.config, "custom_pipelines", {}).get(AUDIO_TASK) is None:
            super().check_model_type(supported_models)

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, window_seconds=None, hop_seconds=None,
                             window_batch_size=8, threshold=None, **kwargs):
        preprocess, forward, postprocess = super()._sanitize_parameters(top_k=top_k,
                                                                        function_to_apply=function_to_apply, **kwargs)
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                raise ValueError(f"`threshold` must be a number (a score), got {threshold!r}")
            postprocess["threshold"] = float(threshold)
        if window_seconds is not None or hop_seconds is not None:
            check_window_arguments(window_seconds, hop_seconds, model_window_seconds(self.model, self.feature_extractor))
            preprocess.update(window_seconds=window_seconds, hop_seconds=hop_seconds,
                              window_batch_size=window_batch_size)
        return preprocess, forward, postprocess

    def _waveform(self, inputs: Any):
        """`(mono float32 waveform, sampling rate)` of any accepted input, at the feature extractor's rate."""
        target = self.feature_extractor.sampling_rate
        if isinstance(inputs, dict) and "audio" in inputs and not ({"raw", "array"} & set(inputs)):
            inputs = inputs["audio"]  # a datasets row
        if isinstance(inputs, str):
            path = inputs
            if path.startswith(("http://", "https://")):
                from urllib.request import urlopen

                with urlopen(path) as response:
                    inputs = response.read()
            else:
                with open(path, "rb") as f:
                    inputs = f.read()
            if not inputs:
                raise ValueError(f"{path}: the file is empty, expected an audio file")
            try:
                return self._ffmpeg(inputs, target), target
            except ValueError as err:
                raise ValueError(f"{path}: cannot decode this file as audio ({err})") from None
        if isinstance(inputs, (bytes, bytearray)):
            return self._ffmpeg(bytes(inputs), target), target
        torchcodec = sys.modules.get("torchcodec")
        if torchcodec is not None and isinstance(inputs, torchcodec.decoders.AudioDecoder):
            samples = inputs.get_all_samples()
            inputs = {"array": samples.data, "sampling_rate": samples.sample_rate}
        if isinstance(inputs, dict):
            if "sampling_rate" not in inputs or not ({"raw", "array"} & set(inputs)):
                raise ValueError("a dict input needs a 'sampling_rate' and the waveform under 'raw' or 'array' (or "
                                 f"a datasets row with an 'audio' column); got keys {sorted(inputs)}")
            array = inputs["raw"] if "raw" in inputs else inputs["array"]
            rate = int(inputs["sampling_rate"])
            return resample(to_mono(array), rate, target), target
        if isinstance(inputs, np.ndarray) or hasattr(inputs, "detach"):
            # A bare array carries no sampling rate: it is taken to be the feature extractor's (as in the stock
            # pipeline); pass {"raw": array, "sampling_rate": rate} otherwise.
            return to_mono(inputs), target
        raise TypeError(f"expected a file path, bytes, a waveform array, a {{'raw'/'array', 'sampling_rate'}} dict, "
                        f"a torchcodec AudioDecoder or a datasets row; got {type(inputs).__name__}")

    @staticmethod
    def _ffmpeg(payload: bytes, sampling_rate: int) -> np.ndarray:
        from transformers.pipelines.audio_classification import ffmpeg_read

        return ffmpeg_read(payload, sampling_rate)

    def preprocess(self, inputs, window_seconds=None, hop_seconds=None, window_batch_size=8):
        waveform, rate = self._waveform(inputs)
        name = inputs if isinstance(inputs, str) else "audio"
        # Refused here rather than left to the model: a stock model (e.g. the stock Whisper export run through this
        # pipeline) would score NaN audio as NaN, and an empty one as the silence its feature extractor pads it with.
        if waveform.size == 0:
            raise ValueError(f"{name}: the waveform is empty (0 samples): there is no audio frame to classify")
        if not (np.isfinite(waveform.min()) and np.isfinite(waveform.max())):
            raise ValueError(f"{name}: the waveform holds NaN or infinite values; expected finite samples")
        # A model that reads a fixed window (Whisper; a feature extractor that pads / cuts every clip to one length)
        # scores a longer recording in windows of that length, so that every part of it is heard.
        model_window = model_window_seconds(self.model, self.feature_extractor)
        if window_seconds is None and model_window is not None and len(waveform) > round(model_window * rate):
            window_seconds = model_window
        if window_seconds is not None:
            # The windows are scored in `_forward`; `preprocess` only hands the waveform on.
            return {"waveform": waveform, "sampling_rate": rate, "window_seconds": window_seconds,
                    "hop_seconds": hop_seconds, "window_batch_size": window_batch_size}
        # Whisper: pool only the clip's frames, not the window's padding (models that take the mask).
        extra = feature_extractor_kwargs(self.model, self.feature_extractor)
        processed = self.feature_extractor(waveform, sampling_rate=rate, return_tensors="pt", **extra)
        if self.dtype is not None:
            processed = processed.to(dtype=self.dtype)
        return processed

    def _forward(self, model_inputs):
        if "waveform" in model_inputs:
            result = classify_windows(self.model, self.feature_extractor, model_inputs["waveform"],
                                      model_inputs["sampling_rate"], model_inputs["window_seconds"],
                                      hop_seconds=model_inputs["hop_seconds"],
                                      batch_size=model_inputs["window_batch_size"])
            # Mean window scores, turned back into logits that the postprocessing maps onto them unchanged: log-
            # probabilities under softmax, log-odds under a multi-label model's sigmoid, values for regression.
            import torch
            from transformers.modeling_outputs import SequenceClassifierOutput

            scores = torch.as_tensor(result["probabilities"]).float()
            problem_type = self.model.config.problem_type
            if problem_type == "multi_label_classification":
                scores = torch.logit(scores, eps=1e-7)
            elif problem_type != "regression":
                scores = scores.clamp_min(1e-12).log()
            return SequenceClassifierOutput(logits=scores[None])
        return self.model(**model_inputs)

    def postprocess(self, model_outputs, top_k=5, function_to_apply=None, threshold=None):
        labels = super().postprocess(model_outputs, top_k=top_k, function_to_apply=function_to_apply)
        if threshold is not None:
            labels = [label for label in labels if label["score"] >= threshold]
        return labels


__all__ = ["AUDIO_CUSTOM_PIPELINES", "AUDIO_TASK", "EmotionAudioClassificationPipeline", "resample", "to_mono"]
