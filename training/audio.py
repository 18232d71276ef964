"""Voice: audio classification over a `datasets.Audio` column (`spectrogram_vit`, `mfcc_cnn`, `waveform_mlp`,
`speech_emotion` / `wav2vec2_emotion` on any transformers speech encoder): decoding on the fly, random crops, noise
and SpecAugment in the loop, the feature extractor's global statistics computed on the training split, and a frozen
speech encoder run once per clip (training/encoder_cache.py). No step holds a split's audio in memory: clips are decoded
in batches when they are needed, and the encoder cache is built as a stream of batches, split across processes."""

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import transformers
from tqdm.auto import tqdm

from emotion_hub.modeling.modeling_speech_emotion import top_layers_blocker
from emotion_hub.processing.feature_extraction_emotion_audio import EmotionAudioFeatureExtractor
from emotion_hub.training.encoder_cache import (CachedEntries, CachedEntriesCollator, EncoderCache, clip_key,
                                                default_cache_root)
from emotion_hub.training.samplers import LengthGroupedSampler
from emotion_hub.training.task import Task

logger = transformers.utils.logging.get_logger(__name__)

SPEECH_ENCODER_MODELS = ("wav2vec2_emotion", "speech_emotion")


def build_feature_extractor(options: dict):
    """The recipe's `feature_extractor`: `class` (ours by default, or a transformers feature extractor class name),
    optionally `from_pretrained` (a Hub id or folder), and the class's own arguments."""
    import transformers

    options = dict(options)
    name = options.pop("class", "EmotionAudioFeatureExtractor")
    pretrained = options.pop("from_pretrained", None)
    if name == "EmotionAudioFeatureExtractor":
        cls = EmotionAudioFeatureExtractor
    elif name.endswith("FeatureExtractor") and hasattr(transformers, name):
        cls = getattr(transformers, name)
    else:
        raise ValueError(f"`feature_extractor.class` must be EmotionAudioFeatureExtractor or a transformers feature "
                         f"extractor class (Wav2Vec2FeatureExtractor, ASTFeatureExtractor...), got {name!r}")
    return cls.from_pretrained(pretrained, **options) if pretrained else cls(**options)


def crop_waveforms(waveforms: list, max_samples: int) -> list:
    """A random `max_samples` window of every longer clip, offsets drawn from the global torch RNG (checkpointed by
    Accelerate, so a resumed run draws the same crops)."""
    out = []
    for wave in waveforms:
        excess = len(wave) - max_samples
        start = int(torch.randint(0, excess + 1, ()).item()) if excess > 0 else 0
        out.append(wave[start: start + max_samples])
    return out


class AudioAugmentation:
    """White noise at a random SNR on the waveforms, then SpecAugment (Park et al., 2019) frequency and time masks on
    the features, for training batches only; every draw comes from the global torch RNG (checkpointed by Accelerate).
    """

    DEFAULTS = {"noise_snr_db": None, "freq_masks": 0, "freq_width": 0, "time_masks": 0, "time_width": 0}

    def __init__(self, **options):
        unknown = sorted(set(options) - set(self.DEFAULTS))
        if unknown:
            raise ValueError(f"unknown `audio_augmentation` keys {unknown}; valid keys: {sorted(self.DEFAULTS)}")
        o = {**self.DEFAULTS, **options}
        snr = o["noise_snr_db"]
        if snr is not None and not (isinstance(snr, (list, tuple)) and len(snr) == 2 and snr[0] <= snr[1]):
            raise ValueError(f"`audio_augmentation.noise_snr_db` must be [min, max] in dB, got {snr!r}")
        for key in ("freq_masks", "freq_width", "time_masks", "time_width"):
            if not isinstance(o[key], int) or o[key] < 0:
                raise ValueError(f"`audio_augmentation.{key}` must be an int >= 0, got {o[key]!r}")
        self.options = o

    def waveforms(self, waveforms: list) -> list:
        snr = self.options["noise_snr_db"]
        if snr is None:
            return waveforms
        out = []
        for wave in waveforms:
            power = float(np.mean(np.square(wave), dtype=np.float64)) if len(wave) else 0.0
            db = float(torch.empty(()).uniform_(snr[0], snr[1]))
            noise = torch.randn(len(wave)).numpy() * math.sqrt(power / 10 ** (db / 10))
            out.append((wave + noise).astype(np.float32))
        return out

    def features(self, features: torch.Tensor) -> torch.Tensor:
        """`(batch, [channels,] bins, frames)` -> the same with `freq_masks` bands and `time_masks` spans zeroed."""
        o = self.options
        bins, frames = features.shape[-2:]
        keep = torch.ones(features.shape[0], bins, frames, dtype=torch.bool, device=features.device)
        for count, width, size, axis in ((o["freq_masks"], o["freq_width"], bins, 1),
                                         (o["time_masks"], o["time_width"], frames, 2)):
            for _ in range(count if width else 0):
                w = torch.randint(0, width + 1, (features.shape[0],))
                start = (torch.rand(features.shape[0]) * (size - w + 1).clamp_min(1)).long()
                positions = torch.arange(size)[None, :]
                band = (positions >= start[:, None]) & (positions < (start + w)[:, None])  # (batch, size)
                keep &= ~(band[:, :, None] if axis == 1 else band[:, None, :]).to(features.device)
        if features.dim() == 4:
            keep = keep[:, None]
        return features * keep.to(features.dtype)


