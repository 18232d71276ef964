"""train.py on self-made RAVDESS trees for the three voice models; the saved folders in
`pipeline("audio-classification")` in a Python without our packages; grouped cross-validation; exact resume with
random crops; the stock AST export."""

import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from huggingface_hub import ModelCard
from safetensors.torch import load_file

import train
from emotion_hub.training.registry import family_of
from tests.utils import run_clean_python
from tests.voice_fixtures import write_ravdess


ACTORS = (1, 2, 3, 4, 5, 6)
FEATURES = {
    "spectrogram_vit": {"feature_type": "log_mel", "sampling_rate": 16000, "max_length_seconds": 0.2, "n_fft": 256,
                        "hop_length": 128, "n_mels": 16, "feature_normalization": "global"},
    "mfcc_cnn": {"feature_type": "mfcc", "sampling_rate": 16000, "max_length_seconds": 0.2, "n_fft": 256,
                 "hop_length": 128, "n_mels": 20, "n_mfcc": 8, "deltas": 2, "feature_normalization": "utterance"},
    "waveform_mlp": {"feature_type": "waveform", "sampling_rate": 8000, "max_length_seconds": 0.2,
                     "normalize_waveform": "peak"},
}
MODELS = {
    "spectrogram_vit": {"patch_size": [8, 5], "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                        "attention_head_dim": 8, "intermediate_size": 24},
    "mfcc_cnn": {"conv_channels": [4, 8], "fc_sizes": [16]},
    "waveform_mlp": {"hidden_sizes": [16]},
}


def recipe(model_type, **overrides):
    return {"dataset": "ravdess", "dataset_config": "speech", "dataset_options": {"num_folds": 6},
            "input_column": "audio", "label_column": "emotion", "model_type": model_type,
            "feature_extractor": FEATURES[model_type], "model": MODELS[model_type], "random_crop": True,
            "optimizer": "adam", "learning_rate": 0.003, "num_epochs": 2, "per_device_train_batch_size": 16,
            "per_device_eval_batch_size": 32, "early_stopping_patience": None, "checkpointing_steps": None,
            "logging_steps": 1, **overrides}


def run(tmp_path, data_dir, cache, output_dir, model_type, *extra, **overrides):
    path = tmp_path / f"recipe-{model_type}.yaml"
    path.write_text(yaml.safe_dump(recipe(model_type, **overrides)))
    return train.main(["--config", str(path), "--data_dir", data_dir, "--output_dir", str(output_dir),
                       "--cache_dir", cache, *map(str, extra)])


@pytest.fixture(scope="module")
def ravdess_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ravdess"))
    write_ravdess(root, actors=ACTORS, seconds=0.3)
    return root


@pytest.fixture(scope="module")
def audio_inputs(tmp_path_factory):
    """The pipeline inputs of the issue: a 44.1 kHz stereo wav, a 16-bit 48 kHz mono wav, a corrupt wav."""
    root = tmp_path_factory.mktemp("inputs")
    t = np.arange(int(0.5 * 44100)) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 300 * t)
    sf.write(root / "stereo_44k.wav", np.stack([tone, 0.5 * tone], axis=1).astype(np.float32), 44100,
             subtype="FLOAT")
    t48 = np.arange(int(0.4 * 48000)) / 48000
    sf.write(root / "mono_48k_16bit.wav", (0.3 * np.sin(2 * np.pi * 220 * t48)).astype(np.float32), 48000,
             subtype="PCM_16")
    (root / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt this is not audio")
    return root


@pytest.mark.parametrize("model_type", ["spectrogram_vit", "mfcc_cnn", "waveform_mlp"])
def test_train_then_pipeline_in_a_clean_python(tmp_path, ravdess_dir, datasets_cache, audio_inputs, model_type):
    out = tmp_path / "out"
    results = run(tmp_path, ravdess_dir, datasets_cache, out, model_type, max_train_steps=2)
    assert results["train_steps"] == 2 and results["train_samples"] == 240
    assert results["eval_samples"] == 60 and results["test_samples"] == 60
    files = set(os.listdir(out))
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "feature_extraction_emotion_audio.py",
            "pipeline_audio_classification.py", "windowed_audio.py", "losses.py", "README.md", "all_results.json",
            "classification_report.json", "confusion_matrix.png"} <= files
    processor = json.load(open(out / "preprocessor_config.json"))
    assert processor["auto_map"]["AutoFeatureExtractor"].endswith("EmotionAudioFeatureExtractor")
    if model_type == "spectrogram_vit":  # global statistics from the training split
        assert processor["feature_mean"] is not None and processor["feature_std"] > 0
    card = ModelCard.load(out / "README.md")
    assert card.data.pipeline_tag == "audio-classification"
    assert 'pipeline("audio-classification"' in card.text
    labels = json.load(open(out / "config.json"))["id2label"]

    output = run_clean_python(f"""
        import json
        import datasets, numpy as np, soundfile as sf
        from transformers import pipeline

        classifier = pipeline("audio-classification", model={str(out)!r}, trust_remote_code=True)
        inputs = {str(audio_inputs)!r}
        stereo, rate = sf.read(inputs + "/stereo_44k.wav", dtype="float32")
        mono16, _ = sf.read(inputs + "/mono_48k_16bit.wav", dtype="int16")
        rows = datasets.Dataset.from_dict({{"audio": [inputs + "/stereo_44k.wav"]}}).cast_column("audio", datasets.Audio())
        calls = {{
            "stereo_44k_path": inputs + "/stereo_44k.wav",
            "mono_48k_16bit_path": inputs + "/mono_48k_16bit.wav",
            "float_array": {{"raw": stereo[:, 0], "sampling_rate": rate}},
            "stereo_array": {{"raw": stereo, "sampling_rate": rate}},
            "int16_array": {{"array": mono16, "sampling_rate": 48000}},
            "datasets_row": rows[0],
            "datasets_audio": rows[0]["audio"],
        }}
        results = {{name: classifier(value, top_k=2) for name, value in calls.items()}}
        try:
            classifier(inputs + "/corrupt.wav")
        except ValueError as err:
            results["corrupt"] = str(err)
        print(json.dumps(results))
    """, cwd=str(tmp_path))
    results = json.loads(output.strip().splitlines()[-1])
    assert "corrupt.wav" in results.pop("corrupt")
    for name, predictions in results.items():
        assert len(predictions) == 2 and predictions[0]["label"] in labels.values(), name
        assert predictions[0]["score"] >= predictions[1]["score"], name
    # the same audio gives the same answer whichever way it comes in
    assert results["stereo_44k_path"][0]["label"] == results["datasets_row"][0]["label"] == \
           results["datasets_audio"][0]["label"]
    assert results["datasets_row"][0]["score"] == pytest.approx(results["datasets_audio"][0]["score"], abs=1e-6)
    assert results["stereo_array"][0]["score"] == pytest.approx(results["datasets_row"][0]["score"], abs=1e-3)


