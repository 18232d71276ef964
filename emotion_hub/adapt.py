"""Label-free adaptation of a speech-emotion model to new recordings: re-estimate the statistics it standardises its
pooled vector with (`standardize_pooled`) on unlabelled audio of the target domain (a microphone, a room, a speaker,
a language), without touching a trained weight.

    python -m emotion_hub.adapt --model_dir outputs/whisper-ravdess --audio my_recordings/ --output_dir outputs/adapted
    python -m emotion_hub.adapt --model_dir M --audio clips.txt --output_dir M2            # a list of paths
    python -m emotion_hub.adapt --model_dir M --audio saved_dataset/ --split train --output_dir M2   # `save_to_disk`

`--audio` takes folders (their wav / flac / mp3 / ogg / m4a files, recursively), audio files, text files listing one
path per line, and `datasets` datasets saved with `save_to_disk` (a `--split` of a `DatasetDict`; the `--audio_column`
Audio column). Every recording is cut into the model's windows (Whisper: its window; the waveform encoders:
`--window_seconds`), each window's pooled vector is computed as the model computes it for a prediction, and the mean
and variance of those vectors become the model's new statistics. The new folder holds the same weights and code, a
config and a model card that record what it was adapted on (clips, seconds, sources, date) and how far the statistics
moved; `--export_stock` writes it as the encoder's stock transformers class instead (the statistics folded into the
stock classifier), where the model has one. At least `--min_clips` recordings (default 20) are needed: statistics of a
handful of clips would say more about those clips than about the domain.

Python: `adapt_model(model, feature_extractor, waveforms, sampling_rate)` returns the adaptation record and changes
only `model.pooled_norm`'s running statistics.
"""

import argparse
import datetime
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".aiff", ".aif")
MIN_CLIPS = 20


class AdaptError(ValueError):
    """A bad input of the adaptation: one line naming it."""


# ---------------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------------
def _is_saved_dataset(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name))
                                       for name in ("dataset_dict.json", "state.json", "dataset_info.json"))


def find_audio(sources, split=None, audio_column="audio") -> tuple[list, list[str]]:
    """`(clips, descriptions)`: every clip of `sources` as a path (str) or a `datasets` row's decoded audio (dict),
    and a description per source for the record."""
    clips, described = [], []
    for source in sources:
        if _is_saved_dataset(source):
            rows = _dataset_clips(source, split, audio_column)
            clips.extend(rows)
            described.append(f"datasets {source}" + (f" split {split}" if split else "") + f" ({len(rows)} clips)")
        elif os.path.isdir(source):
            found = sorted(os.path.join(root, name) for root, _, names in os.walk(source) for name in names
                           if name.lower().endswith(AUDIO_EXTENSIONS))
            if not found:
                raise AdaptError(f"--audio {source}: the folder holds no audio file ({', '.join(AUDIO_EXTENSIONS)})")
            clips.extend(found)
            described.append(f"folder {source} ({len(found)} files)")
        elif os.path.isfile(source) and source.lower().endswith(AUDIO_EXTENSIONS):
            clips.append(source)
            described.append(f"file {source}")
        elif os.path.isfile(source):
            listed = _listed_paths(source)
            clips.extend(listed)
            described.append(f"list {source} ({len(listed)} files)")
        else:
            raise AdaptError(f"--audio {source}: no such file or folder")
    return clips, described


