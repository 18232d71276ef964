"""TESS: the Toronto Emotional Speech Set (Dupuis & Pichora-Fuller, 2010)."""

import re

import datasets

from ..audio_utils import (VoiceBuilder, VoiceConfig, check_data_dir, match_file_name, read_corpus_files,
                           speaker_folds, split_of_fold)


logger = datasets.logging.get_logger(__name__)

_CITATION = """\
@data{dupuis2010tess,
  title={{Toronto emotional speech set (TESS)}},
  author={Dupuis, Kate and Pichora-Fuller, M. Kathleen},
  publisher={Borealis}, year={2010}, doi={10.5683/SP2/E8H2MF}
}
"""
_DESCRIPTION = """\
TESS (Dupuis & Pichora-Fuller, 2010): 200 target words spoken in the carrier phrase "Say the word ___" by two
actresses from the Toronto area, aged 26 (YAF) and 64 (OAF), each word in seven emotions: anger, disgust, fear,
happiness, pleasant surprise, sadness and neutral. 2,800 WAV files at 24,414 Hz.
"""
_HOMEPAGE = "https://doi.org/10.5683/SP2/E8H2MF"
_LICENSE = "As stated on the Borealis (Scholars Portal Dataverse) record doi:10.5683/SP2/E8H2MF (non-commercial use)"

SPEAKERS = {"OAF": {"gender": "female", "age": 64}, "YAF": {"gender": "female", "age": 26}}
EMOTION_CODES = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
                 "ps": "pleasant_surprise", "sad": "sad"}
EMOTIONS = list(EMOTION_CODES.values())
SPLIT_BY = ("speaker", "word")
FILE_NAME = re.compile(r"([A-Za-z]+)_(.+)_([A-Za-z]+)\.wav", re.IGNORECASE)
LAYOUT = """\
  <data_dir>/OAF_angry/OAF_back_angry.wav ... <data_dir>/YAF_sad/YAF_youth_sad.wav   (any folders, or none: files
  are found at any depth, e.g. the flat Borealis listing or the zip's per-speaker-and-emotion folders)
  file names: <speaker>_<word>_<emotion>.wav, speaker OAF (older) or YAF (younger), emotion angry, disgust, fear,
  happy, neutral, ps (pleasant surprise) or sad"""
MANUAL_DOWNLOAD_INSTRUCTIONS = """\
TESS is distributed by the University of Toronto on Borealis (formerly Scholars Portal Dataverse, earlier TSpace
handle 1807/24487) as 2,800 individual WAV files: https://doi.org/10.5683/SP2/E8H2MF ("Access Dataset" > "Download",
ZIP). Unzip it anywhere and pass that folder as `data_dir`. The builder finds the `<speaker>_<word>_<emotion>.wav`
files at any depth, so the flat listing and copies with per-speaker-and-emotion folders (`OAF_angry/`, ...) both work."""


def parse_file_name(path: str) -> dict:
    """Speaker, word and emotion of a TESS file name; `ValueError` naming the file and the convention."""
    match, fail = match_file_name(path, FILE_NAME, "TESS", LAYOUT, "<speaker>_<word>_<emotion>.wav")
    speaker, word, code = match.group(1).upper(), match.group(2).lower(), match.group(3).lower()
    if speaker not in SPEAKERS:
        fail(f"unknown speaker {speaker!r} (expected one of {sorted(SPEAKERS)})")
    if code not in EMOTION_CODES:
        fail(f"unknown emotion code {code!r} (expected one of {sorted(EMOTION_CODES)})")
    return {"speaker": speaker, "word": word, "emotion": EMOTION_CODES[code], **SPEAKERS[speaker]}


