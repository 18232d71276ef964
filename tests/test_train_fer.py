"""train.py on a self-made FER2013 image folder, then the saved folder in `pipeline("image-classification")` in a
Python without our packages: PIL / path / numpy inputs, grayscale and colour, 48x48 and 300x300, and bad inputs."""

import json
import os

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file

import train
from tests.fixtures import FER_LABELS, fer_face, write_fer2013_folder
from tests.utils import run_clean_python


FER_RECIPE = {
    "dataset": "fer2013",
    "dataset_config": "image_folder",
    "input_column": "image",
    "label_column": "label",
    "model_type": "fer_cnn",
    "model": {"block_channels": [4, 8], "fc_sizes": [16], "conv_dropout": 0.1, "fc_dropout": 0.1},
    "augmentation": {"hflip": 0.5, "rotation": 10, "translate": 0.1, "scale": [0.9, 1.1], "erasing": 0.25},
    "optimizer": "adam",
    "learning_rate": 0.01,
    "lr_scheduler": "reduce_on_plateau",
    "max_train_steps": 2,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 5,
    "metric_for_best_model": "accuracy",
    "checkpointing_steps": None,
    "logging_steps": 1,
}


@pytest.fixture(scope="module")
def fer_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fer2013"))
    write_fer2013_folder(root, per_class=(4, 2, 2))
    return root


def run(tmp_path, data_dir, cache, output_dir, *extra, **overrides):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({**FER_RECIPE, **overrides}))
    return train.main(["--config", str(path), "--data_dir", data_dir, "--output_dir", str(output_dir),
                       "--cache_dir", cache, *map(str, extra)])


