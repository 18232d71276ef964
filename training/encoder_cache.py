"""A frozen speech encoder at the speed of a linear probe: run it once per clip, train the head from its hidden states.

With `model.freeze_backbone: true` and nothing that changes a clip between epochs (no noise, no SpecAugment, no crop
shorter than a clip), the encoder sees the same input every epoch and returns the same hidden states. The audio task
then runs it once per clip (eval mode, no gradient), keeps every layer's hidden states of the clip's real frames, and
trains the head (layer weights, projector, pooling, classifier) on them for every epoch and every fold. The saved
model is still the whole model.

Fine-tuning only the top layers (`model.trainable_encoder_layers: N`) works the same way: the front end and the
layers below the top N never change, so the cache keeps their hidden states (`num_fixed_hidden_states` of them; for
Whisper over every frame of the window, which its trained layers attend to, with the clip's `num_frames`), and every
step runs only the top N layers and the head on them ([`SpeechEmotionForAudioClassification.encode_top_layers`]).

Cache layout: `<root>/<settings key>/<clip key>.safetensors`, one file per clip holding `hidden_states`
`(num_hidden_states, frames, hidden)` in float32. The settings key hashes the encoder's weights and config, the
feature extractor's settings and this file's format version; the clip key hashes the decoded waveform the encoder
reads. Changing the data, the backbone or a feature setting therefore computes new entries; entries are written to a
temporary file and renamed into place, so a killed run never leaves half a file behind. `root` is the recipe's
`encoder_cache_dir`, else `$EMOTION_HUB_CACHE/encoder_cache`, else `~/.cache/emotion_hub/encoder_cache`.
"""

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from emotion_hub.modeling.modeling_speech_emotion import top_layers_blocker
from emotion_hub.modeling.speech_encoders import is_whisper

CACHE_FORMAT = 1  # entries of format 1 written before `num_frames` existed read back with all frames real
# In-process copy of the entries of the last settings key used, so the folds of a cross-validation read each clip
# from disk once.
_MEMORY: dict = {"key": None, "entries": {}}


