"""Scale: the cached frozen-encoder training path at 1,000, 4,000 and 16,000 clips. Memory must not grow with the
corpus, and the seconds per clip must not either.

Synthetic corpus: 3 s clips of random audio (16 kHz, 16-bit WAV files) written as a `datasets` split (an Arrow file
made by `Dataset.from_generator` with an Audio column of file paths and a 4-class label, as the package's builders
store their corpora), made once in `--work_dir` and reused. Encoder: a random Whisper
encoder of Whisper-base width (d_model 512, 8 heads, FFN 2048) with one layer, so that 16,000 clips encode in
minutes on a CPU, on a 3 s window; head: the `whisper-ravdess` recipe's (mean pooling of the normalised weighted layer
sum, `standardize_pooled`, linear classifier), so the cache stores layer means. Each N runs in a fresh process (the
same setup for every N): the first N clips split 80/10/10, then
- the cache build (`AudioClassificationTask.cache_encoder`: decode, features, encoder, entries on disk, streamed),
- `train_and_evaluate` for 2 epochs on the built cache (every entry checked, read from disk each epoch).
Reported per N: peak RSS of the process (`ru_maxrss`), the peak of its anonymous part (`RssAnon`, sampled every
0.1 s: memory the process holds, as opposed to file pages mapped from disk), seconds per clip of the cache build
(wall clock, and the process's CPU seconds, which other jobs on the machine do not inflate) and of a training epoch,
and the bytes per clip on disk. Then a projection to 100,000 clips with Whisper-base: its seconds and bytes per clip
measured on `--projection_clips` clips with the local Whisper-base encoder (`--whisper_base`) when it is there.
The last line ends with peak RSS at the largest N divided by peak RSS at the smallest.

    python bench/bench_scale.py [--sizes 1000 4000 16000] [--work_dir /tmp/emotion-hub-scale] [--threads 1]
    python bench/bench_scale.py --sizes 250 1000 --backbone ../shared/backbones/whisper-base-encoder   (real encoder)
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SAMPLING_RATE, SECONDS, LABELS = 16000, 3, ["a", "b", "c", "d"]
HEAD = dict(pooling="mean", use_weighted_layer_sum=True, normalize_hidden_states=True, projector_size=0,
            classifier_dropout=0.2, standardize_pooled=True, freeze_backbone=True)
WHISPER_BASE_WIDTH = dict(model_type="whisper", d_model=512, encoder_layers=1, encoder_attention_heads=8,
                          encoder_ffn_dim=2048, num_mel_bins=80, decoder_layers=1, decoder_attention_heads=8,
                          decoder_ffn_dim=2048, max_source_positions=50 * SECONDS)


def write_corpus(work_dir: str, count: int) -> str:
    """`count` clips as WAV files and a `datasets` split of their paths (reused when it has enough rows); returns the
    split's Arrow file."""
    import datasets
    import soundfile

    record = os.path.join(work_dir, "split.json")
    if os.path.isfile(record):
        with open(record) as f:
            made = json.load(f)
        if made["rows"] >= count and os.path.isfile(made["file"]):
            return made["file"]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = os.path.join(work_dir, "clips", f"{i // 1000:03d}", f"clip{i:06d}.wav")
        if not os.path.isfile(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            soundfile.write(path, (rng.standard_normal(SAMPLING_RATE * SECONDS) * 0.1).astype(np.float32),
                            SAMPLING_RATE, subtype="PCM_16")
        paths.append(path)
    features = datasets.Features({"audio": datasets.Audio(sampling_rate=SAMPLING_RATE),
                                  "label": datasets.ClassLabel(names=LABELS)})
    labels = np.random.default_rng(1).integers(0, len(LABELS), count).tolist()

    def rows():  # as a builder's `_generate_examples`: the Arrow file keeps the paths, not the audio
        for path, label in zip(paths, labels):
            yield {"audio": path, "label": label}

    split = datasets.Dataset.from_generator(rows, features=features, cache_dir=os.path.join(work_dir, "datasets"))
    with open(record, "w") as f:
        json.dump({"rows": count, "file": split.cache_files[0]["filename"]}, f)
    return split.cache_files[0]["filename"]


def write_random_encoder(work_dir: str) -> str:
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    folder = os.path.join(work_dir, "encoder")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        torch.manual_seed(0)
        WhisperModel(WhisperConfig(**{k: v for k, v in WHISPER_BASE_WIDTH.items() if k != "model_type"})) \
            .save_pretrained(folder)
        WhisperFeatureExtractor(chunk_length=SECONDS).save_pretrained(folder)
    return folder


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args):
    """One N in this process: the cache build, then 2 epochs of training from it; prints one JSON line."""
    import datasets
    import torch

    from emotion_hub.training.audio import AudioClassificationTask
    from emotion_hub.training.loop import build_accelerator, train_and_evaluate
    from emotion_hub.training.recipe import Recipe

    torch.set_num_threads(args.threads)
    peak_anonymous = [0]

    def sample():
        while True:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak_anonymous[0] = max(peak_anonymous[0], int(line.split()[1]) * 1024)
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    n = args.child
    corpus = datasets.Dataset.from_file(args.split).select(range(n))
    tenth = max(1, n // 10)
    splits = {"validation": corpus.select(range(tenth)), "test": corpus.select(range(tenth, 2 * tenth)),
              "train": corpus.select(range(2 * tenth, n))}
    out = os.path.join(args.work_dir, f"run-{n}")
    recipe = Recipe(dataset="synthetic", input_column="audio", label_column="label", model_type="speech_emotion",
                    pretrained_backbone=args.encoder,
                    feature_extractor={"class": "WhisperFeatureExtractor", "from_pretrained": args.encoder,
                                       "chunk_length": SECONDS},
                    model=dict(HEAD), optimizer="adamw", learning_rate=0.01, num_epochs=2,
                    per_device_train_batch_size=16, per_device_eval_batch_size=16, early_stopping_patience=None,
                    checkpointing_steps=None, encoder_cache_dir=args.cache, output_dir=out, logging_steps=1000)
    accelerator = build_accelerator(recipe)
    task = AudioClassificationTask(recipe, splits["train"], LABELS)
    data = {name: task.dataset(name, split) for name, split in splits.items()}
    model = task.build_model(None)
    start, cpu = time.perf_counter(), _cpu_seconds()
    task.cache_encoder(model, data, accelerator)
    build, build_cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    rss_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del task, data, model
    start = time.perf_counter()
    results = train_and_evaluate(recipe, accelerator, splits, out)
    run = time.perf_counter() - start
    sizes = [entry.stat().st_size for folder in os.scandir(args.cache) if folder.is_dir()
             for sub in os.scandir(folder.path) if sub.is_dir() for entry in os.scandir(sub.path)
             if entry.name.endswith(".safetensors") and not entry.name.startswith(".tmp-")]
    print(json.dumps({"n": n, "build_s": build, "build_cpu_s": build_cpu, "epoch_s": results["train_runtime"] / results["epoch"],
                      "train_clips": results["train_samples"], "run_s": run, "entries": len(sizes),
                      "bytes_per_clip": sum(sizes) / max(len(sizes), 1), "rss_build": rss_build,
                      "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "anonymous_peak": peak_anonymous[0]}))


def run_child(args, n: int, encoder: str, tag: str) -> dict:
    cache = os.path.join(args.work_dir, f"cache-{tag}-{n}")
    if os.path.isdir(cache):  # a cold cache for every measurement
        subprocess.run([sys.executable, "-m", "emotion_hub.training.encoder_cache", "clean", "--dir", cache],
                       check=True, capture_output=True)
    for name in (f"run-{n}",):
        path = os.path.join(args.work_dir, name)
        if os.path.isdir(path):
            import shutil

            shutil.rmtree(path)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TRANSFORMERS_VERBOSITY": "error",
           "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(n), "--work_dir", args.work_dir,
                           "--split", args.split, "--encoder", encoder, "--cache", cache, "--threads",
                           str(args.threads)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"N={n} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--work_dir", default=os.path.join("/tmp", "emotion-hub-scale"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backbone", default=None, help="a Whisper encoder folder instead of the random one")
    parser.add_argument("--whisper_base", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                               "backbones", "whisper-base-encoder"))
    parser.add_argument("--projection_clips", type=int, default=200)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--split", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--encoder", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(args)
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.perf_counter()
    args.split = write_corpus(args.work_dir, max(args.sizes + [args.projection_clips]))
    print(f"corpus: {max(args.sizes)} clips of {SECONDS} s in {args.work_dir} ({time.perf_counter() - start:.0f} s)")
    encoder = args.backbone or write_random_encoder(args.work_dir)
    what = (f"encoder {args.backbone}" if args.backbone else
            "random Whisper encoder of Whisper-base width (d_model 512, 8 heads, FFN 2048), 1 layer")
    print(f"{what}, {SECONDS} s window; head: mean of the normalised layer sum, standardize_pooled; "
          f"{args.threads} thread(s), one fresh process per N")
    rows = []
    print(f"{'N':>7} {'peak RSS':>10} {'anonymous':>10} {'build s/clip':>13} {'(CPU s)':>8} {'epoch s/clip':>13} "
          f"{'bytes/clip':>11}")
    for n in args.sizes:
        row = run_child(args, n, encoder, "scale")
        rows.append(row)
        with open(os.path.join(args.work_dir, "results.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{n:>7} {row['rss_peak'] / 2**20:>7.0f} MB {row['anonymous_peak'] / 2**20:>7.0f} MB "
              f"{row['build_s'] / n:>13.4f} {row['build_cpu_s'] / n:>8.4f} "
              f"{row['epoch_s'] / row['train_clips']:>13.5f} {row['bytes_per_clip']:>11.0f}", flush=True)
    first, last = rows[0], rows[-1]
    print(f"N={last['n']} against N={first['n']}: build s/clip x{(last['build_s'] / last['n']) / (first['build_s'] / first['n']):.2f} "
          f"(CPU s x{(last['build_cpu_s'] / last['n']) / (first['build_cpu_s'] / first['n']):.2f}), "
          f"epoch s/clip x{(last['epoch_s'] / last['train_clips']) / (first['epoch_s'] / first['train_clips']):.2f}")
    if not args.backbone and os.path.isdir(args.whisper_base):
        base = run_child(args, args.projection_clips, os.path.abspath(args.whisper_base), "whisper-base")
        source = f"measured on {args.projection_clips} clips with the local Whisper-base"
    else:
        base, source = (last, "measured with the encoder above") if args.backbone else (None, None)
    if base is not None:
        clips = 100_000
        print(f"projected for {clips:,} clips of {SECONDS} s with Whisper-base ({source}): cache build "
              f"{base['build_s'] / base['n'] * clips / 3600:.1f} h on {args.threads} thread(s) (split over "
              f"processes and machines), {base['bytes_per_clip'] * clips / 2**30:.2f} GB on disk, epoch "
              f"{base['epoch_s'] / base['train_clips'] * clips * 0.8:.0f} s for 80,000 training clips, peak RSS "
              f"{base['rss_peak'] / 2**20:.0f} MB (at {base['n']} clips; flat in N, as above)")
    print(f"peak RSS at N={last['n']} / peak RSS at N={first['n']} (same encoder, same process setup): "
          f"{last['rss_peak'] / first['rss_peak']:.2f}")


if __name__ == "__main__":
    main()
