"""MELD: Multimodal EmotionLines Dataset (Poria et al., 2019), emotion recognition in multi-party conversations."""

import csv

import datasets

from ..utils import find_local_file


logger = datasets.logging.get_logger(__name__)

_CITATION = """\
@inproceedings{poria2019meld,
  title={{MELD: A Multimodal Multi-Party Dataset for Emotion Recognition in Conversations}},
  author={Poria, Soujanya and Hazarika, Devamanyu and Majumder, Navonil and Naik, Gautam and Cambria, Erik and
          Mihalcea, Rada},
  booktitle={ACL}, year={2019}
}
"""
_DESCRIPTION = """\
13,708 utterances from 1,433 dialogues of the TV series Friends, each labelled with one of seven emotions and a
sentiment. Every example carries the dialogue turns that precede it, for emotion recognition in conversation.
"""
_HOMEPAGE = "https://affective-meld.github.io/"
_LICENSE = "GPL-3.0 (declare-lab/MELD repository)"

EMOTIONS = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
SENTIMENTS = ["negative", "neutral", "positive"]
CSV_COLUMNS = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID", "Season",
               "Episode", "StartTime", "EndTime"]
SPLIT_FILES = {
    datasets.Split.TRAIN: "train_sent_emo.csv",
    datasets.Split.VALIDATION: "dev_sent_emo.csv",
    datasets.Split.TEST: "test_sent_emo.csv",
}
LAYOUT = """\
  <data_dir>/train_sent_emo.csv   (or <data_dir>/data/MELD/..., the official repository layout)
  <data_dir>/dev_sent_emo.csv
  <data_dir>/test_sent_emo.csv
  columns: Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"""


class MeldConfig(datasets.BuilderConfig):
    """
    Args:
        modality (`str`): `"text"` reads the annotation CSVs; the multimodal config adds the clips of MELD.Raw.
        max_context_turns (`int`, *optional*): keep at most this many preceding turns in `context` (all by default).
    """

    def __init__(self, modality="text", max_context_turns=None, **kwargs):
        if modality not in ("text",):
            raise ValueError(f"`modality` must be 'text', got {modality!r}")
        if max_context_turns is not None and max_context_turns < 0:
            raise ValueError(f"`max_context_turns` must be >= 0 or None, got {max_context_turns}")
        super().__init__(version=datasets.Version("1.0.0"), **kwargs)
        self.modality = modality
        self.max_context_turns = max_context_turns


class Meld(datasets.GeneratorBasedBuilder):
    """MELD. Config `text`: utterance, speaker, emotion, sentiment, ids and the preceding dialogue turns."""

    BUILDER_CONFIG_CLASS = MeldConfig
    BUILDER_CONFIGS = [MeldConfig(name="text", modality="text", description="Utterances with dialogue context")]
    DEFAULT_CONFIG_NAME = "text"
    CSV_URL = "https://raw.githubusercontent.com/declare-lab/MELD/master/data/MELD/"

    def _info(self):
        turn = {"speaker": datasets.Value("string"), "utterance": datasets.Value("string")}
        features = {
            "clip_id": datasets.Value("string"),  # dia{D}_utt{U}, the clip's name in MELD.Raw
            "dialogue_id": datasets.Value("int32"),
            "utterance_id": datasets.Value("int32"),
            "speaker": datasets.Value("string"),
            "utterance": datasets.Value("string"),
            "emotion": datasets.ClassLabel(names=EMOTIONS),
            "sentiment": datasets.ClassLabel(names=SENTIMENTS),
            "season": datasets.Value("int32"),
            "episode": datasets.Value("int32"),
            "start_time": datasets.Value("string"),
            "end_time": datasets.Value("string"),
            "context": datasets.List(turn),
        }
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=datasets.Features(features),
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager):
        if self.config.data_dir:
            files = {split: find_local_file(self.config.data_dir, name, ("data/MELD", "MELD"), LAYOUT)
                     for split, name in SPLIT_FILES.items()}
        else:
            files = dl_manager.download({split: self.CSV_URL + name for split, name in SPLIT_FILES.items()})
        return [datasets.SplitGenerator(name=split, gen_kwargs={"csv_path": path}) for split, path in files.items()]

    def _read_rows(self, csv_path):
        """The CSV's rows, validated, grouped by dialogue and sorted by utterance id."""
        try:
            with open(csv_path, encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise ValueError(f"{csv_path}: missing columns {missing}; expected the official columns {CSV_COLUMNS}")
                rows = list(reader)
        except UnicodeDecodeError as err:
            raise ValueError(f"{csv_path} is not UTF-8 text ({err}); expected an official MELD CSV") from None
        dialogues = {}
        for row in rows:
            where = f"{csv_path}, row Sr No. {row['Sr No.']}"
            for column, names in (("Emotion", EMOTIONS), ("Sentiment", SENTIMENTS)):
                if row[column].strip().lower() not in names:
                    raise ValueError(f"{where}: {column} {row[column]!r} is not one of {names}")
            try:
                key = (int(row["Dialogue_ID"]), int(row["Utterance_ID"]))
                int(row["Season"]), int(row["Episode"])
            except ValueError:
                raise ValueError(f"{where}: Dialogue_ID, Utterance_ID, Season and Episode must be integers") from None
            dialogues.setdefault(key[0], []).append((key[1], row))
        return dialogues

    def _generate_examples(self, csv_path):
        max_turns = self.config.max_context_turns
        count = 0
        for dialogue_id, turns in self._read_rows(csv_path).items():
            turns.sort(key=lambda turn: turn[0])
            history = []
            for utterance_id, row in turns:
                context = history[-max_turns:] if max_turns else ([] if max_turns == 0 else list(history))
                example = {
                    "clip_id": f"dia{dialogue_id}_utt{utterance_id}",
                    "dialogue_id": dialogue_id,
                    "utterance_id": utterance_id,
                    "speaker": row["Speaker"],
                    "utterance": row["Utterance"],
                    "emotion": row["Emotion"].strip().lower(),
                    "sentiment": row["Sentiment"].strip().lower(),
                    "season": int(row["Season"]),
                    "episode": int(row["Episode"]),
                    "start_time": row["StartTime"],
                    "end_time": row["EndTime"],
                    "context": context,
                }
                history.append({"speaker": row["Speaker"], "utterance": row["Utterance"]})
                count += 1
                yield example["clip_id"], example
        logger.info(f"{csv_path}: {count} utterances")


__all__ = ["EMOTIONS", "SENTIMENTS", "Meld", "MeldConfig"]
