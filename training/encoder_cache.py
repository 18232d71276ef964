"""The frozen-encoder cache: what a speech model's head reads of its fixed encoder, one entry per clip, on disk.

With `model.freeze_backbone: true` (or `trainable_encoder_layers: N`) and nothing that changes a clip between epochs,
train.py runs the fixed part of the encoder once per clip (training/audio.py) and trains the rest from these entries
for every epoch and every fold. What an entry holds is the model's to say, next to the code that reads it
([`SpeechEmotionForAudioClassification.encoder_cache_spec`], `encode_for_cache`, `collate_cache_entries`): for a
mean-pooled head each hidden state's mean over the clip's frames (Whisper-base: 7 x 512 float32, 14 KB a clip), for
the other heads the frames (float16). This module only stores, checks and loads entries.

Layout: `<root>/<settings key>/<clip key[:2]>/<clip key>.safetensors`, and `<root>/<settings key>/cache.json` (what
the entries hold; its modification time is the folder's last use). The settings key hashes the encoder's weights and
config, the feature extractor's settings, what the model reads (its `encoder_cache_spec`) and this file's format; the
clip key hashes the decoded waveform the encoder reads. Changing the data, the backbone, a feature setting or the head's
needs therefore computes new entries. `root` is the recipe's `encoder_cache_dir`, else `$EMOTION_HUB_CACHE/
encoder_cache`, else `~/.cache/emotion_hub/encoder_cache`.

- Entries are read from disk when a batch needs them (`safe_open`, memory-mapped), so a run's memory does not grow
  with the corpus.
- An entry is written to a temporary file and renamed into place: a killed run leaves whole entries (kept, not
  computed again) and at most a `.tmp-*` file (never read; `clean` removes old ones). Runs that share a folder at the
  same time both finish: a reader sees a whole entry, never a half-written one.
- Every entry carries the SHA-256 of its tensors; a run checks each entry it uses before training, and one that does
  not load or does not match is named in a warning and computed again.

Size report and cleanup:

    python -m emotion_hub.training.encoder_cache info [--dir DIR]
    python -m emotion_hub.training.encoder_cache clean [--older_than DAYS] [--dir DIR] [--dry_run]
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers.utils import logging

from emotion_hub.training.checkpoints import kill_point

logger = logging.get_logger(__name__)

CACHE_FORMAT = 2  # 2: entries as the model declares them, in fan-out folders, with checksums (1: every frame, flat)
INFO_FILE = "cache.json"
ENTRY_SUFFIX = ".safetensors"
TMP_PREFIX = ".tmp-"
STALE_TMP_SECONDS = 3600  # a temporary file this old is a killed run's leftover, not a write in progress
_KEY = re.compile(r"[0-9a-f]{24}")
_CLIP = re.compile(r"[0-9a-f]{32}\.safetensors")


def default_cache_root() -> str:
    base = os.environ.get("EMOTION_HUB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "emotion_hub")
    return os.path.join(base, "encoder_cache")


def settings_key(model, processor) -> str:
    """Hash of everything besides the waveform that decides an entry: what the model reads of its encoder
    (`encoder_cache_spec`), the encoder's weights and config, the feature extractor's settings, the cache format."""
    spec = model.encoder_cache_spec()
    if spec is None:
        raise ValueError(f"{type(model).__name__}: no part of its encoder is fixed, nothing to cache")
    digest = hashlib.sha256()
    digest.update(f"format {CACHE_FORMAT}".encode())
    digest.update(json.dumps(spec, sort_keys=True).encode())
    digest.update(model.config.audio_config.to_json_string(use_diff=False).encode())
    digest.update(json.dumps(processor.to_dict(), sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def clip_key(waveform: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(waveform, dtype=np.float32).tobytes()).hexdigest()[:32]


def tensors_digest(tensors: dict) -> str:
    """SHA-256 of named tensors: names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)};".encode())
        digest.update(memoryview(tensor.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _read(path: str) -> tuple[dict, dict]:
    with safe_open(path, framework="pt") as f:
        return {name: f.get_tensor(name) for name in f.keys()}, f.metadata() or {}


class EncoderCache:
    """The entries of one settings key: `<root>/<key>/`. Create it for a model with [`for_model`]."""

    def __init__(self, root: str, key: str, description: Optional[dict] = None):
        self.root, self.key = root, key
        self.dir = os.path.join(root, key)
        os.makedirs(self.dir, exist_ok=True)
        info = os.path.join(self.dir, INFO_FILE)
        if not os.path.isfile(info):
            _write_atomically(info, lambda tmp: _dump_json(tmp, {"format": CACHE_FORMAT, **(description or {}),
                                                                 "created": _now()}))
        os.utime(info)  # last use, for `clean --older_than`

    @classmethod
    def for_model(cls, model, processor, root: str) -> "EncoderCache":
        """The cache of `model`'s fixed encoder part on the features of `processor`, under `root`."""
        audio = model.config.audio_config
        return cls(root, settings_key(model, processor), {
            "spec": model.encoder_cache_spec(), "encoder": getattr(audio, "_name_or_path", "") or audio.model_type,
            "feature_extractor": type(processor).__name__})

    def path(self, key: str) -> str:
        return os.path.join(self.dir, key[:2], key + ENTRY_SUFFIX)

    def contains(self, key: str) -> bool:
        return os.path.isfile(self.path(key))

    def store(self, key: str, entry: dict):
        """Write `entry` (a dict of tensors) atomically, with the checksum of its tensors."""
        path = self.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        metadata = {"format": str(CACHE_FORMAT), "sha256": tensors_digest(entry)}
        _write_atomically(path, lambda tmp: save_file(entry, tmp, metadata=metadata), stage="encoder_cache_store")

    def verify(self, key: str) -> bool:
        """Whether the entry of `key` is there and whole. One that does not load, or whose tensors do not match its
        checksum, is named in a warning; False then, so that the caller computes it again (the new entry replaces
        it)."""
        path = self.path(key)
        if not os.path.isfile(path):
            return False
        try:
            entry, metadata = _read(path)
            if "sha256" not in metadata:
                raise ValueError("it has no checksum")
            if tensors_digest(entry) != metadata["sha256"]:
                raise ValueError("its tensors do not match its checksum")
        except Exception as err:  # noqa: BLE001  (safetensors raises its own error types; any of them means corrupt)
            if not os.path.isfile(path):  # removed by another run meanwhile
                return False
            logger.warning(f"encoder cache entry {path} is corrupted ({_one_line(err)}): computing it again")
            return False
        return True

    def load(self, key: str) -> dict:
        """The tensors of the entry of `key`, read from disk now."""
        path = self.path(key)
        try:
            return _read(path)[0]
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"encoder cache entry {path} cannot be read ({_one_line(err)}); run again: entries are "
                             f"checked before training and a bad one is computed anew") from None

    def read_bytes(self, key: str) -> bytes:
        with open(self.path(key), "rb") as f:
            return f.read()

    def store_bytes(self, key: str, data: bytes):
        """Write an entry received as file bytes (from another machine's cache), atomically, if it checks out."""
        path = self.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)

        def write(tmp):
            with open(tmp, "wb") as f:
                f.write(data)
            entry, metadata = _read(tmp)
            if tensors_digest(entry) != metadata.get("sha256"):
                raise ValueError(f"encoder cache entry {key} received from another process does not match its "
                                 f"checksum")

        _write_atomically(path, write)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _dump_json(path: str, value: dict):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)


