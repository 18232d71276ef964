"""train.py with SpeechEmotion on a Whisper encoder: a local "pretrained" tiny Whisper, the frozen-encoder cache
(same weights as running the encoder every epoch, invalidated by data, feature settings, backbone and what the head
reads; a damaged entry computed again; the build split over 2 processes and over 2 machines without a shared disk),
leave-one-speaker-out cross-validation on a self-made EmoDB tree, and the stock export."""

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

import train
from emotion_hub.modeling import SpeechEmotionConfig, SpeechEmotionForAudioClassification
from tests.conftest import REPO
from tests.test_datasets_emodb import write_emodb
from tests.utils import run_clean_python
from emotion_hub.training.audio import build_encoder_cache, cache_blockers
from emotion_hub.training.encoder_cache import EncoderCache, settings_key

TINY_WHISPER = dict(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32, num_mel_bins=8,
                    max_source_positions=100, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=16,
                    vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)


@pytest.fixture(scope="module")
def emodb_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("emodb_train")
    write_emodb(str(root), speakers=("03", "08", "09", "10"), texts=("a01", "b10"), letters=("W", "F", "N"),
                seconds=0.4)
    return str(root)


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    """A tiny Whisper (2 s of positions) and its feature extractor saved locally: what `openai/whisper-base` is on
    the Hub (that one has 30 s and 80 mel bins)."""
    root = tmp_path_factory.mktemp("tiny_whisper")
    torch.manual_seed(0)
    WhisperModel(WhisperConfig(**TINY_WHISPER)).save_pretrained(root)
    WhisperFeatureExtractor(feature_size=8, chunk_length=2).save_pretrained(root)
    return str(root)


def write_recipe(tmp_path, whisper_dir, **overrides) -> str:
    recipe = {"dataset": "emodb", "dataset_config": "emotion", "dataset_options": {"num_folds": 4},
              "input_column": "audio", "label_column": "emotion",
              "model_type": "speech_emotion", "pretrained_backbone": whisper_dir,
              "feature_extractor": {"class": "WhisperFeatureExtractor", "from_pretrained": whisper_dir,
                                    "chunk_length": 1},
              "model": {"pooling": "attentive_stats", "use_weighted_layer_sum": True, "normalize_hidden_states": True,
                        "projector_size": 8, "freeze_backbone": True},
              "optimizer": "adamw", "learning_rate": 0.01, "num_epochs": 2, "per_device_train_batch_size": 4,
              "per_device_eval_batch_size": 8, "early_stopping_patience": None, "checkpointing_steps": None,
              "encoder_cache_dir": str(tmp_path / "encoder_cache"), "logging_steps": 1, **overrides}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def run(tmp_path, data_dir, datasets_cache, whisper_dir, output_dir, **overrides):
    return train.main(["--config", write_recipe(tmp_path, whisper_dir, **overrides), "--data_dir", data_dir,
                       "--output_dir", str(output_dir), "--cache_dir", datasets_cache])


def cache_entries(root) -> dict:
    """`{path: tensors}` of every entry under an encoder cache root."""
    return {str(path): load_file(path) for path in sorted(Path(root).glob("*/*/*.safetensors"))}


def test_cached_head_training_equals_running_the_encoder(tmp_path, emodb_dir, datasets_cache, whisper_dir):
    cached = run(tmp_path, emodb_dir, datasets_cache, whisper_dir, tmp_path / "cached")
    folders = os.listdir(tmp_path / "encoder_cache")
    # Every clip once: 4 speakers x 2 texts x 3 emotions (speaker 03's two takes of one are the same tone here);
    # attentive pooling reads frames: every state's real frames.
    entries = cache_entries(tmp_path / "encoder_cache")
    assert len(folders) == 1 and len(entries) == 4 * 2 * 3
    assert all(e["hidden_states"].shape == (3, 20, 16) for e in entries.values())
    direct = run(tmp_path, emodb_dir, datasets_cache, whisper_dir, tmp_path / "direct", encoder_cache=False)
    for key in ("eval_accuracy", "eval_uar", "test_accuracy", "test_uar", "test_f1_macro"):
        assert cached[key] == pytest.approx(direct[key], abs=1e-9), key
    a, b = load_file(tmp_path / "cached" / "model.safetensors"), load_file(tmp_path / "direct" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-4), name  # float sums in another order, no more
    config = json.load(open(tmp_path / "cached" / "config.json"))
    assert config["model_type"] == "speech_emotion" and config["audio_config"]["max_source_positions"] == 50
    # A random crop shorter than the clips, or noise, would change the input every epoch: the cache is refused.
    with pytest.raises(ValueError, match="random_crop"):
        run(tmp_path, emodb_dir, datasets_cache, whisper_dir, tmp_path / "crop", encoder_cache=True,
            random_crop=True, max_length_seconds=0.2)


