"""Cross-corpus evaluation (training/cross_corpus.py): a model trained on some corpora of the merged speech corpus,
tested on another's clips, with statistics re-estimated on the target's audio; self-made RAVDESS and EmoDB trees and
a tiny local Whisper."""

import json
import os

import datasets
import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

import train
from emotion_hub.modeling import SpeechEmotionConfig, SpeechEmotionForAudioClassification
from emotion_hub.training.cross_corpus import (adapted_probabilities, cross_corpus_splits, logits_with_statistics,
                                               pooled_statistics, shared_label_subset)
from tests.test_datasets_emodb import write_emodb
from tests.voice_fixtures import ravdess_names, write_ravdess

TINY_WHISPER = dict(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32, num_mel_bins=8,
                    max_source_positions=100, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=16,
                    vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)


@pytest.fixture(scope="module")
def corpora_dir(tmp_path_factory):
    """<root>/ravdess: 4 actors, one statement and repetition of every emotion (15 clips each); <root>/emodb: 4
    speakers, 2 texts, 7 emotions."""
    root = tmp_path_factory.mktemp("two_corpora")
    names = [n for n in ravdess_names(range(1, 5)) if os.path.basename(n).split("-")[4:6] == ["01", "01"]]
    write_ravdess(str(root / "ravdess"), names=names, seconds=0.3)
    write_emodb(str(root / "emodb"), speakers=("03", "08", "09", "10"), texts=("a01", "b10"), seconds=0.3)
    return str(root)


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_whisper_xc")
    torch.manual_seed(0)
    WhisperModel(WhisperConfig(**TINY_WHISPER)).save_pretrained(root)
    WhisperFeatureExtractor(feature_size=8, chunk_length=1).save_pretrained(root)
    return str(root)


def recipe(tmp_path, whisper_dir, **overrides):
    values = {"dataset": "speech_emotion", "dataset_options": {"corpora": ["ravdess", "emodb"], "num_folds": 4},
              "input_column": "audio", "label_column": "emotion", "model_type": "speech_emotion",
              "pretrained_backbone": whisper_dir,
              "feature_extractor": {"class": "WhisperFeatureExtractor", "from_pretrained": whisper_dir,
                                    "chunk_length": 1},
              "model": {"pooling": "mean", "use_weighted_layer_sum": True, "normalize_hidden_states": True,
                        "projector_size": 0, "standardize_pooled": True, "freeze_backbone": True},
              "optimizer": "adamw", "learning_rate": 0.01, "num_epochs": 2, "per_device_train_batch_size": 8,
              "per_device_eval_batch_size": 16, "early_stopping_patience": None, "checkpointing_steps": None,
              "fold_group_column": "speaker", "fold_strata_column": "gender", "fold_validation_fraction": 0.34,
              "encoder_cache_dir": str(tmp_path / "encoder_cache"), "logging_steps": 1, **overrides}
    path = tmp_path / f"recipe-{len(list(tmp_path.glob('recipe-*')))}.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_leave_one_corpus_out_with_adapted_statistics_and_a_final_model(tmp_path, corpora_dir, whisper_dir,
                                                                          datasets_cache):
    out = tmp_path / "out"
    results = train.main(["--config", recipe(tmp_path, whisper_dir, cross_corpus="loco", cross_corpus_final_model=True,
                                             fold_refit=True),
                          "--data_dir", corpora_dir, "--output_dir", str(out), "--cache_dir", datasets_cache])
    settings = ("unadapted", "corpus_adapted", "inductive_adapted", "speaker_adapted")
    for target, trained in (("ravdess", ["emodb"]), ("emodb", ["ravdess"])):
        entry = results["cross_corpus"][target]
        assert entry["train_corpora"] == trained and set(entry["settings"]) == set(settings)
        # RAVDESS: 4 actors x (neutral + 5 emotions x 2 intensities); EmoDB: 4 x 2 texts x 6, + speaker 03's 2nd takes
        assert entry["test_clips"] == {"ravdess": 4 * 11, "emodb": 4 * 2 * 6 + 2}[target]
        for setting in settings:
            for metric in ("uar", "accuracy", "f1_macro"):
                value = results[f"cross_corpus_{target}_{setting}_{metric}"]
                assert 0 <= value <= 1 and value == entry["settings"][setting][metric]
        folder = out / f"cross_corpus_{target}"
        fold = json.load(open(folder / "all_results.json"))
        # The target's unadapted figures are the fold model's test figures: the same model, the same clips.
        assert fold["test_uar"] == pytest.approx(entry["settings"]["unadapted"]["uar"], abs=1e-6)
        assert fold["test_samples"] == entry["test_clips"]
        for setting in settings[1:]:
            assert (folder / f"confusion_matrix_{setting}.png").read_bytes()[:4] == b"\x89PNG"
        report = json.load(open(folder / "classification_report.json"))
        assert set(report) >= {f"test_{s}" for s in settings}
        card = ModelCard.load(folder / "README.md").text
        assert "Cross-corpus results" in card and f"tested on every clip of **{target}**" in card
        # fold_refit: chosen on the validation speakers (the selection run), then trained on them too and tested
        selection = json.load(open(out / f"cross_corpus_{target}-selection" / "all_results.json"))
        assert fold["refit"] and fold["epoch"] == selection["best_epoch"] and fold["eval_uar"] == selection["eval_uar"]
        assert entry["validation"] == selection["cross_corpus"][target]["validation"]
        assert set(entry["validation"]) == set(settings)
    # The final model: every corpus, the builder's speaker-disjoint splits, the cross-corpus figures on its card.
    assert (out / "final-selection" / "all_results.json").exists()
    final = json.load(open(out / "all_results.json"))
    assert final["cross_corpus"] == results["cross_corpus"] and set(final["test_per_corpus"]) == {"ravdess", "emodb"}
    card = ModelCard.load(out / "README.md").text
    assert "Cross-corpus results" in card and "| ravdess |" in card and "emodb (50 clips, 4 speakers)" in card
    model = SpeechEmotionForAudioClassification.from_pretrained(out)
    assert model.config.num_labels == 6
    from emotion_hub.training.output import inspect_folder

    assert inspect_folder(str(out)) == ("run", [])  # every target and selection folder is the run's own


