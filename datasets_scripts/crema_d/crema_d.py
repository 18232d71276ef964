"""CREMA-D: the Crowd-sourced Emotional Multimodal Actors Dataset (Cao et al., 2014), audio."""

import csv
import os
import re

import datasets

from ..audio_utils import (VoiceBuilder, VoiceConfig, check_data_dir, match_file_name, read_corpus_files)


logger = datasets.logging.get_logger(__name__)

_CITATION = """\
@article{cao2014crema,
  title={{CREMA-D}: Crowd-sourced Emotional Multimodal Actors Dataset},
  author={Cao, Houwei and Cooper, David G. and Keutmann, Michael K. and Gur, Ruben C. and Nenkova, Ani and
          Verma, Ragini},
  journal={IEEE Transactions on Affective Computing}, volume={5}, number={4}, pages={377--390}, year={2014},
  doi={10.1109/TAFFC.2014.2336244}
}
"""
_DESCRIPTION = """\
CREMA-D (Cao et al., 2014): 7,442 clips of 91 actors (48 male, 43 female, aged 20 to 74, of several races and
ethnicities) saying 12 sentences in six emotions (anger, disgust, fear, happy, neutral, sad); the sentence "It's
eleven o'clock" at three intensity levels (low, medium, high), the others at an unspecified level. `AudioWAV/` holds
the audio of the videos as 16 kHz mono WAV files.
"""
_HOMEPAGE = "https://github.com/CheyneyComputerScience/CREMA-D"
_LICENSE = "Open Database License (ODbL 1.0); contents under the Database Contents License (DbCL 1.0)"

EMOTION_CODES = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
EMOTIONS = list(EMOTION_CODES.values())
LEVEL_CODES = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
INTENSITIES = list(LEVEL_CODES.values())
SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
ACTORS = range(1001, 1092)
DEMOGRAPHICS_FILE = "VideoDemographics.csv"
DEMOGRAPHICS_COLUMNS = ["ActorID", "Age", "Sex", "Race", "Ethnicity"]
FILE_NAME = re.compile(r"(\d{4})_([A-Za-z]{3})_([A-Za-z]{3})_([A-Za-z]{1,2})\.wav")
LAYOUT = """\
  <data_dir>/AudioWAV/1001_DFA_ANG_XX.wav ... 1091_WSI_SAD_XX.wav   (the repository's layout; or the wav files
  directly in <data_dir>)
  <data_dir>/VideoDemographics.csv   (optional: ActorID,Age,Sex,Race,Ethnicity, gives gender, age, race, ethnicity)
  file names: <actor 1001-1091>_<sentence>_<emotion>_<level>.wav, sentence IEO, TIE, IOM, IWW, TAI, MTI, IWL, ITH,
  DFA, ITS, TSI, WSI; emotion ANG, DIS, FEA, HAP, NEU, SAD; level LO, MD, HI or XX (unspecified)"""
MANUAL_DOWNLOAD_INSTRUCTIONS = """\
CREMA-D's audio is stored with Git LFS in https://github.com/CheyneyComputerScience/CREMA-D: a plain download or a
raw URL gives Git LFS pointer files (about 130 bytes of text), not audio, and the repository's LFS bandwidth quota
is often exhausted.
Get the real files with `git lfs install && git clone https://github.com/CheyneyComputerScience/CREMA-D.git`
(or `git lfs pull --include AudioWAV` in a clone), from the repository's GitHub releases, or from the mirror the
maintainers point to, https://gitlab.com/cs-cooper-lab/crema-d-mirror. Pass the repository folder (holding
`AudioWAV/` and `VideoDemographics.csv`) as `data_dir`. LFS pointers left in place are reported as such."""


def parse_file_name(path: str) -> dict:
    """Actor, sentence, emotion and level of a CREMA-D file name; `ValueError` naming the file and the convention.
    The level `X` is read as `XX`: older copies hold `1040_ITH_SAD_X.wav`, renamed upstream in 2022."""
    match, fail = match_file_name(path, FILE_NAME, "CREMA-D", LAYOUT, "<actor>_<sentence>_<emotion>_<level>.wav")
    actor, sentence, emotion, level = int(match.group(1)), *(g.upper() for g in match.groups()[1:])
    if actor not in ACTORS:
        fail(f"unknown actor {actor} (expected 1001-1091)")
    if sentence not in SENTENCES:
        fail(f"unknown sentence code {sentence!r} (expected one of {list(SENTENCES)})")
    if emotion not in EMOTION_CODES:
        fail(f"unknown emotion code {emotion!r} (expected one of {list(EMOTION_CODES)})")
    if level == "X":
        logger.info(f"{path}: level 'X' read as 'XX' (a misnamed file of older CREMA-D copies)")
        level = "XX"
    if level not in LEVEL_CODES:
        fail(f"unknown level code {level!r} (expected one of {list(LEVEL_CODES)})")
    return {"actor": actor, "speaker": str(actor), "sentence": sentence, "text": SENTENCES[sentence],
            "emotion": EMOTION_CODES[emotion], "intensity": LEVEL_CODES[level]}


