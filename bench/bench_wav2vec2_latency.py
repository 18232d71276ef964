#!/usr/bin/env python
"""Inference latency of Wav2Vec2EmotionForAudioClassification (pooling mean and mean_max) against the stock
Wav2Vec2ForSequenceClassification on the same wav2vec2-base-sized backbone (`Wav2Vec2Config()` defaults: 12 layers,
768 hidden, random weights), on 3 s clips at 16 kHz: one clip on one thread, then batches of 8 on all threads.
Contenders alternate within every round so a shared CPU's load hits them alike; the median round counts. The issue's
bar is ours <= 1.05x stock.

    python bench/bench_wav2vec2_latency.py [--rounds 9] [--seconds 3] [--batch 8] [--threads N]
"""

import argparse
import os
import statistics
import sys
import time

import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from emotion_hub.modeling import Wav2Vec2EmotionConfig, Wav2Vec2EmotionForAudioClassification  # noqa: E402


def build_contenders():
    torch.manual_seed(0)
    labels = dict(enumerate(["angry", "happy", "neutral", "sad"]))
    stock = Wav2Vec2ForSequenceClassification(Wav2Vec2Config(id2label=labels)).eval()
    contenders = {"stock Wav2Vec2ForSequenceClassification": stock}
    for pooling in ("mean", "mean_max"):
        ours = Wav2Vec2EmotionForAudioClassification(
            Wav2Vec2EmotionConfig(wav2vec2_config=Wav2Vec2Config(), pooling=pooling, projector_size=256,
                                  id2label=labels)).eval()
        ours.wav2vec2.load_state_dict(stock.wav2vec2.state_dict())  # the same backbone weights
        contenders[f"ours pooling={pooling}"] = ours
    return contenders


def measure(contenders, inputs, rounds):
    """Median seconds per call of each contender, alternating contenders within every round (round 0 warms up);
    the order rotates from round to round so that no contender always runs first."""
    times = {name: [] for name in contenders}
    names = list(contenders)
    with torch.inference_mode():
        for round_index in range(rounds + 1):
            for name in names[round_index % len(names):] + names[:round_index % len(names)]:
                model = contenders[name]
                started = time.perf_counter()
                model(inputs)
                if round_index:
                    times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    contenders = build_contenders()
    stock_name = next(iter(contenders))
    samples = int(args.seconds * 16000)
    # Unpadded clips, no attention mask: what the stock feature extractor gives wav2vec2-base (group norm).
    generator = torch.Generator().manual_seed(0)
    settings = [("single clip", 1, 1), (f"batch {args.batch}", args.batch, args.threads)]
    ratios = {}
    print(f"{args.seconds:g} s clips at 16 kHz, wav2vec2-base-sized random backbone, median of {args.rounds} rounds, "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for label, batch, threads in settings:
        torch.set_num_threads(threads)
        inputs = torch.randn(batch, samples, generator=generator)
        seconds = measure(contenders, inputs, args.rounds)
        print(f"{label}, {threads} thread{'s' if threads > 1 else ''}:")
        for name, value in seconds.items():
            print(f"  {name:<42} {1000 * value / batch:8.1f} ms per clip")
        ratios[label] = {name: seconds[name] / seconds[stock_name] for name in seconds if name != stock_name}
    print("ratio ours / stock (bar: <= 1.05x):")
    for label, by_name in ratios.items():
        print(f"  {label:<14} " + "   ".join(f"{name.removeprefix('ours ')}: {ratio:.3f}x" for name, ratio in by_name.items()))


if __name__ == "__main__":
    main()
