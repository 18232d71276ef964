"""MELD: Multimodal EmotionLines Dataset (Poria et al., 2019), emotion recognition in multi-party conversations."""

import csv
import hashlib
import io
import os
import re

import datasets

from ..utils import download, find_local_file


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
MELD (Poria et al., 2019): 13,708 utterances of 1,433 multi-party dialogues from the TV series *Friends*, each
labelled with one of seven emotions (anger, disgust, fear, joy, neutral, sadness, surprise) and a sentiment; 47% of
the training utterances are neutral. Every example carries the dialogue turns that precede it, for emotion
recognition in conversation.
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
# MELD.Raw.tar.gz holds MELD.Raw/{train,dev,test}.tar.gz (nested tarballs of the clip folders) and the CSVs. The
# authors' own Hub copy is served over https (the original, web.eecs.umich.edu/~mihalcea/downloads/, is plain http),
# and the Hub gives the archive's sha256 (its LFS object id), which the download is checked against.
RAW_URL = "https://huggingface.co/datasets/declare-lab/MELD/resolve/main/MELD.Raw.tar.gz"
CLIP_FOLDERS = {
    datasets.Split.TRAIN: ("train_splits", "train.tar.gz", "train"),
    datasets.Split.VALIDATION: ("dev_splits_complete", "dev.tar.gz", "dev"),
    datasets.Split.TEST: ("output_repeated_splits_test", "test.tar.gz", "test"),
}
RAW_LAYOUT = """\
  <data_dir>/[MELD.Raw/]train_splits/dia{D}_utt{U}.mp4          (or the nested tarball MELD.Raw/train.tar.gz)
  <data_dir>/[MELD.Raw/]dev_splits_complete/dia{D}_utt{U}.mp4   (or MELD.Raw/dev.tar.gz)
  <data_dir>/[MELD.Raw/]output_repeated_splits_test/dia{D}_utt{U}.mp4   (or MELD.Raw/test.tar.gz)
  <data_dir>/[MELD.Raw/][train/]train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv"""
BAD_CLIP_POLICIES = ("raise", "skip")
NUM_SHARDS = 16  # dialogue shards per split, so `download_and_prepare(num_proc=N)` decodes clips in parallel


def decode_clip(path: str, num_frames: int = 5, sampling_rate: int = 16000, frame_height=None):
    """Audio and frames of one MELD clip, decoded with torchcodec (FFmpeg).

    Returns `(waveform, frames, duration)`: the audio as a mono float32 tensor at `sampling_rate` (channels
    averaged), `num_frames` RGB PIL images at the centres of `num_frames` equal segments of the video stream (by
    frame index; a clip with fewer frames repeats some), resized to `frame_height` pixels high keeping the aspect
    ratio (`None`: original size), and the video's duration in seconds. Raises `ValueError` naming the clip when it
    cannot be opened or has no audio or video.
    """
    from PIL import Image
    from torchcodec.decoders import AudioDecoder, VideoDecoder

    try:
        waveform = AudioDecoder(path, sample_rate=sampling_rate, num_channels=1).get_all_samples().data[0]
    except Exception as err:  # torchcodec raises RuntimeError/ValueError with FFmpeg's reason
        raise ValueError(f"{path}: cannot decode the audio stream ({err})") from None
    if waveform.numel() == 0:
        raise ValueError(f"{path}: the audio stream holds no samples")
    try:
        video = VideoDecoder(path, dimension_order="NHWC")
        total = len(video)
        if total == 0:
            raise ValueError("no video frame")
        indices = [min(total - 1, int((i + 0.5) * total / num_frames)) for i in range(num_frames)]
        pixels = video.get_frames_at(indices).data.numpy()  # (num_frames, height, width, 3) uint8
        duration = float(video.metadata.duration_seconds or total / (video.metadata.average_fps or 1.0))
    except Exception as err:
        raise ValueError(f"{path}: cannot decode the video stream ({err})") from None
    frames = [Image.fromarray(p) for p in pixels]
    if frame_height is not None and frames[0].height > frame_height:
        width = max(1, round(frames[0].width * frame_height / frames[0].height))
        frames = [f.resize((width, frame_height), Image.BICUBIC) for f in frames]
    return waveform, frames, duration