def read_demographics(path: str) -> dict:
    """`{actor: {"gender", "age", "race", "ethnicity"}}` from the repository's `VideoDemographics.csv`."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in DEMOGRAPHICS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}; expected {DEMOGRAPHICS_COLUMNS}")
        table = {}
        for line, row in enumerate(reader, start=2):
            try:
                actor, age = int(row["ActorID"]), int(row["Age"])
            except ValueError:
                raise ValueError(f"{path}, line {line}: ActorID and Age must be integers, got {row}") from None
            sex = row["Sex"].strip().lower()
            if sex not in ("male", "female"):
                raise ValueError(f"{path}, line {line}: Sex {row['Sex']!r} is not Male or Female")
            table[actor] = {"gender": sex, "age": age, "race": row["Race"].strip(),
                            "ethnicity": row["Ethnicity"].strip()}
    return table


def read_crema_d(root: str, on_bad_file: str = "raise") -> list[dict]:
    """Rows of every readable CREMA-D clip under `root/AudioWAV/` (or `root`): the parsed file-name fields, the
    actor's demographics when `VideoDemographics.csv` is present (else `None`), `file` and `audio`."""
    root = check_data_dir(root, LAYOUT)
    audio_dir = os.path.join(root, "AudioWAV")
    scan = audio_dir if os.path.isdir(audio_dir) else root
    demographics_path = next((p for p in (os.path.join(root, DEMOGRAPHICS_FILE),
                                          os.path.join(os.path.dirname(os.path.abspath(root)), DEMOGRAPHICS_FILE))
                              if os.path.isfile(p)), None)
    demographics = read_demographics(demographics_path) if demographics_path else {}
    if not demographics_path:
        logger.warning(f"CREMA-D: no {DEMOGRAPHICS_FILE} in {root!r}: gender, age, race and ethnicity are left "
                       "empty and the folds are not balanced by gender")
    unknown = {"gender": None, "age": None, "race": None, "ethnicity": None}
    def actor_demographics(path, fields):
        if demographics and fields["actor"] not in demographics:
            raise ValueError(f"{path}: actor {fields['actor']} is not in {demographics_path}")
        return demographics.get(fields["actor"], unknown)

    return read_corpus_files(
        scan, root, "CREMA-D", parse_file_name,
        key_of=lambda path, fields: (fields["actor"], fields["sentence"], fields["emotion"], fields["intensity"]),
        duplicate=lambda path, other, key: f"CREMA-D: {path} and {other} are the same clip; keep one",
        layout=LAYOUT, on_bad_file=on_bad_file, what="clips", extra=actor_demographics)


class CremaD(VoiceBuilder):
    """CREMA-D audio (`AudioWAV/`), 6 emotions, 91 actors. Manual download (`data_dir`). Actor-disjoint splits:
    config `emotion` (`VoiceConfig`) has `num_folds=10`, balanced by gender when `VideoDemographics.csv` is present
    (about 73 / 9 / 9 actors in train / validation / test)."""

    CORPUS = "CREMA-D"
    BUILDER_CONFIG_CLASS = VoiceConfig
    BUILDER_CONFIGS = [VoiceConfig(name="emotion", num_folds=10, description="7,442 clips in 6 emotions by 91 actors")]
    DEFAULT_CONFIG_NAME = "emotion"
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

    def _columns(self):
        """Columns besides `file` (e.g. `AudioWAV/1001_DFA_ANG_XX.wav`), `audio` and `fold`."""
        return {
            "actor": datasets.Value("int32"),
            "speaker": datasets.Value("string"),  # the actor id as a string
            "sentence": datasets.ClassLabel(names=list(SENTENCES)),
            "text": datasets.Value("string"),
            "emotion": datasets.ClassLabel(names=EMOTIONS),
            "intensity": datasets.ClassLabel(names=INTENSITIES),
            "gender": datasets.Value("string"),  # the next four from VideoDemographics.csv, else None
            "age": datasets.Value("int32"),
            "race": datasets.Value("string"),
            "ethnicity": datasets.Value("string"),
        }

    def _find_examples(self, dl_manager):
        return read_crema_d(self._manual_data_dir(), self.config.on_bad_file)


__all__ = ["DEMOGRAPHICS_FILE", "EMOTIONS", "EMOTION_CODES", "INTENSITIES", "LEVEL_CODES", "MANUAL_DOWNLOAD_INSTRUCTIONS",
           "SENTENCES", "CremaD", "parse_file_name", "read_crema_d", "read_demographics"]
