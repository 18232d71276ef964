"""The frozen-encoder cache (training/encoder_cache.py) and what the speech model declares it reads of its encoder:
a mean-pooled head's layer means give the logits (and gradients) of its frames, entries survive a killed build,
concurrent builds and corruption, and the cache has a size report and a cleanup command."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import load_file
from transformers import Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

from emotion_hub.modeling import SpeechEmotionConfig, SpeechEmotionForAudioClassification
from emotion_hub.training.audio import build_encoder_cache, features_of
from emotion_hub.training.encoder_cache import TMP_PREFIX, EncoderCache, clean, main as cache_main, report
from tests.conftest import REPO

TINY_WHISPER = dict(model_type="whisper", d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                    num_mel_bins=8, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=16)
TINY_WAV2VEC2 = dict(model_type="wav2vec2", hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2),
                     num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2, feat_extract_norm="layer",
                     do_stable_layer_norm=True)


def whisper_model(**head) -> SpeechEmotionForAudioClassification:
    """A tiny frozen Whisper (1 s window), the same weights in every process (seeded)."""
    torch.manual_seed(0)
    return SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=TINY_WHISPER, window_seconds=1, num_labels=3, freeze_backbone=True, **head))


def whisper_extractor() -> WhisperFeatureExtractor:
    return WhisperFeatureExtractor(feature_size=8, chunk_length=1)


def make_clips(count: int, seed: int = 0) -> list:
    """`count` noise clips of 0.25 to 1 s (Whisper pads them to its 1 s window)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(int(rng.integers(4000, 16001))) * 0.1).astype(np.float32) for _ in range(count)]


def build(model, extractor, root, waves, batch_size=2):
    """`(cache, clip keys, clips encoded)` once `waves` are in the cache under `root`."""
    cache = EncoderCache.for_model(model, extractor, str(root))
    keys, computed, _ = build_encoder_cache(model, extractor, cache, [{"audio": w} for w in waves],
                                            batch_size=batch_size)
    return cache, keys, sum(computed)


HEADS = [dict(use_weighted_layer_sum=True, normalize_hidden_states=True, projector_size=8, standardize_pooled=True),
         dict(use_weighted_layer_sum=True, normalize_hidden_states=False, projector_size=0),
         dict(use_weighted_layer_sum=False, normalize_hidden_states=True, projector_size=8),
         dict(use_weighted_layer_sum=False, normalize_hidden_states=False, projector_size=0, standardize_pooled=True)]


@pytest.mark.parametrize("encoder", ["whisper", "wav2vec2"])
@pytest.mark.parametrize("head", HEADS, ids=["sum-norm-proj-std", "sum", "last-norm-proj", "last-std"])
def test_layer_means_give_the_logits_and_gradients_of_the_frames(encoder, head):
    """A mean-pooled head over a frozen encoder is linear in the (normalised) frames: the cache stores each state's
    mean over the clip's real frames, and the head on them gives the logits of the head on the frames (< 1e-5,
    float32), on a padded batch of clips shorter than the window and of mixed lengths, and the same gradients."""
    torch.manual_seed(0)
    audio = TINY_WHISPER if encoder == "whisper" else TINY_WAV2VEC2
    model = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=audio, window_seconds=1 if encoder == "whisper" else None, num_labels=3, freeze_backbone=True,
        pooling="mean", **head))
    if model.pooled_norm is not None:  # statistics of some data, so that the standardisation is not the identity
        model.pooled_norm.running_mean.normal_()
        model.pooled_norm.running_var.uniform_(0.5, 2.0)
    extractor = whisper_extractor() if encoder == "whisper" else Wav2Vec2FeatureExtractor(return_attention_mask=True)
    features = features_of(extractor, make_clips(3), return_attention_mask=True)
    inputs = {model.config.input_name: features[model.config.input_name], "attention_mask": features["attention_mask"]}
    spec = model.encoder_cache_spec()
    assert spec["layout"] == "layer_means" and spec["states"] == (3 if head["use_weighted_layer_sum"] else 1)
    entries = model.encode_for_cache(**inputs)
    assert [tuple(e["layer_means"].shape) for e in entries] == [(spec["states"], 16)] * 3
    batch = model.collate_cache_entries(entries)
    model.eval()
    with torch.no_grad():
        direct = model(**inputs).logits
        assert (model(**batch).logits - direct).abs().max() < 1e-5
        # the pooled vector before `standardize_pooled`'s statistics, from audio or from the cache
        assert (model.pooled_output(**batch) - model.pooled_output(**inputs)).abs().max() < 1e-5
        # and what the cache stored before: the frames of every state
        outputs, frame_mask = model.encode(inputs.pop(model.config.input_name), inputs["attention_mask"],
                                           output_hidden_states=True)
        frames = torch.stack(outputs.hidden_states, 1) if head["use_weighted_layer_sum"] else \
            outputs.last_hidden_state[:, None]
    model.train()
    labels = torch.tensor([0, 2, 1])
    grads = []
    for kwargs in ({"encoder_hidden_states": frames, "frame_mask": frame_mask}, batch):
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout mask
        model(**kwargs, labels=labels).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and "classifier.weight" in grads[0]
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-5), name


