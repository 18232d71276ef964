"""What the stock pipelines do with the stock folders the recipes write (`export_stock`), on the inputs our pipelines
refuse: the behaviour README's "Which folder to pick" states, measured here so that it cannot go stale. (The stock
Whisper folder is measured in tests/test_windowed_audio.py.)"""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import (ASTConfig, ASTFeatureExtractor, ASTForAudioClassification, Wav2Vec2FeatureExtractor,
                          pipeline)

from emotion_hub.modeling.pipeline_audio_classification import EmotionAudioClassificationPipeline


SR = 16000


def scores(result):
    return [r["score"] for r in result]


def test_stock_wav2vec2_folder(tmp_path):
    from tests.test_export_onnx import WAV2VEC2, speech_model

    speech_model(WAV2VEC2).save_stock_pretrained(tmp_path, feature_extractor=Wav2Vec2FeatureExtractor())
    stock = pipeline("audio-classification", model=str(tmp_path))
    assert type(stock.model).__name__ == "Wav2Vec2ForSequenceClassification"
    assert all(np.isnan(scores(stock(np.full(SR, np.nan, dtype=np.float32)))))
    for empty_or_short in (np.zeros(0, dtype=np.float32), np.full(10, 0.1, dtype=np.float32)):
        with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
            stock(empty_or_short)
    ours = pipeline("audio-classification", model=str(tmp_path), pipeline_class=EmotionAudioClassificationPipeline)
    with pytest.raises(ValueError, match="NaN or infinite"):
        ours(np.full(SR, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="the waveform is empty"):
        ours(np.zeros(0, dtype=np.float32))


def test_stock_ast_folder(tmp_path):
    torch.manual_seed(0)
    ASTForAudioClassification(ASTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                        intermediate_size=16, max_length=100, num_mel_bins=16,
                                        num_labels=3)).save_pretrained(tmp_path)
    ASTFeatureExtractor(max_length=100, num_mel_bins=16).save_pretrained(tmp_path)
    stock = pipeline("audio-classification", model=str(tmp_path))
    assert all(np.isnan(scores(stock(np.full(SR, np.nan, dtype=np.float32)))))
    with pytest.raises(AssertionError, match="choose a window size 400"):
        stock(np.zeros(0, dtype=np.float32))
    rng = np.random.default_rng(0)
    first = (0.1 * rng.standard_normal(16240)).astype(np.float32)  # 1.015 s: the 100 frames the extractor keeps
    longer = np.concatenate([first, rng.standard_normal(5 * SR).astype(np.float32)])
    assert scores(stock(longer)) == pytest.approx(scores(stock(first)))  # only the first 1.015 s is heard
    ours = pipeline("audio-classification", model=str(tmp_path), pipeline_class=EmotionAudioClassificationPipeline)
    assert scores(ours(longer)) != pytest.approx(scores(ours(first)))  # every window of it is


def test_stock_timm_folder(tmp_path):
    from tests.test_modeling_fer_timm import make_model

    make_model().save_stock_pretrained(str(tmp_path))
    stock = pipeline("image-classification", model=str(tmp_path))
    with pytest.raises(ValueError, match="cannot be converted to uint8"):
        stock(np.full((48, 48, 3), np.nan, dtype=np.float32))
    with pytest.raises(ZeroDivisionError):
        stock(Image.new("RGB", (0, 0)))
    assert len(stock(Image.new("RGB", (1, 1)))) == 5  # a 1-pixel image gets an answer