def _listed_paths(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    except UnicodeDecodeError:
        raise AdaptError(f"--audio {path}: not an audio file ({', '.join(AUDIO_EXTENSIONS)}) nor a text file listing "
                         f"audio paths") from None
    base = os.path.dirname(os.path.abspath(path))
    paths = [line if os.path.isabs(line) else os.path.join(base, line) for line in lines]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise AdaptError(f"--audio {path}: {len(missing)} listed file(s) do not exist, e.g. {missing[0]}")
    if not paths:
        raise AdaptError(f"--audio {path}: the list names no file")
    return paths


def _dataset_clips(path, split, column):
    import datasets

    loaded = datasets.load_from_disk(path)
    if isinstance(loaded, datasets.DatasetDict):
        if split is None or split not in loaded:
            raise AdaptError(f"--audio {path} is a DatasetDict: pass --split, one of {list(loaded)}")
        loaded = loaded[split]
    if column not in loaded.column_names or not isinstance(loaded.features[column], datasets.Audio):
        raise AdaptError(f"--audio {path}: no Audio column {column!r} (columns {loaded.column_names}); pass "
                         f"--audio_column")
    return [{"dataset": loaded, "row": i, "column": column} for i in range(len(loaded))]


def decode(clip, sampling_rate: int) -> np.ndarray:
    """A clip (path or dataset row) as a mono float32 waveform at `sampling_rate`; an unreadable, empty or
    non-finite one is an `AdaptError` naming it."""
    import datasets

    name = clip if isinstance(clip, str) else f"row {clip['row']} of {clip['dataset'].info.dataset_name or 'dataset'}"
    try:
        if isinstance(clip, str):
            feature = datasets.Audio(sampling_rate=sampling_rate)
            audio = feature.decode_example(feature.encode_example(clip))
        else:
            audio = clip["dataset"].cast_column(clip["column"], datasets.Audio(sampling_rate=sampling_rate))[
                clip["row"]][clip["column"]]
        wave = np.asarray(audio["array"], dtype=np.float32)
    except Exception as err:  # noqa: BLE001  (every decoder failure is the same answer: this file cannot be read)
        raise AdaptError(f"audio {name}: cannot decode ({' '.join(str(err).split())[:200]})") from None
    if wave.ndim > 1:
        wave = wave.mean(axis=0 if wave.shape[0] < wave.shape[-1] else -1)
    if wave.size == 0:
        raise AdaptError(f"audio {name}: no samples")
    if not np.isfinite(wave).all():
        raise AdaptError(f"audio {name}: contains NaN or infinite samples")
    return wave


# ---------------------------------------------------------------------------------------------------------------------
# The adaptation
# ---------------------------------------------------------------------------------------------------------------------
def check_adaptable(model, name: str = "the model"):
    """The refusals: a model that is not a speech classifier, or one without statistics to re-estimate."""
    if not callable(getattr(model, "pooled_output", None)):
        raise AdaptError(f"{name} is a {type(model).__name__} ({getattr(model.config, 'model_type', '?')}): label-free "
                         f"adaptation re-estimates the standardisation statistics of a speech-emotion model "
                         f"(speech_emotion / wav2vec2_emotion)")
    if getattr(model, "pooled_norm", None) is None:
        raise AdaptError(f"{name} ({type(model).__name__}) has no statistics to adapt: it was trained with "
                         f"`standardize_pooled: false`; train it with `model.standardize_pooled: true`")


def windows_of(wave: np.ndarray, window: int) -> list[np.ndarray]:
    """Consecutive `window`-sample windows covering the recording (the last aligned to its end); one for a shorter
    recording."""
    if len(wave) <= window:
        return [wave]
    starts = list(range(0, len(wave) - window + 1, window))
    if starts[-1] + window < len(wave):
        starts.append(len(wave) - window)
    return [wave[s:s + window] for s in starts]


@torch.no_grad()
def pooled_vectors(model, feature_extractor, waveforms, sampling_rate: int, batch_size: int = 16,
                   window_seconds: float = None, progress=None) -> torch.Tensor:
    """The pooled vectors (before the statistics) of every window of `waveforms` (mono arrays at `sampling_rate`,
    or an iterable of them), as `(windows, pooled_size)`."""
    from transformers import WhisperFeatureExtractor

    window_seconds = model.config.window_seconds or window_seconds or 10.0
    window = int(round(window_seconds * sampling_rate))
    model.eval()
    device = next(model.parameters()).device
    out, pending = [], []

    def flush():
        kwargs = {"return_attention_mask": True}
        if isinstance(feature_extractor, WhisperFeatureExtractor):
            kwargs["padding"] = "max_length"
        elif not type(feature_extractor).__name__.startswith("EmotionAudio"):
            kwargs["padding"] = True
        features = feature_extractor(pending, sampling_rate=sampling_rate, return_tensors="pt", **kwargs)
        inputs = {k: v.to(device) for k, v in features.items() if k in (model.config.input_name, "attention_mask")}
        if model.config.input_name in inputs:
            inputs[model.config.input_name] = inputs[model.config.input_name].to(model.classifier.weight.dtype)
        out.append(model.pooled_output(**inputs).float().cpu())
        pending.clear()

    for wave in waveforms:
        for part in windows_of(wave, window):
            pending.append(part)
            if len(pending) == batch_size:
                flush()
        if progress is not None:
            progress.update(1)
    if pending:
        flush()
    return torch.cat(out)


def statistics_shift(old_mean, old_var, new_mean, new_var, eps) -> dict:
    """How far the statistics moved: the mean absolute change of the means in old standard deviations, and the
    median ratio of new to old standard deviations."""
    old_std, new_std = (old_var + eps).sqrt(), (new_var + eps).sqrt()
    return {"mean_shift": float(((new_mean - old_mean).abs() / old_std).mean()),
            "std_ratio": float((new_std / old_std).median())}


def adapt_model(model, feature_extractor, waveforms, sampling_rate: int, batch_size: int = 16,
                window_seconds: float = None, min_clips: int = MIN_CLIPS, source: str = "", progress=None) -> dict:
    """Re-estimate `model.pooled_norm`'s running statistics on `waveforms` (mono arrays at `sampling_rate`, a list or
    any iterable: they are read once, in batches); nothing else of the model changes. Returns the adaptation record
    (also set as `model.config.adaptation`)."""
    from emotion_hub.training.cross_corpus import pooled_statistics

    check_adaptable(model)
    seconds = []

    def counted():
        for wave in waveforms:
            seconds.append(len(wave) / sampling_rate)
            yield wave

    pooled = pooled_vectors(model, feature_extractor, counted(), sampling_rate, batch_size, window_seconds, progress)
    if len(seconds) < min_clips:
        raise AdaptError(f"{len(seconds)} recording(s) given: at least {min_clips} are needed for statistics of the "
                         f"domain (--min_clips)")
    norm = model.pooled_norm
    mean, var = pooled_statistics(pooled)
    shift = statistics_shift(norm.running_mean.float().cpu(), norm.running_var.float().cpu(), mean, var, norm.eps)
    with torch.no_grad():
        norm.running_mean.copy_(mean.to(norm.running_mean))
        norm.running_var.copy_(var.to(norm.running_var))
    previous = getattr(model.config, "adaptation", None)
    record = {"clips": len(seconds), "windows": int(pooled.shape[0]), "seconds": round(float(sum(seconds)), 2),
              "source": source, "date": datetime.date.today().isoformat(), **{k: round(v, 6) for k, v in shift.items()},
              **({"previous": previous} if previous else {})}
    model.config.adaptation = record
    return record


# ---------------------------------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------------------------------
def load_model(model_dir: str):
    import transformers

    import emotion_hub  # noqa: F401  (registers our classes with the Auto classes)

    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise AdaptError(f"--model_dir {model_dir}: no config.json (not a saved model folder)")
    config = transformers.AutoConfig.from_pretrained(model_dir, trust_remote_code=False)
    for mapping, kind in ((transformers.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING, "text-classification"),
                          (transformers.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING, "image-classification")):
        if type(config) in mapping and type(config) not in transformers.MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING:
            raise AdaptError(f"--model_dir {model_dir} is a {kind} model ({config.model_type}): label-free adaptation "
                             f"re-estimates the standardisation statistics of a speech-emotion model")
    try:
        model = transformers.AutoModelForAudioClassification.from_pretrained(model_dir, dtype=torch.float32)
    except ValueError as err:
        raise AdaptError(f"--model_dir {model_dir}: not an audio classifier ({' '.join(str(err).split())[:200]})") \
            from None
    check_adaptable(model, f"--model_dir {model_dir}")
    feature_extractor = transformers.AutoFeatureExtractor.from_pretrained(model_dir)
    return model, feature_extractor


def update_card(path: str, record: dict):
    """Add (or replace) the model card's section on the adaptation."""
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    section = (f"## Adapted statistics\n\nThe statistics this model standardises its pooled vector with were "
               f"re-estimated without labels by `python -m emotion_hub.adapt` on {record['clips']} recordings "
               f"({record['seconds']:.1f} s, {record['windows']} windows; {record['source']}) on {record['date']}. "
               f"The trained weights are those of the model it was adapted from, and so are the figures above. The "
               f"means moved by {record['mean_shift']:.3f} standard deviations on average, the standard deviations by a "
               f"median factor of {record['std_ratio']:.3f}.\n\n")
    start = text.find("## Adapted statistics")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    elif "## Citation" in text:
        text = text.replace("## Citation", section + "## Citation", 1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_folder(model_dir: str, output_dir: str, model, feature_extractor, record: dict, export_stock: bool):
    """The adapted folder, written beside `output_dir` and renamed into place (a new or empty folder only)."""
    if os.path.exists(output_dir) and (not os.path.isdir(output_dir) or os.listdir(output_dir)):
        raise AdaptError(f"--output_dir {output_dir} exists and is not empty: choose a new folder (nothing is "
                         f"overwritten)")
    if os.path.abspath(output_dir) == os.path.abspath(model_dir):
        raise AdaptError("--output_dir must differ from --model_dir (the unadapted model is kept)")
    parent, name = os.path.split(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{name}.adapting")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        if export_stock:
            blockers = model.stock_export_blockers() if hasattr(model, "stock_export_blockers") else ["no stock class"]
            if blockers:
                raise AdaptError(f"--export_stock: this model cannot be written as its encoder's stock class: "
                                 f"{'; '.join(blockers)}")
            model.save_stock_pretrained(staging, feature_extractor=feature_extractor)
            with open(os.path.join(staging, "adaptation.json"), "w", encoding="utf-8") as f:
                json.dump(record, f, indent=2)
        else:
            model.save_pretrained(staging)
            feature_extractor.save_pretrained(staging)
        for extra in ("README.md", "recipe.yaml", "all_results.json", "classification_report.json",
                      "confusion_matrix.png"):
            if os.path.isfile(os.path.join(model_dir, extra)):
                shutil.copy2(os.path.join(model_dir, extra), os.path.join(staging, extra))
        update_card(os.path.join(staging, "README.md"), record)
        if os.path.isdir(output_dir):
            os.rmdir(output_dir)
        os.rename(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m emotion_hub.adapt", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="a saved speech-emotion model folder (standardize_pooled)")
    parser.add_argument("--audio", required=True, nargs="+", help="folders, audio files, path lists or saved datasets")
    parser.add_argument("--output_dir", required=True, help="the adapted model folder (new or empty)")
    parser.add_argument("--split", default=None, help="the split of a saved DatasetDict")
    parser.add_argument("--audio_column", default="audio", help="the Audio column of a saved dataset")
    parser.add_argument("--min_clips", type=int, default=MIN_CLIPS, help=f"fewest recordings (default {MIN_CLIPS})")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--window_seconds", type=float, default=None,
                        help="waveform encoders: seconds per window of a long recording (default 10; Whisper: its "
                             "window)")
    parser.add_argument("--export_stock", action="store_true",
                        help="write the encoder's stock transformers class (no custom code) where the model has one")
    args = parser.parse_args(argv)
    if args.min_clips < 2 or args.batch_size < 1:
        parser.error("--min_clips must be >= 2 and --batch_size >= 1")
    if args.window_seconds is not None and not (math.isfinite(args.window_seconds) and args.window_seconds >= 0.1):
        parser.error("--window_seconds must be at least 0.1")
    return args


def main(argv=None) -> dict:
    from tqdm.auto import tqdm

    args = parse_args(argv)
    clips, described = find_audio(args.audio, args.split, args.audio_column)
    if len(clips) < args.min_clips:
        raise AdaptError(f"--audio holds {len(clips)} recording(s): at least {args.min_clips} are needed for "
                         f"statistics of the domain (--min_clips)")
    model, feature_extractor = load_model(args.model_dir)
    rate = feature_extractor.sampling_rate
    with tqdm(total=len(clips), desc="adapting", unit="clip") as progress:
        record = adapt_model(model, feature_extractor, (decode(clip, rate) for clip in clips), rate, args.batch_size,
                             args.window_seconds, args.min_clips, "; ".join(described), progress)
    write_folder(args.model_dir, args.output_dir, model, feature_extractor, record, args.export_stock)
    print(f"adapted on {record['clips']} recordings ({record['seconds']:.1f} s): means moved by "
          f"{record['mean_shift']:.3f} std on average, std by a median factor {record['std_ratio']:.3f}; "
          f"{args.output_dir}")
    return record


def cli(argv=None):
    try:
        main(argv)
    except AdaptError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


__all__ = ["AdaptError", "adapt_model", "check_adaptable", "decode", "find_audio", "main", "pooled_vectors"]

if __name__ == "__main__":
    cli()
