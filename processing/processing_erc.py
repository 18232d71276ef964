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


def special_tokens_around_text(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a single text (`[CLS]` / `[SEP]`, `<s>` / `</s>`...); a tokenizer
    that closes a text with nothing (GPT2's) gets its end-of-text token after, so the last token has read it all."""
    probe = "hello"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    start = next((i for i in range(len(full) - len(bare) + 1) if full[i: i + len(bare)] == bare), None)
    prefix, suffix = ([], []) if start is None else (full[:start], full[start + len(bare):])
    if not suffix and tokenizer.eos_token_id is not None:
        suffix = [tokenizer.eos_token_id]
    return list(prefix), list(suffix)


def default_feature_extractor(sampling_rate: int = 16000) -> Wav2Vec2FeatureExtractor:
    """wav2vec2's feature extractor settings (zero mean, unit variance per utterance), with an attention mask."""
    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=sampling_rate, padding_value=0.0, do_normalize=True,
                                    return_attention_mask=True)


class ERCProcessor(ProcessorMixin):
    r"""
    Turns dialogues into [`ERCFusionForEmotionRecognition`] inputs.

    The text of each example is a prompt holding the dialogue so far, one `"speaker: utterance"` line per turn, the
    last (target) turn marked with `target_marker`, wrapped in the special tokens the tokenizer puts around a text
    (`[CLS] ... [SEP]` for BERT-style tokenizers, whose `[CLS]` state a `"cls"` pooling reads); a tokenizer that adds
    no closing token (GPT2's) gets its end-of-text token appended, whose state a `"last"` pooling reads:

        Monica: There's nothing to tell!
        Joey: C'mon, you're going out with the guy!
        >> Chandler: All right Joey, be nice.<|endoftext|>

    A prompt longer than `max_prompt_tokens` loses its OLDEST context turns first (whole turns), so the target always
    stays; a target turn longer than the window on its own keeps its last tokens (a warning says so). Only the turns
    that fit are tokenised, newest first, so a dialogue of thousands of turns costs no more than the window.
    `target_mask` and `context_mask` mark the tokens of the target and context utterances (the mean-embedding branch
    pools them).

    Audio (mono waveforms at the feature extractor's sampling rate) goes through `feature_extractor`: a waveform feature
    extractor (wav2vec2's) gives `input_values`, a `WhisperFeatureExtractor` `input_features` padded to its
    `chunk_length` window; both with an `audio_attention_mask`. A waveform shorter than `min_audio_samples` (the audio
    encoder's receptive field) is zero-padded to it with a warning; empty or non-finite audio is refused. Video frames
    (a list of images per example) go through `image_processor` and are stacked to `(batch, frames, 3, height, width)`
    with a `frame_mask` for examples with fewer frames.

    Args:
        tokenizer ([`PreTrainedTokenizerBase`]): the text model's tokenizer (any); one without a pad token pads with its
            end-of-text token.
        feature_extractor ([`SequenceFeatureExtractor`]): the audio feature extractor (`Wav2Vec2FeatureExtractor`,
            `WhisperFeatureExtractor`...).
        image_processor ([`BaseImageProcessor`]): the frame image processor (see `frame_image_processor`).
        max_prompt_tokens (`int`, *optional*, defaults to 1024): longest prompt in tokens, special tokens included (at
            most the text model's positions: GPT2 1024, BERT 512).
        max_context_turns (`int`, *optional*): keep at most this many preceding turns (all that fit by default).
        target_marker (`str`, *optional*, defaults to `">>"`): text that opens the target turn's line.
        min_audio_samples (`int`, *optional*, defaults to 400): shortest waveform, 400 = wav2vec2's receptive field.
        padding_side (`str`, *optional*, defaults to `"left"`): side the prompts are padded on (the model gives the
            same result on either).
    """

    TURN_KEYS = ("speaker", "utterance")

    def __init__(self, tokenizer=None, feature_extractor=None, image_processor=None, max_prompt_tokens=1024,
                 max_context_turns=None, target_marker=">>", min_audio_samples=400, padding_side="left", **kwargs):
        if tokenizer is None:
            raise ValueError("`tokenizer` is required: the tokenizer of the model's text branch")
        if max_context_turns is not None and (not isinstance(max_context_turns, int) or max_context_turns < 0):
            raise ValueError(f"`max_context_turns` must be None or an int >= 0, got {max_context_turns!r}")
        if padding_side not in ("left", "right"):
            raise ValueError(f"`padding_side` must be 'left' or 'right', got {padding_side!r}")
        if not isinstance(min_audio_samples, int) or min_audio_samples < 1:
            raise ValueError(f"`min_audio_samples` must be a positive int, got {min_audio_samples!r}")
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise ValueError("`tokenizer` has neither a pad token nor an end-of-text token to pad with")
            tokenizer.pad_token = tokenizer.eos_token
        prefix, suffix = special_tokens_around_text(tokenizer)
        if not isinstance(max_prompt_tokens, int) or max_prompt_tokens < len(prefix) + len(suffix) + 1:
            raise ValueError(f"`max_prompt_tokens` must be an int >= {len(prefix) + len(suffix) + 1} (the special "
                             f"tokens and one more), got {max_prompt_tokens!r}")
        self.max_prompt_tokens = max_prompt_tokens
        self.max_context_turns = max_context_turns
        self.target_marker = target_marker
        self.min_audio_samples = min_audio_samples
        self.padding_side = padding_side
        super().__init__(tokenizer, feature_extractor, image_processor, **kwargs)
        self._prefix_ids, self._suffix_ids = prefix, suffix

    @property
    def model_input_names(self):
        return ["input_ids", "attention_mask", "target_mask", "context_mask", self.audio_input_name,
                "audio_attention_mask", "pixel_values", "frame_mask"]

    @property
    def audio_input_name(self) -> str:
        """`"input_features"` (Whisper's log-mel features) or `"input_values"` (waveforms), after the feature extractor."""
        names = getattr(self.feature_extractor, "model_input_names", None) or ["input_values"]
        return "input_features" if names[0] == "input_features" else "input_values"

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
            if not isinstance(dialogues, (list, tuple)):
                raise ValueError(f"`dialogues` must be a list of dialogues (lists of turns), got "
                                 f"{type(dialogues).__name__}")
            if dialogues and isinstance(dialogues[0], dict):
                dialogues = [dialogues]
            if not dialogues:
                raise ValueError("`dialogues` is empty: pass at least one dialogue")
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
    def check_dialogue(self, dialogue, index: int = 0) -> list[tuple[str, str]]:
        """`(speaker, utterance)` pairs of a dialogue, stripped, after checking every turn (errors name the dialogue,
        the turn and the field)."""
        where = f"dialogue #{index}"
        if not isinstance(dialogue, (list, tuple)):
            raise ValueError(f"{where} must be a list of turns {{'speaker': str, 'utterance': str}}, got "
                             f"{type(dialogue).__name__}")
        if not dialogue:
            raise ValueError(f"{where} is empty: it needs at least the turn to classify")
        turns = []
        for position, turn in enumerate(dialogue):
            where = f"dialogue #{index}, turn {position}"
            if not isinstance(turn, dict):
                raise ValueError(f"{where}: expected a dict {{'speaker': str, 'utterance': str}}, got "
                                 f"{type(turn).__name__} {turn!r:.80}")
            unknown = [key for key in turn if key not in self.TURN_KEYS]
            if unknown:
                raise ValueError(f"{where}: unknown field {unknown[0]!r}; a turn has the fields {self.TURN_KEYS}")
            if "utterance" not in turn:
                raise ValueError(f"{where} has no 'utterance' (its text; use '' for a turn without words)")
            utterance, speaker = turn["utterance"], turn.get("speaker")
            if not isinstance(utterance, str):
                raise ValueError(f"{where}: 'utterance' must be a string, got {type(utterance).__name__} "
                                 f"{utterance!r:.80}")
            if speaker is not None and not isinstance(speaker, str):
                raise ValueError(f"{where}: 'speaker' must be a string, got {type(speaker).__name__} {speaker!r:.80}")
            turns.append(((speaker or "").strip() or "Unknown", utterance.strip()))
        return turns

    def encode_dialogue(self, dialogue, index: int = 0) -> dict:
        """The prompt of one dialogue as lists: `input_ids`, `attention_mask`, `target_mask`, `context_mask`."""
        turns = self.check_dialogue(dialogue, index)
        context = turns[:-1]
        if self.max_context_turns is not None:
            context = context[len(context) - self.max_context_turns:] if self.max_context_turns else []
        speaker, utterance = turns[-1]
        # Every piece is tokenised on its own; the pieces split at pre-tokeniser boundaries, so the ids equal those
        # of the whole prompt, and each turn's utterance tokens are known.
        head, text = self.tokenizer([f"{self.target_marker} {speaker}:".lstrip(), f" {utterance}" if utterance else ""],
                                    add_special_tokens=False)["input_ids"]
        room = self.max_prompt_tokens - len(self._prefix_ids) - len(self._suffix_ids)
        target_ids, target_roles = head + text, [0] * len(head) + [2] * len(text)
        if len(target_ids) > room:
            logger.warning(f"dialogue #{index}: the target turn alone has {len(target_ids)} tokens, more than "
                           f"`max_prompt_tokens` ({self.max_prompt_tokens}) leaves; its first tokens were cut")
            target_ids, target_roles = target_ids[-room:], target_roles[-room:]
        budget = room - len(target_ids)
        kept_ids, kept_roles = [], []
        end, chunk = len(context), 16
        while end > 0 and budget > 0:  # newest context turns first, a growing chunk at a time
            start = max(0, end - chunk)
            pieces = [p for speaker, utterance in context[start:end]
                      for p in (f"{speaker}:", f" {utterance}" if utterance else "", "\n")]
            ids = self.tokenizer(pieces, add_special_tokens=False)["input_ids"]
            for turn in range(end - start - 1, -1, -1):
                prefix, words, newline = ids[3 * turn: 3 * turn + 3]
                size = len(prefix) + len(words) + len(newline)
                if size > budget:
                    budget = 0
                    break
                kept_ids = prefix + words + newline + kept_ids
                kept_roles = [0] * len(prefix) + [1] * len(words) + [0] * len(newline) + kept_roles
                budget -= size
            end, chunk = start, chunk * 2
        input_ids = self._prefix_ids + kept_ids + target_ids + self._suffix_ids
        roles = [0] * len(self._prefix_ids) + kept_roles + target_roles + [0] * len(self._suffix_ids)
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
        """`input_values` (waveform feature extractors) or `input_features` (Whisper's, padded or cut to its window),
        and `audio_attention_mask` (per sample, or per mel frame), from a list of mono waveforms."""
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
        if self.audio_input_name == "input_features":
            # Whisper's encoder reads exactly one window (`chunk_length` seconds): longer clips are cut, with a warning.
            window = self.feature_extractor.n_samples
            for i, waveform in enumerate(arrays):
                if waveform.size > window:
                    logger.warning(f"audio #{i} has {waveform.size} samples, more than the Whisper window ({window}, "
                                   f"`chunk_length` {self.feature_extractor.chunk_length} s); its end was cut")
            features = self.feature_extractor(arrays, sampling_rate=sampling_rate, padding="max_length",
                                              truncation=True, return_attention_mask=True, return_tensors="pt")
            return {"input_features": features["input_features"], "audio_attention_mask": features["attention_mask"]}
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


__all__ = ["ERCProcessor", "default_feature_extractor", "frame_image_processor", "special_tokens_around_text"]