class AudioDataset(torch.utils.data.Dataset):
    """`{"audio": mono float32 waveform at the processor's rate, "labels": id}` rows of a split with an Audio column;
    a clip that fails to decode raises an error naming its file."""

    def __init__(self, split, column: str, label_column: str, sampling_rate: int):
        import datasets

        split = split.select_columns([column, label_column])
        self.decoded = split.cast_column(column, datasets.Audio(sampling_rate=sampling_rate))
        self.raw = split.cast_column(column, datasets.Audio(decode=False))
        self.column, self.label_column = column, label_column

    def __len__(self):
        return len(self.decoded)

    def path(self, index) -> str:
        return self.raw[index][self.column].get("path") or f"row {index}"

    def lengths(self, sampling_rate: int) -> list[int]:
        """Every clip's length in samples at `sampling_rate`, from the file headers (no decoding; the encoded bytes
        of a batch of rows at a time)."""
        import soundfile

        lengths = []
        for batch in self.raw.select_columns([self.column]).iter(batch_size=256):
            for item in batch[self.column]:
                source = io.BytesIO(item["bytes"]) if item.get("bytes") else item.get("path")
                try:
                    info = soundfile.info(source)
                    lengths.append(int(info.frames * sampling_rate / info.samplerate))
                except Exception:  # a format soundfile cannot read: decode it
                    lengths.append(len(self[len(lengths)]["audio"]))
        return lengths

    def labels(self) -> list[int]:
        """Every row's label id (no decoding)."""
        return [int(label) for label in self.raw[self.label_column]]

    def waveforms(self) -> "DecodedWaveforms":
        """The clips as a sequence that decodes a clip when it is read."""
        return DecodedWaveforms(self)

    def __getitem__(self, index):
        row = self.decoded[index]
        try:
            audio = row[self.column]
            wave = np.asarray(audio["array"], dtype=np.float32)
        except Exception as err:
            raise ValueError(f"audio file {self.path(index)}: cannot decode ({err})") from None
        if wave.ndim > 1:
            wave = wave.mean(axis=0)
        if wave.size == 0:
            raise ValueError(f"audio file {self.path(index)}: no samples")
        return {"audio": wave, "labels": int(row[self.label_column])}



class DecodedWaveforms:
    """The waveforms of an [`AudioDataset`] as a sequence (`len`, indexing) that decodes each clip when it is read,
    for code that takes a list of clips (the feature extractor's global statistics)."""

    def __init__(self, dataset: AudioDataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index]["audio"]


@dataclass
class AudioCollator:
    """Evaluation batches: the processor's features of whole clips (its own padding/cropping). Training batches
    (`raw=True`) keep the waveforms, which `AudioClassificationTask.augment_batch` crops and processes in the loop."""

    processor: Any
    raw: bool = False

    def __call__(self, rows):
        labels = torch.tensor([row["labels"] for row in rows], dtype=torch.long)
        waveforms = [row["audio"] for row in rows]
        if self.raw:
            return {"audio": waveforms, "labels": labels}
        return {**features_of(self.processor, waveforms), "labels": labels}


def features_of(processor, waveforms, **kwargs) -> dict:
    if isinstance(processor, transformers.WhisperFeatureExtractor):
        # Every clip padded (or cut) to the model's window, with the mask of its real mel frames for the pooling.
        kwargs = {"padding": "max_length", "return_attention_mask": True, **kwargs}
    elif not isinstance(processor, EmotionAudioFeatureExtractor):
        kwargs = {"padding": True, **kwargs}
    else:
        kwargs.pop("return_attention_mask", None)
    return dict(processor(waveforms, sampling_rate=processor.sampling_rate, return_tensors="pt", **kwargs))


