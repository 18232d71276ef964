"""FERTimm: any timm image model as the face backbone (tiny random `test_efficientnet`, 0.1 M parameters), its
transformers contract, pretrained weights from a timm-format folder, and the stock `TimmWrapperForImageClassification`
export checked in a Python without our package."""

import json
import os

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from emotion_hub.modeling import FERTimmConfig, FERTimmForImageClassification
from emotion_hub.modeling.pipeline_image_classification import EmotionImageClassificationPipeline
from emotion_hub.processing import FERImageProcessor
from tests.test_face_detection import FACE_AT, background, inside, photo_with_face
from tests.utils import run_clean_python


LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
BACKBONE = "test_efficientnet"
SIZE = 48


def make_config(**kwargs):
    kwargs = {"backbone": BACKBONE, "image_size": SIZE, "id2label": dict(enumerate(LABELS)),
              "label2id": {name: i for i, name in enumerate(LABELS)}, **kwargs}
    return FERTimmConfig(**kwargs)


def make_model(**kwargs):
    torch.manual_seed(0)
    return FERTimmForImageClassification(make_config(**kwargs)).eval()


def processor_for(model):
    config = model.config
    return FERImageProcessor(size={"height": config.image_size, "width": config.image_size},
                             image_mean=config.image_mean, image_std=config.image_std)


def face_image(seed=0, size=48, mode="L"):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).convert(mode)


@pytest.mark.parametrize("kwargs, message", [
    ({"backbone": ""}, "backbone"), ({"in_chans": 2}, "in_chans"), ({"image_size": 4}, "image_size"),
    ({"drop_rate": 1.0}, "drop_rate"), ({"image_mean": [0.5]}, "image_mean"), ({"image_std": [0.5, 0.0, 0.5]}, "image_std"),
    ({"label_smoothing": -0.1}, "label_smoothing"), ({"loss_type": "hinge"}, "loss_type"),
])
def test_config_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_config(**kwargs)


def test_forward_shapes_channels_and_input_checks():
    grey = make_model()
    assert grey.config.image_mean == [grey.config.image_mean[0]] * 3  # equal on the channels for a grey model
    x = torch.randn(2, 1, SIZE, SIZE)
    logits = grey(x).logits
    assert logits.shape == (2, len(LABELS)) and torch.isfinite(logits).all()
    # An RGB image of a grey face (R = G = B) gives the grey logits: the luma weights sum to 1.
    torch.testing.assert_close(grey(x.expand(-1, 3, -1, -1)).logits, logits, atol=1e-5, rtol=0)
    colour = make_model(in_chans=3)
    assert colour(x).logits.shape == (2, len(LABELS))  # a grey channel is repeated for a colour model
    with pytest.raises(ValueError, match="48x48"):
        grey(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="channels"):
        grey(torch.randn(1, 2, SIZE, SIZE))


def test_problem_types_and_label_smoothing():
    x = torch.randn(3, 1, SIZE, SIZE)
    model = make_model()
    labels = torch.tensor([0, 3, 6])
    loss = model(x, labels=labels).loss
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(model(x).logits, labels))
    smoothed = make_model(label_smoothing=0.1)
    torch.testing.assert_close(smoothed(x, labels=labels).loss,
                               torch.nn.functional.cross_entropy(smoothed(x).logits, labels, label_smoothing=0.1))
    multi = make_model(problem_type="multi_label_classification")
    targets = torch.tensor([[1.0, 0, 0, 1, 0, 0, 0]] * 3)
    torch.testing.assert_close(multi(x, labels=targets).loss,
                               torch.nn.functional.binary_cross_entropy_with_logits(multi(x).logits, targets))
    regression = FERTimmForImageClassification(FERTimmConfig(backbone=BACKBONE, image_size=SIZE, num_labels=1,
                                                             problem_type="regression")).eval()
    values = torch.tensor([0.7, 0.2, -0.4])
    torch.testing.assert_close(regression(x, labels=values).loss,
                               torch.nn.functional.mse_loss(regression(x).logits.squeeze(-1), values))


