"""Tiny wav2vec2 emotion configs and padded random batches shared by the voice-model tests."""

import torch

from emotion_hub.modeling import Wav2Vec2EmotionConfig, Wav2Vec2EmotionForAudioClassification


LABELS = ["angry", "happy", "neutral"]
TINY_BACKBONE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                     conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2), num_feat_extract_layers=2,
                     num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
# wav2vec2-large-lv60 style: layer norm in every conv layer, pre-norm transformer. Padding-invariant with a mask.
LAYER_NORM = dict(feat_extract_norm="layer", do_stable_layer_norm=True)
# wav2vec2-base style: group norm over time in the first conv layer. Only unpadded input gives a clip's own logits.
GROUP_NORM = dict(feat_extract_norm="group", do_stable_layer_norm=False)
RECEPTIVE_FIELD = 20  # samples: kernels (10, 3), strides (5, 2)
POOLINGS = ["mean", "max", "mean_max", "attentive_stats"]


def tiny_config(norm=LAYER_NORM, backbone=None, **kwargs):
    defaults = dict(wav2vec2_config={**TINY_BACKBONE, **norm, **(backbone or {})}, projector_size=8,
                    id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    return Wav2Vec2EmotionConfig(**{**defaults, **kwargs})


def tiny_model(seed=0, **kwargs):
    """A tiny model in eval mode whose classifier is redrawn with std 1, so that logits are O(1) and the tolerances
    of the comparisons below mean something (the 0.02 init gives logits of ~0.01)."""
    torch.manual_seed(seed)
    model = Wav2Vec2EmotionForAudioClassification(tiny_config(**kwargs)).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
        model.classifier.bias.normal_(0.0, 0.1)
    return model


def padded_batch(lengths, seed=0):
    """Random clips of the given lengths, zero-padded on the right, with their attention mask."""
    generator = torch.Generator().manual_seed(seed)
    clips = [torch.randn(n, generator=generator) for n in lengths]
    values = torch.zeros(len(clips), max(lengths))
    mask = torch.zeros(len(clips), max(lengths), dtype=torch.long)
    for i, clip in enumerate(clips):
        values[i, :len(clip)], mask[i, :len(clip)] = clip, 1
    return clips, values, mask


__all__ = ["GROUP_NORM", "LABELS", "LAYER_NORM", "POOLINGS", "RECEPTIVE_FIELD", "TINY_BACKBONE", "padded_batch",
           "tiny_config", "tiny_model"]