def test_heads_that_read_frames_get_frames():
    extractor = whisper_extractor()
    features = features_of(extractor, make_clips(2), return_attention_mask=True)
    attentive = whisper_model(pooling="attentive_stats", use_weighted_layer_sum=True)
    assert attentive.encoder_cache_spec()["layout"] == "frames"
    entries = attentive.encode_for_cache(features["input_features"], features["attention_mask"])
    assert [e["hidden_states"].shape[:1] for e in entries] == [(3,), (3,)]
    with pytest.raises(ValueError, match="pooling='mean' only"):
        attentive(pooled_hidden_states=torch.zeros(1, 3, 16))
    with pytest.raises(ValueError, match=r"shape \(batch, 3, 16\)"):
        whisper_model(use_weighted_layer_sum=True)(pooled_hidden_states=torch.zeros(1, 2, 16))
    trained = whisper_model()
    trained.config.freeze_backbone = False
    assert trained.encoder_cache_spec() is None
    with pytest.raises(ValueError, match="no part of this model's encoder is fixed"):
        trained.encode_for_cache(features["input_features"], features["attention_mask"])


BUILD_SCRIPT = """
import os, sys, time
sys.path.insert(0, {repo!r})
from tests.test_encoder_cache import build, make_clips, whisper_extractor, whisper_model
root, count = sys.argv[1], int(sys.argv[2])
ready = sys.argv[3:]  # start together with the other builders
model = whisper_model(pooling="attentive_stats", use_weighted_layer_sum=True)
if ready:
    open(ready[0], "w").close()
    while not all(os.path.exists(r) for r in ready):
        time.sleep(0.01)
_, _, computed = build(model, whisper_extractor(), root, make_clips(count))
print("computed", computed)
"""


