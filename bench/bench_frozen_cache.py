"""A frozen speech encoder: one epoch of head training from the encoder cache vs running the encoder every epoch.

Both train the same SpeechEmotion head (weighted layer sum, projector, attentive statistics pooling, classifier) with
AdamW for one epoch over the same clips in the same batches:
- encoder every epoch: what train.py does with `encoder_cache: false` (features, frozen encoder forward, head);
- cache: what it does by default with `model.freeze_backbone: true` (`training/encoder_cache.py`): the hidden states
  were computed once (that one-off pass is timed too, and printed) and each epoch reads them.
Whisper-base sized encoder on 2 s clips (EmoDB's length): the local pretrained weights when `--backbone` exists, else
random weights of that size. The ratio (encoder epoch / cached epoch) ends the last line.

With `--trainable_encoder_layers N` the top N encoder layers train with the head (`model.trainable_encoder_layers`):
the cache then keeps the states below them (every frame of the window) and each step runs the top N layers and the
head, against the whole encoder's forward (and the top layers' backward) in every step.

    python bench/bench_frozen_cache.py [--clips 64] [--threads 2] [--trainable_encoder_layers 1]
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
from emotion_hub.training.audio import features_of  # noqa: E402
from emotion_hub.training.encoder_cache import CachedHiddenStatesCollator, EncoderCache  # noqa: E402

WHISPER_BASE = dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048, num_mel_bins=80,
                    decoder_layers=1, decoder_attention_heads=8, decoder_ffn_dim=2048)
HEAD = dict(pooling="attentive_stats", use_weighted_layer_sum=True, normalize_hidden_states=True, projector_size=256,
            freeze_backbone=True, num_labels=7)


def build(backbone: str, window: int, trainable_layers):
    head = dict(HEAD, freeze_backbone=not trainable_layers, trainable_encoder_layers=trainable_layers or None)
    if os.path.isdir(backbone):
        return SpeechEmotionForAudioClassification.from_pretrained_backbone(backbone, window_seconds=window, **head), \
            f"pretrained {backbone}"
    return SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=dict(model_type="whisper", **WHISPER_BASE), window_seconds=window, **head)), \
        "random weights, whisper-base size"


def epoch(model, batches, optimizer) -> float:
    model.train()
    start = time.perf_counter()
    for batch in batches:
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trainable_encoder_layers", type=int, default=0,
                        help="train the top N encoder layers with the head (0: the encoder is frozen)")
    parser.add_argument("--backbone", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                           "backbones", "whisper-base-encoder"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, source = build(args.backbone, 2, args.trainable_encoder_layers)
    extractor = WhisperFeatureExtractor(chunk_length=2)
    rng = np.random.default_rng(0)
    waves = [(rng.standard_normal(int(rng.uniform(1.2, 2.0) * 16000)) * 0.1).astype(np.float32)
             for _ in range(args.clips)]
    labels = torch.as_tensor(rng.integers(0, 7, args.clips))
    head = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(head, lr=1e-3)
    spans = [range(i, min(i + args.batch_size, args.clips)) for i in range(0, args.clips, args.batch_size)]

    # Encoder every epoch: features and the frozen encoder's forward in every step (no gradient flows into it).
    def audio_batches():
        for span in spans:
            yield {**features_of(extractor, [waves[i] for i in span]), "labels": labels[list(span)]}

    t_encoder = epoch(model, audio_batches(), optimizer)

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        entries = EncoderCache(model, extractor, root, batch_size=args.batch_size).entries(waves)
        t_fill = time.perf_counter() - start
        collate = CachedHiddenStatesCollator()
        batches = [collate([{"encoder_hidden_states": entries[i]["hidden_states"],
                             "num_frames": int(entries[i]["num_frames"]), "labels": int(labels[i])} for i in span])
                   for span in spans]
        t_cache = epoch(model, batches, optimizer)
    print(f"encoder: {source}; {args.clips} clips of 1.2-2 s, batch {args.batch_size}, {args.threads} threads")
    print(f"one epoch, encoder every epoch: {t_encoder:8.2f} s")
    print(f"one epoch from the cache:       {t_cache:8.2f} s   (filling the cache once: {t_fill:.2f} s)")
    what = (f"top-{args.trainable_encoder_layers}-layer fine-tuning epoch speed-up from the cache below them"
            if args.trainable_encoder_layers else "head-training epoch speed-up from the frozen-encoder cache")
    print(f"{what}: {t_encoder / t_cache:.1f}")


if __name__ == "__main__":
    main()
