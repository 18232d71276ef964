"""A frozen speech encoder: one epoch of head training from the encoder cache vs running the encoder every epoch, and
vs the cache before it stored what the head reads (every state's frames, float32, held in memory).

All three train the same SpeechEmotion head with AdamW for one epoch over the same clips in the same batches:
- encoder every epoch: what train.py does with `encoder_cache: false` (features, frozen encoder forward, head);
- frames in memory: the cache until issue 24: every hidden state's frames of every clip in float32, in a Python list;
- the cache now (`training/encoder_cache.py`): what the head reads of the encoder (`encoder_cache_spec`), on disk,
  read back by a DataLoader every epoch. For a mean-pooled head (the `whisper-emodb` / `whisper-ravdess` recipes)
  that is every state's mean over the clip's frames; for attentive pooling or trained top layers, the frames.
The one-off pass that fills the cache is timed too, and printed. Whisper-base sized encoder on 2 s clips (EmoDB's
length): the local pretrained weights when `--backbone` exists, else random weights of that size. The last line ends
with the ratio of the epoch from the frames in memory to the epoch from the cache now (>= 1: at least as fast).

With `--trainable_encoder_layers N` the top N encoder layers train with the head (`model.trainable_encoder_layers`):
the cache then keeps the states below them (every frame of the window) and each step runs the top N layers and the
head, against the whole encoder's forward (and the top layers' backward) in every step.

    python bench/bench_frozen_cache.py [--clips 64] [--threads 2] [--repeats 3] [--pooling mean|attentive_stats]
                                       [--trainable_encoder_layers 1]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from emotion_hub.modeling import SpeechEmotionConfig, SpeechEmotionForAudioClassification  # noqa: E402
from emotion_hub.training.audio import build_encoder_cache, features_of  # noqa: E402
from emotion_hub.training.encoder_cache import CachedEntries, CachedEntriesCollator, EncoderCache  # noqa: E402

WHISPER_BASE = dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048, num_mel_bins=80,
                    decoder_layers=1, decoder_attention_heads=8, decoder_ffn_dim=2048)
# The whisper-emodb recipe's head.
HEAD = dict(use_weighted_layer_sum=True, normalize_hidden_states=True, projector_size=256, num_labels=7)


def build(backbone: str, window: int, pooling: str, trainable_layers):
    head = dict(HEAD, pooling=pooling, freeze_backbone=not trainable_layers,
                trainable_encoder_layers=trainable_layers or None)
    if os.path.isdir(backbone):
        return SpeechEmotionForAudioClassification.from_pretrained_backbone(backbone, window_seconds=window, **head), \
            f"pretrained {backbone}"
    return SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=dict(model_type="whisper", **WHISPER_BASE), window_seconds=window, **head)), \
        "random weights, whisper-base size"


def epoch(model, batches, optimizer, repeats: int = 1) -> float:
    """The fastest of `repeats` epochs over `batches` (a callable that gives a fresh iterable): other jobs on the
    machine only ever slow an epoch down."""
    model.train()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches():
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def frames_in_memory(model, extractor, waves, batch_size) -> list:
    """The entries of the cache before issue 24: every fixed state's frames, float32 (the clip's real frames; with
    Whisper's trained top layers every frame of the window)."""
    config, entries = model.config, []
    model.eval()
    for start in range(0, len(waves), batch_size):
        features = features_of(extractor, waves[start:start + batch_size], return_attention_mask=True)
        outputs, mask = model.encode(features["input_features"], features["attention_mask"], output_hidden_states=True)
        stacked = torch.stack(outputs.hidden_states[:config.num_fixed_hidden_states], 1)
        for clip, n in zip(stacked, mask.sum(-1).tolist()):
            kept = clip if config.trainable_encoder_layers else clip[:, :n]
            entries.append({"hidden_states": kept.clone(), "num_frames": torch.tensor([n])})
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="epochs per variant; the fastest counts")
    parser.add_argument("--pooling", default="mean", choices=("mean", "attentive_stats"),
                        help="mean: the recipes' head, cached as layer means; attentive_stats: cached as frames")
    parser.add_argument("--trainable_encoder_layers", type=int, default=0,
                        help="train the top N encoder layers with the head (0: the encoder is frozen)")
    parser.add_argument("--backbone", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                           "backbones", "whisper-base-encoder"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, source = build(args.backbone, 2, args.pooling, args.trainable_encoder_layers)
    extractor = WhisperFeatureExtractor(chunk_length=2)
    rng = np.random.default_rng(0)
    waves = [(rng.standard_normal(int(rng.uniform(1.2, 2.0) * 16000)) * 0.1).astype(np.float32)
             for _ in range(args.clips)]
    labels = torch.as_tensor(rng.integers(0, 7, args.clips))
    head = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(head, lr=1e-3)
    spans = [range(i, min(i + args.batch_size, args.clips)) for i in range(0, args.clips, args.batch_size)]

    def audio_batches():  # features and the frozen encoder's forward in every step (no gradient flows into it)
        for span in spans:
            yield {**features_of(extractor, [waves[i] for i in span]), "labels": labels[list(span)]}

    collate = CachedEntriesCollator(type(model).collate_cache_entries)
    t_encoder = epoch(model, audio_batches, optimizer, args.repeats)

    before = frames_in_memory(model, extractor, waves, args.batch_size)
    memory_bytes = sum(e["hidden_states"].numel() * 4 for e in before) / args.clips
    rows = [{"entry": e, "labels": int(label)} for e, label in zip(before, labels)]
    t_before = epoch(model, lambda: torch.utils.data.DataLoader(rows, batch_size=args.batch_size, collate_fn=collate),
                     optimizer, args.repeats)
    del before, rows

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        cache = EncoderCache.for_model(model, extractor, root)
        keys, _, _ = build_encoder_cache(model, extractor, cache, [{"audio": w} for w in waves],
                                         batch_size=args.batch_size)
        t_fill = time.perf_counter() - start
        disk_bytes = sum(os.path.getsize(cache.path(key)) for key in keys) / args.clips
        now = CachedEntries(cache, keys, labels.tolist())
        t_now = epoch(model, lambda: torch.utils.data.DataLoader(now, batch_size=args.batch_size, collate_fn=collate),
                      optimizer, args.repeats)
    layout = model.encoder_cache_spec()["layout"]
    print(f"encoder: {source}; {args.clips} clips of 1.2-2 s, batch {args.batch_size}, {args.threads} threads, "
          f"fastest of {args.repeats} epochs; "
          f"head: pooling {args.pooling}" + (f", top {args.trainable_encoder_layers} encoder layer(s) trained"
                                               if args.trainable_encoder_layers else ""))
    print(f"one epoch, encoder every epoch:             {t_encoder:8.3f} s")
    print(f"one epoch, frames in memory (before):       {t_before:8.3f} s   ({memory_bytes / 1024:.0f} KB a clip in RAM)")
    print(f"one epoch from the cache now ({layout}): {t_now:8.3f} s   ({disk_bytes / 1024:.1f} KB a clip on disk, "
          f"read each epoch; filling the cache once: {t_fill:.2f} s)")
    what = (f"top-{args.trainable_encoder_layers}-layer fine-tuning epoch speed-up from the cache below them"
            if args.trainable_encoder_layers else "head-training epoch speed-up from the frozen-encoder cache")
    print(f"{what}: {t_encoder / t_now:.1f}")
    print(f"epoch from the frames in memory / epoch from the cache now ({layout} on disk): {t_before / t_now:.2f}")


if __name__ == "__main__":
    main()