def run_build(tmp_path, root, count, *ready, env=None, wait=True):
    script = tmp_path / "build_cache.py"
    script.write_text(BUILD_SCRIPT.format(repo=REPO))
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    process = subprocess.Popen([sys.executable, str(script), str(root), str(count), *map(str, ready)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def entry_files(root):
    """`(entries, temporary files)` under a cache root."""
    entries, temporary = {}, []
    for base, _, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            if name.startswith(TMP_PREFIX):
                temporary.append(path)
            elif name.endswith(".safetensors"):
                entries[name] = load_file(path)
    return entries, temporary


def test_a_killed_build_resumes_without_recomputing_and_without_a_half_entry(tmp_path):
    # Killed (SIGKILL) between writing the third entry and renaming it into place: batches of 2, so the first batch
    # is whole on disk, the third entry a temporary file.
    code, _, _ = run_build(tmp_path, tmp_path / "cache", 6, env={"EMOTION_HUB_TEST_KILL_AT": "encoder_cache_store:3"})
    assert code == -9
    entries, temporary = entry_files(tmp_path / "cache")
    assert len(entries) == 2 and len(temporary) == 1
    model, extractor = whisper_model(pooling="attentive_stats", use_weighted_layer_sum=True), whisper_extractor()
    cache, keys, computed = build(model, extractor, tmp_path / "cache", make_clips(6))
    assert computed == 4  # the two finished entries are not computed again
    _, reference_keys, _ = build(model, extractor, tmp_path / "reference", make_clips(6))
    resumed, _ = entry_files(tmp_path / "cache")
    reference, _ = entry_files(tmp_path / "reference")
    assert resumed.keys() == reference.keys() and len(resumed) == 6 and keys == reference_keys
    for name in reference:
        assert torch.allclose(resumed[name]["hidden_states"], reference[name]["hidden_states"], atol=1e-6), name
        assert torch.equal(resumed[name]["num_frames"], reference[name]["num_frames"])
    assert all(cache.verify(key) for key in keys)
    # The killed run's temporary file is never an entry; `clean` removes it once it is an hour old.
    stale = entry_files(tmp_path / "cache")[1]
    assert stale == temporary
    os.utime(stale[0], (time.time() - 7200, time.time() - 7200))
    assert clean(str(tmp_path / "cache"), older_than_days=30) == stale and not os.path.exists(stale[0])


def test_two_builds_sharing_a_cache_folder_at_once_both_finish_with_correct_entries(tmp_path):
    ready = [tmp_path / "ready-a", tmp_path / "ready-b"]
    builders = [run_build(tmp_path, tmp_path / "shared", 24, ready[i], ready[1 - i], wait=False) for i in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in builders]
    assert all(code == 0 for _, _, code in results), [err[-2000:] for _, err, _ in results]
    computed = [int(out.split()[-1]) for out, _, _ in results]
    assert all(0 <= c <= 24 for c in computed) and sum(computed) >= 24
    model, extractor = whisper_model(pooling="attentive_stats", use_weighted_layer_sum=True), whisper_extractor()
    cache, keys, again = build(model, extractor, tmp_path / "shared", make_clips(24))
    assert again == 0 and all(cache.verify(key) for key in keys)
    shared, temporary = entry_files(tmp_path / "shared")
    reference, _ = entry_files(build(model, extractor, tmp_path / "reference", make_clips(24))[0].root)
    assert not temporary and shared.keys() == reference.keys() and len(shared) == 24
    for name in reference:
        assert torch.allclose(shared[name]["hidden_states"], reference[name]["hidden_states"], atol=1e-6), name


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_a_corrupted_entry_is_named_and_computed_again(tmp_path, caplog, damage):
    model, extractor = whisper_model(), whisper_extractor()  # a mean-pooled head: layer means
    waves = make_clips(3)
    cache, keys, _ = build(model, extractor, tmp_path / "cache", waves)
    path = cache.path(keys[1])
    good = open(path, "rb").read()
    with open(path, "r+b") as f:
        if damage == "truncated":
            f.truncate(len(good) // 2)
        else:  # the tensors' bytes are at the end of the file: the file still loads, with other values
            f.seek(len(good) - 3)
            f.write(bytes([good[-3] ^ 0x40]))
    with caplog.at_level("WARNING"):
        cache, _, computed = build(model, extractor, tmp_path / "cache", waves)
    assert computed == 1 and f"encoder cache entry {path} is corrupted" in caplog.text
    assert cache.verify(keys[1])
    assert torch.allclose(load_file(path)["layer_means"], safetensors_load(good)["layer_means"], atol=1e-6)


def test_info_and_clean(tmp_path, capsys):
    root = tmp_path / "cache"
    model, extractor = whisper_model(), whisper_extractor()
    old, _, _ = build(model, extractor, root, make_clips(3))
    recent, _, _ = build(model, WhisperFeatureExtractor(feature_size=8, chunk_length=1, padding_value=0.5), root,
                         make_clips(2))
    ten_days_ago = time.time() - 10 * 86400
    os.utime(os.path.join(old.dir, "cache.json"), (ten_days_ago, ten_days_ago))
    (root / "notes.txt").write_text("mine")  # a user's file in the cache root
    listing = report(str(root))
    assert "2 folder(s), 5 entries" in listing and "layer_means, 1 state(s), float32" in listing
    assert f"{old.key}  3 entries" in listing and "last used 10.0 days ago" in listing
    assert "not ours (left alone): notes.txt" in listing
    assert cache_main(["clean", "--dir", str(root), "--older_than", "5", "--dry_run"]) == 0
    assert os.path.isdir(old.dir) and "would remove 1 path(s)" in capsys.readouterr().out
    assert cache_main(["clean", "--dir", str(root), "--older_than", "5"]) == 0
    assert not os.path.exists(old.dir) and os.path.isdir(recent.dir) and (root / "notes.txt").exists()
    info = subprocess.run([sys.executable, "-m", "emotion_hub.training.encoder_cache", "info", "--dir", str(root)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert info.returncode == 0 and "1 folder(s), 2 entries" in info.stdout
    assert cache_main(["clean", "--dir", str(root)]) == 0
    assert sorted(os.listdir(root)) == ["notes.txt"]  # every folder of ours, nothing of the user's
    assert cache_main(["clean", "--dir", str(root)]) == 2
    assert f"{root} holds no encoder cache" in capsys.readouterr().err
    assert cache_main(["clean", "--dir", str(tmp_path / "nothing")]) == 2
