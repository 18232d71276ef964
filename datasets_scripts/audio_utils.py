"""What the voice builders share: finding and checking audio files, speaker-disjoint folds, and a base builder.

Every voice builder (`ravdess`, `tess`, `savee`, `crema_d`, `vivae`, `speech_emotion`) yields rows with an `audio`
column (`datasets.Audio`, stored as the path of the original file), a `speaker` string, a `fold` int and its labels.
Splits are speaker-disjoint and come from the folds: with `num_folds=K`, fold K-1 is `test`, fold K-2 is
`validation` and the other folds are `train` (`split_of_fold`).

Reading audio from a built dataset (datasets>=4 decodes `Audio` with torchcodec)::

    row = ds["train"][0]
    row["audio"]["array"], row["audio"]["sampling_rate"]   # float32 numpy, channels averaged to mono
    row["audio"].get_all_samples()                        # torchcodec AudioSamples: .data [channels, samples], .sample_rate
    ds = ds.cast_column("audio", datasets.Audio(sampling_rate=16000))   # resampled when decoded, lazily
    ds = ds.cast_column("audio", datasets.Audio(decode=False))          # rows give {"path": ..., "bytes": None}

Grouped cross-validation (a fresh assignment for any K, balanced over a stratum such as gender)::

    from emotion_hub.datasets_scripts.audio_utils import speaker_folds
    folds = speaker_folds(ds["speaker"], 3, strata=ds["gender"])   # {speaker: fold in 0..2}
    fold_of_row = [folds[s] for s in ds["speaker"]]
"""

import collections
import os
import random
import re
import sys

import datasets

from .utils import builder_module_texts


logger = datasets.logging.get_logger(__name__)

ON_BAD_FILE = ("raise", "skip")
AUDIO_EXTENSIONS = (".wav",)
_LFS_POINTER = b"version https://git-lfs"


# ---------------------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------------------
def file_name_error(path: str, corpus: str, layout: str):
    """`fail(why)` for a corpus's file-name parser: raises the `ValueError` that names `path`, says why and shows
    the corpus's expected file names and `layout`."""
    def fail(why):
        raise ValueError(f"{path}: {why}. Expected {_a(corpus)} file name and layout:\n{layout}")

    return fail


def match_file_name(path: str, pattern, corpus: str, layout: str, convention: str):
    """`(match, fail)`: `pattern`'s full match of `path`'s base name, and `file_name_error`'s `fail`; a name that
    does not match fails at once, naming the `convention`."""
    fail = file_name_error(path, corpus, layout)
    match = pattern.fullmatch(os.path.basename(path))
    if not match:
        fail(f"not {_a(corpus)} file name ({convention})")
    return match, fail


def _a(corpus: str) -> str:
    return f"{'an' if corpus[:1] in 'AEIOU' else 'a'} {corpus}"


def check_data_dir(data_dir: str, layout: str) -> str:
    """`data_dir` with `~` expanded; `FileNotFoundError` naming it and the expected `layout` if it is not a folder."""
    path = os.path.expanduser(str(data_dir))
    if not os.path.isdir(path):
        raise FileNotFoundError(f"`data_dir` {path!r} is not a directory. Expected layout:\n{layout}")
    return path


def require_data_dir(data_dir, corpus: str, instructions: str) -> str:
    """`data_dir`, or a `FileNotFoundError` carrying the corpus's manual download instructions when it is not given
    (`datasets>=4` no longer acts on a builder's `manual_download_instructions`; the builder does it here)."""
    if not data_dir:
        raise FileNotFoundError(f"{corpus} has no download URL that works without registration or Git LFS: download "
                                f"it yourself and pass `data_dir`.\n{instructions}")
    return data_dir


def list_audio_files(root: str, extensions=AUDIO_EXTENSIONS) -> list[str]:
    """Sorted paths of the audio files under `root`, recursively; hidden files and macOS `__MACOSX` folders skipped."""
    found, visited = [], set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a symlink back up the tree
            subfolders[:] = []
            continue
        visited.add(real)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d != "__MACOSX")
        found += [os.path.join(folder, name) for name in sorted(files)
                  if not name.startswith(".") and name.lower().endswith(extensions)]
    return found