def _write_atomically(path: str, write: Callable[[str], None], stage: Optional[str] = None):
    """`write(tmp)` into a temporary file beside `path`, then rename it to `path`: readers see the old file or the new
    one, never a part of one. (`stage`: the name of the test hook that kills the process before the rename.)"""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=TMP_PREFIX, suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        if stage:
            kill_point(stage)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class CachedEntries(torch.utils.data.Dataset):
    """`{"entry": dict of tensors, "labels": id}` rows whose clips are in `cache` (`keys[i]` is row i's clip key),
    read from disk when a batch needs them. `lengths` (the clips' lengths in samples) serve the length-grouped
    sampler, as for the audio."""

    def __init__(self, cache: EncoderCache, keys: list, labels: list, lengths: Optional[list] = None):
        if len(keys) != len(labels):
            raise ValueError(f"{len(keys)} clip keys for {len(labels)} labels")
        self.cache, self.keys, self.labels, self._lengths = cache, list(keys), list(labels), lengths

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, index):
        return {"entry": self.cache.load(self.keys[index]), "labels": self.labels[index]}

    def lengths(self, sampling_rate=None) -> list:
        if self._lengths is None:
            raise ValueError("these cached entries were made without the clips' lengths")
        return list(self._lengths)


@dataclass
class CachedEntriesCollator:
    """Batches of cache entries as the model's `forward` takes them: `collate_entries` is the model's
    `collate_cache_entries` (a static method), plus `labels`."""

    collate_entries: Callable

    def __call__(self, rows):
        labels = torch.tensor([row["labels"] for row in rows], dtype=torch.long)
        return {**self.collate_entries([row["entry"] for row in rows]), "labels": labels}