def test_a_label_one_corpus_alone_has_never_reaches_the_others_metrics(tmp_path, corpora_dir, whisper_dir,
                                                                        datasets_cache):
    out = tmp_path / "out"
    overrides = {"dataset_options": {"corpora": ["ravdess", "emodb"], "num_folds": 4,
                                     "labels": ["anger", "happiness", "sadness", "surprise"]}}
    results = train.main(["--config", recipe(tmp_path, whisper_dir, cross_corpus=["emodb", "ravdess"], **overrides),
                          "--data_dir", corpora_dir, "--output_dir", str(out), "--cache_dir", datasets_cache])
    for target in ("emodb", "ravdess"):
        entry = results["cross_corpus"][target]
        assert entry["labels"] == ["anger", "happiness", "sadness"] and entry["left_out_labels"] == ["surprise"]
        assert set(entry["settings"]["unadapted"]["f1_per_class"]) == {"anger", "happiness", "sadness"}
        report = json.load(open(out / f"cross_corpus_{target}" / "classification_report.json"))
        assert report["test"]["labels"] == ["anger", "happiness", "sadness"]
        config = json.load(open(out / f"cross_corpus_{target}" / "config.json"))
        assert sorted(config["id2label"].values()) == ["anger", "happiness", "sadness"]
    # RAVDESS's surprise clips are neither trained on (emodb target) nor tested (ravdess target): 4 actors x 3 labels
    assert results["cross_corpus"]["ravdess"]["test_clips"] == 4 * 6  # 4 actors x 3 labels x 2 intensities
    assert not (out / "README.md").exists()  # no final model unless asked


