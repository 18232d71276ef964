"""Acted speech from RAVDESS, TESS, SAVEE, CREMA-D (English) and EmoDB (German) merged on the emotions they share."""

import collections
import os

import datasets

from ..audio_utils import VoiceBuilder, VoiceConfig, deal_folds
from ..crema_d import crema_d
from ..crema_d.crema_d import EMOTIONS as CREMA_D_EMOTIONS
from ..crema_d.crema_d import MANUAL_DOWNLOAD_INSTRUCTIONS as CREMA_D_INSTRUCTIONS
from ..crema_d.crema_d import read_crema_d
from ..emodb.emodb import EMOTIONS as EMODB_EMOTIONS
from ..emodb import emodb
from ..emodb.emodb import EmoDB, read_emodb
from ..ravdess import ravdess
from ..ravdess.ravdess import ARCHIVES as RAVDESS_ARCHIVES
from ..ravdess.ravdess import EMOTIONS as RAVDESS_EMOTIONS
from ..ravdess.ravdess import Ravdess, read_ravdess
from ..savee import savee
from ..savee.savee import EMOTIONS as SAVEE_EMOTIONS
from ..savee.savee import MANUAL_DOWNLOAD_INSTRUCTIONS as SAVEE_INSTRUCTIONS
from ..savee.savee import read_savee
from ..tess import tess
from ..tess.tess import EMOTIONS as TESS_EMOTIONS
from ..tess.tess import MANUAL_DOWNLOAD_INSTRUCTIONS as TESS_INSTRUCTIONS
from ..tess.tess import read_tess
from ..utils import download


logger = datasets.logging.get_logger(__name__)

_DESCRIPTION = """\
Acted emotional speech merged from RAVDESS (speech), TESS, SAVEE and CREMA-D (English) and, on request, EmoDB
(German), with every corpus's labels mapped through one table onto shared names (anger, disgust, fear, happiness,
neutral, sadness, surprise) and the label set restricted to the emotions every chosen corpus has: with the four
English corpora (and with EmoDB too), anger, disgust, fear, happiness, neutral and sadness; without CREMA-D and
EmoDB also surprise. RAVDESS calm and EmoDB boredom are left out by default. The corpus of every clip is in the
`source` column and speakers are prefixed by their corpus; splits are speaker-disjoint. Audio is decoded at one rate,
16 kHz by default, from the corpora's 48, 24.4, 44.1 and 16 kHz files.
"""
_CORPUS_MODULES = {"RAVDESS": ravdess, "TESS": tess, "SAVEE": savee, "CREMA-D": crema_d, "EmoDB": emodb}
# The merged corpus's citation and licence are its corpora's, taken from their builders.
_CITATION = "".join(module._CITATION for module in _CORPUS_MODULES.values())
_LICENSE = "The licences of the merged corpora apply: " + "; ".join(
    f"{name}: {module._LICENSE.rstrip('.')}" for name, module in _CORPUS_MODULES.items())

ENGLISH_CORPORA = ("ravdess", "tess", "savee", "crema_d")
CORPORA = ENGLISH_CORPORA + ("emodb",)
CORPUS_LABELS = {"ravdess": RAVDESS_EMOTIONS, "tess": TESS_EMOTIONS, "savee": SAVEE_EMOTIONS,
                 "crema_d": CREMA_D_EMOTIONS, "emodb": EMODB_EMOTIONS}