def test_smoke_run_then_pipeline_in_a_clean_python(tmp_path, fer_dir, datasets_cache):
    out = tmp_path / "out"
    results = run(tmp_path, fer_dir, datasets_cache, out, mixed_precision="bf16")
    assert results["train_steps"] == 2 and results["train_samples"] == 28
    assert results["eval_samples"] == 14 and results["test_samples"] == 14
    files = set(os.listdir(out))
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "image_processing_fer.py",
            "configuration_fer_cnn.py", "modeling_fer_cnn.py", "losses.py", "README.md", "all_results.json",
            "classification_report.json", "confusion_matrix.png", "recipe.yaml"} <= files
    processor_config = json.load(open(out / "preprocessor_config.json"))
    assert processor_config["auto_map"] == {"AutoImageProcessor": "image_processing_fer.FERImageProcessor"}
    # image_mean/std are the training split's pixel statistics, the same on the three channels
    train_pixels = np.stack([np.array(Image.open(os.path.join(root, name)))
                             for root, _, names in os.walk(os.path.join(fer_dir, "train")) for name in names]) / 255
    assert processor_config["image_mean"] == [round(train_pixels.mean(), 4)] * 3
    assert processor_config["image_std"] == pytest.approx([train_pixels.std(ddof=1)] * 3, abs=1e-4)
    config = json.load(open(out / "config.json"))
    assert config["id2label"] == {str(i): name for i, name in enumerate(FER_LABELS)}
    assert config["auto_map"]["AutoModelForImageClassification"] == "modeling_fer_cnn.FERCNNForImageClassification"
    card = ModelCard.load(out / "README.md")
    assert card.data.pipeline_tag == "image-classification" and "augmentation.hflip" in card.text
    assert "pipeline(\"image-classification\"" in card.text

    # Inputs: a test face as JPEG path (48x48 grayscale) and a 300x300 colour PNG path.
    face = fer_face(3, np.random.default_rng(7))
    Image.fromarray(face, mode="L").save(tmp_path / "face.jpg")
    big = Image.fromarray(face, mode="L").resize((300, 300), Image.BICUBIC).convert("RGB")
    big.save(tmp_path / "big.png")
    (tmp_path / "corrupt.jpg").write_bytes(b"not an image at all")
    # Expected probabilities for face.jpg, computed here with our own packages.
    model = train.modeling.FERCNNForImageClassification.from_pretrained(out).eval()
    processor = train.FERImageProcessor.from_pretrained(out)
    with torch.no_grad(), Image.open(tmp_path / "face.jpg") as image:
        expected = model(**processor(image, return_tensors="pt")).logits.softmax(-1)[0].tolist()
    # bf16 training, but the reported test figures are those of the saved fp32 weights
    from emotion_hub.datasets_scripts import load_builder_dataset

    test_split = load_builder_dataset("fer2013", "image_folder", data_dir=fer_dir, cache_dir=datasets_cache)["test"]
    with torch.no_grad():
        probabilities = model(**processor(list(test_split["image"]), return_tensors="pt")).logits.softmax(-1)
    test_loss = torch.nn.functional.nll_loss(probabilities.log(), torch.tensor(list(test_split["label"]))).item()
    assert results["test_loss"] == pytest.approx(test_loss, rel=1e-5)
    printed = run_clean_python(f"""
        import json
        import numpy as np
        from PIL import Image
        from transformers import pipeline
        classifier = pipeline("image-classification", model={str(out)!r}, trust_remote_code=True)
        assert type(classifier.image_processor).__module__.startswith("transformers_modules")
        assert type(classifier.model).__module__.startswith("transformers_modules")
        gray = Image.open({str(tmp_path / "face.jpg")!r}); gray.load()
        big = Image.open({str(tmp_path / "big.png")!r}); big.load()
        inputs = {{
            "path 48 gray": {str(tmp_path / "face.jpg")!r},
            "path 300 colour": {str(tmp_path / "big.png")!r},
            "PIL 48 gray": gray,
            "PIL 48 colour": gray.convert("RGB"),
            "PIL 300 gray": big.convert("L"),
            "PIL 300 colour": big,
            "numpy 48 gray": np.array(gray),
            "numpy 48 colour": np.array(gray.convert("RGB")),
            "numpy 300 gray": np.array(big.convert("L")),
            "numpy 300 colour": np.array(big),
        }}
        scores = {{}}
        for name, image in inputs.items():
            result = classifier(image, top_k=7)
            scores[name] = {{r["label"]: r["score"] for r in result}}
        print(json.dumps(scores))
        errors = []
        for bad in (Image.new("L", (1, 1)), np.zeros((0, 0), dtype=np.uint8), {str(tmp_path / "corrupt.jpg")!r}):
            try:
                classifier(bad)
            except Exception as err:
                errors.append(f"{{type(err).__name__}}: {{err}}")
        print(json.dumps(errors))
    """, cwd=str(tmp_path))
    scores_line, errors_line = printed.strip().splitlines()[-2:]
    scores = json.loads(scores_line)
    for name, by_label in scores.items():
        assert set(by_label) == set(FER_LABELS), name
        assert sum(by_label.values()) == pytest.approx(1.0, abs=1e-5), name
    # the pipeline gives what our own processor and model give
    assert [scores["path 48 gray"][label] for label in FER_LABELS] == pytest.approx(expected, abs=1e-6)
    # grayscale and colour versions of one image, and PIL / numpy / path of one image, score the same
    for a, b in [("path 48 gray", "PIL 48 gray"), ("PIL 48 gray", "PIL 48 colour"), ("PIL 48 gray", "numpy 48 gray"),
                 ("numpy 48 gray", "numpy 48 colour"), ("path 300 colour", "PIL 300 colour"),
                 ("PIL 300 colour", "numpy 300 colour"), ("PIL 300 gray", "numpy 300 gray"),
                 ("PIL 300 gray", "PIL 300 colour")]:
        assert [scores[a][k] for k in FER_LABELS] == pytest.approx([scores[b][k] for k in FER_LABELS], abs=1e-6), (a, b)
    errors = json.loads(errors_line)
    assert len(errors) == 3
    assert errors[0].startswith("ValueError: PIL image is 1x1 pixels; FERImageProcessor needs at least 8x8")
    assert errors[1].startswith("ValueError: numpy image is empty (shape (0, 0))")
    assert "corrupt.jpg" in errors[2]


