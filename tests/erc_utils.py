"""Tiny ERCFusion configs, tiny tokenizers (byte-level BPE for GPT2, WordPiece for BERT) and random inputs shared by
the conversation tests."""

import itertools
import re

import numpy as np
from transformers import BertTokenizer, WhisperFeatureExtractor

from emotion_hub.modeling import ERCFusionConfig
from emotion_hub.processing import ERCProcessor, build_byte_level_bpe_tokenizer, default_feature_extractor, frame_image_processor


LABELS = ["anger", "joy", "neutral"]
TOKENIZER_TEXTS = [
    "Monica: There's nothing to tell! He's just some guy I work with!",
    "Joey: C'mon, you're going out with the guy! There's gotta be something wrong with him!",
    "Chandler: All right Joey, be nice. So does he have a hump? A hump and a hairpiece?",
    "Phoebe: Wait, does he eat chalk? Just, 'cause, I don't want her to go through what I went through.",
    "Ross: Hi. I just feel like someone reached down my throat, grabbed my small intestine.",
] * 4
# GPT2 (a dict without `model_type` is a GPT2 config, as in the configs written before any text model was accepted).
TINY_TEXT_CONFIG = dict(n_positions=128, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
TINY_BERT_CONFIG = dict(model_type="bert", hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, pad_token_id=0)
# A Whisper encoder over a 1 s window: 100 log-mel frames of 16 bins -> 50 encoder frames.
TINY_WHISPER_CONFIG = dict(model_type="whisper", d_model=16, encoder_layers=1, encoder_attention_heads=2,
                           encoder_ffn_dim=32, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32,
                           num_mel_bins=16, max_source_positions=50, vocab_size=100)
# feat_extract_norm="layer": no group norm over time, so wav2vec2's output does not depend on the batch's padding.
TINY_AUDIO_CONFIG = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(8, 8), conv_kernel=(10, 8), conv_stride=(5, 4), num_conv_pos_embeddings=4,
                         num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True)
TINY_VISION_CONFIG = {"model_name": "test_resnet", "model_kwargs": {}}  # a tiny timm ResNet (CNN, BatchNorm)
FRAME_SIZE = 32

# Every non-empty subset of modalities, as (text_branch, audio_branch, vision_branch).
BRANCH_CHOICES = {"text": ("transformer", "mean_embedding"), "audio": ("speech_encoder", "waveform_mlp"),
                  "vision": ("timm",)}
MODALITY_SUBSETS = [s for n in (1, 2, 3) for s in itertools.combinations(("text", "audio", "vision"), n)]


def tiny_tokenizer():
    return build_byte_level_bpe_tokenizer(TOKENIZER_TEXTS, vocab_size=600, min_frequency=1, model_max_length=128)


def tiny_bert_tokenizer():
    """A WordPiece (BERT-style: `[CLS] ... [SEP]`, lower-cased) tokenizer whose vocabulary is the words of
    TOKENIZER_TEXTS plus single letters."""
    words = sorted({w for text in TOKENIZER_TEXTS for w in re.findall(r"\w+|[^\w\s]", text.lower())})
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz0123456789>" if c not in words]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *letters, *[f"##{c}" for c in letters + words]]
    return BertTokenizer(vocab={token: i for i, token in enumerate(dict.fromkeys(vocab))})


def tiny_whisper_feature_extractor():
    return WhisperFeatureExtractor(feature_size=16, chunk_length=1, return_attention_mask=True)


def tiny_config(tokenizer=None, text_branch="transformer", audio_branch="speech_encoder", vision_branch="timm",
                text_config=None, **kwargs):
    vocab_size = len(tokenizer) if tokenizer is not None else 300
    defaults = dict(
        text_branch=text_branch, audio_branch=audio_branch, vision_branch=vision_branch,
        text_config={**(text_config or TINY_TEXT_CONFIG), "vocab_size": vocab_size}, audio_config=TINY_AUDIO_CONFIG,
        vision_config=TINY_VISION_CONFIG, mean_embedding_dim=8, waveform_frame_length=40,
        waveform_hidden_sizes=[16, 8, 8], fusion_out_features=16, fusion_num_heads=4, feed_forward_sizes=[8],
        id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)},
    )
    return ERCFusionConfig(**{**defaults, **kwargs})


def tiny_processor(tokenizer=None, config=None, feature_extractor=None, **kwargs):
    tokenizer = tokenizer or tiny_tokenizer()
    min_audio = config.audio_receptive_field if config is not None else 45
    return ERCProcessor(tokenizer, feature_extractor or default_feature_extractor(),
                        frame_image_processor("test_resnet", FRAME_SIZE, FRAME_SIZE),
                        max_prompt_tokens=kwargs.pop("max_prompt_tokens", 120), min_audio_samples=min_audio, **kwargs)


def random_examples(n=3, seed=0, audio_lengths=(3000, 700, 1200), frame_counts=(3, 1, 2)):
    """`n` dialogues with audio and frames for their last turn."""
    rng = np.random.default_rng(seed)
    speakers = ["Monica", "Joey", "Chandler", "Ross"]
    dialogues = []
    for i in range(n):
        turns = [{"speaker": speakers[(i + t) % 4], "utterance": TOKENIZER_TEXTS[(i + t) % 5].split(": ", 1)[1]}
                 for t in range(i % 3 + 1)]
        dialogues.append(turns)
    audio = [rng.standard_normal(audio_lengths[i % len(audio_lengths)]).astype(np.float32) * 0.1 for i in range(n)]
    frames = [[rng.integers(0, 255, (24, 40, 3), dtype=np.uint8) for _ in range(frame_counts[i % len(frame_counts)])]
              for i in range(n)]
    return dialogues, audio, frames
