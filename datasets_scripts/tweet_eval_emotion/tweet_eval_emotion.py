"""TweetEval emotion (SemEval-2018 Task 1, 4-class single-label subset) and its two-class subsets."""

import itertools
import os

import datasets

from ..utils import download, find_local_file


logger = datasets.logging.get_logger(__name__)

_CITATION = """\
@inproceedings{barbieri2020tweeteval,
  title={{TweetEval: Unified Benchmark and Comparative Evaluation for Tweet Classification}},
  author={Barbieri, Francesco and Camacho-Collados, Jose and Espinosa-Anke, Luis and Neves, Leonardo},
  booktitle={Findings of EMNLP}, year={2020}
}
@inproceedings{mohammad2018semeval,
  title={{SemEval-2018 Task 1: Affect in Tweets}},
  author={Mohammad, Saif and Bravo-Marquez, Felipe and Salameh, Mohammad and Kiritchenko, Svetlana},
  booktitle={Proceedings of the 12th International Workshop on Semantic Evaluation}, year={2018}
}
"""
_DESCRIPTION = """\
TweetEval's emotion task (Barbieri et al., 2020), the single-label, four-emotion subset of SemEval-2018 Task 1
*Affect in Tweets*: English tweets labelled with one of four emotions (anger, joy, optimism, sadness); user mentions
are anonymised as `@user`. The two-class configurations keep only the tweets of two of the emotions (e.g.
`anger_joy`, `anger_optimism`).
"""
_HOMEPAGE = "https://github.com/cardiffnlp/tweeteval"
_LICENSE = "TweetEval: released without restrictions; SemEval-2018 Task 1 terms and Twitter's rules apply."

LABELS = ["anger", "joy", "optimism", "sadness"]  # mapping.txt, id order
SPLIT_FILES = {datasets.Split.TRAIN: "train", datasets.Split.VALIDATION: "val", datasets.Split.TEST: "test"}
LAYOUT = """\
  <data_dir>/mapping.txt           (or <data_dir>/datasets/emotion/mapping.txt, the official repository layout)
  <data_dir>/train_text.txt        one tweet per line
  <data_dir>/train_labels.txt      one label id per line, aligned with train_text.txt
  <data_dir>/val_text.txt, val_labels.txt, test_text.txt, test_labels.txt"""
# The official files ship with the package (0.5 MB, see data/README.md for their terms and citation): the default
# source, so the main job runs with no network.
EMBEDDED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
DOWNLOAD = "download"  # `data_dir="download"`: fetch the files from BASE_URL instead of the embedded copy


class TweetEvalEmotionConfig(datasets.BuilderConfig):
    """Keeps the tweets of `labels` (names from mapping.txt) and renumbers them 0..len(labels)-1 in that order."""

    def __init__(self, labels=tuple(LABELS), **kwargs):
        labels = ordered_labels(labels)
        kwargs.setdefault("name", "_".join(labels))
        kwargs.setdefault("description", f"TweetEval emotion tweets labelled {', '.join(labels)}")
        super().__init__(version=datasets.Version("1.0.0"), **kwargs)
        self.labels = labels


def ordered_labels(labels):
    """`labels` validated and in mapping.txt order (their new ids)."""
    if isinstance(labels, str) or any(label not in LABELS for label in labels) or len(set(labels)) < 2:
        raise ValueError(f"`labels` must be at least two distinct names among {LABELS}, got {labels!r}")
    return [label for label in LABELS if label in labels]


