"""Self-made data in the official file layouts, with a learnable signal, for builder and training tests."""

import csv
import os
import random


TWEET_LABELS = ["anger", "joy", "optimism", "sadness"]
CUE_WORDS = {
    "anger": ["furious", "angry", "hate", "rage", "outraged"],
    "joy": ["happy", "love", "delighted", "fun", "laughing"],
    "optimism": ["hope", "future", "believe", "better", "tomorrow"],
    "sadness": ["sad", "cry", "miss", "lonely", "tears"],
    "neutral": ["okay", "table", "meeting", "coffee", "monday"],
    "surprise": ["wow", "really", "whoa", "unexpected", "what"],
    "fear": ["scared", "afraid", "terrified", "panic", "nervous"],
    "disgust": ["gross", "disgusting", "yuck", "eww", "nasty"],
}
FILLER = "the a to of and i you it is in that this my on for with me so was".split()
DECOR = ["", "", " 😂", " <b>!</b>", " #tag", " @user", " 2019", " &amp;"]


def make_text(label, rng, cue_rate=1.0):
    words = [rng.choice(FILLER) for _ in range(rng.randint(3, 9))]
    if rng.random() < cue_rate:
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(CUE_WORDS[label]))
    return " ".join(words).capitalize() + rng.choice(DECOR)


def write_tweeteval(root, sizes=(48, 11, 13), seed=0, nested=False, labels_override=None):
    """Write TweetEval's `datasets/emotion/` files (`nested=True`: under `root/datasets/emotion/`)."""
    rng = random.Random(seed)
    folder = os.path.join(root, "datasets", "emotion") if nested else root
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "mapping.txt"), "w") as f:
        f.write("\n".join(f"{i}\t{name}" for i, name in enumerate(TWEET_LABELS)))  # no final newline, as upstream
    for prefix, n in zip(("train", "val", "test"), sizes):
        labels = [i % len(TWEET_LABELS) for i in range(n)]
        rng.shuffle(labels)
        with open(os.path.join(folder, f"{prefix}_text.txt"), "w", encoding="utf-8") as f:
            f.writelines(make_text(TWEET_LABELS[label], rng) + " \n" for label in labels)
        with open(os.path.join(folder, f"{prefix}_labels.txt"), "w") as f:
            f.writelines(f"{label}\n" for label in (labels_override or {}).get(prefix, labels))
    return folder


MELD_EMOTIONS = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
MELD_SENTIMENT = {"anger": "negative", "disgust": "negative", "fear": "negative", "sadness": "negative",
                  "joy": "positive", "surprise": "positive", "neutral": "neutral"}
MELD_COLUMNS = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID", "Season",
                "Episode", "StartTime", "EndTime"]
SPEAKERS = ["Chandler", "Monica", "Ross", "Rachel", "Joey", "Phoebe"]