def stock_pipeline_behaviour(model, processor) -> str:
    """What the stock audio pipeline does with the inputs our pipeline refuses, for `model`'s stock export (as measured
    in tests/test_windowed_audio.py and README "Which folder to pick")."""
    from emotion_hub.modeling.windowed_audio import model_window_seconds

    window = model_window_seconds(model, processor)
    parts = ["NaN audio gets NaN scores"]
    if getattr(model.config, "window_seconds", None):  # Whisper
        parts += [f"an empty array the answer of {window:g} s of silence",
                  "a clip shorter than the window is pooled with the window's padding"]
    elif getattr(model.config, "model_type", None) in SPEECH_ENCODER_MODELS:
        parts.append("an empty clip or one shorter than the encoder's receptive field a PyTorch convolution error")
    else:  # AST
        parts.append("an empty clip or one under 25 ms a torchaudio assertion error")
    if window:
        parts.append(f"a recording longer than {window:g} s the answer of its first {window:g} s only")
    parts.append("a bare array is taken to be at the extractor's sampling rate")
    return ", ".join(parts)


def cache_blockers(recipe, model, clip_lengths, crop_samples) -> list[str]:
    """Why the encoder must run every epoch for this recipe (empty list: the encoder cache applies)."""
    if not callable(getattr(model, "encoder_cache_spec", None)):
        return [f"{type(model).__name__} has no separate encoder"]
    blockers = []
    config = model.config
    if model.encoder_cache_spec() is None:
        blockers.append(top_layers_blocker(config) if config.trainable_encoder_layers else
                        "the encoder is trained (`model.freeze_backbone: false`, no `trainable_encoder_layers`)")
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


class _Rows(torch.utils.data.Dataset):
    """`(index, row)` for the given row indices of a dataset."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, position):
        index = self.indices[position]
        return index, self.dataset[index]


def _as_list(rows):
    return rows


def _loader(rows: _Rows, batch_size: int, num_workers: int):
    """Batches of `rows` in order, decoded by `num_workers` workers. The loader's own generator gives its worker
    seed: the global RNG, which draws the model's initial weights and dropout masks, stays as it was."""
    return torch.utils.data.DataLoader(rows, batch_size=batch_size, collate_fn=_as_list, num_workers=num_workers,
                                       generator=torch.Generator().manual_seed(0))


def build_encoder_cache(model, processor, cache: EncoderCache, dataset: AudioDataset, accelerator=None,
                        batch_size: int = 8, num_workers: int = 0, desc: str = "encoder cache"):
    """Put every clip of `dataset` in `cache` as `model.encode_for_cache` makes it, streaming: clips are decoded,
    keyed and checked a batch at a time, then the missing ones encoded a batch at a time, longest first. With several
    processes (`accelerator`) each decodes and checks every N-th row, and each missing clip is encoded once in all, by
    the process of its first row; entries a machine does not see on its disk (no shared file system) are sent to it.
    Returns `(the clip key of every row, the clips each process encoded (one count per process), the rows whose
    entries were in the cache already)`."""
    from accelerate.utils import gather_object

    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    show = accelerator is None or accelerator.is_local_main_process
    # Pass 1: this process's rows, decoded a batch at a time: their clip keys, lengths, and whether the cache has them.
    checked, mine = {}, []
    rows = _loader(_Rows(dataset, range(rank, len(dataset), world)), batch_size, num_workers)
    for batch in tqdm(rows, desc=f"{desc}: checking", leave=False, disable=not show):
        for index, row in batch:
            key = clip_key(row["audio"])
            if key not in checked:
                checked[key] = cache.verify(key)
            mine.append((index, key, len(row["audio"]), checked[key]))
    every = sorted(gather_object(mine)) if world > 1 else mine
    keys = [key for _, key, _, _ in every]
    first, missing = {}, set()
    for index, key, samples, present in every:
        first.setdefault(key, (index, samples))
        if not present:
            missing.add(key)
    # Pass 2: the missing clips whose first row is this process's, longest first (little padding in a batch).
    todo = sorted(((first[key][1], first[key][0]) for key in missing if first[key][0] % world == rank), reverse=True)
    spec = model.encoder_cache_spec()
    name = model.config.input_name
    computed = 0
    rows = _loader(_Rows(dataset, [index for _, index in todo]), batch_size if spec["batch_independent"] else 1,
                   num_workers)
    for batch in tqdm(rows, desc=f"{desc}: encoding", leave=False, disable=not show or not todo):
        features = features_of(processor, [row["audio"] for _, row in batch], return_attention_mask=True)
        entries = model.encode_for_cache(**{name: features[name], "attention_mask": features.get("attention_mask")})
        for (index, _), entry in zip(batch, entries):
            cache.store(keys[index], entry)
        computed += len(batch)
    reused = sum(1 for _, key, _, _ in every if key not in missing)
    if world == 1:
        return keys, [computed], reused
    accelerator.wait_for_everyone()
    _share_entries(cache, keys, accelerator)
    return keys, gather_object([computed]), reused


