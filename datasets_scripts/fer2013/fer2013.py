"""FER2013 (Goodfellow et al., 2013): 35,887 48x48 grayscale faces labelled with one of seven facial expressions."""

import collections
import csv
import io
import os
import re

import datasets
import numpy as np
from PIL import Image, UnidentifiedImageError


logger = datasets.logging.get_logger(__name__)

_CITATION = """\
@inproceedings{goodfellow2013challenges,
  title={Challenges in Representation Learning: A Report on Three Machine Learning Contests},
  author={Goodfellow, Ian J. and Erhan, Dumitru and Carrier, Pierre Luc and Courville, Aaron and Mirza, Mehdi and
          Hamner, Ben and Cukierski, Will and Tang, Yichuan and Thaler, David and Lee, Dong-Hyun and others},
  booktitle={Neural Information Processing (ICONIP)}, pages={117--124}, year={2013}
}
"""
_DESCRIPTION = """\
FER2013 (Goodfellow et al., 2013), the facial-expression dataset of the ICML 2013 "Challenges in Representation
Learning" Kaggle contest: 35,887 48x48 grayscale face crops found by Google image search, each labelled with one of
seven expressions (angry, disgust, fear, happy, sad, surprise, neutral). The official `Usage` column splits it into
Training (28,709), PublicTest (3,589) and PrivateTest (3,589) images, used here as train, validation and test. Human
accuracy on it is estimated at 65 +/- 5% (Goodfellow et al.): the labels are noisy. Disgust is rare (1.5% of the
training images).
"""
_HOMEPAGE = "https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge"
_LICENSE = "No explicit licence; released for the Kaggle / ICML 2013 challenge, for research use."

# The official CSV's `emotion` ids, in order.
LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}
IMAGE_SIZE = 48
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
CSV_COLUMNS = ["emotion", "pixels", "Usage"]
CSV_LAYOUT = f"""\
  <data_dir>/fer2013.csv   (or <data_dir>/fer2013/fer2013.csv, as unpacked from the official fer2013.tar.gz)
  columns: emotion,pixels,Usage; emotion an id 0-6 ({", ".join(f"{i} {n}" for i, n in enumerate(LABELS))});
  pixels {IMAGE_SIZE * IMAGE_SIZE} space-separated values 0-255 (row-major 48x48); Usage Training, PublicTest or
  PrivateTest"""
FOLDER_LAYOUT = f"""\
  <data_dir>/train/<emotion>/Training_<id>.jpg
  <data_dir>/test/<emotion>/PublicTest_<id>.jpg and PrivateTest_<id>.jpg
  <emotion> one of {LABELS} (any case); the file-name prefix (the CSV's Usage), not the folder, decides the split"""
FILE_NAME = re.compile(r"^(Training|PublicTest|PrivateTest)_(\w+)\.(jpe?g|png)$", re.IGNORECASE)


class Fer2013Config(datasets.BuilderConfig):
    """
    Args:
        layout (`str`): `"csv"` reads the official `fer2013.csv`; `"image_folder"` the common Kaggle folder of JPEGs.
    """

    def __init__(self, layout="csv", **kwargs):
        if layout not in ("csv", "image_folder"):
            raise ValueError(f"`layout` must be 'csv' or 'image_folder', got {layout!r}")
        super().__init__(version=datasets.Version("1.0.0"), **kwargs)
        self.layout = layout


