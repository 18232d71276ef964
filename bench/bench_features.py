#!/usr/bin/env python
"""Speed of EmotionAudioFeatureExtractor (one batched call) against a per-clip librosa loop with the same parameters,
on synthetic speech-like clips (harmonics of a gliding pitch, noise, syllable gaps), for the report's log-mel and
for MFCC(40) + delta + delta-delta; timed alternately in one run so a shared CPU's load hits both alike, several
rounds, median. The last lines are the speed ratios (the issue's floor: batched >= 5x the librosa loop).

    python bench/bench_features.py [--clips 64] [--seconds 3] [--rounds 7] [--threads N]

On a CPU shared with other jobs (load above the core count), torch's OpenMP threads spin-wait at every parallel
region and steal the cores from each other: there `--threads 1`, or `OMP_WAIT_POLICY=PASSIVE`, is much faster than
the default thread count (the header prints the load and the wait policy).
"""

import argparse
import os
import statistics
import sys
import time

import librosa
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from processing import EmotionAudioFeatureExtractor  # noqa: E402


SAMPLING_RATE = 44100


def speech_like(rng, seconds, sampling_rate=SAMPLING_RATE):
    """Voiced syllables (12 harmonics of a 100-250 Hz gliding pitch, 3-6 per second) with breath noise and gaps."""
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    pitch = rng.uniform(100, 250) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sampling_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 13))
    syllables = np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * t + rng.uniform(0, 2 * np.pi))
    envelope = np.clip(syllables, 0, None) ** 0.5
    y = 0.3 * envelope * voiced + 0.02 * envelope * rng.standard_normal(t.size) + 1e-4 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def librosa_log_mel(y, fe):
    mel = librosa.feature.melspectrogram(y=y, sr=fe.sampling_rate, n_fft=fe.n_fft, hop_length=fe.hop_length,
                                         win_length=fe.win_length, window=fe.window, center=fe.center,
                                         power=fe.power, n_mels=fe.n_mels, fmin=fe.f_min, fmax=fe.f_max,
                                         htk=fe.mel_scale == "htk", norm=fe.mel_norm)
    return librosa.power_to_db(mel, ref=np.max, amin=fe.amin, top_db=fe.top_db)


def librosa_mfcc_deltas(y, fe):
    mfcc = librosa.feature.mfcc(S=librosa_log_mel(y, fe), n_mfcc=fe.n_mfcc)
    return np.concatenate([mfcc, librosa.feature.delta(mfcc, width=fe.delta_width),
                           librosa.feature.delta(mfcc, width=fe.delta_width, order=2)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    clips = [speech_like(rng, args.seconds) for _ in range(args.clips)]
    cases = {
        "log-mel (report defaults)": (EmotionAudioFeatureExtractor(sampling_rate=SAMPLING_RATE,
                                                                   max_length_seconds=args.seconds),
                                      librosa_log_mel),
        "MFCC(40) + delta + delta-delta": (EmotionAudioFeatureExtractor(
            feature_type="mfcc", n_mfcc=40, deltas=2, sampling_rate=SAMPLING_RATE, max_length_seconds=args.seconds),
            librosa_mfcc_deltas),
    }
    seconds = {(case, who): [] for case in cases for who in ("batched", "librosa")}
    for round_index in range(args.rounds + 1):  # round 0 warms up (FFT plans, librosa's caches) and is not counted
        for case, (fe, reference) in cases.items():
            started = time.perf_counter()
            ours = fe(clips, sampling_rate=SAMPLING_RATE)["input_features"]
            batched = time.perf_counter() - started
            started = time.perf_counter()
            theirs = [reference(clip, fe) for clip in clips]
            looped = time.perf_counter() - started
            if round_index == 0:
                expected = np.stack(theirs)
                error = np.abs(ours.numpy() - expected).max() / np.abs(expected).max()
                print(f"{case}: output {tuple(ours.shape)}, max |ours - librosa| / max |librosa| = {error:.2e}")
            else:
                seconds[case, "batched"].append(batched)
                seconds[case, "librosa"].append(looped)

    print(f"threads {args.threads}, {args.clips} clips x {args.seconds:g} s at {SAMPLING_RATE} Hz, {args.rounds} "
          f"rounds, load {os.getloadavg()[0]:.1f}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    ratios = {}
    for case in cases:
        ours, theirs = (statistics.median(seconds[case, who]) for who in ("batched", "librosa"))
        ratios[case] = theirs / ours
        print(f"{case:<32} batched {ours:7.3f} s   per-clip librosa loop {theirs:7.3f} s")
    for case, ratio in ratios.items():
        print(f"{case:<32} speed ratio (librosa loop / batched): {ratio:.1f}x")


if __name__ == "__main__":
    main()
