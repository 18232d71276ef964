"""ERCProcessor: a dialogue (plus the last turn's audio and video frames) -> inputs of an ERCFusion model."""

from typing import Optional

import numpy as np
import timm
import torch
from transformers import BatchFeature, BitImageProcessor, ProcessorMixin, Wav2Vec2FeatureExtractor
from transformers.utils import logging


logger = logging.get_logger(__name__)

_PIL_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1}


def frame_image_processor(vision_model_name: str = "resnet50", height: int = 224, width: int = 224) -> BitImageProcessor:
    """A stock image processor for video frames fed to a timm backbone: RGB, resized to `height` x `width` without
    cropping (a speaker's face may be anywhere in the frame), rescaled and normalised with the mean, standard
    deviation and interpolation of the backbone's default pretrained weights."""
    cfg = timm.models.get_pretrained_cfg(vision_model_name)
    if cfg is None:
        raise ValueError(f"timm has no model named {vision_model_name!r} (see `timm.list_models()`)")
    return BitImageProcessor(
        do_resize=True, size={"height": int(height), "width": int(width)}, do_center_crop=False,
        resample=_PIL_RESAMPLE.get(cfg.interpolation, 3), do_rescale=True, do_normalize=True,
        image_mean=list(cfg.mean), image_std=list(cfg.std), do_convert_rgb=True,
    )


def default_feature_extractor(sampling_rate: int = 16000) -> Wav2Vec2FeatureExtractor:
    """wav2vec2's feature extractor settings (zero mean, unit variance per utterance), with an attention mask."""
    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=sampling_rate, padding_value=0.0, do_normalize=True,
                                    return_attention_mask=True)


