"""SAVEE: the Surrey Audio-Visual Expressed Emotion database (Haq & Jackson, 2009), audio."""

import os
import re

import datasets

from ..audio_utils import (VoiceBuilder, VoiceConfig, check_data_dir, file_name_error, read_corpus_files)


logger = datasets.logging.get_logger(__name__)

_CITATION = """\
@inproceedings{haq2009savee,
  title={Speaker-dependent audio-visual emotion recognition},
  author={Haq, Sanaul and Jackson, Philip J. B.},
  booktitle={Proc. Int. Conf. on Auditory-Visual Speech Processing (AVSP'09)}, pages={53--58}, year={2009}
}
"""
_DESCRIPTION = """\
SAVEE (Haq & Jackson, 2009): four native English male speakers (DC, JE, JK, KL; postgraduate students and
researchers at the University of Surrey) reading phonetically balanced TIMIT sentences in seven emotions: anger,
disgust, fear, happiness, neutral, sadness and surprise. 480 utterances: per speaker 30 neutral and 15 of each other
emotion. 16-bit WAV at 44.1 kHz.
"""
_HOMEPAGE = "http://kahlan.eps.surrey.ac.uk/savee/"
_LICENSE = "Free for research use after registration with the University of Surrey (see the homepage)"

SPEAKERS = ("DC", "JE", "JK", "KL")
EMOTION_CODES = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness",
                 "su": "surprise"}
EMOTIONS = list(EMOTION_CODES.values())
PREFIXED_NAME = re.compile(r"([A-Za-z]{2})_([A-Za-z]{1,2})(\d\d)\.wav")  # ALL/DC_a01.wav
PLAIN_NAME = re.compile(r"([A-Za-z]{1,2})(\d\d)\.wav")  # AudioData/DC/a01.wav
LAYOUT = """\
  <data_dir>/AudioData/DC/a01.wav ... AudioData/KL/su15.wav   (the official AudioData zip: one folder per speaker)
  or <data_dir>/ALL/DC_a01.wav ...                            (the flat variant: speaker prefix in the name)
  speakers DC, JE, JK, KL; emotion codes a (anger), d (disgust), f (fear), h (happiness), n (neutral),
  sa (sadness), su (surprise), then a two-digit item number (n01-n30, others 01-15)"""
MANUAL_DOWNLOAD_INSTRUCTIONS = """\
SAVEE is distributed by the University of Surrey after registration: http://kahlan.eps.surrey.ac.uk/savee/ (Download
page, fill in the form; the audio is the `AudioData` zip). Unzip it and pass the folder holding `AudioData/` (or
`AudioData/` itself) as `data_dir`. Copies with all files in one folder named `DC_a01.wav` (e.g. `ALL/`) work too."""


def parse_file_name(path: str) -> dict:
    """Speaker, emotion and item of a SAVEE file (speaker from the `DC_` prefix or the `DC/` folder)."""
    name, folder = os.path.basename(path), os.path.basename(os.path.dirname(path)).upper()
    fail = file_name_error(path, "SAVEE", LAYOUT)
    prefixed, plain = PREFIXED_NAME.fullmatch(name), PLAIN_NAME.fullmatch(name)
    if prefixed:
        speaker, code, item = prefixed.group(1).upper(), prefixed.group(2).lower(), int(prefixed.group(3))
        if speaker not in SPEAKERS:
            fail(f"unknown speaker {speaker!r} (expected one of {list(SPEAKERS)})")
        if folder in SPEAKERS and folder != speaker:
            fail(f"speaker {speaker} in the file name but the file is in folder {folder}")
    elif plain:
        if folder not in SPEAKERS:
            fail(f"a file named like `a01.wav` must be in a speaker folder {list(SPEAKERS)}, not in {folder!r}")
        speaker, code, item = folder, plain.group(1).lower(), int(plain.group(2))
    else:
        fail("not a SAVEE file name (`a01.wav` in a speaker folder, or `DC_a01.wav`)")
    if code not in EMOTION_CODES:
        fail(f"unknown emotion code {code!r} (expected one of {list(EMOTION_CODES)})")
    if item < 1:
        fail("item numbers start at 01")
    return {"speaker": speaker, "gender": "male", "emotion": EMOTION_CODES[code], "item": item}


def read_savee(root: str, on_bad_file: str = "raise") -> list[dict]:
    """Rows of every readable SAVEE file under `root` (any depth): speaker, gender, emotion, item, `file` (path
    relative to `root`) and `audio` (absolute path). A (speaker, code, item) present twice is an error."""
    root = check_data_dir(root, LAYOUT)
    return read_corpus_files(
        root, root, "SAVEE", parse_file_name,
        key_of=lambda path, fields: (fields["speaker"], fields["emotion"], fields["item"]),
        duplicate=lambda path, other, key: (f"SAVEE: {path} and {other} are the same utterance ({key[0]} {key[1]} "
                                            f"{key[2]:02d}); keep one copy (e.g. AudioData/ or ALL/, not both)"),
        layout=LAYOUT, on_bad_file=on_bad_file)


class Savee(VoiceBuilder):
    """SAVEE audio, 7 emotions, 4 male speakers. Manual download (`data_dir`). Speaker-disjoint splits: config
    `emotion` (`VoiceConfig`) has `num_folds=4`, one speaker each: train DC and JE, validation JK, test KL."""

    CORPUS = "SAVEE"
    BUILDER_CONFIG_CLASS = VoiceConfig
    BUILDER_CONFIGS = [VoiceConfig(name="emotion", num_folds=4,
                                   description="480 utterances in 7 emotions by 4 male speakers")]
    DEFAULT_CONFIG_NAME = "emotion"
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

    def _columns(self):
        return {
            "speaker": datasets.Value("string"),  # DC, JE, JK or KL
            "gender": datasets.Value("string"),
            "emotion": datasets.ClassLabel(names=EMOTIONS),
            "item": datasets.Value("int32"),  # the two-digit number after the emotion code
        }

    def _find_examples(self, dl_manager):
        return read_savee(self._manual_data_dir(), self.config.on_bad_file)


__all__ = ["EMOTIONS", "EMOTION_CODES", "MANUAL_DOWNLOAD_INSTRUCTIONS", "SPEAKERS", "Savee", "parse_file_name",
           "read_savee"]
