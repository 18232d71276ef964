"""RAVDESS: the Ryerson Audio-Visual Database of Emotional Speech and Song (Livingstone & Russo, 2018), audio only."""

import os
import re

import datasets

from ..audio_utils import (VoiceBuilder, VoiceConfig, check_audio_files, check_data_dir, list_audio_files,
                           match_file_name, relative_posix, speaker_folds)
from ..utils import download


logger = datasets.logging.get_logger(__name__)

_CITATION = """\
@article{livingstone2018ravdess,
  title={The Ryerson Audio-Visual Database of Emotional Speech and Song (RAVDESS): A dynamic, multimodal set of facial
         and vocal expressions in North American English},
  author={Livingstone, Steven R. and Russo, Frank A.},
  journal={PLoS ONE}, volume={13}, number={5}, pages={e0196391}, year={2018}, doi={10.1371/journal.pone.0196391}
}
"""
_DESCRIPTION = """\
RAVDESS (Livingstone & Russo, 2018), audio-only files: 24 professional actors (12 female, 12 male) saying two
lexically matched statements in a neutral North American accent. Speech (1,440 files, 60 per actor): neutral, calm,
happy, sad, angry, fearful, disgust and surprised, each emotion at normal and strong intensity (neutral: normal only),
2 statements x 2 repetitions. Song (1,012 files, 44 per actor, 23 actors: actor 18 has none): neutral, calm, happy,
sad, angry and fearful. 16-bit 48 kHz mono WAV. Labels are the acted emotions decoded from the file names.
"""
_HOMEPAGE = "https://zenodo.org/records/1188976"
_LICENSE = "CC BY-NC-SA 4.0 (RAVDESS authors, Zenodo record 1188976)"

MODALITIES = ["full-AV", "video-only", "audio-only"]
VOCAL_CHANNELS = ["speech", "song"]
EMOTIONS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
EMOTIONS_BY_CHANNEL = {"speech": EMOTIONS, "song": EMOTIONS[:6]}
INTENSITIES = ["normal", "strong"]
STATEMENTS = ["Kids are talking by the door", "Dogs are sitting by the door"]
ARCHIVES = {"speech": "Audio_Speech_Actors_01-24.zip", "song": "Audio_Song_Actors_01-24.zip"}
NUM_ACTORS = 24
FILE_NAME = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav", re.IGNORECASE)
ACTOR_FOLDER = re.compile(r"Actor_(\d\d)", re.IGNORECASE)
LAYOUT = """\
  <data_dir>/Actor_01/03-01-01-01-01-01-01.wav ... <data_dir>/Actor_24/...   (the layout of the official zips)
  file names: modality-channel-emotion-intensity-statement-repetition-actor.wav, two digits each:
    modality 01 full-AV, 02 video-only, 03 audio-only; vocal channel 01 speech, 02 song;
    emotion 01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised (song: 01-06);
    intensity 01 normal, 02 strong (neutral: 01 only); statement 01 "Kids are talking by the door",
    02 "Dogs are sitting by the door"; repetition 01, 02; actor 01-24 (odd: male, even: female)"""


def actor_gender(actor: int) -> str:
    """RAVDESS actors with odd ids are male, even ids female."""
    return "male" if int(actor) % 2 else "female"


