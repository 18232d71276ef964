"""SpectrogramViT: shapes, losses, padding masks, save/reload, the timm backbone, and the stock AST export."""

import json
import os

import pytest
import torch

from emotion_hub.modeling import SpectrogramViTConfig, SpectrogramViTForAudioClassification, SpectrogramViTModel
from emotion_hub.modeling.losses import LOSS_TYPES
from tests.utils import run_clean_python


def tiny(**kwargs):
    defaults = dict(num_mel_bins=16, max_frames=40, patch_size=[8, 5], hidden_size=24, num_hidden_layers=2,
                    num_attention_heads=3, attention_head_dim=6, intermediate_size=30, num_labels=4,
                    hidden_dropout_prob=0.0)
    return SpectrogramViTConfig(**{**defaults, **kwargs})


def stock_shaped(**kwargs):
    """Square patches, cls + distillation tokens, heads splitting the width: AST's architecture."""
    return tiny(**{**dict(patch_size=8, max_frames=48, hidden_size=24, num_attention_heads=4, attention_head_dim=6,
                          distillation_token=True, pooling="cls"), **kwargs})


def randomize(model, scale=0.5):
    """Weights far from their small initial values, so logits differ measurably between code paths."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, scale)
    return model


def test_report_defaults():
    config = SpectrogramViTConfig()
    assert (config.num_mel_bins, config.max_frames, config.patch_size) == (64, 690, [32, 30])
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size) == \
           (200, 5, 16, 300)
    assert config.patch_grid == (2, 23) and config.hidden_dropout_prob == 0.05
    for patch, grid in (([16, 69], (4, 10)), ([8, 23], (8, 30))):
        assert SpectrogramViTConfig(patch_size=patch).patch_grid == grid
    model = SpectrogramViTForAudioClassification(SpectrogramViTConfig(num_labels=6)).eval()
    assert model(torch.randn(2, 64, 690)).logits.shape == (2, 6)


@pytest.mark.parametrize("pooling", ["cls", "mean", "mean_std"])
@pytest.mark.parametrize("distillation_token", [False, True])
def test_shapes_and_every_loss(pooling, distillation_token):
    for loss_type in LOSS_TYPES:
        weights = [1.0, 2.0, 0.5, 1.0] if loss_type == "weighted_ce" else None
        config = tiny(pooling=pooling, distillation_token=distillation_token, loss_type=loss_type, class_weights=weights)
        model = SpectrogramViTForAudioClassification(config)
        out = model(torch.randn(3, 16, 40), labels=torch.tensor([0, 3, 1]))
        assert out.logits.shape == (3, 4) and out.loss.ndim == 0 and torch.isfinite(out.loss)
        out.loss.backward()
        assert model.spectrogram_vit.embeddings.position_embeddings.grad is not None
        assert model(torch.randn(2, 1, 16, 40)).loss is None  # channel dimension accepted; no labels, no loss
    base = SpectrogramViTModel(tiny(distillation_token=distillation_token))(torch.randn(2, 16, 40))
    assert base.last_hidden_state.shape == (2, 2 * 8 + (2 if distillation_token else 1), 24)


@pytest.mark.parametrize("pooling", ["cls", "mean", "mean_std"])
def test_padding_never_reaches_the_model(pooling):
    model = randomize(SpectrogramViTForAudioClassification(tiny(pooling=pooling))).eval()
    features = torch.randn(2, 16, 40)
    mask = torch.ones(2, 40, dtype=torch.long)
    mask[1, 23:] = 0  # clip 1 holds 23 frames: patch columns 0-3 (frames 0-19) hold audio, 4-7 are padding
    reference = model(features, attention_mask=mask).logits
    changed = features.clone()
    changed[1, :, 20:] = torch.randn(16, 20) * 10  # anything in the padded patches
    assert torch.allclose(model(changed, attention_mask=mask).logits, reference, atol=1e-5)
    assert torch.allclose(model(features[:1]).logits, reference[:1], atol=1e-5)  # the full clip needs no mask
    assert not torch.allclose(model(changed).logits[1], reference[1], atol=1e-3)  # without the mask it would matter


def test_bad_inputs():
    model = SpectrogramViTForAudioClassification(tiny()).eval()
    with pytest.raises(ValueError, match=r"16x40 spectrograms .*max_length_seconds"):
        model(torch.randn(1, 16, 39))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model(torch.full((1, 16, 40), float("nan")))
    with pytest.raises(ValueError, match=r"shape \(batch, 16, frames\)"):
        model(torch.randn(16, 40))
    with pytest.raises(ValueError, match="outside the model's label ids"):
        model(torch.randn(1, 16, 40), labels=torch.tensor([4]))
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        tiny(pooling="max")
    with pytest.raises(ValueError, match="does not fit"):
        tiny(patch_size=[32, 5])
    with pytest.raises(ValueError, match="not a multiple of `num_attention_heads`"):
        tiny(attention_head_dim=None, hidden_size=25, num_attention_heads=4)


def test_save_reload_identical_logits(tmp_path):
    model = randomize(SpectrogramViTForAudioClassification(tiny(pooling="mean"))).eval()
    features = torch.randn(2, 16, 40)
    model.save_pretrained(tmp_path)
    saved = json.load(open(tmp_path / "config.json"))
    assert saved["auto_map"]["AutoModelForAudioClassification"] == \
        "modeling_spectrogram_vit.SpectrogramViTForAudioClassification"
    assert saved["custom_pipelines"]["audio-classification"]["impl"] == \
        "pipeline_audio_classification.EmotionAudioClassificationPipeline"
    assert {"modeling_spectrogram_vit.py", "configuration_spectrogram_vit.py", "losses.py",
            "pipeline_audio_classification.py", "windowed_audio.py"} <= set(os.listdir(tmp_path))
    reloaded = SpectrogramViTForAudioClassification.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(features).logits, model(features).logits)
    torch.save(features, tmp_path / "features.pt")
    out = run_clean_python(f"""
        import torch
        from transformers import AutoModelForAudioClassification
        model = AutoModelForAudioClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        features = torch.load({str(tmp_path / "features.pt")!r})
        torch.save(model(features).logits, {str(tmp_path / "clean.pt")!r})
        print(type(model).__name__)
    """, cwd=str(tmp_path.parent))
    assert out.strip() == "SpectrogramViTForAudioClassification"
    assert torch.equal(torch.load(tmp_path / "clean.pt"), model(features).logits)


def test_stock_ast_export_same_logits(tmp_path):
    model = randomize(SpectrogramViTForAudioClassification(stock_shaped()), scale=0.3).eval()
    assert model.config.stock_exportable == []
    features = torch.randn(3, 16, 48)
    stock = model.to_stock_model()
    assert type(stock).__name__ == "ASTForAudioClassification"
    ours, theirs = model(features).logits, stock(features.transpose(1, 2)).logits
    assert ours.abs().max() > 0.1 and (ours - theirs).abs().max() < 1e-5
    # our model also reads AST-layout `input_values` (what ASTFeatureExtractor returns)
    assert torch.allclose(model(input_values=features.transpose(1, 2)).logits, ours)
    model.save_stock_pretrained(tmp_path)
    saved = json.load(open(tmp_path / "config.json"))
    assert saved["model_type"] == "audio-spectrogram-transformer" and "auto_map" not in saved
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".py")]
    torch.save(features.transpose(1, 2), tmp_path / "values.pt")
    run_clean_python(f"""
        import torch
        from transformers import AutoModelForAudioClassification
        model = AutoModelForAudioClassification.from_pretrained({str(tmp_path)!r}).eval()  # no trust_remote_code
        assert type(model).__name__ == "ASTForAudioClassification", type(model)
        torch.save(model(torch.load({str(tmp_path / "values.pt")!r})).logits, {str(tmp_path / "stock.pt")!r})
    """, cwd=str(tmp_path.parent))
    assert (torch.load(tmp_path / "stock.pt") - ours).abs().max() < 1e-5


def test_non_ast_shapes_refuse_export():
    for config, reason in ((tiny(), "not square"), (tiny(patch_size=8, max_frames=48), "distillation_token=True"),
                           (stock_shaped(attention_head_dim=8), "!= hidden_size")):
        with pytest.raises(ValueError, match=reason):
            SpectrogramViTForAudioClassification(config).to_stock_model()


def test_timm_backbone_random_and_pretrained_from_a_local_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    kwargs = dict(num_labels=3, backbone="timm", timm_model_name="vit_tiny_patch16_224", timm_image_size=32,
                  timm_model_kwargs={"depth": 2, "patch_size": 8})
    model = SpectrogramViTForAudioClassification(SpectrogramViTConfig(**kwargs)).eval()
    out = model(torch.randn(2, 64, 690), labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and torch.isfinite(out.loss)
    # "pretrained" ImageNet weights: a random timm model saved locally, read through pretrained_cfg_overlay
    source = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, depth=2, patch_size=8)
    save_file(source.state_dict(), str(tmp_path / "vit.safetensors"))
    kwargs.pop("backbone"), kwargs.pop("timm_model_name")
    loaded = SpectrogramViTForAudioClassification.from_pretrained_timm(
        "vit_tiny_patch16_224", pretrained_cfg_overlay={"file": str(tmp_path / "vit.safetensors")}, **kwargs)
    theirs = source.state_dict()
    for name, tensor in loaded.timm_model.state_dict().items():
        if not name.startswith("head"):
            assert torch.equal(tensor, theirs[name]), name
    assert loaded.timm_model.head.weight.shape == (3, 192)
    loaded.save_pretrained(tmp_path / "saved")
    again = SpectrogramViTForAudioClassification.from_pretrained(tmp_path / "saved").eval()
    features = torch.randn(1, 64, 690)
    assert torch.equal(again(features).logits, loaded.eval()(features).logits)


def test_timm_backbone_hidden_states_and_attentions():
    kwargs = dict(num_labels=3, backbone="timm", timm_model_name="vit_tiny_patch16_224", timm_image_size=16,
                  timm_model_kwargs={"depth": 2, "patch_size": 8, "embed_dim": 16, "num_heads": 2},
                  num_mel_bins=16, max_frames=40)
    model = SpectrogramViTForAudioClassification(SpectrogramViTConfig(**kwargs)).eval()
    features = torch.randn(2, 16, 40)
    fused = [m.fused_attn for m in model.timm_model.modules() if hasattr(m, "fused_attn")]
    with torch.no_grad():
        plain = model(features)
        out = model(features, output_hidden_states=True, output_attentions=True)
    torch.testing.assert_close(out.logits, plain.logits, atol=1e-5, rtol=1e-4)
    assert len(out.hidden_states) == 2 and out.hidden_states[0].shape == (2, 16, 2, 2)  # (batch, width, grid, grid)
    assert len(out.attentions) == 2
    for weights in out.attentions:  # 4 patches + the class token
        assert weights.shape == (2, 2, 5, 5)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 5))
    assert [m.fused_attn for m in model.timm_model.modules() if hasattr(m, "fused_attn")] == fused  # restored