def _encode_media(waveform, frames, sampling_rate, clip_id):
    """FLAC bytes of the audio and JPEG bytes of the frames: compact, and what the `Audio`/`Image` features store."""
    from torchcodec.encoders import AudioEncoder

    audio = io.BytesIO()
    AudioEncoder(waveform[None], sample_rate=sampling_rate).to_file_like(audio, format="flac")
    images = []
    for frame in frames:
        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=90)
        images.append({"bytes": buffer.getvalue(), "path": None})
    return {"bytes": audio.getvalue(), "path": f"{clip_id}.flac"}, images


class MeldConfig(datasets.BuilderConfig):
    """
    Args:
        modality (`str`): `"text"` reads the annotation CSVs; `"multimodal"` adds each utterance's audio and video
            frames, decoded from the clips of MELD.Raw.
        max_context_turns (`int`, *optional*): keep at most this many preceding turns in `context` (all by default).
        num_frames (`int`, *optional*, defaults to 5): multimodal: equidistant frames kept per clip.
        sampling_rate (`int`, *optional*, defaults to 16000): multimodal: audio sampling rate (mono).
        frame_height (`int`, *optional*, defaults to 360): multimodal: taller frames are resized down to this height, keeping the
            aspect ratio (MELD's clips are mostly 1280x720; `None` keeps the original size, about 4x the storage).
        on_bad_clip (`str`, *optional*, defaults to `"raise"`): multimodal: what a missing or undecodable clip does.
            `"raise"` stops the build with an error naming the clip; `"skip"` leaves the utterance out of the split
            (its text still appears in the context of later turns) and logs how many clips were skipped and their
            names. The official MELD.Raw archive lacks some clips (e.g. dev `dia110_utt7`), so building it
            needs `"skip"`.
    """

    def __init__(self, modality="text", max_context_turns=None, num_frames=5, sampling_rate=16000, frame_height=360,
                 on_bad_clip="raise", **kwargs):
        super().__init__(version=datasets.Version("1.0.0"), **kwargs)
        self.modality = modality
        self.max_context_turns = max_context_turns
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.frame_height = frame_height
        self.on_bad_clip = on_bad_clip
        self.validate()

    def validate(self):
        """Raise a `ValueError` naming the option. Also called by the builder: `datasets` sets the options given to
        `Meld(config_name=..., **options)` on a copy of the named config without calling `__init__`."""
        if self.modality not in ("text", "multimodal"):
            raise ValueError(f"`modality` must be 'text' or 'multimodal', got {self.modality!r}")
        if self.max_context_turns is not None and self.max_context_turns < 0:
            raise ValueError(f"`max_context_turns` must be >= 0 or None, got {self.max_context_turns}")
        if not isinstance(self.num_frames, int) or self.num_frames < 1:
            raise ValueError(f"`num_frames` must be a positive int, got {self.num_frames!r}")
        if not isinstance(self.sampling_rate, int) or self.sampling_rate < 1000:
            raise ValueError(f"`sampling_rate` must be an int >= 1000 (Hz), got {self.sampling_rate!r}")
        if self.frame_height is not None and (not isinstance(self.frame_height, int) or self.frame_height < 8):
            raise ValueError(f"`frame_height` must be None or an int >= 8 (pixels), got {self.frame_height!r}")
        if self.on_bad_clip not in BAD_CLIP_POLICIES:
            raise ValueError(f"`on_bad_clip` must be one of {BAD_CLIP_POLICIES}, got {self.on_bad_clip!r}")