def audio_problem(path: str):
    """Why `path` is not usable audio (`None` if it is). Reads the header only (`soundfile.info`), not the samples:
    catches empty files, Git LFS pointers, non-audio and corrupt headers, and files with no samples. A file cut short
    after a valid header is readable (libsndfile counts the frames present) and passes."""
    import soundfile

    try:
        size = os.path.getsize(path)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if size == 0:
        return "empty file (0 bytes)"
    try:
        info = soundfile.info(path)
    except Exception as err:  # libsndfile raises LibsndfileError (a RuntimeError) or SoundFileError
        with open(path, "rb") as f:
            if f.read(len(_LFS_POINTER)) == _LFS_POINTER:
                return "a Git LFS pointer, not audio (fetch the real file with `git lfs pull`)"
        return f"not readable as audio ({str(err).strip()})"
    if info.frames == 0:
        return "no audio samples (header only)"
    return None


def check_audio_files(paths: list[str], on_bad_file: str = "raise", corpus: str = "") -> list[str]:
    """The readable files of `paths`, in order. Unreadable or empty files raise a `ValueError` listing each path and
    why (`on_bad_file="raise"`), or are left out with their count and paths in the log (`on_bad_file="skip"`)."""
    if on_bad_file not in ON_BAD_FILE:
        raise ValueError(f"`on_bad_file` must be one of {ON_BAD_FILE}, got {on_bad_file!r}")
    bad = [(path, problem) for path in paths if (problem := audio_problem(path)) is not None]
    if not bad:
        return list(paths)
    listing = "\n  ".join(f"{path}: {problem}" for path, problem in bad)
    what = f"{corpus}: {len(bad)} of {len(paths)} audio files are unreadable or empty"
    if on_bad_file == "raise":
        raise ValueError(f"{what}:\n  {listing}\nRepair or remove them, or build with on_bad_file='skip' to leave them "
                         "out (the skipped files are then listed in the log).")
    logger.warning(f"{what}; skipped (on_bad_file='skip'):\n  {listing}")
    skipped = {path for path, _ in bad}
    return [path for path in paths if path not in skipped]


