"""train.py with `model_type: fer_timm` (a tiny timm model) on a self-made FER2013 image folder: from a local timm
"pretrained" folder to a stock export that the stock pipeline loads without our code, and from scratch to our own
folder (trust_remote_code); evaluation is exactly the saved processor + model; the backbone's normalisation."""

import json
import os

import numpy as np
import pytest
import timm
import torch
import yaml
from huggingface_hub import ModelCard
from PIL import Image

import train
from emotion_hub.datasets_scripts import load_builder_dataset
from tests.fixtures import FER_LABELS, fer_face, write_fer2013_folder
from tests.utils import run_clean_python


BACKBONE = "test_efficientnet" if "test_efficientnet" in timm.list_models("test_*") else "resnet10t"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = {
    "dataset": "fer2013",
    "dataset_config": "image_folder",
    "input_column": "image",
    "label_column": "label",
    "model_type": "fer_timm",
    "model": {"backbone": BACKBONE, "in_chans": 1, "image_size": 32, "drop_rate": 0.1, "label_smoothing": 0.1},
    "augmentation": {"hflip": 0.5, "rotation": 10, "translate": 0.1, "erasing": 0.25},
    "optimizer": "adamw",
    "learning_rate": 0.01,
    "max_train_steps": 2,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 16,
    "metric_for_best_model": "accuracy",
    "checkpointing_steps": None,
}


@pytest.fixture(scope="module")
def fer_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fer2013"))
    write_fer2013_folder(root, per_class=(4, 2, 2))
    return root


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    """A timm Hub-format folder (config.json + model.safetensors) of an RGB "ImageNet" model with 10 classes and
    a normalisation of its own, as `timm.models.save_for_hf` writes it."""
    root = str(tmp_path_factory.mktemp("pretrained"))
    torch.manual_seed(0)
    model = timm.create_model(BACKBONE, pretrained=False, num_classes=10)
    model.pretrained_cfg = {**model.pretrained_cfg, "mean": (0.4, 0.5, 0.6), "std": (0.2, 0.3, 0.4)}
    timm.models.save_for_hf(model, root, safe_serialization=True)
    return root


def run(tmp_path, fer_dir, cache, output_dir, **overrides):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({**RECIPE, **overrides}))
    return train.main(["--config", str(path), "--data_dir", fer_dir, "--output_dir", str(output_dir),
                       "--cache_dir", cache])


def mean_test_loss(model, processor, test_split):
    """The test split's mean cross-entropy for `model` fed by `processor`: what train.py reports when its evaluation
    sees exactly what the saved processor gives."""
    with torch.no_grad():
        logits = model(**processor(list(test_split["image"]), return_tensors="pt")).logits
    return torch.nn.functional.cross_entropy(logits, torch.tensor(list(test_split["label"]))).item()


