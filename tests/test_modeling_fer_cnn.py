import json
import os

import pytest
import torch

from emotion_hub.modeling import FERCNNConfig, FERCNNForImageClassification, FERCNNModel
from tests.utils import run_clean_python


LABELS = ["angry", "happy", "sad"]


def tiny_config(**kwargs):
    defaults = dict(image_size=16, block_channels=[4, 8], fc_sizes=[12, 10], id2label=dict(enumerate(LABELS)),
                    label2id={n: i for i, n in enumerate(LABELS)})
    return FERCNNConfig(**{**defaults, **kwargs})


def test_default_config_is_the_reports_network():
    config = FERCNNConfig(num_labels=7)
    assert config.block_channels == [64, 128, 512, 512] and config.fc_sizes == [256, 512]
    assert config.conv_dropout == 0.25 and config.kernel_size == 3 and config.convs_per_block == 1
    assert config.image_size == 48 and config.num_channels == 1 and config.feature_map_size == 3
    model = FERCNNForImageClassification(config)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 64, (3, 3), (1, 1)), (64, 128, (3, 3), (1, 1)), (128, 512, (3, 3), (1, 1)), (512, 512, (3, 3), (1, 1))]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 4
    linears = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [(512 * 3 * 3, 256), (256, 512), (512, 7)]


@pytest.mark.parametrize("convs_per_block", [1, 2])
def test_output_shapes_loss_and_hidden_states(convs_per_block):
    model = FERCNNForImageClassification(tiny_config(convs_per_block=convs_per_block))
    pixels = torch.randn(5, 1, 16, 16)
    out = model(pixels, labels=torch.tensor([0, 1, 2, 0, 1]), output_hidden_states=True)
    assert out.logits.shape == (5, 3) and out.loss.ndim == 0 and out.loss.requires_grad
    assert [h.shape for h in out.hidden_states] == [(5, 4, 8, 8), (5, 8, 4, 4)]
    assert model(pixels).loss is None and model(pixels).hidden_states is None
    base = FERCNNModel(model.config)(pixels)
    assert base.last_hidden_state.shape == (5, 8, 4, 4) and base.pooler_output.shape == (5, 10)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == 2 * convs_per_block
    no_fc = FERCNNForImageClassification(tiny_config(fc_sizes=[]))
    assert no_fc.classifier.in_features == 8 * 4 * 4 and no_fc(pixels).logits.shape == (5, 3)


@pytest.mark.parametrize("loss_type", ["ce", "focal"])  # every loss: tests/test_losses.py
def test_losses_train(loss_type):
    torch.manual_seed(0)
    model = FERCNNForImageClassification(tiny_config(loss_type=loss_type, class_weights=[1.0, 2.0, 0.5],
                                                     conv_dropout=0.0, fc_dropout=0.0))
    labels = torch.arange(12) % 3
    pixels = torch.randn(12, 1, 16, 16) * 0.3
    pixels[:, 0, labels * 5, :] += 2.0  # a learnable bright row per class
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    first = model(pixels, labels=labels).loss.item()
    for _ in range(25):
        loss = model(pixels, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first * 0.5


def test_rgb_input_is_luminance_of_a_grayscale_model():
    model = FERCNNForImageClassification(tiny_config()).eval()
    rgb = torch.randn(3, 3, 16, 16)
    luminance = 0.299 * rgb[:, :1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:]
    torch.testing.assert_close(model(rgb).logits, model(luminance).logits, rtol=1e-5, atol=1e-6)
    gray = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(model(gray.expand(-1, 3, -1, -1)).logits, model(gray).logits, rtol=1e-5, atol=1e-6)
    # the weights are a fixed buffer: not trained, not saved
    assert "fer_cnn.luma_weights" not in model.state_dict()
    assert all("luma" not in name for name, _ in model.named_parameters())


def test_bad_pixel_values_are_refused_with_the_expectation():
    model = FERCNNForImageClassification(tiny_config()).eval()
    with pytest.raises(ValueError, match=r"must be 16x16 images \(the model's `image_size`\), got 48x48; the model's image processor"):
        model(torch.randn(1, 1, 48, 48))
    with pytest.raises(ValueError, match=r"must have 1 \(grayscale\) or 3 \(RGB\) channels, got 4"):
        model(torch.randn(1, 4, 16, 16))
    with pytest.raises(ValueError, match=r"shape \(batch, channels, height, width\), got \(16, 16\)"):
        model(torch.randn(16, 16))
    with pytest.raises(ValueError, match=r"labels \[3\] are outside the model's label ids 0..2"):
        model(torch.randn(1, 1, 16, 16), labels=torch.tensor([3]))
    rgb_model = FERCNNForImageClassification(tiny_config(num_channels=3)).eval()
    with pytest.raises(ValueError, match=r"must have 3 \(RGB\) channels, got 1"):
        rgb_model(torch.randn(1, 1, 16, 16))


def test_config_validation_names_the_argument():
    for kwargs, name in [({"num_channels": 2}, "num_channels"), ({"block_channels": []}, "block_channels"),
                         ({"image_size": 3}, "image_size"), ({"convs_per_block": 0}, "convs_per_block"),
                         ({"kernel_size": 4}, "kernel_size"), ({"conv_dropout": 1.0}, "conv_dropout"),
                         ({"fc_dropout": -0.1}, "fc_dropout"), ({"fc_sizes": [0]}, "fc_sizes"),
                         ({"loss_type": "hinge"}, "loss_type"), ({"class_weights": [1.0]}, "class_weights")]:
        with pytest.raises(ValueError, match=name):
            tiny_config(**kwargs)


def test_save_reload_identical_and_clean_python_hub_load(tmp_path):
    torch.manual_seed(0)
    model = FERCNNForImageClassification(tiny_config(convs_per_block=2))
    model.train()
    model(torch.randn(8, 1, 16, 16))  # move the batch-norm running statistics away from their initial values
    model.eval()
    model.save_pretrained(tmp_path)
    config = json.load(open(tmp_path / "config.json"))
    assert config["auto_map"] == {"AutoConfig": "configuration_fer_cnn.FERCNNConfig",
                                  "AutoModelForImageClassification": "modeling_fer_cnn.FERCNNForImageClassification"}
    assert {"configuration_fer_cnn.py", "modeling_fer_cnn.py", "losses.py", "model.safetensors"} <= set(
        os.listdir(tmp_path))
    pixels = torch.randn(2, 3, 16, 16)
    expected = model(pixels).logits
    reloaded = FERCNNForImageClassification.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(pixels).logits, expected)
    torch.save({"pixels": pixels, "logits": expected}, tmp_path / "expected.pt")
    out = run_clean_python(f"""
        import torch
        from transformers import AutoModelForImageClassification
        model = AutoModelForImageClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        expected = torch.load({str(tmp_path / "expected.pt")!r})
        assert torch.equal(model(expected["pixels"]).logits, expected["logits"])
        print("ok", model.config.id2label[1], model.fer_cnn.luma_weights.flatten().tolist())
    """, cwd=str(tmp_path))
    assert out.split()[:2] == ["ok", "happy"]
    assert "[0.29899999499320984, 0.5870000123977661, 0.11400000005960464]" in out