def test_return_dict_and_hidden_states():
    model = make_model()
    x = torch.randn(2, 1, SIZE, SIZE)
    out = model(x, labels=torch.tensor([1, 2]))
    as_tuple = model(x, labels=torch.tensor([1, 2]), return_dict=False)
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], out.loss)
    torch.testing.assert_close(as_tuple[1], out.logits)
    assert out.hidden_states is None
    by_argument = model(x, output_hidden_states=True)
    assert len(by_argument.hidden_states) >= 3 and all(h.shape[0] == 2 and h.dim() == 4
                                                       for h in by_argument.hidden_states)
    torch.testing.assert_close(by_argument.logits, out.logits)
    model.config.output_hidden_states = True
    by_config = model(x)
    assert len(by_config.hidden_states) == len(by_argument.hidden_states)
    torch.testing.assert_close(by_config.hidden_states[-1], by_argument.hidden_states[-1])


def test_torch_export_with_dynamic_batch():
    model = make_model()
    batch = torch.export.Dim("batch", min=1, max=64)
    exported = torch.export.export(model, (torch.randn(2, 1, SIZE, SIZE),),
                                   dynamic_shapes={"pixel_values": {0: batch}})
    x = torch.randn(5, 1, SIZE, SIZE)
    torch.testing.assert_close(exported.module()(x).logits, model(x).logits, atol=1e-5, rtol=1e-5)


def test_save_reload_identity_and_new_labels_head(tmp_path):
    model = make_model()
    x = torch.randn(2, 1, SIZE, SIZE)
    model.save_pretrained(tmp_path)
    reloaded = FERTimmForImageClassification.from_pretrained(tmp_path).eval()
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())
    torch.testing.assert_close(reloaded(x).logits, model(x).logits, atol=1e-6, rtol=0)
    assert reloaded.config.id2label == model.config.id2label

    fresh = FERTimmForImageClassification.from_pretrained(tmp_path, num_labels=3, id2label={0: "a", 1: "b", 2: "c"},
                                                          label2id={"a": 0, "b": 1, "c": 2},
                                                          ignore_mismatched_sizes=True).eval()
    head = fresh.timm_model.classifier.weight
    assert head.shape == (3, model.timm_model.classifier.in_features) and torch.isfinite(head).all()
    bound = 1 / np.sqrt(3)  # timm's EfficientNet head init: uniform(+-1/sqrt(fan_out))
    assert 0 < head.abs().max() <= bound and head.std() > bound / 4
    ours, theirs = model.state_dict(), fresh.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours if not k.startswith("timm_model.classifier."))
    assert torch.isfinite(fresh(x).logits).all()


def test_checkpoint_without_batchnorm_statistics_gets_timm_init(tmp_path):
    model = make_model()
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "running_" not in k and "num_batches" not in k},
              str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    reloaded = FERTimmForImageClassification.from_pretrained(tmp_path)
    norms = [m for m in reloaded.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(torch.equal(m.running_var, torch.ones_like(m.running_var)) and
                         torch.equal(m.running_mean, torch.zeros_like(m.running_mean)) for m in norms)
    torch.testing.assert_close(reloaded.timm_model.conv_stem.weight, model.timm_model.conv_stem.weight)


@pytest.mark.parametrize("in_chans", [1, 3])
def test_from_pretrained_backbone_timm_folder(tmp_path, in_chans):
    """A timm Hub-format folder (config.json + model.safetensors, as ../shared/backbones has), made here."""
    torch.manual_seed(1)
    imagenet = timm.create_model(BACKBONE, pretrained=False, num_classes=10)
    timm.models.save_for_hf(imagenet, str(tmp_path), safe_serialization=True)
    assert json.load(open(tmp_path / "config.json"))["architecture"] == BACKBONE
    model = FERTimmForImageClassification.from_pretrained_backbone(
        str(tmp_path), in_chans=in_chans, image_size=SIZE, id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)})
    pretrained = imagenet.state_dict()
    ours = model.timm_model.state_dict()
    stem = pretrained["conv_stem.weight"]
    # timm's in_chans adaptation: the RGB stem summed over its channels for a grey model.
    torch.testing.assert_close(ours["conv_stem.weight"], stem.sum(dim=1, keepdim=True) if in_chans == 1 else stem)
    assert all(torch.equal(ours[k], v) for k, v in pretrained.items() if k != "conv_stem.weight"
               and not k.startswith("classifier."))
    assert ours["classifier.weight"].shape == (len(LABELS), imagenet.num_features)
    assert model.config.backbone == BACKBONE and model.config.in_chans == in_chans
    assert len(model.config.image_mean) == 3
    with pytest.raises(ValueError, match="resnet18"):
        FERTimmForImageClassification.from_pretrained_backbone(str(tmp_path), backbone="resnet18")