def test_a_corrupted_cache_entry_is_named_and_computed_again(tmp_path, emodb_dir, datasets_cache, whisper_dir,
                                                             caplog):
    first = run(tmp_path, emodb_dir, datasets_cache, whisper_dir, tmp_path / "first")
    path = sorted(cache_entries(tmp_path / "encoder_cache"))[5]
    with open(path, "r+b") as f:  # a run killed by a full disk, a bad copy...
        f.truncate(100)
    with caplog.at_level("WARNING"):
        again = run(tmp_path, emodb_dir, datasets_cache, whisper_dir, tmp_path / "again")
    assert f"encoder cache entry {path} is corrupted" in caplog.text
    assert len(cache_entries(tmp_path / "encoder_cache")) == 4 * 2 * 3  # loads again
    for key in ("eval_accuracy", "test_accuracy", "test_f1_macro"):
        assert again[key] == first[key], key


MEAN_HEAD = {"pooling": "mean", "use_weighted_layer_sum": True, "normalize_hidden_states": True, "projector_size": 8,
             "standardize_pooled": True, "freeze_backbone": True}


def launch(tmp_path, whisper_dir, emodb_dir, datasets_cache, output_dir, cache_dir, machine=None, port=None):
    """`accelerate launch` of train.py as 2 CPU processes (gloo) on one machine, or as machine `machine` (0 or 1) of
    two machines of one process each on 127.0.0.1:`port`; returns the process (stdout and stderr piped)."""
    where = (["--num_machines", "1"] if machine is None else
             ["--num_machines", "2", "--machine_rank", str(machine), "--main_process_ip", "127.0.0.1",
              "--main_process_port", str(port)])
    recipe = write_recipe(tmp_path / f"recipe-{machine}" if machine is not None else tmp_path, whisper_dir,
                          model=MEAN_HEAD, encoder_cache_dir=str(cache_dir))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "PYTEST_"))}
    env.update(PYTHONPATH=REPO, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", ACCELERATE_USE_CPU="true")
    command = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", *where, "--mixed_precision", "no",
               "--dynamo_backend", "no", os.path.join(REPO, "train.py"), "--config", recipe, "--data_dir", emodb_dir,
               "--output_dir", str(output_dir), "--cache_dir", datasets_cache]
    return subprocess.Popen(command, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def encoded_per_process(stdout: str) -> list[int]:
    found = re.search(r"clips encoded \((\d+) \+ (\d+) by 2 processes\)", stdout)
    assert found, stdout[-2000:]
    return [int(n) for n in found.groups()]


def test_two_processes_and_two_machines_encode_each_clip_once(tmp_path, emodb_dir, datasets_cache, whisper_dir):
    """2 processes split the cache build (every clip encoded once in all) and make the entries of 1 process; 2
    machines (one process each, on 127.0.0.1, without a shared cache folder) train the model of the 2-process
    run, each machine's cache getting every entry."""
    (tmp_path / "recipe-0").mkdir()
    (tmp_path / "recipe-1").mkdir()
    run(tmp_path, emodb_dir, datasets_cache, whisper_dir, tmp_path / "one", model=MEAN_HEAD,
        encoder_cache_dir=str(tmp_path / "cache-one"))
    one = cache_entries(tmp_path / "cache-one")

    two = launch(tmp_path, whisper_dir, emodb_dir, datasets_cache, tmp_path / "two", tmp_path / "cache-two")
    out, err = two.communicate(timeout=600)
    assert two.returncode == 0, err[-3000:]
    assert "2 process(es)" in out
    shares = encoded_per_process(out)
    assert sum(shares) == 4 * 2 * 3 and min(shares) > 0  # each of the 24 distinct clips once, by one process
    entries = cache_entries(tmp_path / "cache-two")
    assert {os.path.basename(p) for p in entries} == {os.path.basename(p) for p in one} and len(entries) == 24
    by_name = {os.path.basename(p): e for p, e in one.items()}
    for path, entry in entries.items():
        assert torch.allclose(entry["layer_means"], by_name[os.path.basename(path)]["layer_means"], atol=1e-6), path
    results = json.load(open(tmp_path / "two" / "all_results.json"))
    assert results["num_processes"] == 2

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    machines = [launch(tmp_path, whisper_dir, emodb_dir, datasets_cache, tmp_path / "machines",
                       tmp_path / f"cache-machine{m}", machine=m, port=port) for m in (0, 1)]
    outputs = [m.communicate(timeout=600) for m in machines]
    assert [m.returncode for m in machines] == [0, 0], [err[-3000:] for _, err in outputs]
    assert sum(encoded_per_process(outputs[0][0])) == 24
    for m in (0, 1):  # no shared disk: each machine's cache ends up with every entry
        assert len(cache_entries(tmp_path / f"cache-machine{m}")) == 24
    trained = json.load(open(tmp_path / "machines" / "all_results.json"))
    assert trained["num_processes"] == 2
    for key in ("eval_accuracy", "eval_f1_macro", "eval_loss", "test_accuracy", "test_uar", "test_loss"):
        assert trained[key] == pytest.approx(results[key], abs=1e-9), key
    a, b = load_file(tmp_path / "two" / "model.safetensors"), load_file(tmp_path / "machines" / "model.safetensors")
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name


def test_top_layer_fine_tuning_from_the_cache_equals_running_the_encoder(tmp_path, emodb_dir, datasets_cache,
                                                                         whisper_dir):
    """`trainable_encoder_layers: 1`: the cache keeps the states below the top layer over the whole Whisper window,
    each step runs the top layer and the head; same weights and metrics as running the whole encoder every step."""
    model = {"pooling": "mean", "use_weighted_layer_sum": True, "normalize_hidden_states": True, "projector_size": 8,
             "freeze_backbone": False, "trainable_encoder_layers": 1}
    cached = run(tmp_path, emodb_dir, datasets_cache, whisper_dir, tmp_path / "top-cached", model=model,
                 learning_rate=0.003, head_learning_rate=0.01)
    direct = run(tmp_path, emodb_dir, datasets_cache, whisper_dir, tmp_path / "top-direct", model=model,
                 learning_rate=0.003, head_learning_rate=0.01, encoder_cache=False)
    for key in ("eval_accuracy", "eval_uar", "test_accuracy", "test_uar", "test_f1_macro"):
        assert cached[key] == pytest.approx(direct[key], abs=1e-9), key
    a, b = load_file(tmp_path / "top-cached" / "model.safetensors"), load_file(tmp_path / "top-direct" / "model.safetensors")
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-4), name
    # The top layer and the final norm moved away from the pretrained weights, the lower layer did not.
    start = WhisperModel.from_pretrained(whisper_dir).encoder.state_dict()
    assert torch.equal(a["audio_encoder.layers.0.fc1.weight"], start["layers.0.fc1.weight"])
    assert not torch.equal(a["audio_encoder.layers.1.fc1.weight"], start["layers.1.fc1.weight"])
    assert not torch.equal(a["audio_encoder.layer_norm.weight"], start["layer_norm.weight"])
    # Entries: the 2 states below the top layer over all 50 frames of the 1 s window, and the clip's real frames.
    entries = cache_entries(tmp_path / "encoder_cache").values()
    partial = [e for e in entries if e["hidden_states"].shape[0] == 2]
    assert len(partial) == 4 * 2 * 3 and all(e["hidden_states"].shape[1:] == (50, 16) for e in partial)
    assert {int(e["num_frames"]) for e in partial} == {20}  # 0.4 s clips
    config = json.load(open(tmp_path / "top-cached" / "config.json"))
    assert config["trainable_encoder_layers"] == 1


