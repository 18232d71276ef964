#!/usr/bin/env python
"""CPU inference latency of onnxruntime against eager PyTorch for the models `export_onnx.py` writes: the text CNN of
the TweetEval recipe (20k-word vocabulary, 50-d embeddings, kernels 1-3 x 100 filters) on a batch of tweets, and the
MFCC CNN of the RAVDESS recipe (120 x 87 MFCC image of a 2 s clip, batch norm, mean+std pooling) on a batch of clips.
Random weights: latency does not depend on their values. Both runtimes are timed alternately in one run, on the
same thread count, so a shared CPU's load hits them alike; the last number printed is onnxruntime's latency over
PyTorch's, summed over both models (below 1: onnxruntime is faster).

    python bench/bench_onnx.py [--batch 32] [--rounds 30] [--threads 1]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from export_onnx import LogitsOnly, export_onnx  # noqa: E402
from emotion_hub.modeling import (MFCCCNNConfig, MFCCCNNForAudioClassification, TextCNNConfig,  # noqa: E402
                      TextCNNForSequenceClassification)


def models(batch: int):
    """`{name: (model, inputs)}`: the recipes' architectures with example batches."""
    text = TextCNNForSequenceClassification(TextCNNConfig(
        vocab_size=20000, embedding_dim=50, kernel_sizes=[1, 2, 3], num_filters=100, max_sequence_length=128,
        num_labels=4)).eval()
    ids = torch.randint(1, 20000, (batch, 40))
    ids[batch // 2:, 25:] = 0  # half the tweets padded
    mfcc = MFCCCNNForAudioClassification(MFCCCNNConfig(
        input_height=120, input_width=87, conv_channels=[32, 64], batch_norm=True, global_pool="mean_std",
        fc_sizes=[], classifier_dropout=0.5, num_labels=8)).eval()
    features = torch.randn(batch, 120, 87)
    mask = torch.ones(batch, 87, dtype=torch.long)
    mask[batch // 2:, 60:] = 0
    return {"text CNN": (text, {"input_ids": ids, "attention_mask": ids.ne(0).long()}),
            "MFCC CNN": (mfcc, {"input_features": features, "attention_mask": mask})}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import onnxruntime

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = args.threads
    contenders = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (model, inputs) in models(args.batch).items():
            path = os.path.join(folder, name.replace(" ", "_") + ".onnx")
            report = export_onnx(model, path)  # example inputs of its own; checked against onnxruntime
            session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            feed = {n: inputs[n].numpy() for n in report["inputs"]}
            wrapper = LogitsOnly(model, report["inputs"]).eval()
            args_pt = tuple(inputs[n] for n in report["inputs"])
            with torch.no_grad():
                difference = abs(session.run(None, feed)[0] - wrapper(*args_pt).numpy()).max()
            contenders[name] = (session, feed, wrapper, args_pt, difference)

    def timed(function):
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    times = {name: {"onnxruntime": [], "pytorch": []} for name in contenders}
    with torch.inference_mode():
        for round_ in range(args.rounds + 2):  # two warm-up rounds
            for name, (session, feed, wrapper, args_pt, _) in contenders.items():
                ort = timed(lambda: session.run(None, feed))
                pt = timed(lambda: wrapper(*args_pt))
                if round_ >= 2:
                    times[name]["onnxruntime"].append(ort)
                    times[name]["pytorch"].append(pt)
    total_ort = total_pt = 0.0
    print(f"batch {args.batch}, {args.threads} thread(s), median of {args.rounds} alternating rounds")
    for name, runs in times.items():
        ort, pt = statistics.median(runs["onnxruntime"]), statistics.median(runs["pytorch"])
        total_ort, total_pt = total_ort + ort, total_pt + pt
        print(f"{name}: onnxruntime {ort * 1e3:.2f} ms, eager PyTorch {pt * 1e3:.2f} ms, ratio {ort / pt:.3f} "
              f"(max abs logit difference {contenders[name][4]:.1e})")
    print(f"both models: onnxruntime {total_ort * 1e3:.2f} ms / eager PyTorch {total_pt * 1e3:.2f} ms = "
          f"{total_ort / total_pt:.3f}")


if __name__ == "__main__":
    main()