STOCK_SCRIPT = r"""
import json, sys
import numpy as np, torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageClassification, TimmWrapperForImageClassification, pipeline
stock_dir, custom_dir, data = "stock", "custom", "data"
inputs = torch.load(data + "/inputs.pt")
model = AutoModelForImageClassification.from_pretrained(stock_dir).eval()
assert isinstance(model, TimmWrapperForImageClassification), type(model)
with torch.no_grad():
    stock_logits = model(inputs["pixel_values"]).logits
    grey_image = Image.open(data + "/grey.png")
    processor = AutoImageProcessor.from_pretrained(stock_dir)
    pixel_values = processor(grey_image.convert("RGB"))["pixel_values"]
    stock_grey_logits = model(pixel_values).logits
classifier = pipeline("image-classification", model=stock_dir)
stock_pipeline = classifier(grey_image, top_k=7)
custom = pipeline("image-classification", model=custom_dir, trust_remote_code=True)
custom_pipeline = custom(data + "/grey.png", top_k=7)
custom_faces = custom(data + "/photo.jpg", detect_faces=True, top_k=2)
custom_no_face = custom(data + "/background.jpg", detect_faces=True)
json.dump({"stock_logits": stock_logits.tolist(), "stock_grey_pixels": pixel_values.tolist(),
           "stock_grey_logits": stock_grey_logits.tolist(), "id2label": {str(k): v for k, v in model.config.id2label.items()},
           "stock_pipeline": stock_pipeline, "custom_pipeline": custom_pipeline,
           "custom_class": type(custom).__name__, "custom_faces": custom_faces, "custom_no_face": custom_no_face},
          open(data + "/out.json", "w"))
"""


@pytest.mark.parametrize("in_chans", [1, 3])
def test_stock_export_loads_without_our_package(tmp_path, in_chans):
    model = make_model(in_chans=in_chans)
    stock_dir, custom_dir, data = tmp_path / "stock", tmp_path / "custom", tmp_path / "data"
    data.mkdir()
    model.save_stock_pretrained(str(stock_dir))
    assert sorted(os.listdir(stock_dir)) == ["config.json", "model.safetensors"]  # no code, no auto_map
    assert "auto_map" not in json.load(open(stock_dir / "config.json"))
    model.save_pretrained(custom_dir)
    processor_for(model).save_pretrained(custom_dir)
    torch.manual_seed(2)
    pixel_values = torch.randn(4, 3, SIZE, SIZE)  # any RGB input: the export's first convolution holds the luma step
    torch.save({"pixel_values": pixel_values}, data / "inputs.pt")
    face_image(3).save(data / "grey.png")
    photo_with_face().save(data / "photo.jpg")
    background().save(data / "background.jpg")
    run_clean_python(STOCK_SCRIPT, cwd=str(tmp_path), env={"OMP_NUM_THREADS": "1"})
    out = json.load(open(data / "out.json"))
    with torch.no_grad():
        ours = model(pixel_values).logits
        # The stock processor's pixels of the grey image (converted to RGB) through our model: the same logits.
        ours_on_stock_pixels = model(torch.tensor(out["stock_grey_pixels"])).logits
    assert (torch.tensor(out["stock_logits"]) - ours).abs().max() < 1e-5
    assert (torch.tensor(out["stock_grey_logits"]) - ours_on_stock_pixels).abs().max() < 1e-5
    assert out["id2label"] == {str(i): name for i, name in enumerate(LABELS)}
    assert sorted(entry["label"] for entry in out["stock_pipeline"]) == sorted(LABELS)
    assert out["custom_class"] == "EmotionImageClassificationPipeline"
    assert sorted(entry["label"] for entry in out["custom_pipeline"]) == sorted(LABELS)
    # The face step travels with the folder's code (face_detection.py beside the image processor).
    assert "face_detection.py" in os.listdir(custom_dir)
    assert len(out["custom_faces"]) == 2 and all(inside(e["box"], *FACE_AT, 150) for e in out["custom_faces"])
    assert out["custom_no_face"] == []
    # Our pipeline on the grey face crop = our processor + our model.
    with torch.no_grad():
        expected = torch.softmax(model(**processor_for(model)(face_image(3), return_tensors="pt")).logits, -1)[0]
    best = max(out["custom_pipeline"], key=lambda entry: entry["score"])
    assert best["label"] == LABELS[int(expected.argmax())]
    assert abs(best["score"] - float(expected.max())) < 1e-4