def write_meld(root, dialogues=(8, 3, 3), turns=5, seed=0, nested=True, shuffle_rows=False):
    """Write MELD's `{train,dev,test}_sent_emo.csv` (`nested=True`: under `root/data/MELD/`). Returns the rows."""
    rng = random.Random(seed)
    folder = os.path.join(root, "data", "MELD") if nested else root
    os.makedirs(folder, exist_ok=True)
    written = {}
    for prefix, n_dialogues in zip(("train", "dev", "test"), dialogues):
        rows, serial = [], 1
        for d in range(n_dialogues):
            for u in range(turns):
                emotion = MELD_EMOTIONS[(d * turns + u) % len(MELD_EMOTIONS)]
                start = 60 * d + 3 * u
                rows.append({
                    "Sr No.": serial, "Utterance": make_text(emotion, rng).replace("'", "’"),
                    "Speaker": rng.choice(SPEAKERS), "Emotion": emotion, "Sentiment": MELD_SENTIMENT[emotion],
                    "Dialogue_ID": d, "Utterance_ID": u, "Season": 1 + d % 9, "Episode": 1 + u,
                    "StartTime": f"00:{start // 60:02d}:{start % 60:02d},000",
                    "EndTime": f"00:{start // 60:02d}:{start % 60 + 2:02d},500",
                })
                serial += 1
        if shuffle_rows:
            rng.shuffle(rows)
        with open(os.path.join(folder, f"{prefix}_sent_emo.csv"), "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=MELD_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        written[prefix] = rows
    return written


def write_word_vectors(path, words, dim, seed=0):
    """A GloVe-format text file: `word v1 ... vD` per line."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for word in words:
            f.write(word + " " + " ".join(f"{rng.uniform(-1, 1):.5f}" for _ in range(dim)) + "\n")
    return path


# --- MELD.Raw: clips (ffmpeg-made mp4: a tone and a moving test pattern per emotion) in the official layout ---------
RAW_CLIP_FOLDERS = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}


def make_clip(path, emotion_index, duration=0.5, size="64x48", rate=10):
    """An mp4 (H.264 + AAC stereo, 44.1 kHz) whose tone pitch and pattern hue depend on the emotion."""
    import subprocess

    frequency = 220 * 2 ** (emotion_index / 2)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={duration},hue=h={emotion_index * 50}",
         "-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=44100:duration={duration}",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-shortest", str(path)],
        check=True, capture_output=True,
    )
    return path


def write_meld_raw(root, dialogues=(4, 2, 2), turns=3, seed=0, clip_cache=None):
    """Write an extracted MELD.Raw tree: `root/MELD.Raw/{train,dev,test}_sent_emo.csv` and the clip folders
    (`train_splits/`, `dev_splits_complete/`, `output_repeated_splits_test/`) of `dia{D}_utt{U}.mp4` clips.

    One clip is made per emotion and copied for each utterance of that emotion (`clip_cache`: a folder to reuse the
    seven clips from). Returns `(raw_dir, rows)`.
    """
    import shutil

    raw = os.path.join(root, "MELD.Raw")
    rows = write_meld(raw, dialogues=dialogues, turns=turns, seed=seed, nested=False)
    clip_cache = clip_cache or os.path.join(root, "_clips")
    os.makedirs(clip_cache, exist_ok=True)
    for i, emotion in enumerate(MELD_EMOTIONS):
        if not os.path.isfile(os.path.join(clip_cache, f"{emotion}.mp4")):
            make_clip(os.path.join(clip_cache, f"{emotion}.mp4"), i)
    for prefix, folder in RAW_CLIP_FOLDERS.items():
        os.makedirs(os.path.join(raw, folder), exist_ok=True)
        for row in rows[prefix]:
            shutil.copyfile(os.path.join(clip_cache, f"{row['Emotion']}.mp4"),
                            os.path.join(raw, folder, f"dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}.mp4"))
    return raw, rows


def pack_meld_raw(raw_dir, out_dir):
    """Pack an extracted tree like the official download: `MELD.Raw.tar.gz` holding `MELD.Raw/` with the nested
    `train.tar.gz`, `dev.tar.gz`, `test.tar.gz` (each holding its clip folder) and the CSVs."""
    import shutil
    import tarfile

    staging = os.path.join(out_dir, "staging", "MELD.Raw")
    os.makedirs(staging, exist_ok=True)
    for name in os.listdir(raw_dir):
        if name.endswith(".csv"):
            shutil.copyfile(os.path.join(raw_dir, name), os.path.join(staging, name))
    for short, folder in RAW_CLIP_FOLDERS.items():
        with tarfile.open(os.path.join(staging, f"{short}.tar.gz"), "w:gz") as tar:
            tar.add(os.path.join(raw_dir, folder), arcname=folder)
    archive = os.path.join(out_dir, "MELD.Raw.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging, arcname="MELD.Raw")
    shutil.rmtree(os.path.join(out_dir, "staging"))
    return archive


FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # official CSV id order
FER_FOLDERS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]  # the Kaggle folders (sorted)


def fer_face(label, rng, size=48):
    """A 48x48 uint8 'face' whose class shows as a bright bar at a label-dependent height, plus noise."""
    import numpy as np

    image = rng.integers(40, 90, size=(size, size)).astype(np.uint8)
    row = 3 + label * (size - 8) // len(FER_LABELS)
    image[row:row + 5, 6:size - 6] = 230
    return image


def write_fer2013_folder(root, per_class=(4, 2, 2), seed=0, image_format="JPEG"):
    """The Kaggle image-folder layout: `train/<emotion>/Training_<id>.jpg`, `test/<emotion>/{PublicTest,
    PrivateTest}_<id>.jpg`, `per_class` images of each label per usage. Returns `{relative_path: (label_id, array)}`."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    written, serial = {}, 1000
    for usage, n in zip(("Training", "PublicTest", "PrivateTest"), per_class):
        folder = "train" if usage == "Training" else "test"
        for label, name in enumerate(FER_LABELS):
            os.makedirs(os.path.join(root, folder, name), exist_ok=True)
            for _ in range(n):
                serial += 7
                relative = f"{folder}/{name}/{usage}_{serial}.{'jpg' if image_format == 'JPEG' else 'png'}"
                pixels = fer_face(label, rng)
                Image.fromarray(pixels, mode="L").save(os.path.join(root, relative), format=image_format)
                written[relative] = (label, pixels)
    return written


def write_fer2013_csv(path, per_class=(4, 2, 2), seed=0):
    """The official `fer2013.csv` (`emotion,pixels,Usage`). Returns the rows as `(label, usage, array)`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for usage, n in zip(("Training", "PublicTest", "PrivateTest"), per_class):
        for label in range(len(FER_LABELS)):
            rows.extend((label, usage, fer_face(label, rng)) for _ in range(n))
    order = rng.permutation(len(rows))  # the official file interleaves labels
    rows = [rows[i] for i in order if rows[i][1] == "Training"] + [rows[i] for i in order if rows[i][1] != "Training"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["emotion", "pixels", "Usage"])
        for label, usage, pixels in rows:
            writer.writerow([label, " ".join(map(str, pixels.flatten().tolist())), usage])
    return rows