def test_leave_one_speaker_out_and_stock_export(tmp_path, emodb_dir, datasets_cache, whisper_dir):
    out = tmp_path / "loso"
    summary = run(tmp_path, emodb_dir, datasets_cache, whisper_dir, out, folds="loso", fold_group_column="speaker",
                  fold_strata_column="gender", fold_validation_fraction=0.3,
                  model={"pooling": "mean", "use_weighted_layer_sum": True, "projector_size": 8,
                         "freeze_backbone": True}, export_stock=True)
    assert summary["cv_folds"] == 4 and summary["cv_protocol"] == "leave-one-group-out"
    for metric in ("accuracy", "uar", "f1_macro"):
        assert 0.0 <= summary[f"cv_{metric}_mean"] <= 1.0 and summary[f"cv_{metric}_std"] >= 0.0
    report = json.load(open(out / "cv_report.json"))
    assert sorted(report["folds"].values()) == [["03"], ["08"], ["09"], ["10"]]  # one speaker per fold
    assert os.path.isfile(out / "confusion_matrix.png")
    assert np.sum(report["confusion_matrix"]) == 26  # every clip predicted once, out of fold
    for k in range(4):  # one test speaker (speaker 03 has a second take of one sentence), one validation speaker
        fold = json.load(open(out / f"fold_{k}" / "all_results.json"))
        assert fold["test_samples"] in (6, 8) and fold["eval_samples"] in (6, 8)
        assert fold["train_samples"] + fold["eval_samples"] + fold["test_samples"] == 26
    stock = out / "fold_0"
    config = json.load(open(stock / "config.json"))
    assert config["architectures"] == ["WhisperForAudioClassification"] and config["max_source_positions"] == 50
    assert json.load(open(stock / "preprocessor_config.json"))["chunk_length"] == 1
    printed = run_clean_python(f"""
        import numpy as np
        from transformers import pipeline
        classifier = pipeline("audio-classification", model={str(stock)!r})
        print(classifier(np.zeros(8000, dtype=np.float32) + 0.01)[0]["label"])
    """, cwd=str(tmp_path))
    assert printed.split()[-1] in ("anger", "happiness", "neutral")