def test_stock_export_of_grey_model_has_rgb_stem():
    model = make_model()
    stock = model.to_stock_model()
    assert stock.timm_model.conv_stem.in_channels == 3
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close(stock.timm_model.conv_stem.weight, model.timm_model.conv_stem.weight * luma)
    cfg = stock.config.pretrained_cfg
    assert cfg["input_size"] == [3, SIZE, SIZE] and cfg["mean"] == model.config.image_mean and cfg["crop_pct"] == 1.0


def test_pipeline_on_face_crops_matches_model():
    model = make_model()
    processor = processor_for(model)
    classifier = EmotionImageClassificationPipeline(model=model, image_processor=processor)
    result = classifier(face_image(5), top_k=3)
    assert len(result) == 3 and {"label", "score"} <= set(result[0]) and result[0]["label"] in LABELS
    with torch.no_grad():
        probabilities = torch.softmax(model(**processor(face_image(5), return_tensors="pt")).logits, -1)[0]
    assert abs(result[0]["score"] - float(probabilities.max())) < 1e-5


def test_stock_export_takes_the_training_processor_normalisation():
    model = make_model()
    processor = FERImageProcessor(size={"height": SIZE, "width": SIZE}, image_mean=[0.4] * 3, image_std=[0.2] * 3)
    cfg = model.to_stock_model(image_processor=processor).config.pretrained_cfg
    assert cfg["mean"] == [0.4] * 3 and cfg["std"] == [0.2] * 3
    with pytest.raises(ValueError, match="resizes to 64x64"):
        model.to_stock_model(image_processor=FERImageProcessor(size={"height": 64, "width": 64}))
    with pytest.raises(ValueError, match="1/255"):
        model.to_stock_model(image_processor=FERImageProcessor(size={"height": SIZE, "width": SIZE}, do_rescale=False))


def test_gradient_checkpointing_trains():
    model = make_model()
    model.activation_checkpointing_enable()
    assert model.timm_model.grad_checkpointing  # timm's own checkpointing of its stages
    model.train()
    loss = model(torch.randn(2, 1, SIZE, SIZE), labels=torch.tensor([0, 1])).loss
    loss.backward()
    assert model.timm_model.conv_stem.weight.grad is not None


def test_onnx_export_matches_onnxruntime(tmp_path):
    """The folded grey stem (`torch.func.functional_call`) exports through torch.export to ONNX (issue 17's command's
    function, with the inputs given here)."""
    pytest.importorskip("onnxruntime", reason="the `onnx` extra (onnx, onnxruntime, onnxscript)")
    from export_onnx import export_onnx

    model = make_model()
    batch = torch.export.Dim("batch", min=1, max=1024)
    report = export_onnx(model, str(tmp_path / "model.onnx"), inputs={"pixel_values": torch.randn(2, 1, SIZE, SIZE)},
                         dynamic_shapes={"pixel_values": {0: batch}})
    assert report["max_abs_diff"] < 1e-5
