"""MFCC CNN and waveform baselines: shapes, losses, padding masks, bad inputs, save/reload and clean-Python loading."""

import json

import pytest
import torch

from emotion_hub.modeling import (MFCCCNNConfig, MFCCCNNForAudioClassification, WaveformMLPConfig,
                      WaveformMLPForAudioClassification)
from emotion_hub.modeling.losses import LOSS_TYPES
from tests.utils import run_clean_python


def test_mfcc_cnn_report_defaults():
    config = MFCCCNNConfig(num_labels=7)
    assert config.conv_channels == [32, 64] and config.fc_sizes == [256, 128] and config.conv_dropout == 0.2
    model = MFCCCNNForAudioClassification(config)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 32, (3, 3)), (32, 64, (3, 3))]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(64 * 30 * 21, 256), (256, 128), (128, 7)]
    assert model(torch.randn(2, 120, 87)).logits.shape == (2, 7)


@pytest.mark.parametrize("global_pool", ["flatten", "mean", "mean_std"])
@pytest.mark.parametrize("layout", ["stack", "channels"])
def test_mfcc_cnn_shapes_and_losses(global_pool, layout):
    channels, height = (1, 24) if layout == "stack" else (3, 8)
    for loss_type in LOSS_TYPES:
        config = MFCCCNNConfig(num_labels=3, num_channels=channels, input_height=height, input_width=20,
                               conv_channels=[4, 6], fc_sizes=[10] if global_pool != "mean_std" else [],
                               classifier_dropout=0.5, global_pool=global_pool, batch_norm=True,
                               loss_type=loss_type, class_weights=[1, 2, 1] if loss_type == "weighted_ce" else None)
        model = MFCCCNNForAudioClassification(config)
        shape = (2, height, 20) if layout == "stack" else (2, 3, height, 20)
        out = model(torch.randn(*shape), labels=torch.tensor([0, 2]))
        assert out.logits.shape == (2, 3) and torch.isfinite(out.loss)
        out.loss.backward()


@pytest.mark.parametrize("global_pool", ["mean", "mean_std"])
@pytest.mark.parametrize("length", [20, 21, 7, 1])
def test_mfcc_cnn_mean_pool_padding_invariance(length, global_pool):
    torch.manual_seed(0)
    config = MFCCCNNConfig(num_labels=3, input_height=12, conv_channels=[4, 6], fc_sizes=[8], global_pool=global_pool)
    model = MFCCCNNForAudioClassification(config).eval()
    features, mask = torch.randn(2, 12, 40), torch.ones(2, 40)
    mask[0, length:] = 0
    batched = model(features, attention_mask=mask).logits[0]
    alone = model(features[:1, :, :length], attention_mask=mask[:1, :length]).logits[0]
    assert (batched - alone).abs().max() < 1e-5


def test_mfcc_cnn_flatten_ignores_padded_frames():
    config = MFCCCNNConfig(num_labels=3, input_height=12, input_width=24, conv_channels=[4], fc_sizes=[8])
    model = MFCCCNNForAudioClassification(config).eval()
    features, mask = torch.randn(1, 12, 24), torch.ones(1, 24)
    mask[0, 10:] = 0
    changed = features.clone()
    changed[0, :, 10:] = 7.0
    assert torch.equal(model(features, attention_mask=mask).logits, model(changed, attention_mask=mask).logits)


def test_mfcc_cnn_bad_inputs():
    model = MFCCCNNForAudioClassification(MFCCCNNConfig(num_labels=3, input_height=12, input_width=24,
                                                        conv_channels=[4], fc_sizes=[8]))
    with pytest.raises(ValueError, match=r"reads 24 frames .*max_length_seconds"):
        model(torch.randn(1, 12, 23))
    with pytest.raises(ValueError, match=r"shape \(batch, 12, frames\)"):
        model(torch.randn(1, 11, 24))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model(torch.full((1, 12, 24), float("inf")))
    with pytest.raises(ValueError, match="`global_pool` must be one of"):
        MFCCCNNConfig(global_pool="max")
    with pytest.raises(ValueError, match="at least 4 rows"):
        MFCCCNNConfig(input_height=3)


def test_waveform_mlp_and_logistic_regression():
    mlp = WaveformMLPForAudioClassification(WaveformMLPConfig(num_labels=6))
    assert [(l.in_features, l.out_features) for l in mlp.modules() if isinstance(l, torch.nn.Linear)] == \
           [(44100, 100), (100, 200), (200, 60), (60, 6)]
    assert mlp.config.dropout == 0.25
    logreg = WaveformMLPForAudioClassification(WaveformMLPConfig(num_labels=6, input_length=800, hidden_sizes=[]))
    assert [(l.in_features, l.out_features) for l in logreg.modules() if isinstance(l, torch.nn.Linear)] == [(800, 6)]
    for loss_type in LOSS_TYPES:
        config = WaveformMLPConfig(num_labels=3, input_length=800, hidden_sizes=[16], loss_type=loss_type,
                                   class_weights=[1, 1, 2] if loss_type == "weighted_ce" else None)
        out = WaveformMLPForAudioClassification(config)(torch.rand(4, 800) * 2 - 1, labels=torch.tensor([0, 1, 2, 1]))
        assert out.logits.shape == (4, 3) and torch.isfinite(out.loss)
    model = logreg.eval()
    wave, mask = torch.rand(1, 800) * 2 - 1, torch.ones(1, 800)
    mask[0, 500:] = 0
    changed = wave.clone()
    changed[0, 500:] = 0.9
    assert torch.equal(model(wave, attention_mask=mask).logits, model(changed, attention_mask=mask).logits)
    with pytest.raises(ValueError, match=r"shape \(batch, 800\).*max_length_seconds"):
        model(torch.zeros(1, 799))
    with pytest.raises(ValueError, match="NaN"):
        model(torch.full((1, 800), float("nan")))
    with pytest.raises(ValueError, match="`hidden_act` must be one of"):
        WaveformMLPConfig(hidden_act="swish")