def test_grouped_cross_validation_fresh_model_per_fold(tmp_path, ravdess_dir, datasets_cache):
    out = tmp_path / "cv"
    summary = run(tmp_path, ravdess_dir, datasets_cache, out, "mfcc_cnn", max_train_steps=3, folds=3,
                  fold_group_column="speaker", fold_strata_column="gender")
    for key in ("cv_accuracy_mean", "cv_accuracy_std", "cv_f1_macro_mean", "cv_f1_macro_std", "cv_uar_mean",
                "cv_roc_auc_macro_mean"):
        assert 0 <= summary[key] <= 1, key
    saved = json.load(open(out / "all_results.json"))
    assert saved["cv_folds"] == 3 and len(saved["folds"]) == 3
    assert saved["cv_accuracy_mean"] == pytest.approx(np.mean([f["test_accuracy"] for f in saved["folds"]]))
    curve = saved["cv_validation_curve"]  # mean validation metric per epoch over folds, for choosing num_epochs
    assert curve["metric"] == "eval_f1_macro" and 1 <= curve["best_epoch"] <= len(curve["mean_over_folds"])
    report = json.load(open(out / "cv_report.json"))
    groups = [set(report["folds"][f"fold_{k}"]) for k in range(3)]
    assert all(len(g) == 2 for g in groups) and set.union(*groups) == {f"Actor_{a:02d}" for a in ACTORS}
    for g in groups:  # balanced over gender: one odd (male) and one even (female) actor per fold
        assert sorted(int(a[-2:]) % 2 for a in g) == [0, 1]
    assert np.sum(report["confusion_matrix"]) == 360  # every clip tested exactly once
    for k in range(3):
        fold = out / f"fold_{k}"
        assert {"config.json", "model.safetensors", "README.md", "preprocessor_config.json"} <= set(os.listdir(fold))
        fold_results = json.load(open(fold / "all_results.json"))
        assert fold_results["test_samples"] == 120 and fold_results["eval_samples"] == 60
    # Fold 2 trained alone on its own splits (a fresh model from the same seed) gives the very same weights: no
    # weights leak from one fold into the next.
    import datasets as hf_datasets

    r = train.parse_args(["--config", str(tmp_path / "recipe-mfcc_cnn.yaml"), "--output_dir", str(tmp_path / "alone"),
                          "--data_dir", ravdess_dir, "--cache_dir", datasets_cache, "--max_train_steps", "3",
                          "--folds", "3", "--fold_group_column", "speaker", "--fold_strata_column", "gender"])
    splits = train.load_splits(r)
    full = hf_datasets.concatenate_datasets([splits[s] for s in ("train", "validation", "test")])
    folds, validation = train.fold_assignment(r, full)
    fold_splits = {"train": full.select(np.flatnonzero((folds != 2) & ~validation[2])),
                   "validation": full.select(np.flatnonzero(validation[2])),
                   "test": full.select(np.flatnonzero(folds == 2))}
    from emotion_hub.training.cli import apply_num_threads

    previous = apply_num_threads(r)  # the thread count train.main used: float sums in the same order
    try:
        alone = train.train_and_evaluate(r, train.build_accelerator(r), fold_splits, str(tmp_path / "alone"))
    finally:
        if previous:
            torch.set_num_threads(previous)
    assert alone["test_accuracy"] == saved["folds"][2]["test_accuracy"]
    a, b = load_file(out / "fold_2" / "model.safetensors"), load_file(tmp_path / "alone" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)

    # Resuming a cross-validation reads finished folds back and retrains only what is missing.
    os.remove(out / "fold_1" / "all_results.json")
    fold_0_mtime = os.path.getmtime(out / "fold_0" / "model.safetensors")
    again = run(tmp_path, ravdess_dir, datasets_cache, out, "mfcc_cnn", "--resume_from_checkpoint", "latest",
                max_train_steps=3, folds=3, fold_group_column="speaker", fold_strata_column="gender")
    assert os.path.getmtime(out / "fold_0" / "model.safetensors") == fold_0_mtime
    assert again["cv_accuracy_mean"] == summary["cv_accuracy_mean"]