def actor_folds(actors, k: int) -> dict:
    """Assign RAVDESS actors to `k` actor-disjoint folds balanced by gender (odd ids male, even female).

    Args:
        actors (iterable of `int` or `str`): actor ids 1..24 (`3`, `"03"`, or `"Actor_03"`); repeats allowed, so a
            dataset's `actor` column can be passed as is.
        k (`int`): number of folds, 2 <= k <= number of distinct actors.

    Returns:
        `dict` `{actor: fold}`, keyed by the values given (deduplicated), folds in `range(k)`. Women (even ids) are
        dealt first in increasing id order round-robin over the folds, then men continuing from the next fold
        (`speaker_folds` with gender strata): fold sizes differ by at most one actor, and by at most one woman and
        one man. Deterministic: the same actor set gives the same folds. Examples:
        `actor_folds([3, 4, 11, 12, 23, 24], 3) == {4: 0, 12: 1, 24: 2, 3: 0, 11: 1, 23: 2}` (one man and one woman per
        fold); `actor_folds(range(1, 25), 6)` puts actors 11, 12, 23, 24 in fold 5 and 9, 10, 21, 22 in fold 4.
    """
    actors = list(dict.fromkeys(actors))
    numbers = {}
    for actor in actors:
        match = re.fullmatch(r"(?:Actor_)?(\d{1,2})", str(actor), re.IGNORECASE)
        if not match or not 1 <= int(match.group(1)) <= NUM_ACTORS:
            raise ValueError(f"actor {actor!r} is not a RAVDESS actor id (1..24, '03' or 'Actor_03')")
        numbers[actor] = int(match.group(1))
    by_number = speaker_folds(sorted(set(numbers.values())), k,
                              strata={n: actor_gender(n) for n in numbers.values()})
    return {actor: by_number[numbers[actor]] for actor in actors}


def parse_file_name(path: str, vocal_channel: str = None) -> dict:
    """The fields of a RAVDESS file name as names and ints; `ValueError` naming the file and the convention."""
    match, fail = match_file_name(path, FILE_NAME, "RAVDESS", LAYOUT,
                                  "7 two-digit fields joined by '-', ending in .wav")
    modality, channel, emotion, intensity, statement, repetition, actor = (int(x) for x in match.groups())
    for field, value, high in (("modality", modality, 3), ("vocal channel", channel, 2), ("emotion", emotion, 8),
                               ("intensity", intensity, 2), ("statement", statement, 2),
                               ("repetition", repetition, 2), ("actor", actor, NUM_ACTORS)):
        if not 1 <= value <= high:
            fail(f"unknown {field} code {value:02d} (expected 01-{high:02d})")
    channel_name = VOCAL_CHANNELS[channel - 1]
    if emotion > len(EMOTIONS_BY_CHANNEL[channel_name]):
        fail(f"emotion code {emotion:02d} does not exist for {channel_name} (song has emotions 01-06)")
    if emotion == 1 and intensity == 2:
        fail("neutral (emotion 01) has no strong intensity (02) in RAVDESS")
    folder = ACTOR_FOLDER.fullmatch(os.path.basename(os.path.dirname(path)))
    if folder and int(folder.group(1)) != actor:
        fail(f"actor {actor:02d} in the file name but the file is in folder Actor_{folder.group(1)}")
    return {
        "modality": MODALITIES[modality - 1],
        "vocal_channel": channel_name,
        "emotion": EMOTIONS[emotion - 1],
        "intensity": INTENSITIES[intensity - 1],
        "statement": STATEMENTS[statement - 1],
        "repetition": repetition,
        "actor": actor,
        "gender": actor_gender(actor),
        "speaker": f"Actor_{actor:02d}",
    }


def read_ravdess(root: str, vocal_channel: str = "speech", on_bad_file: str = "raise") -> list[dict]:
    """Rows of every readable `vocal_channel` file under `root` (any depth): the parsed file-name fields plus `file`
    (path relative to `root`) and `audio` (absolute path). Files of the other channel are counted and left out."""
    root = check_data_dir(root, LAYOUT)
    rows, other_channel, seen = [], 0, {}
    for path in list_audio_files(root):
        fields = parse_file_name(path)
        if fields["vocal_channel"] != vocal_channel:
            other_channel += 1
            continue
        name = os.path.basename(path).lower()
        if name in seen:  # e.g. Kaggle's copy holds every actor twice (Actor_XX/ and audio_speech_actors_01-24/)
            raise ValueError(f"RAVDESS: {path} and {seen[name]} are the same recording; keep one copy of the tree "
                             "or point `data_dir` at one of them")
        seen[name] = path
        rows.append({"file": relative_posix(path, root), "audio": os.path.abspath(path), **fields})
    if other_channel:
        logger.info(f"RAVDESS {vocal_channel}: left out {other_channel} files of the other vocal channel in {root}")
    if not rows:
        code = VOCAL_CHANNELS.index(vocal_channel) + 1
        raise FileNotFoundError(f"no RAVDESS {vocal_channel} files (*-{code:02d}-*.wav) found under {root!r}. "
                                f"Expected layout:\n{LAYOUT}")
    usable = set(check_audio_files([row["audio"] for row in rows], on_bad_file, f"RAVDESS {vocal_channel}"))
    return [row for row in rows if row["audio"] in usable]