class Fer2013(datasets.GeneratorBasedBuilder):
    """FER2013. Configs `csv` (official `fer2013.csv`) and `image_folder` (`train/` and `test/` folders of JPEGs);
    both give the same features and splits: train (Training), validation (PublicTest), test (PrivateTest)."""

    BUILDER_CONFIG_CLASS = Fer2013Config
    BUILDER_CONFIGS = [
        Fer2013Config(name="csv", layout="csv", description="The official fer2013.csv (emotion,pixels,Usage)"),
        Fer2013Config(name="image_folder", layout="image_folder",
                      description="The Kaggle image-folder distribution: train/<emotion>/, test/<emotion>/"),
    ]
    DEFAULT_CONFIG_NAME = "csv"

    @property
    def manual_download_instructions(self):
        if self.config.layout == "csv":
            return (
                "FER2013 is gated on Kaggle: sign in, accept the rules of the 'Challenges in Representation Learning: "
                "Facial Expression Recognition Challenge' competition, download `fer2013.tar.gz` from its Data tab "
                f"({_HOMEPAGE}/data), unpack it and pass the folder holding `fer2013.csv` as `data_dir`. "
                f"Expected layout:\n{CSV_LAYOUT}"
            )
        return (
            "The image-folder FER2013 is on Kaggle (dataset `msambare/fer2013`, sign-in needed): download and unpack "
            f"it and pass the folder holding `train/` and `test/` as `data_dir`. Expected layout:\n{FOLDER_LAYOUT}"
        )

    def _info(self):
        if self.config.layout not in ("csv", "image_folder"):  # `Fer2013(..., layout=x)` bypasses the config's check
            raise ValueError(f"`layout` must be 'csv' or 'image_folder', got {self.config.layout!r}")
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=datasets.Features({
                "image": datasets.Image(),
                "label": datasets.ClassLabel(names=LABELS),
                "usage": datasets.Value("string"),
                "image_id": datasets.Value("string"),  # path relative to data_dir, or `row<N>` (1-based data row) of the CSV
            }),
            supervised_keys=("image", "label"),
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager):
        data_dir = self.config.data_dir
        if not data_dir:
            raise FileNotFoundError(f"FER2013 needs `data_dir` (manual download). {self.manual_download_instructions}")
        data_dir = os.path.expanduser(data_dir)
        if not os.path.isdir(data_dir):
            raise FileNotFoundError(f"`data_dir` {data_dir!r} is not a directory. {self.manual_download_instructions}")
        if self.config.layout == "csv":
            csv_path = self._find_csv(data_dir)
            return [datasets.SplitGenerator(name=split, gen_kwargs={"csv_path": csv_path, "usage": usage})
                    for usage, split in USAGE_TO_SPLIT.items()]
        files = self._scan_folders(data_dir)
        return [datasets.SplitGenerator(name=split, gen_kwargs={"files": files[usage]})
                for usage, split in USAGE_TO_SPLIT.items()]

    # ---- official CSV ------------------------------------------------------------------------------------------
    def _find_csv(self, data_dir):
        for path in (os.path.join(data_dir, "fer2013.csv"), os.path.join(data_dir, "fer2013", "fer2013.csv")):
            if os.path.isfile(path):
                return path
        raise FileNotFoundError(f"'fer2013.csv' not found in `data_dir` {data_dir!r}. {self.manual_download_instructions}")

    def _generate_examples_csv(self, csv_path, usage):
        count, labels = 0, collections.Counter()
        with open(csv_path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{csv_path}: missing columns {missing}; expected the official columns {CSV_COLUMNS}")
            for row_number, row in enumerate(reader, start=1):
                where = f"{csv_path}, data row {row_number} (line {reader.line_num})"
                if row["Usage"] not in USAGE_TO_SPLIT:
                    raise ValueError(f"{where}: Usage {row['Usage']!r} is not one of {list(USAGE_TO_SPLIT)}")
                if row["Usage"] != usage:
                    continue
                if row["emotion"] not in {str(i) for i in range(len(LABELS))}:
                    raise ValueError(f"{where}: emotion {row['emotion']!r} is not a label id 0-{len(LABELS) - 1}")
                values = (row["pixels"] or "").split()
                if len(values) != IMAGE_SIZE * IMAGE_SIZE:
                    raise ValueError(f"{where}: {len(values)} pixel values, expected {IMAGE_SIZE * IMAGE_SIZE} "
                                     f"({IMAGE_SIZE}x{IMAGE_SIZE})")
                try:
                    pixels = np.array(values, dtype=np.int64)
                except ValueError:
                    raise ValueError(f"{where}: pixels must be integers 0-255 separated by spaces") from None
                if pixels.min() < 0 or pixels.max() > 255:
                    raise ValueError(f"{where}: pixel values must be in 0-255, found {pixels.min()}..{pixels.max()}")
                label = int(row["emotion"])
                count += 1
                labels[label] += 1
                image = pixels.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)
                yield row_number, {"image": image, "label": label, "usage": usage, "image_id": f"row{row_number}"}
        logger.info(f"{csv_path}: {count} {usage} images, " + _label_summary(labels))

    # ---- image folders -----------------------------------------------------------------------------------------
    def _scan_folders(self, data_dir):
        """`{usage: [(path, label_id, usage, relative_path), ...]}` of every image under `train/` and `test/`, validated."""
        top = [d for d in ("train", "test") if os.path.isdir(os.path.join(data_dir, d))]
        if not top:
            raise FileNotFoundError(f"neither 'train/' nor 'test/' found in `data_dir` {data_dir!r}. "
                                    f"{self.manual_download_instructions}")
        by_name = {name.lower(): i for i, name in enumerate(LABELS)}
        files, skipped = {usage: [] for usage in USAGE_TO_SPLIT}, []
        for folder in top:
            for entry in sorted(os.listdir(os.path.join(data_dir, folder))):
                path = os.path.join(data_dir, folder, entry)
                if entry.startswith("."):
                    skipped.append(path)
                    continue
                if not os.path.isdir(path):
                    raise ValueError(f"{path}: expected only emotion folders in {folder}/. Expected layout:\n"
                                     f"{FOLDER_LAYOUT}")
                if entry.lower() not in by_name:
                    raise ValueError(f"{path}: unknown label folder {entry!r}; the labels are {LABELS}")
                for name in sorted(os.listdir(path)):
                    file_path = os.path.join(path, name)
                    if name.startswith("."):
                        skipped.append(file_path)
                        continue
                    match = FILE_NAME.match(name)
                    if not match or not os.path.isfile(file_path):
                        raise ValueError(f"{file_path}: not a FER2013 image name; expected "
                                         f"{{Training,PublicTest,PrivateTest}}_<id>.jpg. Expected layout:\n{FOLDER_LAYOUT}")
                    usage = next(u for u in USAGE_TO_SPLIT if u.lower() == match.group(1).lower())
                    # Kaggle's ids are not unique (2 Training names occur in two emotion folders, with different
                    # faces), so the relative path is the example's id.
                    files[usage].append((file_path, by_name[entry.lower()], usage, f"{folder}/{entry}/{name}"))
        if skipped:
            logger.warning(f"skipped {len(skipped)} hidden files or folders under {data_dir}, e.g. {skipped[0]}")
        empty = [usage for usage, found in files.items() if not found]
        if empty:
            raise FileNotFoundError(f"no {' / '.join(empty)} images found in `data_dir` {data_dir!r}. Expected layout:\n"
                                    f"{FOLDER_LAYOUT}")
        return files

    def _generate_examples_folder(self, files):
        labels, sizes = collections.Counter(), collections.Counter()
        for path, label, usage, image_id in files:
            with open(path, "rb") as f:
                data = f.read()
            try:
                with Image.open(io.BytesIO(data)) as image:
                    image.load()  # decode fully: a truncated or corrupt file fails here, not in training
                    size = image.size
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
                raise ValueError(f"{path}: corrupt or unreadable image ({err})") from None
            if min(size) == 0:
                raise ValueError(f"{path}: empty image ({size[0]}x{size[1]})")
            labels[label] += 1
            sizes[size] += 1
            yield image_id, {"image": {"bytes": data, "path": image_id}, "label": label, "usage": usage,
                             "image_id": image_id}
        other_sizes = {f"{w}x{h}": n for (w, h), n in sizes.items() if (w, h) != (IMAGE_SIZE, IMAGE_SIZE)}
        logger.info(f"{len(files)} {files[0][2]} images, " + _label_summary(labels) +
                    (f"; not {IMAGE_SIZE}x{IMAGE_SIZE}: {other_sizes}" if other_sizes else ""))

    def _generate_examples(self, csv_path=None, usage=None, files=None):
        if self.config.layout == "csv":
            yield from self._generate_examples_csv(csv_path, usage)
        else:
            yield from self._generate_examples_folder(files)


def _label_summary(counts):
    return ", ".join(f"{name} {counts[i]}" for i, name in enumerate(LABELS))


__all__ = ["LABELS", "USAGE_TO_SPLIT", "Fer2013", "Fer2013Config"]
