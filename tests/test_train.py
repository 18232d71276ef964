"""train.py end to end on self-made TweetEval/MELD files: outputs, CLI, resume, optimisers, Hub push, 2 processes."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import ModelCard

import train
from tests.conftest import REPO
from tests.hub_server import HubServer
from tests.utils import run_clean_python


TWEET_RECIPE = {
    "dataset": "tweet_eval_emotion",
    "dataset_config": "emotion",
    "model_type": "text_cnn",
    "model": {"embedding_dim": 16, "num_filters": 8, "kernel_sizes": [2, 3], "dropout": 0.1,
              "max_sequence_length": 64},
    "learning_rate": 0.03,
    "num_epochs": 3,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 4,
    "early_stopping_patience": None,
    "checkpointing_steps": None,
    "logging_steps": 2,
}


@pytest.fixture
def recipe_file(tmp_path):
    def write(**overrides):
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump({**TWEET_RECIPE, **overrides}))
        return str(path)

    return write


def run(recipe_path, data_dir, output_dir, cache, *extra):
    return train.main(["--config", recipe_path, "--data_dir", data_dir, "--output_dir", str(output_dir),
                       "--cache_dir", cache, *map(str, extra)])


def test_training_writes_a_hub_ready_folder(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    out = tmp_path / "out"
    results = run(recipe_file(), tweeteval_dir, out, datasets_cache)
    files = set(os.listdir(out))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md",
            "configuration_text_cnn.py", "modeling_text_cnn.py", "losses.py", "all_results.json",
            "classification_report.json", "recipe.yaml", "confusion_matrix.png"} <= files
    saved = json.load(open(out / "all_results.json"))
    for key in ("eval_accuracy", "eval_f1_macro", "eval_f1_weighted", "test_accuracy", "test_f1_macro",
                "test_f1_weighted", "train_runtime", "train_samples_per_second"):
        assert isinstance(saved[key], float), key
    assert saved == json.loads(json.dumps(results))
    assert saved["eval_samples"] == 11 and saved["test_samples"] == 13 and saved["train_samples"] == 96
    assert saved["test_accuracy"] > 0.5  # the fixture's cue words are learnable; chance is 0.25
    config = json.load(open(out / "config.json"))
    assert config["auto_map"]["AutoModelForSequenceClassification"].endswith("TextCNNForSequenceClassification")
    assert config["id2label"] == {"0": "anger", "1": "joy", "2": "optimism", "3": "sadness"}
    report = json.load(open(out / "classification_report.json"))
    assert np.array(report["test"]["confusion_matrix"]).sum() == 13
    assert set(report["test"]["per_class"]) == {"anger", "joy", "optimism", "sadness"}
    assert 0 <= saved["test_uar"] <= 1 and 0 <= saved["test_roc_auc_macro"] <= 1
    assert [h["epoch"] for h in report["history"]] == [1, 2, 3]

    card = ModelCard.load(out / "README.md")
    assert card.data.pipeline_tag == "text-classification"
    by_split = {(r.dataset_split, r.metric_type, r.metric_config): r.metric_value for r in card.data.eval_results}
    assert by_split[("test", "f1", "macro")] == round(saved["test_f1_macro"], 4)
    assert "| optimism |" in card.text and "## Intended uses and limitations" in card.text

    # In a Python without our packages: the pipeline returns the dataset's label names, logits are identical.
    model = train.modeling.TextCNNForSequenceClassification.from_pretrained(out).eval()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    texts = ["I am so happy and delighted", "furious rage hate", "", "   "]
    expected = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    torch.save(expected, tmp_path / "expected.pt")
    printed = run_clean_python(f"""
        import json, torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
        texts = {texts!r}
        classifier = pipeline("text-classification", model={str(out)!r}, trust_remote_code=True)
        print(json.dumps([r["label"] for r in classifier(texts + ["love " * 10000])]))
        model = AutoModelForSequenceClassification.from_pretrained({str(out)!r}, trust_remote_code=True).eval()
        tok = AutoTokenizer.from_pretrained({str(out)!r}, trust_remote_code=True)  # AutoTokenizer reads config.json
        logits = model(**tok(texts, padding=True, return_tensors="pt")).logits
        assert torch.equal(logits, torch.load({str(tmp_path / "expected.pt")!r})), "logits differ"
        try:
            classifier(42)
        except (ValueError, TypeError) as err:
            print("error:", err)
        from huggingface_hub import ModelCard
        print(len(ModelCard.load({str(out / "README.md")!r}).data.eval_results))
    """, cwd=str(tmp_path))
    labels_line, error_line, count_line = printed.strip().splitlines()[-3:]
    assert set(json.loads(labels_line)) <= {"anger", "joy", "optimism", "sadness"}
    assert len(json.loads(labels_line)) == 5
    assert error_line.startswith("error: text input must be of type `str`")
    assert int(count_line) == 6


def test_cli_overrides_nested_and_typed_keys(recipe_file):
    recipe = train.parse_args(["--config", recipe_file(), "--output_dir", "x", "--learning_rate", "3e-4",
                               "--model.num_filters", "12", "--model.kernel_sizes", "[2,4]", "--push_to_hub",
                               "--hub_model_id", "me/model", "--max_grad_norm=1", "--early_stopping_patience", "null"])
    assert recipe.learning_rate == 3e-4 and isinstance(recipe.learning_rate, float)
    assert recipe.model["num_filters"] == 12 and recipe.model["kernel_sizes"] == [2, 4]
    assert recipe.model["embedding_dim"] == 16  # the rest of the nested mapping is kept
    assert recipe.push_to_hub is True and recipe.max_grad_norm == 1.0 and recipe.early_stopping_patience is None
    with pytest.raises(ValueError, match=r"unknown recipe key 'learning_rat'; did you mean "
                                         r"\['learning_rate', 'head_learning_rate'\]"):
        train.parse_args(["--config", recipe_file(), "--output_dir", "x", "--learning_rat", "1"])
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        train.parse_args(["--config", recipe_file(), "--output_dir", "x", "--optimizer", "lion"])
    with pytest.raises(ValueError, match="cannot read 'fast' as float"):
        train.parse_args(["--config", recipe_file(), "--output_dir", "x", "--learning_rate", "fast"])
    with pytest.raises(ValueError, match="output_dir"):
        train.parse_args(["--config", recipe_file()])
    # YAML 1.1 reads a bare `no` as false; `--mixed_precision no` is Accelerate's "no" all the same
    assert train.parse_args(["--config", recipe_file(), "--output_dir", "x", "--mixed_precision", "no"]
                            ).mixed_precision == "no"
    with pytest.raises(ValueError, match="mixed_precision"):
        train.parse_args(["--config", recipe_file(), "--output_dir", "x", "--mixed_precision", "true"])


def test_resuming_from_a_checkpoint_ends_like_an_uninterrupted_run(recipe_file, tweeteval_dir, datasets_cache,
                                                                   tmp_path):
    recipe = recipe_file(checkpointing_steps=4, checkpoints_total_limit=None, num_epochs=4, lr_scheduler="linear",
                         warmup_ratio=0.1, early_stopping_patience=2)
    full = run(recipe, tweeteval_dir, tmp_path / "full", datasets_cache)
    checkpoints = sorted(glob.glob(str(tmp_path / "full" / "checkpoints" / "checkpoint-*")),
                         key=lambda p: int(p.rsplit("-", 1)[1]))
    assert [os.path.basename(c) for c in checkpoints] == [f"checkpoint-{s}" for s in (4, 8, 12, 16, 20, 24)]
    # checkpoint-8 was written in the middle of epoch 2 (6 steps per epoch): resume there in a new folder.
    resumed = run(recipe, tweeteval_dir, tmp_path / "resumed", datasets_cache,
                  "--resume_from_checkpoint", checkpoints[1])
    for key in ("eval_accuracy", "eval_f1_macro", "eval_loss", "test_accuracy", "test_f1_macro", "test_loss",
                "best_epoch", "epoch", "train_steps"):
        assert resumed[key] == full[key], key
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # "latest" finds the newest checkpoint of the output folder; a finished run has nothing left to train.
    again = run(recipe, tweeteval_dir, tmp_path / "full", datasets_cache, "--resume_from_checkpoint", "latest")
    assert again["test_f1_macro"] == full["test_f1_macro"] and again["train_steps"] == full["train_steps"]
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run(recipe, tweeteval_dir, tmp_path / "empty", datasets_cache, "--resume_from_checkpoint", "latest")


@pytest.mark.parametrize("optimizer,scheduler", [("adam", "constant"), ("adamw", "linear"), ("sgd", "cosine"),
                                                 ("sgd_momentum", "reduce_on_plateau"), ("adadelta", "constant")])
def test_optimizers_and_schedulers(recipe_file, tweeteval_dir, datasets_cache, tmp_path, optimizer, scheduler):
    lr = 0.0 if scheduler == "reduce_on_plateau" else (1.0 if optimizer == "adadelta" else 0.01)
    results = run(recipe_file(optimizer=optimizer, lr_scheduler=scheduler, learning_rate=lr, plateau_patience=0,
                              plateau_factor=0.5, num_epochs=2, metric_for_best_model="loss"),
                  tweeteval_dir, tmp_path / "o", datasets_cache)
    history = json.load(open(tmp_path / "o" / "classification_report.json"))["history"]
    assert np.isfinite(results["eval_loss"]) and results["train_steps"] == 12
    if scheduler == "reduce_on_plateau":  # lr 0: the loss never improves, so the lr is cut after each epoch
        assert history[0]["learning_rate"] == 0.0
        saved = json.load(open(sorted(glob.glob(str(tmp_path / "o" / "checkpoints" / "*" / "scheduler.json")))[-1]))
        assert saved["num_bad_epochs"] == 0 and saved["_last_lr"] == [0.0]
    if scheduler == "linear":
        assert history[-1]["learning_rate"] == 0.0


def test_early_stopping_keeps_the_best_weights(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    # A learning rate this high makes validation loss worsen after the first epochs.
    results = run(recipe_file(learning_rate=0.5, num_epochs=10, early_stopping_patience=2,
                              metric_for_best_model="loss"), tweeteval_dir, tmp_path / "e", datasets_cache)
    history = json.load(open(tmp_path / "e" / "classification_report.json"))["history"]
    best = min(history, key=lambda h: h["eval_loss"])
    assert results["best_epoch"] == best["epoch"]
    assert results["epoch"] == best["epoch"] + 2 < 10  # stopped after `patience` epochs without improvement
    assert results["eval_loss"] == pytest.approx(best["eval_loss"], rel=1e-6)  # the best weights were restored
    # keep_best_weights false: no early stopping, the last epoch's weights (a number of epochs chosen beforehand)
    last = run(recipe_file(learning_rate=0.5, num_epochs=4, early_stopping_patience=1, metric_for_best_model="loss",
                           keep_best_weights=False), tweeteval_dir, tmp_path / "last", datasets_cache)
    history = json.load(open(tmp_path / "last" / "classification_report.json"))["history"]
    assert last["epoch"] == last["best_epoch"] == 4 and len(history) == 4
    assert last["eval_loss"] == pytest.approx(history[-1]["eval_loss"], rel=1e-6)


def test_accumulation_bf16_class_weights_and_tensorboard(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    results = run(recipe_file(gradient_accumulation_steps=2, mixed_precision="bf16", report_to="tensorboard",
                              num_epochs=1, model={**TWEET_RECIPE["model"], "loss_type": "weighted_ce"}),
                  tweeteval_dir, tmp_path / "a", datasets_cache)
    assert results["train_steps"] == 3  # 6 batches, 2 per optimizer step
    assert glob.glob(str(tmp_path / "a" / "**" / "events.out.tfevents.*"), recursive=True)
    config = json.load(open(tmp_path / "a" / "config.json"))
    assert config["loss_type"] == "weighted_ce" and len(config["class_weights"]) == 4


def test_word_vectors_recipe(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    from tests.fixtures import CUE_WORDS, FILLER, write_word_vectors

    words = FILLER + [w for cue in CUE_WORDS.values() for w in cue] + ["unseenword"]
    vectors = write_word_vectors(tmp_path / "glove.txt", words, dim=16)
    results = run(recipe_file(word_vectors=str(vectors), word_vectors_vocab=len(words),
                              model={**TWEET_RECIPE["model"], "freeze_embeddings": True}, num_epochs=1),
                  tweeteval_dir, tmp_path / "w", datasets_cache)
    assert 0.5 < results["word_vector_coverage"] <= 1.0
    vocab = json.load(open(tmp_path / "w" / "tokenizer.json"))["model"]["vocab"]
    assert "unseenword" in vocab  # added from the vectors although absent from the training split
    assert json.load(open(tmp_path / "w" / "config.json"))["word_vectors"] == "glove.txt"


def test_meld_text_recipe_and_bad_recipes(tmp_path, meld_dir, datasets_cache, recipe_file):
    recipe = recipe_file(dataset="meld", dataset_config="text", input_column="utterance", label_column="emotion",
                         num_epochs=1)
    results = run(recipe, meld_dir, tmp_path / "m", datasets_cache)
    assert results["test_samples"] == 15
    assert json.load(open(tmp_path / "m" / "config.json"))["id2label"]["6"] == "surprise"
    with pytest.raises(ValueError, match=r"column 'text' is not in meld"):
        run(recipe_file(dataset="meld", dataset_config="text"), meld_dir, tmp_path / "x", datasets_cache)
    with pytest.raises(ValueError, match="must be a ClassLabel column"):
        run(recipe_file(dataset="meld", dataset_config="text", input_column="utterance", label_column="speaker"),
            meld_dir, tmp_path / "x", datasets_cache)
    with pytest.raises(FileNotFoundError, match="train_sent_emo.csv"):
        run(recipe, str(tmp_path), tmp_path / "x", datasets_cache)


def _subprocess_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "PYTEST_"))}
    env.update({"PYTHONPATH": REPO, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"})
    env.update(extra)
    return env


def test_push_to_hub_uploads_the_folder_and_it_loads_back(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    with HubServer() as hub:
        env = _subprocess_env(HF_ENDPOINT=hub.endpoint, HF_TOKEN="hf_test_token", HF_HUB_OFFLINE="0",
                              HF_HOME=str(tmp_path / "hf_home"))
        subprocess.run([sys.executable, os.path.join(REPO, "train.py"), "--config", recipe_file(num_epochs=1,
                        checkpointing_steps="epoch"), "--data_dir", tweeteval_dir, "--output_dir",
                        str(tmp_path / "p"), "--cache_dir", datasets_cache, "--push_to_hub", "--hub_model_id",
                        "emotion-hub/tiny-text-cnn"], check=True, env=env, cwd=str(tmp_path), capture_output=True)
        files = hub.repos["emotion-hub/tiny-text-cnn"]
        assert hub.validated == 1  # the card's metadata passed the Hub-side YAML validation
        assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "modeling_text_cnn.py",
                "configuration_text_cnn.py", "losses.py", "all_results.json"} <= set(files)
        assert not any(f.startswith("checkpoints/") for f in files)
        assert files["model.safetensors"] == (tmp_path / "p" / "model.safetensors").read_bytes()
        printed = run_clean_python("""
            from transformers import pipeline
            classifier = pipeline("text-classification", model="emotion-hub/tiny-text-cnn", trust_remote_code=True)
            print(classifier("so happy and delighted")[0]["label"] in {"anger", "joy", "optimism", "sadness"})
        """, cwd=str(tmp_path), env={"HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0",
                                     "HF_HOME": str(tmp_path / "hf_home_download")})
    assert printed.strip().endswith("True")


def test_two_process_run_evaluates_every_example_once(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    out = tmp_path / "ddp"
    command = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", os.path.join(REPO, "train.py"),
               "--config", recipe_file(num_epochs=2), "--data_dir", tweeteval_dir, "--output_dir", str(out),
               "--cache_dir", datasets_cache]
    result = subprocess.run(command, env=_subprocess_env(ACCELERATE_USE_CPU="true"), cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.load(open(out / "all_results.json"))
    assert results["num_processes"] == 2
    # 11 validation / 13 test examples do not split evenly over 2 processes x batch 4: each is counted once.
    assert results["eval_samples"] == 11 and results["test_samples"] == 13
    assert results["train_steps"] == 2 * 3  # 96 examples / (2 processes x 16) per epoch
    # The gathered metrics equal a single-process evaluation of the saved model.
    from transformers import AutoTokenizer

    from emotion_hub.datasets_scripts import load_builder_dataset

    model = train.modeling.TextCNNForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    validation = load_builder_dataset("tweet_eval_emotion", "emotion", data_dir=tweeteval_dir,
                                      cache_dir=datasets_cache)["validation"]
    with torch.no_grad():
        logits = model(**tokenizer(list(validation["text"]), padding=True, truncation=True, return_tensors="pt")).logits
    accuracy = (logits.argmax(-1).numpy() == np.array(validation["label"])).mean()
    assert results["eval_accuracy"] == pytest.approx(accuracy)


def test_compute_metrics_against_hand_computed_values():
    probabilities = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    references = np.array([0, 1, 1, 2, 1])
    metrics, report = train.compute_metrics(probabilities, references, ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(4 / 5)
    assert metrics["uar"] == pytest.approx((1 + 2 / 3 + 1) / 3)  # recalls: a 1/1, b 2/3, c 1/1
    assert report["confusion_matrix"] == [[1, 0, 0], [1, 2, 0], [0, 0, 1]]
    # ROC AUC of class a vs rest: scores of a's positive (0.8) beat all 4 negatives -> 1.0
    assert report["per_class"]["a"]["roc_auc"] == pytest.approx(1.0)
    # class b: positives 0.7, 0.3, 0.4 vs negatives 0.1, 0.2 -> all 6 pairs ordered -> 1.0
    assert report["per_class"]["b"]["roc_auc"] == pytest.approx(1.0)
    missing, _ = train.compute_metrics(probabilities[:3], np.array([0, 0, 1]), ["a", "b", "c"])
    assert _["per_class"]["c"]["roc_auc"] is None and not np.isnan(missing["roc_auc_macro"])
    alone, report = train.compute_metrics(probabilities[:3], np.array([0, 0, 0]), ["a", "b", "c"])
    assert "roc_auc_macro" not in alone and all(c["roc_auc"] is None for c in report["per_class"].values())