# ---------------------------------------------------------------------------------------------------------------------
# Size report and cleanup
# ---------------------------------------------------------------------------------------------------------------------
def scan(root: str) -> tuple[list, list]:
    """`(folders, foreign)`: one dict per cache folder under `root` (`path`, `format`, `entries`, `bytes`,
    `last_used` (epoch seconds), `temporary` (leftover temporary files), `foreign` (files we did not write), `spec`,
    `encoder`), and the other things in `root`."""
    folders, foreign = [], []
    for item in sorted(os.scandir(root), key=lambda e: e.name):
        info = os.path.join(item.path, INFO_FILE)
        if item.is_dir(follow_symlinks=False) and os.path.isfile(info):
            folders.append(_scan_folder(item.path, info))
        elif item.is_dir(follow_symlinks=False) and _KEY.fullmatch(item.name) and _is_format_1(item.path):
            folders.append(_scan_folder(item.path, None))
        else:
            foreign.append(item.path)
    return folders, foreign


def _is_format_1(path: str) -> bool:
    """A folder of the first release's cache: `<32 hex>.safetensors` entries (and temporary files) only."""
    names = os.listdir(path)
    return bool(names) and all(_CLIP.fullmatch(n) or n.startswith(TMP_PREFIX) for n in names)


def _scan_folder(path: str, info: Optional[str]) -> dict:
    folder = {"path": path, "format": 1, "entries": 0, "bytes": 0, "last_used": 0.0, "temporary": [], "foreign": [],
              "spec": None, "encoder": None}
    if info is not None:
        try:
            with open(info, encoding="utf-8") as f:
                described = json.load(f)
        except (OSError, ValueError):
            described = {}
        folder.update(format=described.get("format", CACHE_FORMAT), spec=described.get("spec"),
                      encoder=described.get("encoder"), last_used=os.stat(info).st_mtime)
    for base, dirs, files in os.walk(path):
        for name in files:
            file = os.path.join(base, name)
            stat = os.stat(file)
            if name.startswith(TMP_PREFIX):
                folder["temporary"].append(file)
            elif _CLIP.fullmatch(name) and (base == path if info is None else os.path.dirname(base) == path):
                folder["entries"] += 1
                if info is None:  # format 1 kept no record of its use: the newest entry
                    folder["last_used"] = max(folder["last_used"], stat.st_mtime)
            elif file != info:
                folder["foreign"].append(file)
                continue
            folder["bytes"] += stat.st_size
    return folder


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _age_days(seconds: float) -> float:
    return (time.time() - seconds) / 86400