class ERCProcessor(ProcessorMixin):
    r"""
    Turns dialogues into [`ERCFusionForEmotionRecognition`] inputs.

    The text of each example is a prompt holding the dialogue so far, one `"speaker: utterance"` line per turn, the
    last (target) turn marked with `target_marker` and followed by the tokenizer's end-of-text token, whose hidden
    state a GPT2 encoder reads:

        Monica: There's nothing to tell!
        Joey: C'mon, you're going out with the guy!
        >> Chandler: All right Joey, be nice.<|endoftext|>

    A prompt longer than `max_prompt_tokens` loses its OLDEST context turns first (whole turns), so the target always
    stays; a target turn longer than the window on its own keeps its last tokens (a warning says so). `target_mask`
    and `context_mask` mark the tokens of the target and context utterances (the mean-embedding encoder pools them).

    Audio (mono waveforms at the feature extractor's sampling rate) goes through `feature_extractor`; a waveform
    shorter than `min_audio_samples` (the audio encoder's receptive field) is zero-padded to it with a warning; empty
    or non-finite audio is refused. Video frames (a list of images per example) go through `image_processor` and are
    stacked to `(batch, frames, 3, height, width)` with a `frame_mask` for examples with fewer frames.

    Args:
        tokenizer ([`PreTrainedTokenizerBase`]): a GPT2 (byte-level BPE) tokenizer with an `eos_token`; its pad token
            defaults to the eos token.
        feature_extractor ([`Wav2Vec2FeatureExtractor`]): the audio feature extractor.
        image_processor ([`BaseImageProcessor`]): the frame image processor (see `frame_image_processor`).
        max_prompt_tokens (`int`, *optional*, defaults to 1024): longest prompt in tokens (GPT2's context window).
        max_context_turns (`int`, *optional*): keep at most this many preceding turns (all that fit by default).
        target_marker (`str`, *optional*, defaults to `">>"`): text that opens the target turn's line.
        min_audio_samples (`int`, *optional*, defaults to 400): shortest waveform, 400 = wav2vec2's receptive field.
        padding_side (`str`, *optional*, defaults to `"left"`): side the prompts are padded on.
    """

    def __init__(self, tokenizer=None, feature_extractor=None, image_processor=None, max_prompt_tokens=1024,
                 max_context_turns=None, target_marker=">>", min_audio_samples=400, padding_side="left", **kwargs):
        if tokenizer is None or tokenizer.eos_token_id is None:
            raise ValueError("`tokenizer` must be a tokenizer with an `eos_token` (GPT2's `<|endoftext|>`)")
        if not isinstance(max_prompt_tokens, int) or max_prompt_tokens < 2:
            raise ValueError(f"`max_prompt_tokens` must be an int >= 2, got {max_prompt_tokens!r}")
        if max_context_turns is not None and (not isinstance(max_context_turns, int) or max_context_turns < 0):
            raise ValueError(f"`max_context_turns` must be None or an int >= 0, got {max_context_turns!r}")
        if padding_side not in ("left", "right"):
            raise ValueError(f"`padding_side` must be 'left' or 'right', got {padding_side!r}")
        if not isinstance(min_audio_samples, int) or min_audio_samples < 1:
            raise ValueError(f"`min_audio_samples` must be a positive int, got {min_audio_samples!r}")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.max_prompt_tokens = max_prompt_tokens
        self.max_context_turns = max_context_turns
        self.target_marker = target_marker
        self.min_audio_samples = min_audio_samples
        self.padding_side = padding_side
        super().__init__(tokenizer, feature_extractor, image_processor, **kwargs)

    @property
    def model_input_names(self):
        return ["input_ids", "attention_mask", "target_mask", "context_mask", "input_values", "audio_attention_mask",
                "pixel_values", "frame_mask"]

    def __call__(self, dialogues=None, audio=None, frames=None, sampling_rate: Optional[int] = None,
                 return_tensors: str = "pt", **kwargs) -> BatchFeature:
        """
        Args:
            dialogues (`list[list[dict]]`): dialogues, each a list of `{"speaker": str, "utterance": str}` turns whose
                last turn is the one to classify (a single dialogue may be given unbatched).
            audio (`list[np.ndarray]`, *optional*): one mono waveform per dialogue, the last turn's audio.
            frames (`list[list[image]]`, *optional*): one list of video frames (PIL images, `(H, W, 3)` uint8 arrays or
                `(3, H, W)` tensors) per dialogue.
            sampling_rate (`int`, *optional*): sampling rate of `audio`; must equal the feature extractor's.
        """
        if return_tensors != "pt":
            raise ValueError(f"ERCProcessor returns PyTorch tensors only (`return_tensors='pt'`), got {return_tensors!r}")
        if dialogues is None and audio is None and frames is None:
            raise ValueError("pass `dialogues`, `audio` and/or `frames`")
        sizes = {name: len(value) for name, value in (("audio", audio), ("frames", frames)) if value is not None}
        data = {}
        if dialogues is not None:
            if dialogues and isinstance(dialogues[0], dict):
                dialogues = [dialogues]
            sizes["dialogues"] = len(dialogues)
            data.update(self.pad_prompts([self.encode_dialogue(d, i) for i, d in enumerate(dialogues)]))
        if len(set(sizes.values())) > 1:
            raise ValueError(f"`dialogues`, `audio` and `frames` must have one entry per example, got sizes {sizes}")
        if audio is not None:
            data.update(self.encode_audio(audio, sampling_rate))
        if frames is not None:
            data.update(self.encode_frames(frames))
        return BatchFeature(data, tensor_type=None)

    # -- text ---------------------------------------------------------------------------------------------------------
    def encode_dialogue(self, dialogue, index: int = 0) -> dict:
        """The prompt of one dialogue as lists: `input_ids`, `attention_mask`, `target_mask`, `context_mask`."""
        if not isinstance(dialogue, (list, tuple)) or not dialogue:
            raise ValueError(f"dialogue #{index} must be a non-empty list of turns, got {dialogue!r:.80}")
        turns = []
        for position, turn in enumerate(dialogue):
            if not isinstance(turn, dict) or not isinstance(turn.get("utterance"), str):
                raise ValueError(f"dialogue #{index}, turn {position}: expected {{'speaker': str, 'utterance': str}}, "
                                 f"got {turn!r:.80}")
            speaker = turn.get("speaker") or "Unknown"
            if not isinstance(speaker, str):
                raise ValueError(f"dialogue #{index}, turn {position}: `speaker` must be a string, got {speaker!r}")
            turns.append((speaker.strip() or "Unknown", turn["utterance"].strip()))
        context = turns[:-1]
        if self.max_context_turns is not None:
            context = context[len(context) - self.max_context_turns:] if self.max_context_turns else []
        # Every piece is tokenised on its own; the pieces split at pre-tokeniser boundaries, so the ids equal those
        # of the whole prompt, and each turn's utterance tokens are known.
        pieces = []
        for speaker, utterance in context:
            pieces += [f"{speaker}:", f" {utterance}" if utterance else "", "\n"]
        speaker, utterance = turns[-1]
        pieces += [f"{self.target_marker} {speaker}:".lstrip(), f" {utterance}" if utterance else ""]
        ids = self.tokenizer(pieces, add_special_tokens=False)["input_ids"]

        target_ids = ids[-2] + ids[-1] + [self.tokenizer.eos_token_id]
        target_roles = [0] * len(ids[-2]) + [2] * len(ids[-1]) + [0]
        if len(target_ids) > self.max_prompt_tokens:
            logger.warning(f"dialogue #{index}: the target turn alone has {len(target_ids)} tokens, more than "
                           f"`max_prompt_tokens` ({self.max_prompt_tokens}); its first tokens were cut")
            target_ids, target_roles = target_ids[-self.max_prompt_tokens:], target_roles[-self.max_prompt_tokens:]
        budget = self.max_prompt_tokens - len(target_ids)
        kept_ids, kept_roles = [], []
        for turn in range(len(context) - 1, -1, -1):  # newest context turn first
            prefix, text, newline = ids[3 * turn: 3 * turn + 3]
            size = len(prefix) + len(text) + len(newline)
            if size > budget:
                break
            kept_ids = prefix + text + newline + kept_ids
            kept_roles = [0] * len(prefix) + [1] * len(text) + [0] * len(newline) + kept_roles
            budget -= size
        input_ids, roles = kept_ids + target_ids, kept_roles + target_roles
        return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids),
                "target_mask": [int(r == 2) for r in roles], "context_mask": [int(r == 1) for r in roles]}

    def pad_prompts(self, features: list[dict]) -> dict:
        """Pad encoded prompts (see `encode_dialogue`) to the longest, on `padding_side`, as tensors."""
        longest = max(len(f["input_ids"]) for f in features)
        batch = {}
        for key in ("input_ids", "attention_mask", "target_mask", "context_mask"):
            value = self.tokenizer.pad_token_id if key == "input_ids" else 0
            rows = []
            for f in features:
                pad = [value] * (longest - len(f[key]))
                rows.append(pad + list(f[key]) if self.padding_side == "left" else list(f[key]) + pad)
            batch[key] = torch.tensor(rows, dtype=torch.long)
        return batch

    # -- audio --------------------------------------------------------------------------------------------------------
    def encode_audio(self, audio, sampling_rate: Optional[int] = None) -> dict:
        """`input_values` and `audio_attention_mask` from a list of mono waveforms."""
        expected = self.feature_extractor.sampling_rate
        if sampling_rate is None:
            sampling_rate = expected
        if sampling_rate != expected:
            raise ValueError(f"audio sampled at {sampling_rate} Hz, but the processor expects {expected} Hz: resample "
                             f"it first (e.g. `librosa.resample(y, orig_sr={sampling_rate}, target_sr={expected})`)")
        arrays = []
        for i, waveform in enumerate(audio):
            if waveform is None:
                raise ValueError(f"audio #{i} is missing: a batch with audio needs a waveform for every example")
            waveform = np.asarray(waveform, dtype=np.float32)
            if waveform.ndim != 1:
                raise ValueError(f"audio #{i} must be a mono 1-D waveform, got shape {waveform.shape}")
            if waveform.size == 0:
                raise ValueError(f"audio #{i} is empty (0 samples)")
            if not np.isfinite(waveform).all():
                raise ValueError(f"audio #{i} holds NaN or infinite samples")
            if waveform.size < self.min_audio_samples:
                logger.warning(f"audio #{i} has {waveform.size} samples, fewer than the audio encoder's receptive field "
                               f"({self.min_audio_samples}); it was zero-padded to it")
            arrays.append(waveform)
        # Normalised on their own samples, then padded with zeros; a short waveform's padding up to the receptive
        # field counts as (silent) audio in the mask, as the model does for short inputs it receives unpadded.
        longest = max(max(a.size for a in arrays), self.min_audio_samples)
        features = self.feature_extractor(arrays, sampling_rate=sampling_rate, padding="max_length", max_length=longest,
                                          return_attention_mask=True, return_tensors="pt")
        mask = features["attention_mask"]
        mask[:, : self.min_audio_samples] = 1
        return {"input_values": features["input_values"], "audio_attention_mask": mask}

    # -- frames -------------------------------------------------------------------------------------------------------
    def encode_frames(self, frames) -> dict:
        """`pixel_values` `(batch, max_frames, 3, H, W)` and `frame_mask` `(batch, max_frames)` from lists of frames."""
        flat, counts = [], []
        for i, clip in enumerate(frames):
            if clip is None or len(clip) == 0:
                raise ValueError(f"frames #{i}: no video frame (a batch with frames needs at least one per example)")
            flat.extend(clip)
            counts.append(len(clip))
        pixel_values = self.image_processor(flat, return_tensors="pt")["pixel_values"]  # (frames in batch, 3, H, W)
        batch = pixel_values.new_zeros(len(counts), max(counts), *pixel_values.shape[1:])
        frame_mask = torch.zeros(len(counts), max(counts), dtype=torch.long)
        start = 0
        for i, count in enumerate(counts):
            batch[i, :count] = pixel_values[start: start + count]
            frame_mask[i, :count] = 1
            start += count
        return {"pixel_values": batch, "frame_mask": frame_mask}


__all__ = ["ERCProcessor", "default_feature_extractor", "frame_image_processor"]