SHARED_LABELS = ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
# The one mapping table: every spelling of an emotion in the five corpora (label names and file-name codes, lower
# case) -> its shared name, or None for a label that has no counterpart in any other corpus and is always left out:
# EmoDB's "boredom" (Langeweile; low arousal, negative valence: neither neutral nor sadness). RAVDESS's "calm" has no
# counterpart either: `calm="drop"` (default) leaves it out, `calm="neutral"` folds it into neutral.
LABEL_MAP = {
    "angry": "anger", "anger": "anger", "ang": "anger", "a": "anger",
    "disgust": "disgust", "dis": "disgust", "d": "disgust",
    "fearful": "fear", "fear": "fear", "fea": "fear", "f": "fear",
    "happy": "happiness", "happiness": "happiness", "joy": "happiness", "hap": "happiness", "h": "happiness",
    "neutral": "neutral", "neu": "neutral", "n": "neutral",
    "sad": "sadness", "sadness": "sadness", "sa": "sadness",
    "surprised": "surprise", "surprise": "surprise", "pleasant_surprise": "surprise", "pleasant surprise": "surprise",
    "ps": "surprise", "su": "surprise",
    "boredom": None,
}
CALM = ("drop", "neutral")
_INSTRUCTIONS = {"tess": TESS_INSTRUCTIONS, "savee": SAVEE_INSTRUCTIONS, "crema_d": CREMA_D_INSTRUCTIONS}
LAYOUT = """\
  <data_dir>/ravdess/Actor_01/03-01-...wav   (see datasets_scripts/ravdess; downloaded from Zenodo if absent)
  <data_dir>/tess/...                        (see datasets_scripts/tess)
  <data_dir>/savee/AudioData/DC/a01.wav ...  (see datasets_scripts/savee)
  <data_dir>/crema_d/AudioWAV/...            (see datasets_scripts/crema_d)
  <data_dir>/emodb/wav/03a01Fa.wav ...       (see datasets_scripts/emodb; downloaded from its site if absent)
  or any folders given one by one with data_dirs={"tess": ..., ...}"""


def shared_label(corpus: str, label: str, calm: str = "drop"):
    """The shared name of `corpus`'s label `label` through `LABEL_MAP` (`None`: left out, i.e. EmoDB boredom, and
    RAVDESS calm with `calm="drop"`)."""
    key = label.lower()
    if key == "calm":
        return "neutral" if calm == "neutral" else None
    if key not in LABEL_MAP:
        raise ValueError(f"{corpus}: label {label!r} is not in the speech_emotion mapping table {sorted(LABEL_MAP)}")
    return LABEL_MAP[key]


def corpus_shared_labels(corpus: str, calm: str = "drop") -> set:
    return {name for label in CORPUS_LABELS[corpus] if (name := shared_label(corpus, label, calm)) is not None}


def default_labels(corpora, calm="drop") -> list:
    """The shared names every corpus of `corpora` has, in `SHARED_LABELS` order."""
    common = set.intersection(*(corpus_shared_labels(corpus, calm) for corpus in corpora))
    return [name for name in SHARED_LABELS if name in common]