def test_resumed_run_draws_the_same_augmentations(tmp_path, fer_dir, datasets_cache):
    """Augmentation uses the RNG that Accelerate checkpoints: resuming mid-run ends with identical weights."""
    kwargs = dict(max_train_steps=4, checkpointing_steps=2, checkpoints_total_limit=None, num_epochs=2)
    full = run(tmp_path, fer_dir, datasets_cache, tmp_path / "full", **kwargs)
    resumed = run(tmp_path, fer_dir, datasets_cache, tmp_path / "resumed", "--resume_from_checkpoint",
                  tmp_path / "full" / "checkpoints" / "checkpoint-2", **kwargs)
    assert resumed["eval_loss"] == full["eval_loss"] and resumed["train_steps"] == 4
    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_image_recipes(tmp_path, fer_dir, datasets_cache):
    with pytest.raises(ValueError, match=r"unknown recipe key 'augmentation.rotate'; did you mean \['rotation'\]"):
        run(tmp_path, fer_dir, datasets_cache, tmp_path / "x", augmentation={"rotate": 10})
    with pytest.raises(ValueError, match=r"`augmentation.hflip` must be a probability in \[0, 1\], got 2"):
        run(tmp_path, fer_dir, datasets_cache, tmp_path / "x", augmentation={"hflip": 2})
    with pytest.raises(ValueError, match=r"`image_processor.size` .* must be the model's `image_size` 48x48"):
        run(tmp_path, fer_dir, datasets_cache, tmp_path / "x", image_processor={"size": {"height": 64, "width": 64}})
    with pytest.raises(ValueError, match=r"column 'text' is not in fer2013"):
        run(tmp_path, fer_dir, datasets_cache, tmp_path / "x", input_column="text")


def test_sample_limits_draw_every_class_of_a_label_sorted_folder(tmp_path, fer_dir, datasets_cache, caplog):
    """The image folder lists one emotion after another: the first 7 rows are all `angry`. The limits draw a seeded,
    stratified subset instead, and a metric that cannot be computed is left out, never NaN."""
    out = tmp_path / "out"
    results = run(tmp_path, fer_dir, datasets_cache, out, "--max_train_samples", "7", "--max_eval_samples", "7")
    report = json.load(open(out / "classification_report.json"))
    assert results["train_samples"] == 7 and results["test_samples"] == 7
    assert [report["test"]["per_class"][name]["support"] for name in FER_LABELS] == [1] * 7
    card = ModelCard.load(out / "README.md").text
    assert "nan" not in card.replace("|", " ").lower().split()  # no NaN in the card's tables
    assert all(not isinstance(v, float) or v == v for v in results.values())  # nor in the results
    again = run(tmp_path, fer_dir, datasets_cache, tmp_path / "again", "--max_train_samples", "7",
                "--max_eval_samples", "7")
    assert again["test_accuracy"] == results["test_accuracy"]  # the same rows for the same seed


def test_representative_subset_is_seeded_stratified_and_in_order():
    import datasets

    from emotion_hub.training.loop import representative_subset

    labels = [0] * 60 + [1] * 30 + [2] * 10  # sorted by label
    split = datasets.Dataset.from_dict({"x": list(range(100)), "label": labels})
    subset = representative_subset(split, 20, "label", seed=1)
    assert np.bincount(subset["label"]).tolist() == [12, 6, 2] and subset["x"] == sorted(subset["x"])
    assert representative_subset(split, 20, "label", seed=1)["x"] == subset["x"]
    assert representative_subset(split, 20, "label", seed=2)["x"] != subset["x"]
    assert sorted(representative_subset(split, 2, "label", seed=0)["label"]) == [0, 1]  # fewer rows than classes
    assert np.bincount(representative_subset(split, 3, "label", seed=0)["label"]).tolist() == [1, 1, 1]
    assert len(representative_subset(split, 500, "label", seed=0)) == 100