def test_splits_hold_out_whole_speakers_of_the_training_corpora_only():
    rows = {"source": [], "speaker": [], "gender": [], "emotion": []}
    for corpus, speakers in (("a", 6), ("b", 3), ("t", 4)):
        for s in range(speakers):
            for label in range(3 if corpus != "t" else 2):
                rows["source"].append(corpus)
                rows["speaker"].append(f"{corpus}_{s}")
                rows["gender"].append("female" if s % 2 else "male")
                rows["emotion"].append(label)
    full = datasets.Dataset.from_dict(rows, features=datasets.Features({
        "source": datasets.ClassLabel(names=["a", "b", "t"]), "speaker": datasets.Value("string"),
        "gender": datasets.Value("string"), "emotion": datasets.ClassLabel(names=["x", "y", "z"])}))

    class Recipe:
        corpus_column, label_column, fold_group_column, fold_strata_column = "source", "emotion", "speaker", "gender"
        fold_validation_fraction, seed = 0.34, 0

    splits, kept, left_out = cross_corpus_splits(Recipe, full, "t", ["a", "b"])
    assert kept == ["x", "y"] and left_out == ["z"]  # z: the target has none
    speakers = {name: set(split["speaker"]) for name, split in splits.items()}
    assert speakers["test"] == {f"t_{s}" for s in range(4)}
    assert not speakers["train"] & speakers["validation"]
    assert {s[0] for s in speakers["validation"]} == {"a", "b"}  # each training corpus validates on its own speakers
    assert len(speakers["validation"]) == 3  # round(0.34 * 6) = 2 of a, round(0.34 * 3) = 1 of b
    assert splits["train"].features["emotion"].names == ["x", "y"] and set(splits["train"]["emotion"]) == {0, 1}


def test_adapted_statistics_are_the_targets_and_change_nothing_else():
    torch.manual_seed(0)
    config = SpeechEmotionConfig(audio_config={"model_type": "whisper", **TINY_WHISPER}, standardize_pooled=True,
                                 projector_size=0, num_labels=3)
    model = SpeechEmotionForAudioClassification(config).eval()
    model.pooled_norm.running_mean.normal_()
    model.pooled_norm.running_var.uniform_(0.5, 2.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pooled = torch.randn(12, config.pooled_size) * 3 + 1
    speakers = np.array(["s1"] * 5 + ["s2"] * 4 + ["s3"] * 3, dtype=object)
    probabilities = adapted_probabilities(model, pooled, speakers)
    mean, var = pooled.mean(0), pooled.var(0)
    manual = model.classifier((pooled - mean) / torch.sqrt(var + model.pooled_norm.eps)).softmax(-1)
    torch.testing.assert_close(probabilities["corpus_adapted"], manual, atol=1e-5, rtol=1e-5)
    own = pooled[:5]
    manual = model.classifier((own - own.mean(0)) / torch.sqrt(own.var(0) + model.pooled_norm.eps)).softmax(-1)
    torch.testing.assert_close(probabilities["speaker_adapted"][:5], manual, atol=1e-5, rtol=1e-5)
    others = pooled[5:]
    manual = model.classifier((own - others.mean(0)) / torch.sqrt(others.var(0) + model.pooled_norm.eps)).softmax(-1)
    torch.testing.assert_close(probabilities["inductive_adapted"][:5], manual, atol=1e-5, rtol=1e-5)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the statistics were put back
    mean, var = pooled_statistics(pooled)
    assert torch.allclose(logits_with_statistics(model, pooled, mean, var).softmax(-1),
                          probabilities["corpus_adapted"], atol=1e-6)


def test_cross_corpus_recipe_errors(tmp_path, whisper_dir, corpora_dir, datasets_cache):
    with pytest.raises(ValueError, match="`cross_corpus` must be null with `folds`"):
        train.parse_args(["--config", recipe(tmp_path, whisper_dir, cross_corpus="loco", folds=3),
                          "--output_dir", str(tmp_path / "a")])
    with pytest.raises(ValueError, match="`cross_corpus` must be set with `cross_corpus_train`"):
        train.parse_args(["--config", recipe(tmp_path, whisper_dir, cross_corpus_train=["emodb"]),
                          "--output_dir", str(tmp_path / "b")])
    with pytest.raises(ValueError, match="corpus 'tess' is not in the dataset"):
        train.main(["--config", recipe(tmp_path, whisper_dir, cross_corpus=["tess"]), "--data_dir", corpora_dir,
                    "--output_dir", str(tmp_path / "c"), "--cache_dir", datasets_cache])