def test_ungrouped_folds_are_stratified():
    import datasets as hf_datasets

    labels = [0] * 30 + [1] * 15 + [2] * 15
    full = hf_datasets.Dataset.from_dict({"label": labels})
    r = train.parse_args(["--config", os.devnull, "--output_dir", "x", "--folds", "3"])
    folds, validation = train.fold_assignment(r, full)
    for k in range(3):
        assert np.bincount(np.asarray(labels)[folds == k]).tolist() == [10, 5, 5]
        assert not (validation[k] & (folds == k)).any() and validation[k].sum() == 10


def test_random_crops_resume_exactly(tmp_path, ravdess_dir, datasets_cache):
    kwargs = dict(max_train_steps=6, checkpointing_steps=3, checkpoints_total_limit=None, num_epochs=2)
    full = run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "full", "spectrogram_vit", **kwargs)
    resumed = run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "resumed", "spectrogram_vit",
                  "--resume_from_checkpoint", tmp_path / "full" / "checkpoints" / "checkpoint-3", **kwargs)
    assert resumed["eval_loss"] == full["eval_loss"] and resumed["train_steps"] == 6
    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stock_ast_export_runs_in_the_stock_pipeline(tmp_path, ravdess_dir, datasets_cache, audio_inputs):
    out = tmp_path / "ast"
    run(tmp_path, ravdess_dir, datasets_cache, out, "spectrogram_vit", max_train_steps=2, export_stock=True,
        random_crop=False,
        feature_extractor={"class": "ASTFeatureExtractor", "num_mel_bins": 16, "max_length": 32},
        model={"patch_size": 8, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
               "attention_head_dim": 8, "intermediate_size": 24, "distillation_token": True, "pooling": "cls"})
    config = json.load(open(out / "config.json"))
    assert config["model_type"] == "audio-spectrogram-transformer" and "auto_map" not in config
    assert not [name for name in os.listdir(out) if name.endswith(".py")]
    output = run_clean_python(f"""
        import json
        from transformers import pipeline
        classifier = pipeline("audio-classification", model={str(out)!r})  # stock classes only
        print(type(classifier.model).__name__, json.dumps(classifier({str(audio_inputs / "mono_48k_16bit.wav")!r})))
    """, cwd=str(tmp_path))
    name, _, predictions = output.strip().splitlines()[-1].partition(" ")
    assert name == "ASTForAudioClassification" and len(json.loads(predictions)) == 8  # every RAVDESS emotion


