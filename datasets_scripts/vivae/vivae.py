"""VIVAE: the Variably Intense Vocalizations of Affect and Emotion corpus (Holz et al., 2020/2022)."""

import os
import re

import datasets

from ..audio_utils import (VoiceBuilder, VoiceConfig, check_data_dir, match_file_name, read_corpus_files)
from ..utils import download


logger = datasets.logging.get_logger(__name__)

_CITATION = """\
@dataset{holz2020vivae,
  title={{The Variably Intense Vocalizations of Affect and Emotion Corpus (VIVAE)}},
  author={Holz, Natalie and Larrouy-Maestri, Pauline and Poeppel, David},
  publisher={Zenodo}, year={2020}, doi={10.5281/zenodo.4066235}
}
@article{holz2022vivae,
  title={The Variably Intense Vocalizations of Affect and Emotion ({VIVAE}) corpus prompts new perspective on
         nonspeech perception},
  author={Holz, Natalie and Larrouy-Maestri, Pauline and Poeppel, David},
  journal={Emotion}, volume={22}, number={1}, pages={213--225}, year={2022}, doi={10.1037/emo0001048}
}
"""
_DESCRIPTION = """\
VIVAE (Holz, Larrouy-Maestri & Poeppel, 2022): non-speech vocalisations (screams, moans, laughs, gasps...) by eleven
speakers expressing three positive (achievement/triumph, sexual pleasure, surprise) and three negative (anger, fear,
physical pain) affective states, each from low to peak intensity (low, moderate, strong, peak). Full set: 1,085
files; core set: 480 files, a fully crossed subsample (6 emotions x 4 intensities x 10 speakers x 2 items) selected
for authenticity. 44.1 kHz, 16 bit.
"""
_HOMEPAGE = "https://zenodo.org/records/4066235"
_LICENSE = "CC BY-NC 4.0 (the Creative Commons non-commercial licence of the Zenodo record 4066235)"

EMOTIONS = ["achievement", "anger", "fear", "pain", "pleasure", "surprise"]
INTENSITIES = ["low", "moderate", "strong", "peak"]
SUBSETS = ("full_set", "core_set")
LABELS = ("emotion", "intensity")
FILE_NAME = re.compile(r"(S\d\d)_([A-Za-z]+)_([A-Za-z]+)_(\d+)\.wav", re.IGNORECASE)
LAYOUT = """\
  <data_dir>/full_set/<Emotion>/S01_achievement_low_01.wav ...   (the layout of VIVAE.zip; folder names in any case,
  <data_dir>/core_set/<Emotion>/...                                optionally inside one top folder such as VIVAE/)
  file names: <speaker S01-S11>_<emotion>_<intensity>_<item>.wav, emotion achievement, anger, fear, pain, pleasure or
  surprise; intensity low, moderate, strong or peak"""


def parse_file_name(path: str) -> dict:
    """Speaker, emotion, intensity and item of a VIVAE file name; `ValueError` naming the file and the convention."""
    match, fail = match_file_name(path, FILE_NAME, "VIVAE", LAYOUT, "<speaker>_<emotion>_<intensity>_<item>.wav")
    speaker, emotion, intensity, item = match.group(1).upper(), match.group(2).lower(), match.group(3).lower(), \
        int(match.group(4))
    if emotion not in EMOTIONS:
        fail(f"unknown emotion {emotion!r} (expected one of {EMOTIONS})")
    if intensity not in INTENSITIES:
        fail(f"unknown intensity {intensity!r} (expected one of {INTENSITIES})")
    folder = os.path.basename(os.path.dirname(path)).lower()
    if folder in EMOTIONS and folder != emotion:
        fail(f"emotion {emotion} in the file name but the file is in folder {os.path.basename(os.path.dirname(path))}")
    return {"speaker": speaker, "emotion": emotion, "intensity": intensity, "item": item}