class SpeechEmotionConfig(VoiceConfig):
    """
    Args:
        corpora (`list[str]`, *optional*, defaults to the four English corpora): any of `ravdess`, `tess`, `savee`,
            `crema_d`, `emodb`.
        data_dirs (`dict`, *optional*): `{corpus: folder}` for corpora not under `data_dir/<corpus>/`. RAVDESS
            (Zenodo) and EmoDB (its authors' site) are downloaded when they have neither; the other corpora must be
            downloaded by hand.
        labels (`list[str]`, *optional*): the shared names to keep, in `SHARED_LABELS` order; by default those every
            chosen corpus has. Files with other labels are left out and counted in the log.
        calm (`str`, *optional*, defaults to `"drop"`): RAVDESS calm is left out (`"drop"`) or counted as neutral
            (`"neutral"`). EmoDB boredom is always left out (`LABEL_MAP`).
        num_folds (`int`, *optional*, defaults to 5): speaker-disjoint folds; each corpus is dealt separately,
            balanced by gender, starting at the test fold (see `_assign_folds`).
        sampling_rate (`int`, *optional*, defaults to 16000): the corpora are 48, 24.414, 44.1 and 16 kHz; decoding
            resamples every file to this rate (EmoDB: 16 kHz). To keep each file's own rate (mixed rates in one column), cast the
            built dataset: `ds.cast_column("audio", datasets.Audio())` (`datasets` ignores a `None` keyword here).
        on_bad_file: see `VoiceConfig`.
    """

    def __init__(self, corpora=ENGLISH_CORPORA, data_dirs=None, labels=None, calm="drop", num_folds=5, sampling_rate=16000,
                 **kwargs):
        self.corpora = corpora
        self.data_dirs = data_dirs
        self.labels = labels
        self.calm = calm
        super().__init__(num_folds=num_folds, sampling_rate=sampling_rate, **kwargs)

    def validate(self):
        super().validate()
        corpora = self.corpora
        if isinstance(corpora, str) or not corpora or any(c not in CORPORA for c in corpora) \
                or len(set(corpora)) != len(corpora):
            raise ValueError(f"`corpora` must be a list of distinct names among {CORPORA}, got {corpora!r}")
        if self.calm not in CALM:
            raise ValueError(f"`calm` must be one of {CALM}, got {self.calm!r}")
        if self.data_dirs is not None and (not isinstance(self.data_dirs, dict)
                                           or any(c not in self.corpora for c in self.data_dirs)):
            raise ValueError(f"`data_dirs` must be a dict keyed by the chosen corpora {list(self.corpora)}, "
                             f"got {self.data_dirs!r}")
        if self.labels is not None:
            union = set.union(*(corpus_shared_labels(c, self.calm) for c in self.corpora))
            if isinstance(self.labels, str) or len(set(self.labels)) < 2 or any(l not in union for l in self.labels):
                raise ValueError(f"`labels` must be at least two distinct names among {sorted(union)} (the labels "
                                 f"of {list(self.corpora)}), got {self.labels!r}")
        elif len(default_labels(self.corpora, self.calm)) < 2:
            raise ValueError(f"the corpora {list(self.corpora)} share fewer than two labels")

    @property
    def label_names(self):
        if self.labels is None:
            return default_labels(self.corpora, self.calm)
        return [name for name in SHARED_LABELS if name in self.labels]


