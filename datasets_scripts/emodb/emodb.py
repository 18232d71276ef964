"""EmoDB: the Berlin Database of Emotional Speech (Burkhardt et al., 2005), German acted speech in 7 emotions."""

import os
import re

import datasets

from ..audio_utils import (VoiceBuilder, VoiceConfig, check_data_dir, match_file_name, read_corpus_files)
from ..utils import download


logger = datasets.logging.get_logger(__name__)

_CITATION = """\
@inproceedings{burkhardt2005database,
  title={A database of {German} emotional speech},
  author={Burkhardt, Felix and Paeschke, Astrid and Rolfes, Miriam and Sendlmeier, Walter F. and Weiss, Benjamin},
  booktitle={Proc. Interspeech 2005}, address={Lisbon, Portugal}, pages={1517--1520}, year={2005},
  doi={10.21437/Interspeech.2005-446}
}
"""
_DESCRIPTION = """\
EmoDB (Burkhardt et al., 2005): ten professional German actors (5 female, 5 male) speaking ten everyday German
sentences (5 short, 5 long) in seven emotions: anger, boredom, disgust, fear, happiness, sadness and neutral, recorded
in an anechoic chamber at TU Berlin. The 535 utterances recognised by at least 80% and judged natural by more than 60%
of 20 listeners; 16 kHz mono WAV. Labels are the acted emotions decoded from the file names.
"""
_HOMEPAGE = "http://emodb.bilderbar.info/docu/"
_LICENSE = ("Free for research use from the authors' site (no licence file ships with it); cite Burkhardt et al. "
            "(2005)")
DOWNLOAD_URL = "http://emodb.bilderbar.info/download/download.zip"

# Position 6 of a file name: the German emotion word's letter -> (English name, German name)
EMOTION_CODES = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness",
                 "N": "neutral"}
GERMAN_NAMES = {"W": "Ärger (Wut)", "L": "Langeweile", "E": "Ekel", "A": "Angst", "F": "Freude", "T": "Trauer",
                "N": "neutral"}
EMOTIONS = list(EMOTION_CODES.values())
# From the database documentation (http://emodb.bilderbar.info/docu/, "Information about the speakers")
SPEAKERS = {"03": ("male", 31), "08": ("female", 34), "09": ("female", 21), "10": ("male", 32), "11": ("male", 26),
            "12": ("male", 30), "13": ("female", 32), "14": ("female", 35), "15": ("male", 25), "16": ("female", 31)}
TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
FILE_NAME = re.compile(r"(\d\d)([a-z]\d\d)([A-Za-z])([a-z])\.wav", re.IGNORECASE)
LAYOUT = """\
  <data_dir>/wav/03a01Fa.wav ... <data_dir>/wav/16b10Wb.wav   (the official download.zip; `data_dir` may also be the
  wav/ folder itself, and other folders of the zip, lablaut/ labsilb/ silb/, are ignored)
  file names: speaker (2 digits: 03 08 09 10 11 12 13 14 15 16), text (a01 a02 a04 a05 a07 b01 b02 b03 b09 b10),
  emotion letter W (Wut/Ärger: anger), L (Langeweile: boredom), E (Ekel: disgust), A (Angst: fear),
  F (Freude: happiness), T (Trauer: sadness), N (neutral), version letter (a, b, c, ...)"""
MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
EmoDB is distributed by its authors at http://emodb.bilderbar.info/ ("Download": {DOWNLOAD_URL}). Without `data_dir`
the builder downloads that zip itself; if the site is unreachable, get the zip (or a copy of its `wav/` folder)
elsewhere, unzip it, and pass the folder holding `wav/` as `data_dir`. Expected layout:
{LAYOUT}"""


def parse_file_name(path: str) -> dict:
    """Speaker, gender, age, text, emotion and version of an EmoDB file name; `ValueError` naming the file."""
    match, fail = match_file_name(path, FILE_NAME, "EmoDB", LAYOUT,
                                  "speaker 2 digits, text code like a01, emotion letter, version letter, .wav")
    speaker, text_id, letter, version = match.group(1), match.group(2).lower(), match.group(3), match.group(4).lower()
    if speaker not in SPEAKERS:
        fail(f"unknown speaker {speaker!r} (expected one of {sorted(SPEAKERS)})")
    if text_id not in TEXTS:
        fail(f"unknown text code {text_id!r} (expected one of {sorted(TEXTS)})")
    if letter not in EMOTION_CODES:
        codes = ", ".join(f"{code} ({EMOTION_CODES[code]})" for code in EMOTION_CODES)
        fail(f"unknown emotion letter {letter!r} (expected one of {codes}; upper case)")
    gender, age = SPEAKERS[speaker]
    return {"speaker": speaker, "gender": gender, "age": age, "text_id": text_id, "text": TEXTS[text_id],
            "emotion": EMOTION_CODES[letter], "version": version}


def read_emodb(root: str, on_bad_file: str = "raise") -> list[dict]:
    """Rows of every readable EmoDB file in `root/wav/` (or in `root` itself when it has no `wav/` folder, at any
    depth): the parsed file-name fields plus `file` (path relative to `root`) and `audio` (absolute path)."""
    root = check_data_dir(root, LAYOUT)
    folder = os.path.join(root, "wav") if os.path.isdir(os.path.join(root, "wav")) else root
    return read_corpus_files(
        folder, root, "EmoDB", parse_file_name, key_of=lambda path, fields: os.path.basename(path),
        duplicate=lambda path, other, key: f"EmoDB: {path} and {other} are the same recording ({key}); keep one copy",
        layout=LAYOUT, on_bad_file=on_bad_file)


class EmoDB(VoiceBuilder):
    """EmoDB, 7 emotions, 10 speakers. Reads a local copy (`data_dir`, holding `wav/`) or downloads the official
    zip. Splits: speaker-disjoint, from the `fold` column; config `emotion` (`VoiceConfig`) has `num_folds=5`,
    balanced by gender (`speaker_folds`): on the 10 speakers, 5 folds of one woman and one man: train 6 speakers,
    validation 2 (14, 12), test 2 (16, 15). `num_folds=10` gives one speaker per fold; for leave-one-speaker-out,
    group by the `speaker` column."""

    CORPUS = "EmoDB"
    BUILDER_CONFIG_CLASS = VoiceConfig
    BUILDER_CONFIGS = [VoiceConfig(name="emotion", num_folds=5,
                                   description="535 German utterances in 7 emotions by 10 speakers")]
    DEFAULT_CONFIG_NAME = "emotion"
    DOWNLOAD_URL = DOWNLOAD_URL
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    SUPERVISED_KEYS = ("audio", "emotion")

    def _columns(self):
        """Columns besides `file` (e.g. `wav/03a01Fa.wav`), `audio` and `fold`."""
        return {
            "speaker": datasets.Value("string"),  # two digits, 03 .. 16
            "gender": datasets.Value("string"),
            "age": datasets.Value("int32"),  # at recording, from the database documentation
            "text_id": datasets.Value("string"),  # a01 .. b10
            "text": datasets.Value("string"),  # the German sentence of text_id
            "emotion": datasets.ClassLabel(names=EMOTIONS),  # English names of the German letters W L E A F T N
            "version": datasets.Value("string"),  # the last letter: a, b, c ... (takes of the same sentence)
        }

    def _find_examples(self, dl_manager):
        root = self.config.data_dir or download(dl_manager, self.DOWNLOAD_URL, extract=True,
                                                hint="pass --data_dir DIR with a local copy holding wav/ (see "
                                                     "EmoDB(...).manual_download_instructions)")
        return read_emodb(root, self.config.on_bad_file)


__all__ = ["DOWNLOAD_URL", "EMOTIONS", "EMOTION_CODES", "EmoDB", "GERMAN_NAMES",
           "MANUAL_DOWNLOAD_INSTRUCTIONS", "SPEAKERS", "TEXTS", "parse_file_name", "read_emodb"]