def find_subset_folder(root: str, subset: str) -> str:
    """The folder of `subset` (`full_set` or `core_set`, any case) in `root`, one level below it, or `root` itself."""
    root = check_data_dir(root, LAYOUT)
    if os.path.basename(os.path.normpath(root)).lower() == subset:
        return root
    candidates = [root] + [os.path.join(root, d) for d in sorted(os.listdir(root))
                           if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")]
    for folder in candidates:
        for name in sorted(os.listdir(folder)):
            if name.lower() == subset and os.path.isdir(os.path.join(folder, name)):
                return os.path.join(folder, name)
    raise FileNotFoundError(f"no {subset!r} folder in {root!r} or its subfolders. Expected layout:\n{LAYOUT}")


def read_vivae(root: str, subset: str = "full_set", on_bad_file: str = "raise") -> list[dict]:
    """Rows of every readable file of `subset` under `root`: speaker, emotion, intensity, item, `file` (path
    relative to `root`) and `audio` (absolute path)."""
    folder = find_subset_folder(root, subset)
    return read_corpus_files(
        folder, root, "VIVAE", parse_file_name, key_of=lambda path, fields: os.path.basename(path).lower(),
        duplicate=lambda path, other, key: f"VIVAE: {path} and {other} are the same file of {subset}; keep one",
        layout=LAYOUT, on_bad_file=on_bad_file, checked_as=f"VIVAE {subset}")


class VivaeConfig(VoiceConfig):
    """
    Args:
        subset (`str`, *optional*, defaults to `"full_set"`): `"full_set"` (1,085 files) or `"core_set"` (480).
        label (`str`, *optional*, defaults to `"emotion"`): which annotation the `label` column holds, `"emotion"`
            (6 classes) or `"intensity"` (4 classes). Both are also columns of their own.
        num_folds (`int`, *optional*, defaults to 5): speaker-disjoint folds; on the full set's 11 speakers:
            train 7, validation 2 (S04, S09), test 2 (S05, S10).
        on_bad_file, sampling_rate: see `VoiceConfig`.
    """

    CHOICES = {"subset": SUBSETS, "label": LABELS}

    def __init__(self, subset="full_set", label="emotion", **kwargs):
        self.subset, self.label = subset, label
        super().__init__(**kwargs)


class Vivae(VoiceBuilder):
    """VIVAE non-speech vocalisations. Configs `emotion`, `intensity` (full set) and `core_set_emotion`,
    `core_set_intensity`. Downloads VIVAE.zip from Zenodo or reads `data_dir`. Speaker-disjoint splits."""

    CORPUS = "VIVAE"
    BUILDER_CONFIG_CLASS = VivaeConfig
    BUILDER_CONFIGS = [
        VivaeConfig(name="emotion", subset="full_set", label="emotion", description="Full set, 6 emotions"),
        VivaeConfig(name="intensity", subset="full_set", label="intensity", description="Full set, 4 intensities"),
        VivaeConfig(name="core_set_emotion", subset="core_set", label="emotion", description="Core set, 6 emotions"),
        VivaeConfig(name="core_set_intensity", subset="core_set", label="intensity",
                    description="Core set, 4 intensities"),
    ]
    DEFAULT_CONFIG_NAME = "emotion"
    URL = "https://zenodo.org/records/4066235/files/VIVAE.zip?download=1"
    SUPERVISED_KEYS = ("audio", "label")

    def _columns(self):
        """Columns besides `file` (e.g. `full_set/Achievement/S01_achievement_low_01.wav`), `audio` and `fold`."""
        return {
            "speaker": datasets.Value("string"),  # S01-S11
            "emotion": datasets.ClassLabel(names=EMOTIONS),
            "intensity": datasets.ClassLabel(names=INTENSITIES),
            "item": datasets.Value("int32"),
            "label": datasets.ClassLabel(names=EMOTIONS if self.config.label == "emotion" else INTENSITIES),
        }

    def _find_examples(self, dl_manager):
        root = self.config.data_dir or download(dl_manager, self.URL, extract=True)
        rows = read_vivae(root, self.config.subset, self.config.on_bad_file)
        for row in rows:
            row["label"] = row[self.config.label]
        return rows


__all__ = ["EMOTIONS", "INTENSITIES", "LABELS", "SUBSETS", "Vivae", "VivaeConfig", "find_subset_folder",
           "parse_file_name", "read_vivae"]