class SpeechEmotion(VoiceBuilder):
    """RAVDESS speech + TESS + SAVEE + CREMA-D on shared labels (config `all`), with EmoDB (`all_with_emodb`), or any
    subset of them (`corpora=`).
    Columns: audio, source corpus, corpus-prefixed speaker, gender, the corpus's own label and the shared `emotion`."""

    CORPUS = "speech_emotion"
    BUILDER_CONFIG_CLASS = SpeechEmotionConfig
    BUILDER_CONFIGS = [
        SpeechEmotionConfig(name="all", corpora=ENGLISH_CORPORA,
                            description="The four English corpora on their 6 shared emotions (no surprise: CREMA-D "
                                        "lacks it)"),
        SpeechEmotionConfig(name="all_with_emodb", corpora=CORPORA,
                            description="The four English corpora and the German EmoDB on the same 6 emotions (EmoDB "
                                        "boredom left out)"),
        SpeechEmotionConfig(name="ravdess_tess_savee", corpora=("ravdess", "tess", "savee"),
                            description="RAVDESS, TESS and SAVEE on their 7 shared emotions (with surprise)"),
    ]
    DEFAULT_CONFIG_NAME = "all"
    SUPERVISED_KEYS = ("audio", "emotion")

    @property
    def manual_download_instructions(self):
        return "\n\n".join(f"[{c}] {_INSTRUCTIONS[c]}" for c in self.config.corpora if c in _INSTRUCTIONS) or None

    def _columns(self):
        """Columns besides `file` (e.g. `<corpus>/<path in the corpus folder>`), `audio` and `fold`."""
        return {
            "source": datasets.ClassLabel(names=list(self.config.corpora)),
            "speaker": datasets.Value("string"),  # <corpus>_<speaker>, e.g. ravdess_Actor_01, crema_d_1001, emodb_03
            "gender": datasets.Value("string"),
            "source_emotion": datasets.Value("string"),  # the corpus's own label name, e.g. pleasant_surprise
            "emotion": datasets.ClassLabel(names=self.config.label_names),
        }

    def _corpus_dir(self, corpus, dl_manager):
        given = (self.config.data_dirs or {}).get(corpus)
        if given:
            return given
        if self.config.data_dir and os.path.isdir(os.path.join(self.config.data_dir, corpus)):
            return os.path.join(self.config.data_dir, corpus)
        if corpus == "ravdess":
            return download(dl_manager, Ravdess.BASE_URL + RAVDESS_ARCHIVES["speech"] + "?download=1", extract=True,
                            hint="pass data_dirs={'ravdess': DIR} (or <data_dir>/ravdess) with a local copy")
        if corpus == "emodb":
            return download(dl_manager, EmoDB.DOWNLOAD_URL, extract=True,
                            hint="pass data_dirs={'emodb': DIR} (or <data_dir>/emodb) with a local copy holding wav/")
        raise FileNotFoundError(f"speech_emotion: no folder for {corpus} (looked for data_dirs[{corpus!r}] and "
                                f"<data_dir>/{corpus}). Expected layout:\n{LAYOUT}\n{_INSTRUCTIONS[corpus]}")

    def _read(self, corpus, root):
        on_bad_file = self.config.on_bad_file
        if corpus == "ravdess":
            return read_ravdess(root, "speech", on_bad_file)
        return {"tess": read_tess, "savee": read_savee, "crema_d": read_crema_d, "emodb": read_emodb}[corpus](
            root, on_bad_file)

    def _find_examples(self, dl_manager):
        keep = set(self.config.label_names)
        rows = []
        for corpus in self.config.corpora:
            root = self._corpus_dir(corpus, dl_manager)
            found = self._read(corpus, root)
            dropped = collections.Counter()
            for row in found:
                name = shared_label(corpus, row["emotion"], self.config.calm)
                if name not in keep:
                    dropped[row["emotion"]] += 1
                    continue
                rows.append({"file": f"{corpus}/{row['file']}", "audio": row["audio"], "source": corpus,
                             "speaker": f"{corpus}_{row['speaker']}", "gender": row.get("gender"),
                             "source_emotion": row["emotion"], "emotion": name})
            kept = len(found) - sum(dropped.values())
            logger.info(f"speech_emotion: {corpus}: kept {kept} of {len(found)} files from {root}"
                        + (f"; left out (label not in {sorted(keep)}): {dict(dropped)}" if dropped else ""))
            if kept == 0:
                raise ValueError(f"speech_emotion: none of the {len(found)} {corpus} files in {root} has one of the "
                                 f"labels {sorted(keep)}")
        missing = keep - {row["emotion"] for row in rows}
        if missing:
            logger.warning(f"speech_emotion: no file has the label(s) {sorted(missing)}")
        return rows

    def _assign_folds(self, examples):
        """Each corpus is dealt on its own (`deal_folds`, gender strata) starting at the test fold, then folds 0, 1...:
        every corpus has a speaker in test, a corpus with fewer speakers than folds (TESS: 2, SAVEE: 4) has its other
        speakers in train, and corpora with at least K speakers are spread evenly (up to one) over every fold."""
        k = self.config.num_folds
        speakers = {row["speaker"] for row in examples}
        if len(speakers) < k:
            raise ValueError(f"speech_emotion: `num_folds`={k} needs at least {k} speakers, found {len(speakers)}")
        folds = {}
        for corpus in self.config.corpora:
            genders = {row["speaker"]: row["gender"] for row in examples if row["source"] == corpus}
            folds.update(deal_folds(genders, k, first_fold=k - 1))
        for row in examples:
            row["fold"] = folds[row["speaker"]]
        return folds


__all__ = ["CALM", "CORPORA", "ENGLISH_CORPORA", "LABEL_MAP", "SHARED_LABELS", "SpeechEmotion", "SpeechEmotionConfig",
           "corpus_shared_labels", "default_labels", "shared_label"]