@pytest.mark.parametrize("which", ["mfcc_cnn", "waveform_mlp"])
def test_save_reload_and_clean_python_load(tmp_path, which):
    torch.manual_seed(0)
    if which == "mfcc_cnn":
        model = MFCCCNNForAudioClassification(MFCCCNNConfig(num_labels=3, input_height=12, input_width=24,
                                                            conv_channels=[4], fc_sizes=[8])).eval()
        inputs = {"input_features": torch.randn(2, 12, 24)}
    else:
        model = WaveformMLPForAudioClassification(WaveformMLPConfig(num_labels=3, input_length=64,
                                                                    hidden_sizes=[8])).eval()
        inputs = {"input_values": torch.rand(2, 64)}
    model.save_pretrained(tmp_path)
    assert "custom_pipelines" in json.load(open(tmp_path / "config.json"))
    reloaded = type(model).from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(**inputs).logits, model(**inputs).logits)
    torch.save(inputs, tmp_path / "inputs.pt")
    out = run_clean_python(f"""
        import torch
        from transformers import AutoModelForAudioClassification
        model = AutoModelForAudioClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        torch.save(model(**torch.load({str(tmp_path / "inputs.pt")!r})).logits, {str(tmp_path / "clean.pt")!r})
        print(type(model).__name__)
    """, cwd=str(tmp_path.parent))
    assert out.strip() == type(model).__name__
    assert torch.equal(torch.load(tmp_path / "clean.pt"), model(**inputs).logits)


def test_multi_label_and_regression_models_in_the_audio_pipeline():
    """A multi-label model's pipeline gives independent sigmoid scores, `threshold` keeps the predicted labels, and
    windows of a long recording average the sigmoid probabilities (softmax for single-label, values for regression)."""
    import numpy as np

    from emotion_hub.modeling import EmotionAudioClassificationPipeline
    from emotion_hub.processing import EmotionAudioFeatureExtractor

    fe = EmotionAudioFeatureExtractor(feature_type="mfcc", deltas=2, max_length_seconds=0.5)
    rate = fe.sampling_rate
    clip = (np.random.default_rng(0).standard_normal(rate // 2) * 0.1).astype(np.float32)
    rows, frames = fe([clip], sampling_rate=rate)["input_features"].shape[-2:]
    labels = ["anger", "joy", "sadness"]
    torch.manual_seed(0)
    model = MFCCCNNForAudioClassification(MFCCCNNConfig(
        input_height=rows, input_width=frames, conv_channels=[4], fc_sizes=[8], global_pool="mean",
        problem_type="multi_label_classification", id2label=dict(enumerate(labels)))).eval()
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([3.0, -3.0, 0.0]))  # anger yes, joy no, sadness undecided
    classifier = EmotionAudioClassificationPipeline(model=model, feature_extractor=fe)
    with torch.no_grad():
        logits = model(**fe([clip], sampling_rate=rate, return_tensors="pt")).logits[0]
    scores = {r["label"]: r["score"] for r in classifier({"raw": clip, "sampling_rate": rate})}
    assert scores == pytest.approx({labels[i]: s for i, s in enumerate(logits.sigmoid().tolist())}, abs=1e-6)
    assert sum(scores.values()) != pytest.approx(1.0)  # independent, not a softmax
    predicted = classifier({"raw": clip, "sampling_rate": rate}, threshold=0.5)
    assert [r["label"] for r in predicted] == [labels[i] for i in range(3) if logits[i] > 0]
    # a long recording in windows: the mean of the windows' sigmoid probabilities
    long = np.tile(clip, 3)
    windowed = {r["label"]: r["score"] for r in classifier({"raw": long, "sampling_rate": rate}, window_seconds=0.5)}
    inputs = fe([long[i:i + rate // 2] for i in (0, rate // 4, rate // 2, 3 * rate // 4, rate)], sampling_rate=rate,
                return_tensors="pt")
    with torch.no_grad():
        expected = model(**inputs).logits.sigmoid().mean(0)
    assert windowed == pytest.approx({labels[i]: s for i, s in enumerate(expected.tolist())}, abs=1e-5)

    torch.manual_seed(0)
    regression = MFCCCNNForAudioClassification(MFCCCNNConfig(
        input_height=rows, input_width=frames, conv_channels=[4], fc_sizes=[8], global_pool="mean", num_labels=1,
        problem_type="regression", id2label={0: "arousal"})).eval()
    with torch.no_grad():
        value = regression(**fe([clip], sampling_rate=rate, return_tensors="pt")).logits[0, 0].item()
    (result,) = EmotionAudioClassificationPipeline(model=regression, feature_extractor=fe)({"raw": clip,
                                                                                            "sampling_rate": rate})
    assert result == {"label": "arousal", "score": pytest.approx(value, abs=1e-6)}