def test_pretrained_folder_to_stock_export_then_ours_from_scratch(tmp_path, fer_dir, datasets_cache, pretrained_dir):
    test_split = load_builder_dataset("fer2013", "image_folder", data_dir=fer_dir, cache_dir=datasets_cache)["test"]
    Image.fromarray(fer_face(3, np.random.default_rng(7)), mode="L").save(tmp_path / "face.jpg")

    # 1. From the local "pretrained" folder, exported as the stock timm class: no code, no FERImageProcessor.
    stock = tmp_path / "stock"
    results = run(tmp_path, fer_dir, datasets_cache, stock, pretrained_backbone=pretrained_dir, export_stock=True)
    assert results["train_steps"] == 2 and results["train_samples"] == 28 and results["test_samples"] == 14
    files = set(os.listdir(stock))
    assert {"config.json", "model.safetensors", "README.md", "all_results.json", "recipe.yaml"} <= files
    assert "preprocessor_config.json" not in files and not [name for name in files if name.endswith(".py")]
    config = json.load(open(stock / "config.json"))
    assert config["architectures"] == ["TimmWrapperForImageClassification"] and "auto_map" not in config
    assert config["label_names"] == list(FER_LABELS)  # TimmWrapperConfig's spelling of id2label
    # the pretrained folder's normalisation (equal on the three channels for a grey model), not the faces' statistics
    cfg = config["pretrained_cfg"]
    assert cfg["mean"] == pytest.approx([0.5] * 3) and cfg["std"] == pytest.approx([0.3] * 3)
    assert cfg["input_size"] == [3, 32, 32]
    card = ModelCard.load(stock / "README.md")
    assert "TimmWrapperForImageClassification" in card.text and "trust_remote_code=True" not in card.text
    # the reported test figures are those of the exported weights fed by the training processor
    from transformers import AutoModelForImageClassification

    exported = AutoModelForImageClassification.from_pretrained(stock).eval()
    processor = train.FERImageProcessor(size={"height": 32, "width": 32}, image_mean=cfg["mean"], image_std=cfg["std"])
    assert results["test_loss"] == pytest.approx(mean_test_loss(exported, processor, test_split), rel=1e-5)
    with torch.no_grad(), Image.open(tmp_path / "face.jpg") as image:
        stock_expected = exported(**processor(image, return_tensors="pt")).logits.softmax(-1)[0].tolist()

    # 2. From scratch at 64 px (training faces decoded at 48, upsampled per batch), saved as our own folder.
    ours = tmp_path / "ours"
    results = run(tmp_path, fer_dir, datasets_cache, ours, model={**RECIPE["model"], "image_size": 64})
    files = set(os.listdir(ours))
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "image_processing_fer.py",
            "configuration_fer_timm.py", "modeling_fer_timm.py"} <= files
    config = json.load(open(ours / "config.json"))
    processor_config = json.load(open(ours / "preprocessor_config.json"))
    assert config["auto_map"]["AutoModelForImageClassification"] == "modeling_fer_timm.FERTimmForImageClassification"
    assert processor_config["auto_map"] == {"AutoImageProcessor": "image_processing_fer.FERImageProcessor"}
    assert processor_config["size"] == {"height": 64, "width": 64} and config["image_size"] == 64
    # timm's default normalisation of the backbone (ImageNet's, averaged over RGB), in the config and the processor
    imagenet = timm.create_model(BACKBONE, pretrained=False).pretrained_cfg
    assert config["image_mean"] == pytest.approx([np.mean(imagenet["mean"])] * 3, abs=1e-6)
    assert config["image_std"] == pytest.approx([np.mean(imagenet["std"])] * 3, abs=1e-6)
    for key in ("image_mean", "image_std"):
        assert processor_config[key] == config[key], key
    model = train.modeling.FERTimmForImageClassification.from_pretrained(ours).eval()
    processor = train.FERImageProcessor.from_pretrained(ours)
    assert results["test_loss"] == pytest.approx(mean_test_loss(model, processor, test_split), rel=1e-5)
    with torch.no_grad(), Image.open(tmp_path / "face.jpg") as image:
        ours_expected = model(**processor(image, return_tensors="pt")).logits.softmax(-1)[0].tolist()

    # 3. Both folders in a Python without our packages: the stock one without remote code.
    printed = run_clean_python(f"""
        import json
        from transformers import pipeline
        scores = {{}}
        for name, kwargs in (("stock", {{}}), ("ours", {{"trust_remote_code": True}})):
            classifier = pipeline("image-classification", model={str(tmp_path)!r} + "/" + name, **kwargs)
            assert type(classifier.model).__module__.startswith("transformers" + ("_modules" if kwargs else ".")), name
            scores[name] = {{r["label"]: r["score"] for r in classifier({str(tmp_path / "face.jpg")!r}, top_k=7)}}
        print(json.dumps(scores))
    """, cwd=str(tmp_path))
    scores = json.loads(printed.strip().splitlines()[-1])
    assert set(scores["stock"]) == set(scores["ours"]) == set(FER_LABELS)
    assert [scores["ours"][label] for label in FER_LABELS] == pytest.approx(ours_expected, abs=1e-6)
    # the stock pipeline (timm's PIL resize and normalisation from `pretrained_cfg`) gives what training evaluated
    assert [scores["stock"][label] for label in FER_LABELS] == pytest.approx(stock_expected, abs=1e-4)


def test_recipe_and_normalisation_errors(tmp_path, fer_dir, datasets_cache):
    with pytest.raises(ValueError, match=r"`data_dir` '/nonexistent': no such folder"):
        train.main(["--config", os.path.join(REPO, "configs", "fer-timm-fer2013.yaml"), "--data_dir", "/nonexistent",
                    "--output_dir", str(tmp_path / "x")])
    with pytest.raises(ValueError, match=r"`model.image_mean` \[0.5, 0.5, 0.5\] and `image_processor.image_mean` "
                                         r"\[0.4, 0.4, 0.4\] differ"):
        run(tmp_path, fer_dir, datasets_cache, tmp_path / "x", model={**RECIPE["model"], "image_mean": [0.5] * 3},
            image_processor={"image_mean": [0.4] * 3})
    with pytest.raises(ValueError, match=r"`image_processor.size` .* must be the model's `image_size` 32x32"):
        run(tmp_path, fer_dir, datasets_cache, tmp_path / "x", image_processor={"size": {"height": 48, "width": 48}})