def default_cache_root() -> str:
    base = os.environ.get("EMOTION_HUB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "emotion_hub")
    return os.path.join(base, "encoder_cache")


def cache_blockers(recipe, model, clip_lengths, crop_samples) -> list[str]:
    """Why the encoder must run every epoch for this recipe (empty list: the cache applies)."""
    blockers = []
    if not callable(getattr(model, "encode", None)):
        blockers.append(f"{type(model).__name__} has no separate encoder")
        return blockers
    config = model.config
    if not config.num_fixed_hidden_states:
        blockers.append("the encoder is trained (`model.freeze_backbone: false`, no `trainable_encoder_layers`)")
    elif config.trainable_encoder_layers and top_layers_blocker(config):
        blockers.append(top_layers_blocker(config))
    if recipe.lora_r:
        blockers.append("LoRA adapters train the encoder")
    augmentation = recipe.audio_augmentation or {}
    if augmentation.get("noise_snr_db") is not None:
        blockers.append("`audio_augmentation.noise_snr_db` changes the waveforms every epoch")
    if any(augmentation.get(k) for k in ("freq_masks", "time_masks")):
        blockers.append("SpecAugment masks change the features every epoch")
    if crop_samples and max(clip_lengths, default=0) > crop_samples:
        blockers.append(f"`random_crop` draws other {crop_samples}-sample windows of longer clips every epoch")
    return blockers


def settings_key(model, processor) -> str:
    """Hash of everything besides the waveform that decides the hidden states: encoder weights and config, feature
    extractor settings, cache format."""
    digest = hashlib.sha256()
    digest.update(f"format {CACHE_FORMAT}".encode())
    digest.update(model.config.audio_config.to_json_string(use_diff=False).encode())
    digest.update(json.dumps(processor.to_dict(), sort_keys=True, default=str).encode())
    if getattr(model.config, "trainable_encoder_layers", None):  # the states below the trained layers, every frame
        digest.update(f"fixed {model.config.num_fixed_hidden_states}".encode())
    if _head_reads_last_hidden_state(model):
        digest.update(b"last_hidden_state")
    for name, tensor in sorted(model.encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def _head_reads_last_hidden_state(model) -> bool:
    """A frozen encoder's head without the weighted layer sum reads `last_hidden_state`: the last hidden state after
    a final layer norm, which `do_stable_layer_norm` encoders record before it. The cache keeps that one."""
    config = model.config
    return config.num_fixed_hidden_states == config.num_hidden_states and getattr(model, "layer_sum", None) is None


def clip_key(waveform: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(waveform, dtype=np.float32).tobytes()).hexdigest()[:32]


def _write_atomically(path: str, tensors: dict):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".safetensors")
    os.close(fd)
    try:
        save_file(tensors, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class EncoderCache:
    """The hidden states of `model`'s frozen encoder for clips processed by `processor`, on disk and in memory."""

    def __init__(self, model, processor, root: str, batch_size: int = 8):
        self.model, self.processor, self.batch_size = model, processor, batch_size
        self.key = settings_key(model, processor)
        self.dir = os.path.join(root, self.key)
        os.makedirs(self.dir, exist_ok=True)
        if _MEMORY["key"] != self.key:
            _MEMORY.update(key=self.key, entries={})
        self.memory = _MEMORY["entries"]
        self.computed = 0  # clips this instance ran the encoder on (the rest came from disk or memory)

    def _path(self, key):
        return os.path.join(self.dir, key + ".safetensors")

    def hidden_states(self, waveforms: list, desc: str = "encoder cache") -> list:
        """One `(num_hidden_states, frames, hidden)` float32 tensor per waveform (a clip's real frames only; with
        `trainable_encoder_layers` the `num_fixed_hidden_states` below the trained layers, and for Whisper every
        frame of the window: see [`entries`])."""
        return [entry["hidden_states"] for entry in self.entries(waveforms, desc)]

    def entries(self, waveforms: list, desc: str = "encoder cache") -> list:
        """One `{"hidden_states": (layers, frames, hidden), "num_frames": (1,)}` dict per waveform; `num_frames`
        counts the clip's real frames (fewer than `frames` only for Whisper with `trainable_encoder_layers`)."""
        keys = [clip_key(w) for w in waveforms]
        missing = []
        for i, key in enumerate(keys):
            if key in self.memory:
                continue
            if os.path.isfile(self._path(key)):
                entry = load_file(self._path(key))
                entry.setdefault("num_frames", torch.tensor([entry["hidden_states"].shape[1]]))
                self.memory[key] = entry
            else:
                missing.append(i)
        # Longest first, in batches of similar length: little padding for the waveform encoders. A group-normalised
        # wav2vec2 front end (wav2vec2-base) normalises over the padded batch: such clips are encoded one at a time,
        # so that a clip's cached states never depend on its batch.
        missing.sort(key=lambda i: -len(waveforms[i]))
        audio = self.model.config.audio_config
        batch_size = 1 if getattr(audio, "feat_extract_norm", None) == "group" else self.batch_size
        for start in tqdm(range(0, len(missing), batch_size), desc=desc, leave=False, disable=not missing):
            batch = missing[start:start + batch_size]
            for i, entry in zip(batch, self._encode([waveforms[i] for i in batch])):
                _write_atomically(self._path(keys[i]), entry)
                self.memory[keys[i]] = entry
                self.computed += 1
        return [self.memory[key] for key in keys]

    @torch.inference_mode()
    def _encode(self, waveforms: list) -> list:
        from emotion_hub.training.audio import features_of

        model = self.model
        was_training = model.training
        model.eval()
        try:
            features = features_of(self.processor, waveforms, return_attention_mask=True)
            device = next(model.parameters()).device
            inputs = features[model.config.input_name].to(device)
            mask = features.get("attention_mask")
            outputs, frame_mask = model.encode(inputs, mask.to(device) if mask is not None else None,
                                               output_hidden_states=True)
            fixed = model.config.num_fixed_hidden_states  # all of them for a frozen encoder
            states = list(outputs.hidden_states[:fixed])
            if _head_reads_last_hidden_state(model):
                states[-1] = outputs.last_hidden_state  # after a final layer norm the hidden states lack (wav2vec2-large)
            stacked = torch.stack(states, dim=1).float().cpu()  # (batch, layers, frames, hidden)
            frames = (frame_mask.sum(-1).tolist() if frame_mask is not None
                      else [stacked.shape[2]] * stacked.shape[0])
            # Trained Whisper layers attend over the whole window, padding frames included: keep them all.
            attended = (stacked.shape[2] if model.config.trainable_encoder_layers and is_whisper(model.config.audio_config)
                        else None)
            return [{"hidden_states": stacked[b, :, :attended or n].clone(), "num_frames": torch.tensor([n])}
                    for b, n in enumerate(frames)]
        finally:
            model.train(was_training)


class CachedHiddenStates(torch.utils.data.Dataset):
    """`{"encoder_hidden_states": (layers, frames, hidden), "labels": id}` rows from an encoder cache."""

    def __init__(self, hidden_states: list, labels: list, num_frames: list = None):
        self.hidden_states, self.labels = hidden_states, labels
        self.num_frames = num_frames if num_frames is not None else [h.shape[1] for h in hidden_states]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return {"encoder_hidden_states": self.hidden_states[index], "num_frames": self.num_frames[index],
                "labels": self.labels[index]}

    def lengths(self, sampling_rate=None) -> list[int]:
        return list(self.num_frames)


@dataclass
class CachedHiddenStatesCollator:
    """Pads the frames of a batch of cached hidden states: `encoder_hidden_states` `(batch, layers, frames,
    hidden)` and the bool `frame_mask` `(batch, frames)` the model pools over."""

    def __call__(self, rows):
        frames = max(row["encoder_hidden_states"].shape[1] for row in rows)
        first = rows[0]["encoder_hidden_states"]
        states = first.new_zeros(len(rows), first.shape[0], frames, first.shape[2])
        mask = torch.zeros(len(rows), frames, dtype=torch.bool)
        for i, row in enumerate(rows):
            n = row["encoder_hidden_states"].shape[1]
            states[i, :, :n] = row["encoder_hidden_states"]
            mask[i, :int(row.get("num_frames", n))] = True  # the real frames (Whisper windows keep padding frames)
        labels = torch.tensor([row["labels"] for row in rows], dtype=torch.long)
        return {"encoder_hidden_states": states, "frame_mask": mask, "labels": labels}


__all__ = ["CACHE_FORMAT", "CachedHiddenStates", "CachedHiddenStatesCollator", "EncoderCache", "cache_blockers",
           "clip_key", "default_cache_root", "settings_key"]