class TweetEvalEmotion(datasets.GeneratorBasedBuilder):
    """TweetEval emotion. Configs: `emotion` (4 classes) and every pair of labels, e.g. `anger_joy`.

    Sources, by `data_dir`:
    - `None` (default): the official files shipped inside the package (`data/`, an unmodified copy of the TweetEval
      repository's `datasets/emotion/`): no network needed.
    - `"download"` (`--data_dir download` on the command line): the same files from `BASE_URL` (GitHub); a failed
      download raises `datasets_scripts.utils.DownloadError`, one line naming the URL, the cause and `--data_dir`.
    - a folder: a local copy, the files directly in it or the repository root (`datasets/emotion/...`).
    """

    BUILDER_CONFIG_CLASS = TweetEvalEmotionConfig
    BUILDER_CONFIGS = [TweetEvalEmotionConfig(name="emotion", labels=LABELS)] + [
        TweetEvalEmotionConfig(labels=pair) for pair in itertools.combinations(LABELS, 2)
    ]
    DEFAULT_CONFIG_NAME = "emotion"
    BASE_URL = "https://raw.githubusercontent.com/cardiffnlp/tweeteval/main/datasets/emotion/"

    @property
    def label_names(self):
        # `TweetEvalEmotion(labels=[...])` may set `labels` on a copy of the default config without `__init__`.
        return ordered_labels(self.config.labels)

    def _info(self):
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=datasets.Features(
                {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=self.label_names)}
            ),
            supervised_keys=("text", "label"),
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager):
        names = ["mapping.txt"] + [f"{prefix}_{kind}.txt" for prefix in SPLIT_FILES.values() for kind in ("text", "labels")]
        if self.config.data_dir == DOWNLOAD:
            files = download(dl_manager, {name: self.BASE_URL + name for name in names},
                             hint="pass --data_dir DIR with a local copy, or no data_dir for the files shipped with "
                                  "the package")
        else:
            data_dir = self.config.data_dir or EMBEDDED_DIR
            files = {name: find_local_file(data_dir, name, ("datasets/emotion",), LAYOUT) for name in names}
        self._check_mapping(files["mapping.txt"])
        return [
            datasets.SplitGenerator(
                name=split,
                gen_kwargs={"text_path": files[f"{prefix}_text.txt"], "labels_path": files[f"{prefix}_labels.txt"]},
            )
            for split, prefix in SPLIT_FILES.items()
        ]

    @staticmethod
    def _check_mapping(path):
        rows = [line.rstrip("\r").split("\t") for line in read_utf8(path).split("\n") if line.strip()]
        found = {int(row[0]): row[1] for row in rows if len(row) == 2 and row[0].isdigit()}
        if found != dict(enumerate(LABELS)):
            raise ValueError(f"{path}: expected the label mapping {dict(enumerate(LABELS))}, found {found}")

    def _generate_examples(self, text_path, labels_path):
        texts, labels = read_utf8(text_path).split("\n"), read_utf8(labels_path).split("\n")
        for lines in (texts, labels):  # a final newline leaves one empty trailing field
            if lines and lines[-1] == "":
                lines.pop()
        if len(texts) != len(labels):
            raise ValueError(f"{text_path} has {len(texts)} lines but {labels_path} has {len(labels)}; they must align")
        new_id = {LABELS.index(name): i for i, name in enumerate(self.label_names)}
        kept = 0
        for line_number, (text, label) in enumerate(zip(texts, labels), start=1):
            label = label.strip()
            if not (label.isdigit() and int(label) < len(LABELS)):
                raise ValueError(
                    f"{labels_path}, line {line_number}: label {label!r} is not one of the ids 0..{len(LABELS) - 1} "
                    f"of mapping.txt ({', '.join(LABELS)})"
                )
            if int(label) in new_id:
                kept += 1
                yield line_number - 1, {"text": text.rstrip("\r"), "label": new_id[int(label)]}
        logger.info(f"{text_path}: kept {kept} of {len(texts)} tweets with labels {self.label_names}")


def read_utf8(path) -> str:
    """The text of `path`; a file that is not UTF-8 is a `ValueError` naming the file and the offending byte."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start}); "
                         f"TweetEval files are UTF-8, re-save it as UTF-8") from None


__all__ = ["DOWNLOAD", "EMBEDDED_DIR", "LABELS", "TweetEvalEmotion", "TweetEvalEmotionConfig", "ordered_labels"]