def test_fold_refit_trains_on_validation_speakers_for_the_selected_epochs(tmp_path, emodb_dir, datasets_cache,
                                                                        whisper_dir):
    out = tmp_path / "refit"
    summary = run(tmp_path, emodb_dir, datasets_cache, whisper_dir, out, folds="loso", fold_group_column="speaker",
                  fold_validation_fraction=0.3, fold_refit=True, num_epochs=3, export_stock=True,
                  model={"pooling": "mean", "use_weighted_layer_sum": True, "projector_size": 0,
                         "standardize_pooled": True, "freeze_backbone": True})
    assert summary["cv_refit"] is True and summary["cv_folds"] == 4
    assert np.sum(json.load(open(out / "cv_report.json"))["confusion_matrix"]) == 26
    for k, fold in enumerate(summary["folds"]):
        selection = json.load(open(out / f"fold_{k}-selection" / "all_results.json"))
        refit = json.load(open(out / f"fold_{k}" / "all_results.json"))
        # The refit model trained on the selection run's training and validation speakers, for its best epoch count.
        assert refit["train_samples"] == selection["train_samples"] + selection["eval_samples"]
        assert refit["epoch"] == selection["best_epoch"] == fold["selection_best_epoch"]
        assert fold["test_accuracy"] == refit["test_accuracy"] and fold["eval_accuracy"] == selection["eval_accuracy"]
        assert refit["eval_accuracy"] == selection["eval_accuracy"] and refit["refit"] is True
        card = open(out / f"fold_{k}" / "README.md").read()
        assert "validation (selection run)" in card and f"chose {selection['best_epoch']} epochs" in card
        # a stock folder's card: what the stock pipeline (the widget's) does with what ours refuses
        assert "NaN audio gets NaN scores" in card and "the answer of its first 1 s only" in card
        assert '"Which folder to pick"' in card
        # The pooled-vector statistics fold into the stock classifier: the exported folder is stock Whisper.
        config = json.load(open(out / f"fold_{k}" / "config.json"))
        assert config["architectures"] == ["WhisperForAudioClassification"]
    with pytest.raises(ValueError, match="fold_refit"):  # refit needs folds
        run(tmp_path, emodb_dir, datasets_cache, whisper_dir, tmp_path / "nofolds", fold_refit=True)


def build(model, extractor, root, waves):
    """`(cache, clip keys, clips encoded)` after putting `waves` in the encoder cache under `root`."""
    cache = EncoderCache.for_model(model, extractor, root)
    keys, computed, _ = build_encoder_cache(model, extractor, cache, [{"audio": w} for w in waves], batch_size=2)
    return cache, keys, sum(computed)


