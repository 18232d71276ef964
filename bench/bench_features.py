#!/usr/bin/env python
"""Speed of EmotionAudioFeatureExtractor (one batched call) against a per-clip librosa loop and torchaudio's batched
transforms with the same parameters, on an idle CPU and beside CPU-bound competing processes, in one run.

Synthetic speech-like clips (harmonics of a gliding pitch, noise, syllable gaps); two cases, the report's log-mel and
MFCC(40) + delta + delta-delta. For each load (idle, then with `--competitors` busy-loop processes running for the
whole phase), every round times ours, librosa and torchaudio one after the other, so that the load hits all three
alike; the table gives the median over `--rounds` rounds (after one warm-up round). The issue's floors: ours faster than
the librosa loop in every row, beside a competing process too. The last line ends with the ratio librosa loop / ours
for MFCC + deltas under load.

    python bench/bench_features.py [--clips 16] [--seconds 3] [--rounds 3] [--threads 2] [--competitors 1]

torchaudio computes the same STFT and mel filters (`MelSpectrogram(norm="slaney", mel_scale="slaney",
pad_mode="constant")`, `AmplitudeToDB(top_db=80)` per clip, minus the clip's maximum as `ref=np.max`) and the MFCC as
`transforms.MFCC` does (`functional.create_dct(norm="ortho")` on that log-mel; `transforms.MFCC` itself would floor
the whole batch at 80 dB below its loudest clip), but its deltas are `ComputeDeltas(win_length=9)` (a regression
slope with replicated edges, delta-delta as the delta of the delta), not librosa's Savitzky-Golay filters with
interpolated edges: the same amount of work, different values at the edges and for order 2.
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import time

import librosa
import numpy as np
import torch
import torchaudio

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from emotion_hub.processing import EmotionAudioFeatureExtractor  # noqa: E402


SAMPLING_RATE = 44100
WHO = ("ours", "librosa", "torchaudio")


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


# -- the per-clip librosa loop -----------------------------------------------------------------------------------------
def librosa_log_mel(y, fe):
    mel = librosa.feature.melspectrogram(y=y, sr=fe.sampling_rate, n_fft=fe.n_fft, hop_length=fe.hop_length,
                                         win_length=fe.win_length, window=fe.window, center=fe.center,
                                         pad_mode="constant", power=fe.power, n_mels=fe.n_mels, fmin=fe.f_min,
                                         fmax=fe.f_max, htk=fe.mel_scale == "htk", norm=fe.mel_norm)
    return librosa.power_to_db(mel, ref=np.max, amin=fe.amin, top_db=fe.top_db)


def librosa_mfcc_deltas(y, fe):
    mfcc = librosa.feature.mfcc(S=librosa_log_mel(y, fe), n_mfcc=fe.n_mfcc)
    return np.concatenate([mfcc, librosa.feature.delta(mfcc, width=fe.delta_width),
                           librosa.feature.delta(mfcc, width=fe.delta_width, order=2)])


# -- torchaudio's batched transforms -----------------------------------------------------------------------------------
def torchaudio_transforms(fe):
    mel_kwargs = dict(n_fft=fe.n_fft, win_length=fe.win_length, hop_length=fe.hop_length, f_min=fe.f_min,
                      f_max=fe.f_max, n_mels=fe.n_mels, power=fe.power, center=fe.center, pad_mode="constant",
                      norm=fe.mel_norm, mel_scale=fe.mel_scale)
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=fe.sampling_rate, **mel_kwargs)
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=fe.top_db)
    dct = torchaudio.functional.create_dct(fe.n_mfcc, fe.n_mels, norm="ortho")  # (n_mels, n_mfcc), as MFCC uses
    deltas = torchaudio.transforms.ComputeDeltas(win_length=fe.delta_width)

    def log_mel(batch):  # (clips, samples) -> (clips, n_mels, frames)
        db = to_db(mel(batch).unsqueeze(1)).squeeze(1)  # a channel axis: top_db below each clip's own maximum
        return db - db.amax(dim=(-2, -1), keepdim=True)  # ref=np.max

    def mfcc_deltas(batch):  # transforms.MFCC's steps on that log-mel (its own AmplitudeToDB floors the whole batch)
        coefficients = torch.matmul(log_mel(batch).transpose(-1, -2), dct).transpose(-1, -2)
        first = deltas(coefficients)
        return torch.cat([coefficients, first, deltas(first)], dim=1)

    return log_mel, mfcc_deltas


# -- the competing load ------------------------------------------------------------------------------------------------
def _busy(stop, running):
    running.set()
    while not stop.is_set():
        sum(i * i for i in range(20000))


class Competitors:
    """`count` CPU-bound busy-loop processes, running from `__enter__` to `__exit__`."""

    def __init__(self, count):
        self.count, self.processes = count, []

    def __enter__(self):
        context = multiprocessing.get_context("fork")  # the child runs a pure-Python loop only
        self.stop = context.Event()
        for _ in range(self.count):
            running = context.Event()
            process = context.Process(target=_busy, args=(self.stop, running), daemon=True)
            process.start()
            running.wait(10)
            self.processes.append(process)
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
        self.processes = []


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=min(2, torch.get_num_threads()),
                        help="torch threads of ours and torchaudio (the issue measured 2)")
    parser.add_argument("--competitors", type=int, default=1, help="busy-loop processes beside the loaded phase")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    clips = [speech_like(rng, args.seconds) for _ in range(args.clips)]
    batch = torch.from_numpy(np.stack(clips))
    cases = {}
    for case, fe, reference in (
            ("log-mel", EmotionAudioFeatureExtractor(sampling_rate=SAMPLING_RATE, max_length_seconds=args.seconds),
             librosa_log_mel),
            ("MFCC + deltas", EmotionAudioFeatureExtractor(feature_type="mfcc", n_mfcc=40, deltas=2,
                                                           sampling_rate=SAMPLING_RATE,
                                                           max_length_seconds=args.seconds), librosa_mfcc_deltas)):
        ta_log_mel, ta_mfcc = torchaudio_transforms(fe)
        cases[case] = {"ours": lambda fe=fe: fe(clips, sampling_rate=SAMPLING_RATE)["input_features"],
                       "librosa": lambda fe=fe, reference=reference: np.stack([reference(y, fe) for y in clips]),
                       "torchaudio": lambda f=ta_log_mel if case == "log-mel" else ta_mfcc: f(batch)}

    loads = {"idle": 0, f"{args.competitors} busy process{'es' if args.competitors > 1 else ''}": args.competitors}
    seconds = {}
    started_all = time.perf_counter()
    for phase, (load, competitors) in enumerate(loads.items()):
        with Competitors(competitors):
            # round 0 (first load only) warms up FFT plans and caches, checks the outputs, and is not counted
            for round_index in range(0 if phase == 0 else 1, args.rounds + 1):
                for case, functions in cases.items():
                    outputs = {}
                    for who in WHO:
                        started = time.perf_counter()
                        outputs[who] = functions[who]()
                        elapsed = time.perf_counter() - started
                        if round_index:
                            seconds.setdefault((case, load, who), []).append(elapsed)
                    if round_index == 0:
                        expected = np.asarray(outputs["librosa"], dtype=np.float64)
                        rows = 40 if case != "log-mel" else expected.shape[1]  # torchaudio's deltas differ
                        errors = [np.abs(np.asarray(outputs[who])[:, :rows] - expected[:, :rows]).max()
                                  / np.abs(expected[:, :rows]).max() for who in ("ours", "torchaudio")]
                        print(f"{case}: output {tuple(outputs['ours'].shape)}; max |x - librosa| / max |librosa|: "
                              f"ours {errors[0]:.1e}, torchaudio {errors[1]:.1e}"
                              + (" (MFCC rows only)" if case != "log-mel" else ""))

    print(f"threads {args.threads}, {args.clips} clips x {args.seconds:g} s at {SAMPLING_RATE} Hz, {args.rounds} "
          f"rounds (median), {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, {time.perf_counter() - started_all:.0f} s")
    print(f"| case | load | ours (s) | librosa loop (s) | torchaudio (s) | librosa / ours | torchaudio / ours |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    ratio = None
    for case in cases:
        for load in loads:
            ours, theirs, torchaudio_s = (statistics.median(seconds[case, load, who]) for who in WHO)
            ratio = theirs / ours
            print(f"| {case} | {load} | {ours:.3f} | {theirs:.3f} | {torchaudio_s:.3f} | {ratio:.1f}x | "
                  f"{torchaudio_s / ours:.1f}x |")
    print(f"MFCC + deltas beside {args.competitors} busy process(es), speed ratio librosa loop / ours: {ratio:.2f}")


if __name__ == "__main__":
    main()