class RavdessConfig(VoiceConfig):
    """
    Args:
        vocal_channel (`str`): `"speech"` or `"song"`.
        num_folds (`int`, *optional*, defaults to 6): actor-disjoint folds balanced by gender (`actor_folds`); on the
            24 actors, 6 folds of 2 men + 2 women: train 16 actors, validation 4, test 4.
        on_bad_file, sampling_rate: see `VoiceConfig`.
    """

    DEFAULT_NUM_FOLDS = 6
    CHOICES = {"vocal_channel": VOCAL_CHANNELS}

    def __init__(self, vocal_channel="speech", **kwargs):
        self.vocal_channel = vocal_channel
        super().__init__(**kwargs)


class Ravdess(VoiceBuilder):
    """RAVDESS audio-only files. Configs `speech` (8 emotions) and `song` (6). Reads a local `Actor_XX/` tree
    (`data_dir`) or downloads the official zip from Zenodo. Splits: actor-disjoint, from the `fold` column."""

    CORPUS = "RAVDESS"
    BUILDER_CONFIG_CLASS = RavdessConfig
    BUILDER_CONFIGS = [
        RavdessConfig(name="speech", vocal_channel="speech", description="Speech, 8 emotions, 1,440 files"),
        RavdessConfig(name="song", vocal_channel="song", description="Song, 6 emotions, 1,012 files"),
    ]
    DEFAULT_CONFIG_NAME = "speech"
    BASE_URL = "https://zenodo.org/records/1188976/files/"

    def _columns(self):
        """Columns besides `file` (e.g. `Actor_01/03-01-05-02-01-01-01.wav`), `audio` and `fold`."""
        return {
            "modality": datasets.ClassLabel(names=MODALITIES),
            "vocal_channel": datasets.ClassLabel(names=VOCAL_CHANNELS),
            "emotion": datasets.ClassLabel(names=EMOTIONS_BY_CHANNEL[self.config.vocal_channel]),
            "intensity": datasets.ClassLabel(names=INTENSITIES),
            "statement": datasets.ClassLabel(names=STATEMENTS),
            "repetition": datasets.Value("int32"),
            "actor": datasets.Value("int32"),
            "gender": datasets.Value("string"),
            "speaker": datasets.Value("string"),  # Actor_XX
        }

    def _find_examples(self, dl_manager):
        if self.config.data_dir:
            root = self.config.data_dir
        else:
            root = download(dl_manager, self.BASE_URL + ARCHIVES[self.config.vocal_channel] + "?download=1", extract=True)
        return read_ravdess(root, self.config.vocal_channel, self.config.on_bad_file)

    def _assign_folds(self, examples):
        k = self.config.num_folds
        actors = sorted({row["actor"] for row in examples})
        if len(actors) < k:
            raise ValueError(f"RAVDESS: `num_folds`={k} needs at least {k} actors, found {len(actors)} ({actors}); "
                             f"build with num_folds <= {len(actors)}")
        folds = actor_folds(actors, k)
        for row in examples:
            row["fold"] = folds[row["actor"]]
        return folds


__all__ = ["EMOTIONS", "EMOTIONS_BY_CHANNEL", "INTENSITIES", "MODALITIES", "STATEMENTS", "VOCAL_CHANNELS", "Ravdess",
           "RavdessConfig", "actor_folds", "actor_gender", "parse_file_name", "read_ravdess"]