def test_encoder_cache_invalidation(tmp_path, whisper_dir):
    model = SpeechEmotionForAudioClassification.from_pretrained_backbone(whisper_dir, num_labels=3, window_seconds=1,
                                                                         freeze_backbone=True, pooling="max")
    extractor = WhisperFeatureExtractor(feature_size=8, chunk_length=1)
    rng = np.random.default_rng(0)
    waves = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in (4000, 9000, 16000)]
    root = str(tmp_path / "cache")
    first, keys, computed = build(model, extractor, root, waves)
    states = [first.load(key)["hidden_states"] for key in keys]
    assert computed == 3 and [s.shape for s in states] == [(1, 13, 16), (1, 29, 16), (1, 50, 16)]
    with torch.no_grad():  # the cached states are the encoder's, for the clip's frames
        batch = extractor([waves[1]], sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
        outputs, _ = model.encode(batch["input_features"], batch["attention_mask"], output_hidden_states=True)
        assert torch.allclose(states[1][-1], outputs.last_hidden_state[0, :29], atol=1e-6)
    again, _, computed = build(model, extractor, root, waves)
    assert computed == 0 and all(torch.equal(again.load(k)["hidden_states"], s) for k, s in zip(keys, states))
    changed = [waves[0], waves[1] * 0.5, waves[2]]  # the data changed for one clip
    assert build(model, extractor, root, changed)[2] == 1
    assert build(model, extractor, root, changed + [waves[1] * 0.25])[2] == 1  # only the clip never seen
    other_features = WhisperFeatureExtractor(feature_size=8, chunk_length=1, padding_value=0.5)
    assert settings_key(model, other_features) != settings_key(model, extractor)
    assert build(model, other_features, root, waves)[2] == 3  # a feature setting changed: every clip again
    mean_head = SpeechEmotionForAudioClassification.from_pretrained_backbone(
        whisper_dir, num_labels=3, window_seconds=1, freeze_backbone=True, pooling="mean")
    assert settings_key(mean_head, extractor) != first.key  # the head reads something else: layer means
    with torch.no_grad():
        model.encoder.layers[0].fc1.weight.add_(0.01)  # another backbone
    assert settings_key(model, extractor) != first.key
    assert build(model, extractor, root, waves)[2] == 3 and len(os.listdir(root)) == 3


def test_cache_blockers_name_the_reason():
    model = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=dict(model_type="whisper", **TINY_WHISPER), num_labels=2, freeze_backbone=False))

    class R:
        lora_r, audio_augmentation = 0, {"noise_snr_db": [10, 20]}

    blockers = cache_blockers(R, model, [16000], 8000)
    assert any("freeze_backbone" in b for b in blockers) and any("noise_snr_db" in b for b in blockers)
    assert any("random_crop" in b for b in blockers)

    class Plain:
        lora_r, audio_augmentation = 0, {}

    top = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=dict(model_type="whisper", **TINY_WHISPER), num_labels=2, trainable_encoder_layers=1))
    assert cache_blockers(Plain, top, [16000], None) == []
    wavlm = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=dict(model_type="wavlm", hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=32, conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2),
                          num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2),
        num_labels=2, trainable_encoder_layers=1))
    assert any("relative position bias" in b for b in cache_blockers(Plain, wavlm, [16000], None))


@pytest.mark.parametrize("weighted", [True, False])
def test_cached_states_give_the_logits_of_the_audio_for_a_stable_layer_norm_encoder(tmp_path, weighted):
    """wav2vec2-large style (`do_stable_layer_norm`): `last_hidden_state` is the last hidden state after a final norm
    that the recorded hidden states lack; a head without the layer sum reads the former, so the cache keeps it."""
    from transformers import Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    model = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=dict(model_type="wav2vec2", hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=32, conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2),
                          num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2, do_stable_layer_norm=True,
                          feat_extract_norm="layer"),
        num_labels=3, freeze_backbone=True, use_weighted_layer_sum=weighted, projector_size=4)).eval()
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    rng = np.random.default_rng(0)
    waves = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in (3000, 5000)]
    cache, keys, _ = build(model, extractor, str(tmp_path / "cache"), waves)
    assert model.encoder_cache_spec()["states"] == (3 if weighted else 1)
    with torch.no_grad():
        for wave, key in zip(waves, keys):
            direct = model(torch.from_numpy(wave)[None]).logits
            cached = model(**model.collate_cache_entries([cache.load(key)])).logits
            assert (direct - cached).abs().max() < 1e-5
