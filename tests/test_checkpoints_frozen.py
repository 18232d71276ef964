"""Checkpoints leave frozen parameters out: a frozen Whisper encoder is rebuilt from `pretrained_backbone` when a run
resumes, checked by hash. A run killed after its first checkpoint resumes to the uninterrupted run's weights and
figures; a checkpoint whose backbone changed since is refused with one line."""

import json
import os
import shutil

import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import WhisperConfig, WhisperModel

import train
from tests.test_train_speech_encoders import TINY_WHISPER, emodb_dir, whisper_dir  # noqa: F401
from tests.utils import killed_train_run

HEAD = {"pooling": "mean", "use_weighted_layer_sum": True, "normalize_hidden_states": True, "projector_size": 8,
        "freeze_backbone": True}
COMPARED = ("eval_accuracy", "eval_f1_macro", "eval_loss", "test_accuracy", "test_f1_macro", "test_loss", "best_epoch",
            "epoch", "train_steps")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Forked children and the reference on one thread (see tests/test_train_safety.py)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def args(tmp_path, backbone, data_dir, cache, out, *extra):
    """The tiny Whisper EmoDB recipe of tests/test_train_speech_encoders.py, a frozen encoder, a checkpoint a epoch."""
    recipe = {"dataset": "emodb", "dataset_config": "emotion", "dataset_options": {"num_folds": 4},
              "input_column": "audio", "label_column": "emotion", "model_type": "speech_emotion",
              "pretrained_backbone": backbone,
              "feature_extractor": {"class": "WhisperFeatureExtractor", "from_pretrained": backbone, "chunk_length": 1},
              "model": HEAD, "optimizer": "adamw", "learning_rate": 0.01, "num_epochs": 3,
              "per_device_train_batch_size": 4, "per_device_eval_batch_size": 8, "early_stopping_patience": None,
              "checkpointing_steps": "epoch", "checkpoints_total_limit": 1,
              "encoder_cache_dir": str(tmp_path / "encoder_cache"), "logging_steps": 1}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return ["--config", str(path), "--data_dir", data_dir, "--output_dir", str(out), "--cache_dir", cache, *extra]


def test_a_frozen_encoder_is_left_out_of_checkpoints_and_resumes_to_the_same_weights(
        tmp_path, emodb_dir, whisper_dir, datasets_cache):  # noqa: F811
    backbone = tmp_path / "backbone"
    shutil.copytree(whisper_dir, backbone)
    reference = train.main(args(tmp_path, str(backbone), emodb_dir, datasets_cache, tmp_path / "reference"))

    out = tmp_path / "out"
    killed_train_run(args(tmp_path, str(backbone), emodb_dir, datasets_cache, out), "checkpoint:pruned")
    (checkpoint,) = train.list_checkpoints(str(out))
    frozen = json.load(open(os.path.join(checkpoint, "frozen.json")))
    with safe_open(os.path.join(checkpoint, "model.safetensors"), framework="pt") as f:
        stored = set(f.keys())
    saved = load_file(tmp_path / "reference" / "model.safetensors")
    encoder = {name for name in saved if name.startswith("audio_encoder.")}
    assert encoder and set(frozen["parameters"]) == encoder  # the whole frozen encoder, nothing of the head
    assert stored == set(saved) - encoder  # the head's weights, all of them
    assert not stored & set(frozen["parameters"]) and not set(load_file(
        os.path.join(checkpoint, "best_model.safetensors"))) & set(frozen["parameters"])
    assert frozen["source"] == str(backbone)
    full = os.path.getsize(tmp_path / "reference" / "model.safetensors")
    assert os.path.getsize(os.path.join(checkpoint, "model.safetensors")) < full / 4

    resumed = train.main(args(tmp_path, str(backbone), emodb_dir, datasets_cache, out,
                              "--resume_from_checkpoint", "latest"))
    assert {k: resumed[k] for k in COMPARED} == {k: reference[k] for k in COMPARED}
    a, b = load_file(out / "model.safetensors"), load_file(tmp_path / "reference" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the final folder is whole


def test_a_checkpoint_whose_backbone_changed_is_refused_with_one_line(tmp_path, emodb_dir, whisper_dir,  # noqa: F811
                                                                      datasets_cache, capsys):
    backbone = tmp_path / "backbone"
    shutil.copytree(whisper_dir, backbone)
    out = tmp_path / "out"
    killed_train_run(args(tmp_path, str(backbone), emodb_dir, datasets_cache, out), "checkpoint:pruned")
    torch.manual_seed(1)  # another encoder at the same path
    WhisperModel(WhisperConfig(**TINY_WHISPER)).save_pretrained(backbone)
    with pytest.raises(SystemExit) as exit_info:
        train.cli(args(tmp_path, str(backbone), emodb_dir, datasets_cache, out, "--resume_from_checkpoint", "latest"))
    assert exit_info.value.code == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "frozen parameters, rebuilt from" in error[0] and "no longer match" in error[0], error
    assert str(backbone) in error[0] and "start a new run" in error[0]
