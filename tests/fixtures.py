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