class Meld(datasets.GeneratorBasedBuilder):
    """MELD. Config `text`: utterance, speaker, emotion, sentiment, ids and the preceding dialogue turns. Config
    `multimodal`: the same plus the utterance's 16 kHz mono audio (`Audio`, stored as FLAC) and `num_frames` video
    frames (a list of `Image`, stored as JPEG), decoded from MELD.Raw's clips one utterance at a time, so building
    the 10 GB corpus never holds more than a writer batch in memory."""

    BUILDER_CONFIG_CLASS = MeldConfig
    BUILDER_CONFIGS = [
        MeldConfig(name="text", modality="text", description="Utterances with dialogue context"),
        MeldConfig(name="multimodal", modality="multimodal",
                   description="Utterances with dialogue context, 16 kHz mono audio and 5 equidistant video frames"),
    ]
    DEFAULT_CONFIG_NAME = "text"
    DEFAULT_WRITER_BATCH_SIZE = 64  # multimodal examples weigh ~0.3 MB each
    CSV_URL = "https://raw.githubusercontent.com/declare-lab/MELD/master/data/MELD/"
    RAW_URL = RAW_URL
    RAW_SHA256 = None  # expected sha256 of RAW_URL's file; None: the Hub's LFS sha256 of a huggingface.co URL

    def _info(self):
        self.config.validate()
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
        if self.config.modality == "multimodal":
            features.update({
                "audio": datasets.Audio(sampling_rate=self.config.sampling_rate),
                "frames": datasets.List(datasets.Image()),
                "clip_duration": datasets.Value("float32"),  # seconds of video in the clip
            })
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=datasets.Features(features),
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager):
        if self.config.modality == "multimodal":
            return self._raw_split_generators(dl_manager)
        if self.config.data_dir:
            files = {split: find_local_file(self.config.data_dir, name, ("data/MELD", "MELD"), LAYOUT)
                     for split, name in SPLIT_FILES.items()}
        else:
            files = download(dl_manager, {split: self.CSV_URL + name for split, name in SPLIT_FILES.items()})
        return [datasets.SplitGenerator(name=split, gen_kwargs={"csv_path": path}) for split, path in files.items()]

    def _raw_sha256(self) -> str:
        if self.RAW_SHA256:
            return self.RAW_SHA256
        if self.RAW_URL.startswith("https://huggingface.co/") and "/resolve/" in self.RAW_URL:
            from huggingface_hub import get_hf_file_metadata

            etag = (get_hf_file_metadata(self.RAW_URL).etag or "").strip('"')
            if re.fullmatch(r"[0-9a-f]{64}", etag):  # an LFS file's etag is its sha256
                return etag
        raise ValueError(f"no sha256 is known for {self.RAW_URL}: set Meld.RAW_SHA256, or download it yourself and "
                         f"pass --data_dir")

    def _raw_split_generators(self, dl_manager):
        """CSVs and clip folders of MELD.Raw, from `data_dir` or the official tarball; nested tarballs get extracted."""
        if self.config.data_dir:
            root = os.path.expanduser(self.config.data_dir)
            if not os.path.isdir(root):
                raise FileNotFoundError(f"`data_dir` {root!r} is not a directory. Expected layout:\n{RAW_LAYOUT}")
        else:
            archive = download(dl_manager, self.RAW_URL)
            verify_sha256(archive, self._raw_sha256(), self.RAW_URL)
            root = dl_manager.extract(archive)
        roots = [root, os.path.join(root, "MELD.Raw")]
        generators = []
        for split, csv_name in SPLIT_FILES.items():
            folder, tarball, short = CLIP_FOLDERS[split]
            csv_candidates = [os.path.join(r, sub, csv_name) for r in roots for sub in ("", short, "data/MELD")]
            clip_candidates = [os.path.join(r, sub, folder) for r in roots for sub in ("", short)]
            clips_dir = next((c for c in clip_candidates if os.path.isdir(c)), None)
            if clips_dir is None:
                nested = next((os.path.join(r, sub, tarball) for r in roots for sub in ("", short)
                               if os.path.isfile(os.path.join(r, sub, tarball))), None)
                if nested is None:
                    looked = "\n  ".join(clip_candidates)
                    raise FileNotFoundError(f"clip folder {folder!r} (or its tarball {tarball!r}) not found; looked "
                                            f"for:\n  {looked}\nExpected layout:\n{RAW_LAYOUT}")
                extracted = dl_manager.extract(nested)
                clips_dir = next((c for c in (os.path.join(extracted, folder), os.path.join(extracted, short, folder),
                                              extracted) if os.path.isdir(c)), extracted)
                if clips_dir == extracted and not any(n.endswith(".mp4") for n in os.listdir(extracted)):
                    raise FileNotFoundError(f"{nested} holds no {folder!r} folder of .mp4 clips")
            csv_path = next((c for c in csv_candidates if os.path.isfile(c)), None)
            if csv_path is None:
                looked = "\n  ".join(csv_candidates)
                raise FileNotFoundError(f"{csv_name!r} not found; looked for:\n  {looked}\nExpected layout:\n{RAW_LAYOUT}")
            dialogue_ids = sorted(self._read_rows(csv_path))
            shards = [dialogue_ids[i::NUM_SHARDS] for i in range(min(NUM_SHARDS, len(dialogue_ids)))]
            generators.append(datasets.SplitGenerator(
                name=split, gen_kwargs={"csv_path": csv_path, "clips_dir": clips_dir, "dialogue_shards": shards}))
        return generators

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

    def _generate_examples(self, csv_path, clips_dir=None, dialogue_shards=None):
        if self.config.modality == "multimodal":
            yield from self._generate_multimodal_examples(csv_path, clips_dir, dialogue_shards)
        else:
            yield from self._generate_text_examples(csv_path)

    def _generate_multimodal_examples(self, csv_path, clips_dir, dialogue_shards):
        config = self.config
        wanted = {d for shard in dialogue_shards for d in shard}
        bad, count = [], 0
        for key, example in self._generate_text_examples(csv_path, wanted):
            path = os.path.join(clips_dir, f"{key}.mp4")
            try:
                if not os.path.isfile(path):
                    raise ValueError(f"{path}: clip missing")
                waveform, frames, duration = decode_clip(path, config.num_frames, config.sampling_rate,
                                                         config.frame_height)
            except ValueError as err:
                if config.on_bad_clip == "raise":
                    raise ValueError(f"utterance {key} ({csv_path}): {err}. Pass on_bad_clip='skip' to leave such "
                                     f"utterances out (they are counted and named in the log)") from None
                bad.append(key)
                logger.warning(f"skipping utterance {key}: {err}")
                continue
            example["audio"], example["frames"] = _encode_media(waveform, frames, config.sampling_rate, key)
            example["clip_duration"] = duration
            count += 1
            yield key, example
        if bad:
            # One summary per generation job: the whole split, or its part when building with `num_proc` > 1.
            logger.warning(f"{os.path.basename(csv_path)}: skipped {len(bad)} of {len(bad) + count} utterances whose "
                           f"clip in {clips_dir} is missing or undecodable: {', '.join(bad)}")

    def _generate_text_examples(self, csv_path, dialogue_ids=None):
        max_turns = self.config.max_context_turns
        count = 0
        for dialogue_id, turns in self._read_rows(csv_path).items():
            if dialogue_ids is not None and dialogue_id not in dialogue_ids:
                continue
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


def verify_sha256(path: str, expected: str, url: str):
    """Refuse a download whose sha256 is not `expected` (a truncated, corrupted or substituted file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected.lower():
        raise ValueError(f"{url}: the downloaded file {path} has sha256 {digest.hexdigest()}, expected {expected}; "
                         f"delete it and download again")


__all__ = ["EMOTIONS", "RAW_URL", "SENTIMENTS", "Meld", "MeldConfig", "decode_clip", "verify_sha256"]