def test_bad_audio_recipes(tmp_path, ravdess_dir, datasets_cache):
    with pytest.raises(ValueError, match="reads `feature_type: mfcc`"):
        run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "x", "mfcc_cnn", feature_extractor=FEATURES["waveform_mlp"])
    with pytest.raises(ValueError, match="must be a datasets.Audio column"):
        run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "x", "waveform_mlp", input_column="file")
    with pytest.raises(ValueError, match="needs a crop length"):
        run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "x", "waveform_mlp",
            feature_extractor={**FEATURES["waveform_mlp"], "max_length_seconds": None})
    with pytest.raises(ValueError, match="`model.input_length` is 99 but the feature extractor gives 1600"):
        run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "x", "waveform_mlp", model={"input_length": 99})
    with pytest.raises(ValueError, match="`folds` must be 0"):
        run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "x", "waveform_mlp", folds=1)
    with pytest.raises(ValueError, match="fold column 'actor_name'"):
        run(tmp_path, ravdess_dir, datasets_cache, tmp_path / "x", "waveform_mlp", folds=2,
            fold_group_column="actor_name")


VOICE_RECIPES = sorted(f for f in os.listdir(os.path.join(os.path.dirname(__file__), "..", "configs"))
                       if f.startswith(("spectrogram-vit-", "mfcc-cnn-", "waveform-", "wav2vec2-")))


def test_every_voice_recipe_of_the_issues_exists():
    assert {f"{name}.yaml" for name in (
        "spectrogram-vit-vivae", "spectrogram-vit-ravdess", "mfcc-cnn-ravdess", "mfcc-cnn-speech",
        "waveform-mlp-vivae", "waveform-logreg-vivae", "wav2vec2-ravdess", "wav2vec2-vivae", "wav2vec2-speech",
    )} <= set(VOICE_RECIPES)


@pytest.mark.parametrize("name", VOICE_RECIPES)
def test_voice_recipes_parse_and_build_their_model(name):
    """Each recipe's feature extractor and model config build (without data or downloads), and fit each other."""
    path = os.path.join(os.path.dirname(__file__), "..", "configs", name)
    r = train.parse_args(["--config", path, "--output_dir", "x"])
    family = family_of(r.model_type)
    assert family.task_class is train.AudioClassificationTask and r.folds >= 3 and r.fold_group_column == "speaker"
    config_class = family.config_class
    if r.model_type == "wav2vec2_emotion":
        assert r.pretrained_backbone == "facebook/wav2vec2-base" and r.random_crop and r.group_by_length
        assert r.feature_extractor["from_pretrained"] == "facebook/wav2vec2-base"
        config_class(**r.model, num_labels=8)
        return
    task = object.__new__(train.AudioClassificationTask)  # the processor and model-size logic, no dataset
    task.recipe, task.processor = r, train.build_feature_extractor(r.feature_extractor)
    config = config_class(**{**r.model, **task.input_size()}, num_labels=8)
    if r.model_type == "spectrogram_vit" and "vivae" in name:  # the source report's image and sizes
        assert (config.num_mel_bins, config.max_frames, config.patch_size) == (64, 690, [32, 30])
    if r.model_type == "mfcc_cnn":
        assert (config.input_height, config.input_width) == (120, 87)
