"""`python -m emotion_hub.adapt`: a speech model's standardisation statistics re-estimated on unlabelled recordings,
nothing else changed; the adapted folder reloads, pipelines and exports as the stock class with the same logits; bad
inputs are one line each."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file
from transformers import WhisperFeatureExtractor, pipeline

from emotion_hub.adapt import AdaptError, adapt_model, main
from emotion_hub.modeling import SpeechEmotionConfig, SpeechEmotionForAudioClassification
from tests.conftest import REPO

TINY_WHISPER = dict(model_type="whisper", d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                    num_mel_bins=8, max_source_positions=50, decoder_layers=1, decoder_attention_heads=2,
                    decoder_ffn_dim=16, vocab_size=100)


def make_model(folder, **config):
    torch.manual_seed(0)
    model = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=TINY_WHISPER, **{"standardize_pooled": True, "projector_size": 4, "use_weighted_layer_sum": True,
                                      "num_labels": 3, "freeze_backbone": True, **config})).eval()
    if model.pooled_norm is not None:
        with torch.no_grad():  # trained-looking statistics
            model.pooled_norm.running_mean.normal_()
            model.pooled_norm.running_var.uniform_(0.5, 2.0)
    model.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=8, chunk_length=1).save_pretrained(folder)
    return model


def write_clips(folder, count, seed=0, rate=16000, gain=2.0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        seconds = [0.4, 1.0, 2.5][i % 3]  # shorter than the 1 s window, the window, longer (windows)
        t = np.arange(int(seconds * rate)) / rate
        wave = gain * 0.2 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.05 * rng.standard_normal(t.size)
        path = os.path.join(folder, f"clip_{i:03d}." + ("flac" if i % 4 == 3 else "wav"))
        sf.write(path, np.clip(wave, -1, 1).astype(np.float32), rate)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    model = make_model(str(root / "model"))
    clips = write_clips(str(root / "clips"), 24)
    return root, model, clips


def test_adaptation_changes_the_statistics_only_and_records_them(trained, tmp_path):
    root, model, clips = trained
    record = main(["--model_dir", str(root / "model"), "--audio", str(root / "clips"), "--output_dir",
                   str(tmp_path / "adapted")])
    before, after = load_file(root / "model" / "model.safetensors"), load_file(tmp_path / "adapted" / "model.safetensors")
    assert before.keys() == after.keys()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed == ["pooled_norm.running_mean", "pooled_norm.running_var"]  # every trained weight bit-identical
    config = json.load(open(tmp_path / "adapted" / "config.json"))
    assert config["adaptation"]["clips"] == 24 and config["adaptation"] == record
    assert record["seconds"] == pytest.approx(8 * (0.4 + 1.0 + 2.5), abs=0.01)
    assert record["windows"] == 8 * (1 + 1 + 3) and record["date"] and "folder" in record["source"]
    assert record["mean_shift"] > 0 and record["std_ratio"] > 0
    # The new statistics are the mean and variance of the clips' pooled vectors, windows of the model's window.
    adapted = SpeechEmotionForAudioClassification.from_pretrained(tmp_path / "adapted").eval()
    extractor = WhisperFeatureExtractor.from_pretrained(tmp_path / "adapted")
    from emotion_hub.adapt import decode, pooled_vectors

    pooled = pooled_vectors(model, extractor, [decode(c, 16000) for c in clips], 16000)
    torch.testing.assert_close(adapted.pooled_norm.running_mean, pooled.mean(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(adapted.pooled_norm.running_var, pooled.var(0), atol=1e-5, rtol=1e-4)


def test_an_adapted_folder_reloads_pipelines_and_exports_as_the_stock_class_with_its_logits(trained, tmp_path):
    root, model, clips = trained
    main(["--model_dir", str(root / "model"), "--audio", str(root / "clips"), "--output_dir", str(tmp_path / "ours")])
    main(["--model_dir", str(root / "model"), "--audio", str(root / "clips"), "--output_dir", str(tmp_path / "stock"),
          "--export_stock"])
    ours = SpeechEmotionForAudioClassification.from_pretrained(tmp_path / "ours").eval()
    extractor = WhisperFeatureExtractor.from_pretrained(tmp_path / "ours")
    from transformers import AutoModelForAudioClassification

    stock = AutoModelForAudioClassification.from_pretrained(tmp_path / "stock").eval()
    assert type(stock).__name__ == "WhisperForAudioClassification"
    assert "auto_map" not in json.load(open(tmp_path / "stock" / "config.json"))
    rng = np.random.default_rng(1)
    waves = [0.1 * rng.standard_normal(16000).astype(np.float32) for _ in range(3)]  # clips that fill the window
    features = extractor(waves, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        a, b = ours(input_features=features["input_features"]).logits, stock(**features).logits
        reloaded = ours.to_stock_model()(**features).logits
    assert (a - b).abs().max() < 1e-5 and (a - reloaded).abs().max() < 1e-5
    # ... and differ from the unadapted model's: the statistics moved
    with torch.no_grad():
        assert (a - model(input_features=features["input_features"]).logits).abs().max() > 1e-3
    classifier = pipeline("audio-classification", model=str(tmp_path / "stock"))
    assert len(classifier(waves[0])) == 3
    assert json.load(open(tmp_path / "stock" / "adaptation.json"))["clips"] == 24


def test_adapt_model_in_python_reads_any_iterable_once():
    model = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=TINY_WHISPER, standardize_pooled=True, num_labels=2)).eval()
    extractor = WhisperFeatureExtractor(feature_size=8, chunk_length=1)
    rng = np.random.default_rng(0)
    waves = (rng.standard_normal(8000).astype(np.float32) for _ in range(5))  # a generator
    record = adapt_model(model, extractor, waves, 16000, min_clips=5)
    assert record["clips"] == 5 and model.config.adaptation == record
    with pytest.raises(AdaptError, match="2 recording\\(s\\) given: at least 5"):
        adapt_model(model, extractor, [np.zeros(8000, np.float32)] * 2, 16000, min_clips=5)


def cli_error(*args) -> str:
    """The command line in its own process: exit status 2 and one `error:` line, no traceback."""
    done = subprocess.run([sys.executable, "-m", "emotion_hub.adapt", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 2, done.stdout[-1000:] + done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return errors[0]


def cli_error_here(capsys, *args) -> str:
    """The same command line in this process (`cli`, the console entry point): exit 2, one `error:` line."""
    from emotion_hub.adapt import cli

    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli([str(arg) for arg in args])
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr[-2000:]
    return errors[0]


def test_bad_inputs_are_one_line_each(trained, tmp_path, capsys):
    root, _, clips = trained
    model = root / "model"
    (tmp_path / "empty").mkdir()
    assert "holds no audio file" in cli_error("--model_dir", model, "--audio", tmp_path / "empty", "--output_dir",
                                              tmp_path / "o1")

    def error(model_dir, audio, output_dir):
        return cli_error_here(capsys, "--model_dir", model_dir, "--audio", audio, "--output_dir", output_dir)

    few = tmp_path / "few"
    write_clips(str(few), 3)
    assert "holds 3 recording(s): at least 20 are needed" in error(model, few, tmp_path / "o2")
    broken = tmp_path / "broken"
    write_clips(str(broken), 21)
    (broken / "clip_005.wav").write_bytes(b"RIFF\x00\x00not a wav file at all")
    assert "clip_005.wav: cannot decode" in error(model, broken, tmp_path / "o3")
    plain = tmp_path / "plain"
    make_model(str(plain), standardize_pooled=False)
    message = error(plain, root / "clips", tmp_path / "o4")
    assert "has no statistics to adapt" in message and "standardize_pooled" in message
    from emotion_hub.modeling import TextCNNConfig, TextCNNForSequenceClassification

    TextCNNForSequenceClassification(TextCNNConfig(vocab_size=20, embedding_dim=4, num_filters=2, kernel_sizes=[1],
                                                   num_labels=2)).save_pretrained(tmp_path / "text")
    assert "is a text-classification model (text_cnn)" in error(tmp_path / "text", root / "clips", tmp_path / "o5")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    assert "exists and is not empty" in error(model, root / "clips", tmp_path / "taken")
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep"
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(clips[:20] + [str(tmp_path / "gone.wav")]))
    assert "do not exist" in error(model, listing, tmp_path / "o6")
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))


def test_a_waveform_encoder_model_adapts_in_windows_and_exports(tmp_path):
    """wav2vec2 reads any length: recordings are cut into --window_seconds windows; the stock export folds the new
    statistics into Wav2Vec2ForSequenceClassification with the same logits."""
    from transformers import AutoModelForAudioClassification, Wav2Vec2FeatureExtractor

    from emotion_hub.adapt import decode, pooled_vectors

    torch.manual_seed(0)
    encoder = dict(model_type="wav2vec2", hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=24, conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2),
                   num_feat_extract_layers=2, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                   feat_extract_norm="layer", do_stable_layer_norm=True)
    model = SpeechEmotionForAudioClassification(SpeechEmotionConfig(
        audio_config=encoder, standardize_pooled=True, projector_size=4, num_labels=3)).eval()
    model.save_pretrained(tmp_path / "model")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, return_attention_mask=True)
    extractor.save_pretrained(tmp_path / "model")
    clips = write_clips(str(tmp_path / "clips"), 21)
    record = main(["--model_dir", str(tmp_path / "model"), "--audio", str(tmp_path / "clips"), "--output_dir",
                   str(tmp_path / "stock"), "--export_stock", "--window_seconds", "1.0"])
    assert record["windows"] == 7 * (1 + 1 + 3)  # 0.4 s and 1 s clips whole, 2.5 s in three 1 s windows
    pooled = pooled_vectors(model, extractor, [decode(c, 16000) for c in clips], 16000, window_seconds=1.0)
    stock = AutoModelForAudioClassification.from_pretrained(tmp_path / "stock").eval()
    assert type(stock).__name__ == "Wav2Vec2ForSequenceClassification"
    with torch.no_grad():
        model.pooled_norm.running_mean.copy_(pooled.mean(0))
        model.pooled_norm.running_var.copy_(pooled.var(0))
        waves = torch.randn(2, 12000) * 0.1
        ours, theirs = model(input_values=waves).logits, stock(input_values=waves).logits
    assert (ours - theirs).abs().max() < 1e-5