def report(root: str) -> str:
    """A size report of the cache under `root`: one line per folder, and the total."""
    if not os.path.isdir(root):
        return f"no encoder cache at {root}"
    folders, foreign = scan(root)
    lines = [f"encoder cache {root}: {len(folders)} folder(s), "
             f"{sum(f['entries'] for f in folders)} entries, {_size(sum(f['bytes'] for f in folders))}"]
    for f in folders:
        spec = f["spec"] or {}
        what = (f"{spec.get('layout', '?')}, {spec.get('states', '?')} state(s), {spec.get('dtype', '?')}"
                if f["format"] != 1 else "every frame, float32 (format 1, an earlier release)")
        per_entry = f" ({_size(f['bytes'] / f['entries'])} each)" if f["entries"] else ""
        lines.append(f"  {os.path.basename(f['path'])}  {f['entries']} entries, {_size(f['bytes'])}{per_entry}; "
                     f"{what}; encoder {f['encoder'] or '?'}; last used {_age_days(f['last_used']):.1f} days ago"
                     + (f"; {len(f['temporary'])} temporary file(s) of interrupted writes" if f["temporary"] else "")
                     + (f"; {len(f['foreign'])} file(s) not ours (left alone)" if f["foreign"] else ""))
    if foreign:
        lines.append(f"  not ours (left alone): {', '.join(os.path.basename(p) for p in foreign)}")
    return "\n".join(lines)


def clean(root: str, older_than_days: Optional[float] = None, dry_run: bool = False) -> list:
    """Remove the cache folders under `root` last used more than `older_than_days` days ago (None: all of them), and
    in the others the temporary files of writes interrupted more than an hour ago. Only files this cache wrote are
    removed; a folder that also holds other files keeps them. Returns the removed paths (with `dry_run`: the paths
    that would be removed)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no encoder cache at {root}")
    folders, foreign = scan(root)
    if not folders and foreign:
        raise ValueError(f"{root} holds no encoder cache (no <key>/{INFO_FILE} folders): nothing removed")
    removed = []
    for f in folders:
        expired = older_than_days is None or _age_days(f["last_used"]) > older_than_days
        if expired and not f["foreign"]:
            removed.append(f["path"])
            if not dry_run:
                shutil.rmtree(f["path"])
            continue
        for file in f["temporary"]:
            if time.time() - _mtime(file) > STALE_TMP_SECONDS:
                removed.append(file)
                if not dry_run:
                    _remove(file)
        if expired:  # foreign files inside: remove ours one by one, keep the folder and theirs
            for base, _, files in os.walk(f["path"], topdown=False):
                for name in files:
                    file = os.path.join(base, name)
                    if file not in f["foreign"] and file not in removed and not name.startswith(TMP_PREFIX):
                        removed.append(file)
                        if not dry_run:
                            _remove(file)
                if not dry_run and base != f["path"] and not os.listdir(base):
                    os.rmdir(base)
    return removed


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return time.time()


def _remove(path: str):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emotion_hub.training.encoder_cache",
                                     description="Size report and cleanup of the frozen-encoder cache.")
    parser.add_argument("command", choices=("info", "clean"))
    parser.add_argument("--dir", default=None, help=f"the cache root (default: {default_cache_root()}, or the "
                                                    f"recipe's encoder_cache_dir)")
    parser.add_argument("--older_than", type=float, default=None, metavar="DAYS",
                        help="clean: only folders last used more than DAYS days ago (default: every folder)")
    parser.add_argument("--dry_run", action="store_true", help="clean: list what would be removed")
    args = parser.parse_args(argv)
    if args.older_than is not None and (args.command != "clean" or args.older_than < 0):
        parser.error("--older_than DAYS (>= 0) goes with `clean`")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    root = args.dir or default_cache_root()
    if args.command == "info":
        print(report(root))
        return 0
    try:
        removed = clean(root, args.older_than, args.dry_run)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(removed)} path(s) from {root}" + "".join(f"\n  {p}" for p in removed))
    if not args.dry_run:
        print(report(root) if os.path.isdir(root) else "")
    return 0


__all__ = ["CACHE_FORMAT", "CachedEntries", "CachedEntriesCollator", "EncoderCache", "clean", "clip_key",
           "default_cache_root", "main", "parse_args", "report", "scan", "settings_key", "tensors_digest"]

if __name__ == "__main__":
    sys.exit(main())
