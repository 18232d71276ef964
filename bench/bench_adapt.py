#!/usr/bin/env python
"""Label-free adaptation end to end, as a user would run it: a model trained on one corpus, adapted with
`python -m emotion_hub.adapt` on a folder of N unlabelled clips of another corpus, then both folders scored through
`pipeline("audio-classification")` on the other clips of that corpus (UAR on the labels the model knows).

    python bench/bench_adapt.py --model_dir OUT/cross_corpus_emodb --emodb_dir ../shared/data/emodb --clips 60

`OUT/cross_corpus_emodb` is the RAVDESS-trained model of a cross-corpus run (`train.py --cross_corpus ...`). The
clips for the statistics are drawn at random (`--seed`) from every EmoDB file (boredom included: unlabelled audio is
whatever a user has); the scored clips are the others whose emotion the model knows.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

EMODB_CODES = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness",
               "N": "neutral"}


def uar(references, predictions, labels):
    recalls = [np.mean([p == r for p, r in zip(predictions, references) if r == label]) for label in labels
               if label in references]
    return float(np.mean(recalls))


def score(model_dir, paths, batch_size=16):
    from transformers import pipeline

    classifier = pipeline("audio-classification", model=model_dir, trust_remote_code=True, device="cpu")
    return [out[0]["label"] for out in classifier(paths, batch_size=batch_size, top_k=1)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--emodb_dir", required=True, help="EmoDB folder holding wav/")
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default=None, help="the adapted folder (default: a temporary one)")
    parser.add_argument("--export_stock", action="store_true")
    args = parser.parse_args(argv)
    wav_dir = os.path.join(args.emodb_dir, "wav")
    files = sorted(f for f in os.listdir(wav_dir) if f.endswith(".wav"))
    rng = np.random.default_rng(args.seed)
    chosen = set(rng.choice(files, size=args.clips, replace=False).tolist())
    work = tempfile.mkdtemp(prefix="bench_adapt_")
    folder = os.path.join(work, "unlabelled")
    os.makedirs(folder)
    for name in chosen:
        shutil.copy2(os.path.join(wav_dir, name), folder)
    adapted = args.output_dir or os.path.join(work, "adapted")
    command = [sys.executable, "-m", "emotion_hub.adapt", "--model_dir", args.model_dir, "--audio", folder,
               "--output_dir", adapted] + (["--export_stock"] if args.export_stock else [])
    print(" ".join(command))
    subprocess.run(command, check=True)
    with open(os.path.join(args.model_dir, "config.json")) as f:
        known = set(json.load(f)["id2label"].values())
    scored = [f for f in files if f not in chosen and EMODB_CODES[f[5]] in known]
    paths = [os.path.join(wav_dir, f) for f in scored]
    references = [EMODB_CODES[f[5]] for f in scored]
    labels = sorted(known)
    before = uar(references, score(args.model_dir, paths), labels)
    after = uar(references, score(adapted, paths), labels)
    print(f"adapted on {len(chosen)} EmoDB clips, scored {len(scored)} others through pipeline('audio-classification'):"
          f" UAR unadapted {before:.3f}, adapted {after:.3f}")
    if not args.output_dir:
        shutil.rmtree(work, ignore_errors=True)
    return before, after


if __name__ == "__main__":
    main()