def relative_posix(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def read_corpus_files(folder: str, root: str, corpus: str, parse, key_of, duplicate, layout: str,
                      on_bad_file: str = "raise", what: str = "files", extra=None, checked_as: str = None) -> list[dict]:
    """Rows of every readable audio file under `folder` (any depth), in the builders' one format: the fields
    `parse(path)` reads from the file name, `file` (path relative to `root`), `audio` (absolute path) and
    `extra(path, fields)` when given. Two files with the same `key_of(path, fields)` are one recording twice: a
    `ValueError` with `duplicate(path, other_path, key)`. No file at all is a `FileNotFoundError` showing `layout`;
    unreadable files follow `on_bad_file` (`check_audio_files`, reported as `checked_as`, default `corpus`)."""
    rows, seen = [], {}
    for path in list_audio_files(folder):
        fields = parse(path)
        key = key_of(path, fields)
        if key in seen:
            raise ValueError(duplicate(path, seen[key], key))
        seen[key] = path
        rows.append({"file": relative_posix(path, root), "audio": os.path.abspath(path), **fields,
                     **(extra(path, fields) if extra else {})})
    if not rows:
        raise FileNotFoundError(f"no {corpus} {what} (*.wav) found under {folder!r}. Expected layout:\n{layout}")
    usable = set(check_audio_files([row["audio"] for row in rows], on_bad_file, checked_as or corpus))
    return [row for row in rows if row["audio"] in usable]


# ---------------------------------------------------------------------------------------------------------------------
# Folds
# ---------------------------------------------------------------------------------------------------------------------
def _natural_key(value):
    """Sort key that orders `S2` before `S10` and ints numerically."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(value)) if part]


def speaker_folds(speakers, num_folds: int, strata=None, seed=None) -> dict:
    """Assign every distinct speaker to one of `num_folds` folds, deterministically, balanced over `strata`.

    Args:
        speakers (iterable): speaker ids, repeats allowed (a dataset column works as is).
        num_folds (`int`): K, at least 2 and at most the number of distinct speakers.
        strata (`dict` or iterable, *optional*): a stratum per speaker (e.g. gender), as a `{speaker: stratum}` dict or
            an iterable aligned with `speakers` (e.g. the `gender` column). `None` values form their own stratum.
        seed (`int`, *optional*): `None` deals the speakers in natural sort order (`S2` before `S10`); an int shuffles
            them within each stratum with `random.Random(seed)` first.

    Returns:
        `dict`: `{speaker: fold}` with folds in `range(num_folds)`. Strata are dealt one after another (in natural
        order of their names) round-robin over the folds, the next stratum continuing where the last one stopped, so
        every fold holds the same number of speakers up to one, and the same number of each stratum up to one.
        Example: RAVDESS actors 3, 11, 23 (male) and 4, 12, 24 (female) with K=3 give {3: 0, 11: 1, 23: 2, 4: 0,
        12: 1, 24: 2}: each fold one man and one woman.
    """
    speakers = list(speakers)
    distinct = list(dict.fromkeys(speakers))
    if isinstance(num_folds, bool) or not isinstance(num_folds, int) or not 2 <= num_folds <= len(distinct):
        raise ValueError(f"`num_folds` must be an int between 2 and the number of distinct speakers "
                         f"({len(distinct)}), got {num_folds!r}")
    if strata is None:
        stratum_of = {speaker: None for speaker in distinct}
    elif isinstance(strata, dict):
        missing = [s for s in distinct if s not in strata]
        if missing:
            raise ValueError(f"`strata` has no stratum for speakers {missing[:10]}")
        stratum_of = {speaker: strata[speaker] for speaker in distinct}
    else:
        strata = list(strata)
        if len(strata) != len(speakers):
            raise ValueError(f"`strata` has {len(strata)} values but `speakers` has {len(speakers)}; align them")
        stratum_of = {}
        for speaker, stratum in zip(speakers, strata):
            if stratum_of.setdefault(speaker, stratum) != stratum:
                raise ValueError(f"speaker {speaker!r} has two strata: {stratum_of[speaker]!r} and {stratum!r}")
    return deal_folds(stratum_of, num_folds, seed=seed)


def deal_folds(stratum_of: dict, num_folds: int, first_fold: int = 0, seed=None) -> dict:
    """The dealing of `speaker_folds` without its checks (a fold may stay empty when there are fewer speakers than
    folds): `{speaker: fold}` for the speakers of `stratum_of` (`{speaker: stratum}`), strata in natural order,
    speakers round-robin from `first_fold` on, each stratum continuing where the last one stopped."""
    groups = collections.defaultdict(list)
    for speaker, stratum in stratum_of.items():
        groups[stratum].append(speaker)
    rng = random.Random(seed) if seed is not None else None
    folds, position = {}, first_fold
    for stratum in sorted(groups, key=lambda s: (s is None, _natural_key(s))):
        members = sorted(groups[stratum], key=_natural_key)
        if rng is not None:
            rng.shuffle(members)
        for speaker in members:
            folds[speaker] = position % num_folds
            position += 1
    return folds


def split_of_fold(fold: int, num_folds: int) -> str:
    """The default split of a fold: the last fold is `test`, the one before `validation`, the others `train`."""
    if fold == num_folds - 1:
        return datasets.Split.TEST
    if fold == num_folds - 2:
        return datasets.Split.VALIDATION
    return datasets.Split.TRAIN


# ---------------------------------------------------------------------------------------------------------------------
# Base builder
# ---------------------------------------------------------------------------------------------------------------------
class VoiceConfig(datasets.BuilderConfig):
    """
    Args:
        num_folds (`int`, *optional*): speaker-disjoint folds (`fold` column); fold K-1 is the test split, K-2
            validation. Defaults to the corpus's `DEFAULT_NUM_FOLDS` (its config class's docstring says it).
        on_bad_file (`str`, *optional*, defaults to `"raise"`): an unreadable or empty audio file raises an error
            naming it (`"raise"`) or is left out, with the count and the paths in the log (`"skip"`).
        sampling_rate (`int`, *optional*): the `Audio` feature's rate: decoding resamples to it. `None` keeps each
            file's own rate.
    """

    DEFAULT_NUM_FOLDS = 5
    CHOICES = {}  # option name -> the values it may take (checked by `validate`)

    def __init__(self, num_folds=None, on_bad_file="raise", sampling_rate=None, **kwargs):
        super().__init__(version=datasets.Version("1.0.0"), **kwargs)
        self.num_folds = self.DEFAULT_NUM_FOLDS if num_folds is None else num_folds
        self.on_bad_file = on_bad_file
        self.sampling_rate = sampling_rate
        self.validate()

    def validate(self):
        """Check every option; also run by the builder, since `Builder(config_name=..., **kwargs)` sets the kwargs
        on a copy of the named config without calling `__init__`. Subclasses extend it."""
        num_folds, sampling_rate = self.num_folds, self.sampling_rate
        if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 3:
            raise ValueError(f"`num_folds` must be an int >= 3 (train, validation and test folds), got {num_folds!r}")
        if self.on_bad_file not in ON_BAD_FILE:
            raise ValueError(f"`on_bad_file` must be one of {ON_BAD_FILE}, got {self.on_bad_file!r}")
        if sampling_rate is not None and (isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int)
                                          or sampling_rate <= 0):
            raise ValueError(f"`sampling_rate` must be a positive int or None, got {sampling_rate!r}")
        for name, allowed in self.CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` must be one of {list(allowed)}, got {getattr(self, name)!r}")


class VoiceBuilder(datasets.GeneratorBasedBuilder):
    """Base of the voice builders: subclasses name their columns (`_columns`) and find the rows (`_find_examples`),
    this class checks the speaker count, adds the `fold` column and yields speaker-disjoint train / validation / test
    splits (`split_of_fold`). The `DatasetInfo` carries the texts of the builder's module (`_DESCRIPTION`,
    `_CITATION`, `_LICENSE`, `_HOMEPAGE`), which model cards read too."""

    CORPUS = ""
    SUPERVISED_KEYS = None
    MANUAL_DOWNLOAD_INSTRUCTIONS = None  # how to get a corpus that has no download working as is (`data_dir`)

    @property
    def manual_download_instructions(self):
        return self.MANUAL_DOWNLOAD_INSTRUCTIONS

    def _columns(self) -> dict:
        """The corpus's features, between `file` (the path relative to `data_dir`, the row's key) + `audio` and
        `fold`."""
        raise NotImplementedError(f"{type(self).__name__} must define _columns()")

    def _info(self):
        features = datasets.Features({"file": datasets.Value("string"),
                                      "audio": datasets.Audio(sampling_rate=self.config.sampling_rate),
                                      **self._columns(), "fold": datasets.Value("int32")})
        texts = builder_module_texts(sys.modules[type(self).__module__])
        return datasets.DatasetInfo(features=features, supervised_keys=self.SUPERVISED_KEYS, **texts)

    def _manual_data_dir(self) -> str:
        """`data_dir`, or an error carrying the corpus's manual download instructions when it is not given."""
        return require_data_dir(self.config.data_dir, self.CORPUS, self.MANUAL_DOWNLOAD_INSTRUCTIONS)

    def _create_builder_config(self, *args, **kwargs):
        config, config_id = super()._create_builder_config(*args, **kwargs)
        config.validate()  # the kwargs were set on a copy of the named config, bypassing its __init__ checks
        return config, config_id

    def _find_examples(self, dl_manager) -> list[dict]:
        """Rows (feature values, `audio` a path, plus `file`, the row's unique key) of every usable file."""
        raise NotImplementedError

    def _fold_strata(self, examples) -> dict:
        """`{speaker: stratum}` for `speaker_folds`: gender where the corpus has it."""
        return {row["speaker"]: row.get("gender") for row in examples}

    def _assign_folds(self, examples):
        speakers = sorted({row["speaker"] for row in examples}, key=_natural_key)
        k = self.config.num_folds
        if len(speakers) < k:
            raise ValueError(f"{self.CORPUS}: `num_folds`={k} needs at least {k} speakers, found {len(speakers)} "
                             f"({', '.join(map(str, speakers))}); build with num_folds <= {len(speakers)}")
        folds = speaker_folds(speakers, k, strata=self._fold_strata(examples))
        for row in examples:
            row["fold"] = folds[row["speaker"]]
        return folds

    def _split_of(self, row) -> str:
        return split_of_fold(row["fold"], self.config.num_folds)

    def _split_generators(self, dl_manager):
        examples = self._find_examples(dl_manager)
        folds = self._assign_folds(examples)
        by_split = {datasets.Split.TRAIN: [], datasets.Split.VALIDATION: [], datasets.Split.TEST: []}
        for row in examples:
            by_split[self._split_of(row)].append(row)
        for split, rows in by_split.items():
            split_speakers = sorted({row["speaker"] for row in rows}, key=_natural_key)
            logger.info(f"{self.CORPUS} {split}: {len(rows)} files, speakers {split_speakers}")
        logger.info(f"{self.CORPUS}: fold of each of the {len(folds)} groups ({self.config.num_folds} folds): {folds}")
        return [datasets.SplitGenerator(name=split, gen_kwargs={"examples": rows}) for split, rows in by_split.items()]

    def _generate_examples(self, examples):
        columns = list(self.info.features)
        for row in examples:
            yield row["file"], {column: row[column] for column in columns}


__all__ = ["ON_BAD_FILE", "VoiceBuilder", "VoiceConfig", "audio_problem", "check_audio_files", "check_data_dir",
           "deal_folds", "file_name_error", "list_audio_files", "match_file_name", "relative_posix", "require_data_dir",
           "speaker_folds", "split_of_fold"]