def _share_entries(cache: EncoderCache, keys: list, accelerator, chunk: int = 64):
    """Entries that some process cannot see in its cache folder (machines without a shared disk), sent to it by the
    processes that have them, `chunk` entries at a time."""
    from accelerate.utils import gather_object

    lacking = sorted({key for key in keys if not cache.contains(key)})
    wanted = sorted(set(gather_object(lacking)))
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        offered = gather_object([{key: cache.read_bytes(key) for key in part if cache.contains(key)}])
        for key in part:
            if cache.contains(key):
                continue
            data = next((sent[key] for sent in offered if key in sent), None)
            if data is None:
                raise RuntimeError(f"encoder cache entry {cache.path(key)}: no process has it after the cache build")
            cache.store_bytes(key, data)


class AudioClassificationTask(Task):
    """Voice models (`spectrogram_vit`, `mfcc_cnn`, `waveform_mlp`, `speech_emotion`, `wav2vec2_emotion`) over an
    Audio column.

    Clips are decoded (and resampled to the processor's rate by `datasets`) on the fly, so a corpus is never held in
    memory. Evaluation batches are the processor's features of whole clips (fixed-length models: its deterministic
    crop/pad); training batches are random crops (`random_crop`) processed in the training loop, so every epoch sees
    other windows of long clips and a resumed run the same ones. The model's input size comes from the processor.
    """

    pipeline_tag = "audio-classification"
    supports_length_grouping = True

    def __init__(self, recipe, train_split, label_names):
        import datasets

        super().__init__(recipe, train_split, label_names)
        feature = train_split.features.get(recipe.input_column)
        if not isinstance(feature, datasets.Audio):
            raise ValueError(f"model_type {recipe.model_type} reads audio: `input_column` {recipe.input_column!r} "
                             f"must be a datasets.Audio column, got {type(feature).__name__}")
        self.processor = build_feature_extractor(recipe.feature_extractor)
        self.augmentation = AudioAugmentation(**recipe.audio_augmentation)
        max_length = recipe.max_length_seconds or getattr(self.processor, "max_length_seconds", None)
        if recipe.random_crop and not max_length:
            raise ValueError("`random_crop` needs a crop length: set `max_length_seconds` (or the feature "
                             "extractor's)")
        self.train_samples = int(round(max_length * self.processor.sampling_rate)) if recipe.random_crop else None
        self.cached = False  # set by `cache_encoder`
        p = self.processor
        if isinstance(p, EmotionAudioFeatureExtractor) and p.feature_normalization == "global" and p.feature_mean is None:
            data = AudioDataset(train_split, recipe.input_column, recipe.label_column, p.sampling_rate)
            # in batches of clips decoded as they are read (a running mean and variance)
            mean, std = p.compute_global_statistics(data.waveforms(), p.sampling_rate)  # floats, or per-row lists
            mean, std = (np.round(np.asarray(v, dtype=np.float64), 6).tolist() for v in (mean, std))
            self.processor = build_feature_extractor({**recipe.feature_extractor, "feature_mean": mean,
                                                      "feature_std": std})

    def dataset(self, split_name, split):
        return AudioDataset(split, self.recipe.input_column, self.recipe.label_column, self.processor.sampling_rate)

    def collator(self, train: bool):
        if self.cached:  # batches of cache entries, as the model's forward reads them
            return CachedEntriesCollator(self.model_class.collate_cache_entries)
        return AudioCollator(self.processor, raw=train)

    def cache_encoder(self, model, data: dict, accelerator) -> dict:
        """Called by the loop on every process once the model exists: with a frozen speech encoder (or one whose
        top layers train) and nothing that changes a clip between epochs (`encoder_cache: auto`, the default), the
        datasets become the entries of the encoder cache, what the model's head reads of the encoder's fixed part
        (`encoder_cache_spec`), so every epoch and fold trains only the rest. The clips are encoded in batches as a
        stream; with several processes (and machines) each encodes its share, every clip once in all, and the entries
        reach every machine. `encoder_cache: false` runs the encoder every step."""
        setting = self.recipe.encoder_cache
        if setting is False or self.recipe.model_type not in SPEECH_ENCODER_MODELS:
            return data
        rate = self.processor.sampling_rate
        lengths = {name: split.lengths(rate) for name, split in data.items()}
        blockers = cache_blockers(self.recipe, model, [n for split in lengths.values() for n in split],
                                  self.train_samples)
        if blockers:
            if setting is True:
                raise ValueError("`encoder_cache: true` but the encoder must run every epoch: " + "; ".join(blockers))
            return data
        model.to(accelerator.device)
        cache = EncoderCache.for_model(model, self.processor, self.recipe.encoder_cache_dir or default_cache_root())
        cached, counts, reused = {}, [0] * accelerator.num_processes, 0
        for name, split in data.items():
            keys, computed, present = build_encoder_cache(
                model, self.processor, cache, split, accelerator, batch_size=self.recipe.per_device_eval_batch_size,
                num_workers=self.recipe.dataloader_num_workers, desc=f"encoder cache {name}")
            counts = [a + b for a, b in zip(counts, computed)]
            reused += present
            cached[name] = CachedEntries(cache, keys, split.labels(), lengths[name])
        fixed = "frozen encoder" if model.config.freeze_backbone else (
            f"encoder below its top {model.config.trainable_encoder_layers} layer(s)")
        spec = model.encoder_cache_spec()
        shares = f" ({' + '.join(map(str, counts))} by {len(counts)} processes)" if len(counts) > 1 else ""
        accelerator.print(f"{fixed} cached ({spec['layout']}, {spec['states']} state(s)): {sum(counts)} clips "
                          f"encoded{shares}, {reused} read back ({cache.dir})")
        self.cached = True
        return cached

    def augment_batch(self, batch):
        """Training batches, called by the training loop: random crops, noise, the processor's features, masks."""
        if self.cached:
            return batch  # cached hidden states: nothing changes between epochs
        waveforms = batch["audio"]
        if self.train_samples:
            waveforms = crop_waveforms(waveforms, self.train_samples)
        waveforms = self.augmentation.waveforms(waveforms)
        device = batch["labels"].device
        features = {k: v.to(device) for k, v in features_of(self.processor, waveforms).items()}
        if "input_features" in features:
            features["input_features"] = self.augmentation.features(features["input_features"])
        return {**features, "labels": batch["labels"]}

    def input_size(self) -> dict:
        """Config arguments fixed by the processor's output shape."""
        p, model_type = self.processor, self.recipe.model_type
        if model_type in SPEECH_ENCODER_MODELS:
            if isinstance(p, transformers.WhisperFeatureExtractor):
                # The Whisper encoder is built for the extractor's window (`chunk_length` seconds).
                return {"window_seconds": p.chunk_length}
            values = getattr(p, "feature_type", "waveform") == "waveform" and "input_values" in p.model_input_names
            if not values or p.sampling_rate != 16000:
                raise ValueError(f"{model_type}: wav2vec2 reads 16 kHz waveforms (`input_values`, from the backbone's "
                                 f"Wav2Vec2FeatureExtractor; so do HuBERT, WavLM and data2vec-audio), Whisper log-mel "
                                 f"frames (WhisperFeatureExtractor); got {type(p).__name__} at {p.sampling_rate} Hz")
            return {}
        if isinstance(p, transformers.ASTFeatureExtractor):
            if model_type != "spectrogram_vit":
                raise ValueError(f"ASTFeatureExtractor features suit model_type spectrogram_vit, not {model_type}")
            return {"num_mel_bins": p.num_mel_bins, "max_frames": p.max_length}
        if not isinstance(p, EmotionAudioFeatureExtractor):
            raise ValueError(f"model_type {model_type} needs EmotionAudioFeatureExtractor or ASTFeatureExtractor "
                             f"features, got {type(p).__name__}")
        expected = {"spectrogram_vit": "log_mel", "mfcc_cnn": "mfcc", "waveform_mlp": "waveform"}[model_type]
        if p.feature_type != expected:
            raise ValueError(f"model_type {model_type} reads `feature_type: {expected}` features, the recipe's "
                             f"feature extractor makes {p.feature_type!r}")
        if not p.max_length_seconds:
            raise ValueError(f"model_type {model_type} has a fixed input size: set `feature_extractor."
                             f"max_length_seconds`")
        shape = p.output_shape()
        if model_type == "waveform_mlp":
            return {"input_length": shape[-1]}
        if model_type == "spectrogram_vit":
            return {"num_mel_bins": shape[-2], "max_frames": shape[-1], "num_channels": 1 if len(shape) == 2 else shape[0]}
        return {"input_height": shape[-2], "input_width": shape[-1], "num_channels": 1 if len(shape) == 2 else shape[0]}

    def build_model(self, class_weights):
        kwargs = self.model_arguments(class_weights)
        for key, value in self.input_size().items():
            if kwargs.setdefault(key, value) != value:
                raise ValueError(f"`model.{key}` is {kwargs[key]} but the feature extractor gives {value}; leave it "
                                 f"out of the recipe (it follows the features)")
        backbone, options = self.recipe.pretrained_backbone, self.recipe.pretrained_backbone_options
        if backbone and self.recipe.model_type in SPEECH_ENCODER_MODELS:
            return self.model_class.from_pretrained_backbone(backbone, **options, **kwargs)
        if backbone and self.recipe.model_type == "spectrogram_vit":
            return self.model_class.from_pretrained_timm(backbone, **options, **kwargs)
        if backbone:
            raise ValueError(f"`pretrained_backbone` starts speech_emotion / wav2vec2_emotion or spectrogram_vit "
                             f"(timm) models, not {self.recipe.model_type}")
        model = self.model_class(self.config_class(**kwargs))
        reasons = getattr(model.config, "stock_exportable", None) if self.recipe.export_stock else None
        if reasons:  # what cannot be exported fails now, not after training
            raise ValueError("`export_stock: true` cannot be honoured: " + "; ".join(reasons))
        return model

    def train_sampler(self, dataset):
        if not self.recipe.group_by_length:
            return None
        lengths = dataset.lengths(self.processor.sampling_rate)
        if self.train_samples:
            lengths = [min(length, self.train_samples) for length in lengths]
        return LengthGroupedSampler(lengths, self.recipe.per_device_train_batch_size, seed=self.recipe.seed)

    def save_model(self, model, output_dir):
        """`export_stock`: the stock transformers class instead of ours (no custom code in the folder).

        A stock feature extractor goes to `save_stock_pretrained` too, so that a Whisper folder whose extractor's
        `chunk_length` is not the model's window is refused before anything is written. The stock pipeline (the Hub
        widget's) checks none of what ours refuses: the warning states what it does instead (README, "Which folder to
        pick")."""
        if self.recipe.export_stock:
            stock_extractor = self.processor if type(self.processor).__module__.startswith("transformers.") else None
            if hasattr(model, "stock_class_name"):  # the speech encoders' classifier: Whisper's window is checked
                model.save_stock_pretrained(output_dir, feature_extractor=stock_extractor, safe_serialization=True)
            else:
                model.save_stock_pretrained(output_dir, safe_serialization=True)
            logger.warning(f"export_stock: {output_dir} is a stock folder; the stock pipeline (and the Hub widget) "
                           f"runs it without any check: {stock_pipeline_behaviour(model, self.processor)}; "
                           f"pipeline(..., pipeline_class=EmotionAudioClassificationPipeline) or "
                           f"emotion_hub.modeling.classify_windows on this folder refuse those inputs by name and "
                           f"score long recordings in windows")
            if isinstance(self.processor, EmotionAudioFeatureExtractor):
                logger.warning("export_stock: the model is a stock class but EmotionAudioFeatureExtractor is our code "
                               "(trust_remote_code); for a folder the hosted widget runs, train with a stock feature "
                               "extractor (ASTFeatureExtractor, Wav2Vec2FeatureExtractor)")
        else:
            super().save_model(model, output_dir)

    def stock_pipeline_caveats(self, model):
        return stock_pipeline_behaviour(model, self.processor) if self.recipe.export_stock else None


__all__ = ["AudioAugmentation", "AudioClassificationTask", "AudioCollator", "AudioDataset", "DecodedWaveforms",
           "build_encoder_cache", "build_feature_extractor", "cache_blockers", "crop_waveforms", "features_of",
           "stock_pipeline_behaviour"]