def read_tess(root: str, on_bad_file: str = "raise") -> list[dict]:
    """Rows of every readable TESS file under `root` (any depth): speaker, gender, age, word, emotion, `file` (path
    relative to `root`) and `audio` (absolute path). A (speaker, word, emotion) present twice is an error."""
    root = check_data_dir(root, LAYOUT)
    return read_corpus_files(
        root, root, "TESS", parse_file_name,
        key_of=lambda path, fields: (fields["speaker"], fields["word"], fields["emotion"]),
        duplicate=lambda path, other, key: f"TESS: {path} and {other} are the same recording ({'/'.join(key)}); keep one",
        layout=LAYOUT, on_bad_file=on_bad_file)


class TessConfig(VoiceConfig):
    """
    Args:
        split_by (`str`, *optional*, defaults to `"speaker"`): TESS has two speakers only. `"speaker"`: the test
            split is every file of `test_speaker`; the other speaker's files are split into train and validation by
            word (validation: the words of the last word fold). `"word"`: train / validation / test are word-disjoint
            (folds K-1 and K-2 as for the other builders) and hold both speakers.
        test_speaker (`str`, *optional*, defaults to `"YAF"`): with `split_by="speaker"`, `"OAF"` or `"YAF"`.
        num_folds (`int`, *optional*, defaults to 10): word-disjoint folds (`fold` column): every recording of a
            word, by both speakers and in all emotions, is in the same fold.
        on_bad_file, sampling_rate: see `VoiceConfig`.
    """

    DEFAULT_NUM_FOLDS = 10
    CHOICES = {"split_by": SPLIT_BY, "test_speaker": sorted(SPEAKERS)}

    def __init__(self, split_by="speaker", test_speaker="YAF", **kwargs):
        self.split_by, self.test_speaker = split_by, test_speaker
        super().__init__(**kwargs)


class Tess(VoiceBuilder):
    """TESS, 7 emotions. Manual download (`data_dir`). Default splits: test = the younger speaker (YAF), train and
    validation = the older speaker's words (word-disjoint); `split_by="word"` for word-disjoint splits of both."""

    CORPUS = "TESS"
    BUILDER_CONFIG_CLASS = TessConfig
    BUILDER_CONFIGS = [TessConfig(name="emotion", description="2,800 words in 7 emotions by 2 speakers")]
    DEFAULT_CONFIG_NAME = "emotion"
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

    def _columns(self):
        return {
            "speaker": datasets.Value("string"),  # OAF (older adult female) or YAF (younger adult female)
            "gender": datasets.Value("string"),
            "age": datasets.Value("int32"),  # at recording: OAF 64, YAF 26
            "word": datasets.Value("string"),  # the target word of "Say the word ___"
            "emotion": datasets.ClassLabel(names=EMOTIONS),
        }

    def _find_examples(self, dl_manager):
        return read_tess(self._manual_data_dir(), self.config.on_bad_file)

    def _assign_folds(self, examples):
        words = sorted({row["word"] for row in examples})
        k = self.config.num_folds
        if len(words) < k:
            raise ValueError(f"TESS: `num_folds`={k} needs at least {k} words, found {len(words)}")
        folds = speaker_folds(words, k)
        for row in examples:
            row["fold"] = folds[row["word"]]
        if self.config.split_by == "speaker" and {row["speaker"] for row in examples} != set(SPEAKERS):
            found = sorted({row["speaker"] for row in examples})
            raise ValueError(f"TESS: split_by='speaker' needs both speakers OAF and YAF, found {found}; "
                             "use split_by='word'")
        return folds

    def _split_of(self, row):
        k = self.config.num_folds
        if self.config.split_by == "word":
            return split_of_fold(row["fold"], k)
        if row["speaker"] == self.config.test_speaker:
            return datasets.Split.TEST
        return datasets.Split.VALIDATION if row["fold"] == k - 1 else datasets.Split.TRAIN


__all__ = ["EMOTIONS", "EMOTION_CODES", "MANUAL_DOWNLOAD_INSTRUCTIONS", "SPEAKERS", "Tess", "TessConfig",
           "parse_file_name", "read_tess"]
