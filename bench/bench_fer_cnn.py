#!/usr/bin/env python
"""Training throughput of the default FER CNN (the report's 64-128-512-512 network) on this machine, one process:
fp32 (reference) against bf16 autocast and channels_last, measured alternately in one run so a shared CPU's load
hits every contender alike; plus the cost of the batched augmentation against a training step.

    python bench/bench_fer_cnn.py [--batch 64] [--rounds 6] [--steps 3] [--threads N]
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import train  # noqa: E402
from emotion_hub.modeling import FERCNNConfig, FERCNNForImageClassification  # noqa: E402
from emotion_hub.processing import FERImageProcessor  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    processor = FERImageProcessor(image_mean=[0.5] * 3, image_std=[0.25] * 3)
    augmentation = train.ImageAugmentation(hflip=0.5, rotation=10, translate=0.1, scale=[0.9, 1.1])
    raw = torch.randint(0, 256, (args.batch, 1, 48, 48), dtype=torch.uint8)
    labels = torch.randint(0, 7, (args.batch,))

    contenders = {}
    for name in ("fp32", "bf16 autocast", "fp32 channels_last"):
        model = FERCNNForImageClassification(FERCNNConfig(num_labels=7)).train()
        if "channels_last" in name:
            model = model.to(memory_format=torch.channels_last)
        contenders[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))

    def step(name):
        model, optimizer = contenders[name]
        pixels = train.normalize_pixels(processor, augmentation(raw.float(), fill=127.5))
        if "channels_last" in name:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled="bf16" in name):
            loss = model(pixel_values=pixels, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    seconds = dict.fromkeys(contenders, 0.0)
    augment_seconds = 0.0
    for round_index in range(args.rounds + 1):  # round 0 warms up (oneDNN kernels) and is not counted
        for name in contenders:
            started = time.perf_counter()
            for _ in range(args.steps):
                step(name)
            if round_index:
                seconds[name] += time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(args.steps):
            train.normalize_pixels(processor, augmentation(raw.float(), fill=127.5))
        if round_index:
            augment_seconds += time.perf_counter() - started

    images = args.rounds * args.steps * args.batch
    reference = seconds["fp32"]
    print(f"threads {args.threads}, batch {args.batch}, {images} images per contender, load {os.getloadavg()[0]:.1f}")
    for name, value in seconds.items():
        print(f"{name:<20} {images / value:8.1f} images/s   speed vs fp32 {reference / value:.2f}x")
    print(f"augmentation + normalisation: {augment_seconds / reference:.1%} of an fp32 training step")


if __name__ == "__main__":
    main()
