"""Whisper on short clips: our windowed encoder against the stock 30 s-padded WhisperForAudioClassification.

A 3 s clip goes through
- ours: `SpeechEmotionForAudioClassification` with `window_seconds=3` (the encoder built with 150 positions; the
  `WhisperFeatureExtractor(chunk_length=3)` pads to 3 s), pooled over the clip's frames;
- stock: `WhisperForAudioClassification` with the same encoder weights and the stock 30 s extractor (3000 mel frames,
  1500 positions), as `pipeline("audio-classification")` runs `openai/whisper-base` today.
Both with the same whisper-base-sized encoder: the local pretrained weights when `--backbone` (default
`../shared/backbones/whisper-base-encoder`) exists, else random weights of that size. Feature extraction is timed with
the model, as a user's pipeline call pays both. Batch 1 and 16; the ratio (stock time / ours) ends the last line.

    python bench/bench_whisper_window.py [--threads 2] [--repeats 5] [--backbone DIR]
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from emotion_hub.modeling import SpeechEmotionConfig, SpeechEmotionForAudioClassification  # noqa: E402


WHISPER_BASE = dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048, num_mel_bins=80,
                    decoder_layers=1, decoder_attention_heads=8, decoder_ffn_dim=2048)


def build(backbone: str, window: int, num_labels: int = 7):
    if os.path.isdir(backbone):
        ours = SpeechEmotionForAudioClassification.from_pretrained_backbone(backbone, window_seconds=window,
                                                                            num_labels=num_labels)
        source = f"pretrained {backbone}"
    else:
        ours = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
            audio_config=dict(model_type="whisper", **WHISPER_BASE), window_seconds=window, num_labels=num_labels))
        source = "random weights, whisper-base size"
    stock_config = WhisperConfig(**{k: v for k, v in ours.config.audio_config.to_dict().items()
                                    if k not in ("model_type", "transformers_version", "architectures")})
    stock_config.max_source_positions, stock_config.num_labels = 1500, num_labels
    stock = WhisperForAudioClassification(stock_config)
    # The same encoder: our 150 positions are the first rows of the stock 1500-row sinusoid table.
    state = {k: v for k, v in ours.encoder.state_dict().items() if k != "embed_positions.weight"}
    stock.encoder.load_state_dict(state, strict=False)
    return ours.eval(), stock.eval(), source


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clip_seconds", type=float, default=3.0)
    parser.add_argument("--backbone", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                           "backbones", "whisper-base-encoder"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    window = int(np.ceil(args.clip_seconds))
    ours, stock, source = build(args.backbone, window)
    ours_fe = WhisperFeatureExtractor(chunk_length=window)
    stock_fe = WhisperFeatureExtractor()  # chunk_length 30, as openai/whisper-base ships it
    rng = np.random.default_rng(0)
    print(f"encoder: {source}; clip {args.clip_seconds:g} s; our window {window} s vs stock 30 s; "
          f"{args.threads} threads, median of {args.repeats}")
    ratios = []
    for batch in (1, 16):
        clips = [(rng.standard_normal(int(args.clip_seconds * 16000)) * 0.1).astype(np.float32) for _ in range(batch)]

        @torch.inference_mode()
        def run_ours():
            inputs = ours_fe(clips, sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
            return ours(**inputs).logits

        @torch.inference_mode()
        def run_stock():
            inputs = stock_fe(clips, sampling_rate=16000, return_tensors="pt")
            return stock(inputs["input_features"]).logits

        t_ours, t_stock = timed(run_ours, args.repeats), timed(run_stock, args.repeats)
        ratios.append(t_stock / t_ours)
        print(f"batch {batch:2d}: ours {t_ours * 1000:8.1f} ms   stock 30 s {t_stock * 1000:8.1f} ms   "
              f"speed-up {t_stock / t_ours:.1f}x")
    print(f"windowed Whisper speed-up over the stock 30 s input (min over batch 1 and 16): {min(ratios):.2f}")


if __name__ == "__main__":
    main()
