"""train.py with the wav2vec2 emotion classifier on a self-made RAVDESS tree: a local "pretrained" backbone, random
crops, length-grouped batches, gradient checkpointing, LoRA merged into the saved model, the stock export, the
package pipeline in a clean Python, and exact resume."""

import json
import os

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

import train
from tests.utils import run_clean_python
from tests.voice_fixtures import write_ravdess
from tests.wav2vec2_utils import LAYER_NORM, TINY_BACKBONE


@pytest.fixture(scope="module")
def ravdess_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ravdess_w2v"))
    write_ravdess(root, actors=(1, 2, 3, 4), seconds=0.3, names=None)
    return root


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory):
    """A tiny wav2vec2 and its feature extractor saved locally: what `facebook/wav2vec2-base` is on the Hub."""
    root = tmp_path_factory.mktemp("tiny_wav2vec2")
    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config(**TINY_BACKBONE, **LAYER_NORM)).save_pretrained(root)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True).save_pretrained(root)
    return str(root)


def run(tmp_path, data_dir, cache, output_dir, *extra, **overrides):
    recipe = {"dataset": "ravdess", "dataset_config": "speech", "dataset_options": {"num_folds": 4},
              "input_column": "audio", "label_column": "emotion", "model_type": "wav2vec2_emotion",
              "model": {"pooling": "mean", "projector_size": 8}, "random_crop": True, "max_length_seconds": 0.2,
              "group_by_length": True, "optimizer": "adamw", "learning_rate": 0.001, "num_epochs": 1,
              "per_device_train_batch_size": 8, "per_device_eval_batch_size": 16, "early_stopping_patience": None,
              "checkpointing_steps": None, "logging_steps": 1, **overrides}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return train.main(["--config", str(path), "--data_dir", data_dir, "--output_dir", str(output_dir),
                       "--cache_dir", cache, *map(str, extra)])


def test_lora_checkpointing_then_stock_export(tmp_path, ravdess_dir, backbone_dir, datasets_cache):
    out = tmp_path / "stock"
    results = run(tmp_path, ravdess_dir, datasets_cache, out, max_train_steps=3, pretrained_backbone=backbone_dir,
                  feature_extractor={"class": "Wav2Vec2FeatureExtractor", "from_pretrained": backbone_dir},
                  gradient_checkpointing=True, lora_r=2, lora_alpha=4, export_stock=True)
    assert results["train_steps"] == 3 and results["test_samples"] == 60
    config = json.load(open(out / "config.json"))
    assert config["model_type"] == "wav2vec2" and config["architectures"] == ["Wav2Vec2ForSequenceClassification"]
    assert "auto_map" not in config and not [f for f in os.listdir(out) if f.endswith(".py")]
    # LoRA trained only the adapters (merged into q/v) and the head; every other backbone weight is the pretrained one
    trained, pretrained = load_file(out / "model.safetensors"), load_file(os.path.join(backbone_dir, "model.safetensors"))
    changed = {k for k, v in pretrained.items() if not torch.equal(trained["wav2vec2." + k], v)}
    assert changed and all(".q_proj." in k or ".v_proj." in k for k in changed), sorted(changed)
    assert not any(k.endswith("bias") for k in changed)  # LoRA adapts weights only
    output = run_clean_python(f"""
        import json
        import numpy as np
        from transformers import pipeline
        classifier = pipeline("audio-classification", model={str(out)!r})  # stock classes, no remote code
        t = np.arange(16000) / 16000
        print(type(classifier.model).__name__, json.dumps(classifier(np.sin(2 * np.pi * 220 * t).astype(np.float32))))
    """, cwd=str(tmp_path))
    name, _, predictions = output.strip().splitlines()[-1].partition(" ")
    assert name == "Wav2Vec2ForSequenceClassification" and len(json.loads(predictions)) == 8


def test_mean_max_model_in_the_package_pipeline_and_exact_resume(tmp_path, ravdess_dir, datasets_cache):
    kwargs = dict(max_train_steps=4, checkpointing_steps=2, checkpoints_total_limit=None, num_epochs=2,
                  model={"pooling": "mean_max", "projector_size": 8, "wav2vec2_config": {**TINY_BACKBONE, **LAYER_NORM}},
                  feature_extractor={"class": "Wav2Vec2FeatureExtractor", "return_attention_mask": True})
    out = tmp_path / "full"
    full = run(tmp_path, ravdess_dir, datasets_cache, out, **kwargs)
    resumed = run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "resumed", "--resume_from_checkpoint",
                  out / "checkpoints" / "checkpoint-2", **kwargs)
    assert resumed["eval_loss"] == full["eval_loss"]
    a, b = load_file(out / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.load(open(out / "config.json"))["auto_map"]["AutoModelForAudioClassification"] == \
        "modeling_wav2vec2_emotion.Wav2Vec2EmotionForAudioClassification"
    wav = sorted(os.path.join(r, f) for r, _, fs in os.walk(ravdess_dir) for f in fs)[0]
    output = run_clean_python(f"""
        import json
        import datasets
        from transformers import pipeline
        classifier = pipeline("audio-classification", model={str(out)!r}, trust_remote_code=True)
        row = datasets.Dataset.from_dict({{"audio": [{wav!r}]}}).cast_column("audio", datasets.Audio())[0]
        long = {{"raw": __import__("numpy").random.default_rng(0).standard_normal(16000 * 5).astype("float32") * 0.1,
                 "sampling_rate": 16000}}
        print(json.dumps([classifier({wav!r}), classifier(row), classifier(long, window_seconds=1.0, hop_seconds=0.5)]))
    """, cwd=str(tmp_path))
    path_result, row_result, windowed = json.loads(output.strip().splitlines()[-1])
    assert path_result[0]["label"] == row_result[0]["label"]
    assert path_result[0]["score"] == pytest.approx(row_result[0]["score"], abs=1e-4)
    assert sum(p["score"] for p in windowed) == pytest.approx(1.0, abs=1e-4)


def test_length_grouped_sampler_is_seeded_per_epoch():
    lengths = list(range(100, 0, -1))
    sampler = train.LengthGroupedSampler(lengths, batch_size=4, seed=3, mega_batch_factor=2)
    first = list(sampler)
    assert sorted(first) == list(range(100)) and list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    for start in range(0, 100, 8):  # inside each mega-batch of 2 batches, lengths decrease
        chunk = [lengths[i] for i in first[start: start + 8]]
        assert chunk == sorted(chunk, reverse=True)


def test_bad_wav2vec2_recipes(tmp_path, ravdess_dir, datasets_cache):
    with pytest.raises(ValueError, match="wav2vec2 reads 16 kHz waveforms"):
        run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "x",
            feature_extractor={"feature_type": "log_mel", "sampling_rate": 16000, "max_length_seconds": 0.2},
            model={"wav2vec2_config": TINY_BACKBONE})
    with pytest.raises(ValueError, match="lora_target_modules"):
        run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "x", lora_r=2, lora_target_modules=["no_such_module"],
            feature_extractor={"class": "Wav2Vec2FeatureExtractor"}, model={"wav2vec2_config": TINY_BACKBONE})
