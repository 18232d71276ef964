"""Training you can trust: runs killed (SIGKILL) at every stage of a checkpoint and of the final save resume to the
uninterrupted result; one run per output folder; tampered checkpoints never run code; bad recipes give one line."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file

import train
from tests.conftest import REPO
from tests.utils import killed_train_run

RECIPE = {
    "dataset": "tweet_eval_emotion", "dataset_config": "emotion", "model_type": "text_cnn",
    "model": {"embedding_dim": 16, "num_filters": 8, "kernel_sizes": [2, 3], "dropout": 0.1, "max_sequence_length": 64},
    "learning_rate": 0.03, "lr_scheduler": "linear", "num_epochs": 2, "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 8, "early_stopping_patience": None, "checkpointing_steps": "epoch",
    "checkpoints_total_limit": 1, "logging_steps": 2,
}
COMPARED = ("eval_accuracy", "eval_f1_macro", "eval_loss", "test_accuracy", "test_f1_macro", "test_loss", "best_epoch",
            "epoch", "train_steps")
CHECKPOINT_STAGES = ["checkpoint:start", "checkpoint:state", "checkpoint:best", "checkpoint:loop_state",
                     "checkpoint:renamed", "checkpoint:pruned"]
FINAL_STAGES = ["final:model", "final:staged", "final:old_moved", "final:swapped"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Every run of this module, the reference and the forked children, on one intra-op thread. A child forked from a
    process whose OpenMP pool has started (any earlier multi-threaded torch call in this pytest process) hangs in its
    first parallel region (GNU OpenMP cannot rebuild its pool after fork); with one thread torch never enters one.
    It also keeps the float sums of the interrupted and the uninterrupted runs in the same order."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def recipe_file(tmp_path):
    def write(**overrides):
        path = tmp_path / f"recipe-{len(list(tmp_path.glob('recipe-*')))}.yaml"
        path.write_text(yaml.safe_dump({**RECIPE, **overrides}))
        return str(path)

    return write


def argv(recipe, data_dir, out, cache, *extra):
    return ["--config", recipe, "--data_dir", data_dir, "--output_dir", str(out), "--cache_dir", cache,
            *map(str, extra)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tweeteval_dir, datasets_cache):
    """The uninterrupted run every interrupted one must end like."""
    folder = tmp_path_factory.mktemp("reference")
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    results = train.main(argv(str(path), tweeteval_dir, folder / "out", datasets_cache))
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    return results, load_file(folder / "out" / "model.safetensors"), sorted(os.listdir(folder / "out"))


def assert_same_as_reference(out, results, reference):
    expected, weights, files = reference
    assert {k: results[k] for k in COMPARED} == {k: expected[k] for k in COMPARED}
    saved = load_file(out / "model.safetensors")
    assert saved.keys() == weights.keys() and all(torch.equal(saved[k], weights[k]) for k in weights)
    assert sorted(os.listdir(out)) == files  # no stale or half-written file
    assert json.load(open(out / "all_results.json"))["test_f1_macro"] == expected["test_f1_macro"]
    leftovers = [name for name in os.listdir(out.parent)
                 if name.startswith(f".{out.name}.") and name != f".{out.name}.lock"]
    assert not leftovers


@pytest.mark.parametrize("stage", [f"{s}:2" for s in CHECKPOINT_STAGES] + FINAL_STAGES)
def test_a_run_killed_at_any_stage_of_a_save_resumes_to_the_uninterrupted_result(
        stage, reference, recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    out, recipe = tmp_path / "out", recipe_file()
    killed_train_run(argv(recipe, tweeteval_dir, out, datasets_cache), stage)
    assert not (out / "all_results.json").exists() or stage.startswith("final:")
    results = train.main(argv(recipe, tweeteval_dir, out, datasets_cache, "--resume_from_checkpoint", "latest"))
    assert_same_as_reference(out, results, reference)


def test_a_train_py_process_killed_during_the_final_swap_reruns_cleanly(reference, recipe_file, tweeteval_dir,
                                                                        datasets_cache, tmp_path):
    out, recipe = tmp_path / "out", recipe_file()
    env = {**os.environ, "EMOTION_HUB_TEST_KILL_AT": "final:old_moved", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, os.path.join(REPO, "train.py"),
                           *argv(recipe, tweeteval_dir, out, datasets_cache)], env=env, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert not out.exists() and (tmp_path / ".out.old" / "checkpoints").is_dir()  # killed between the renames
    results = train.main(argv(recipe, tweeteval_dir, out, datasets_cache, "--resume_from_checkpoint", "latest"))
    assert_same_as_reference(out, results, reference)


def test_latest_skips_incomplete_checkpoints_and_a_lost_best_model_is_an_error(recipe_file, tweeteval_dir,
                                                                               datasets_cache, tmp_path):
    out, recipe = tmp_path / "out", recipe_file(checkpoints_total_limit=None)
    train.main(argv(recipe, tweeteval_dir, out, datasets_cache))
    incomplete = out / "checkpoints" / "checkpoint-99"
    incomplete.mkdir()
    (incomplete / "model.safetensors").write_bytes(b"half")
    assert train.list_checkpoints(str(out))[-1].endswith("checkpoint-12")
    (out / "checkpoints" / "checkpoint-12" / "best_model.safetensors").unlink()
    with pytest.raises(RuntimeError, match="records a best f1_macro of .* but has no best_model.safetensors"):
        train.main(argv(recipe, tweeteval_dir, out, datasets_cache, "--resume_from_checkpoint", "latest"))


def test_pruning_removes_only_this_runs_checkpoints(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    out = tmp_path / "out"
    train.main(argv(recipe_file(checkpoints_total_limit=None), tweeteval_dir, out, datasets_cache))
    foreign = out / "checkpoints" / "checkpoint-6" / "loop_state.json"
    state = json.load(open(foreign))
    foreign.write_text(json.dumps({**state, "run_id": "another-run"}))
    train.main(argv(recipe_file(num_epochs=3), tweeteval_dir, out, datasets_cache, "--resume_from_checkpoint",
                    "latest", "--allow_recipe_change", "true"))
    assert sorted(os.listdir(out / "checkpoints")) == ["checkpoint-18", "checkpoint-6"]  # ours 12 pruned, 6 kept


class Payload:
    """Unpickling this writes a marker file: what a tampered checkpoint would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


@pytest.mark.parametrize("tampered", ["custom_checkpoint_0.pkl", "optimizer.bin", "random_states_0.pkl"])
def test_a_tampered_checkpoint_does_not_run_code_on_resume(tampered, recipe_file, tweeteval_dir, datasets_cache,
                                                           tmp_path):
    out, recipe, marker = tmp_path / "out", recipe_file(num_epochs=1), tmp_path / "marker"
    train.main(argv(recipe, tweeteval_dir, out, datasets_cache))
    checkpoint = out / "checkpoints" / "checkpoint-6"
    with open(checkpoint / tampered, "wb") as f:
        pickle.dump(Payload(marker), f)
    with pytest.raises(RuntimeError, match="refusing to load it|cannot load it safely"):
        train.main(argv(recipe, tweeteval_dir, out, datasets_cache, "--resume_from_checkpoint", str(checkpoint)))
    assert not marker.exists()


def test_a_checkpoint_of_another_user_is_refused(recipe_file, tweeteval_dir, datasets_cache, tmp_path, monkeypatch):
    out, recipe = tmp_path / "out", recipe_file(num_epochs=1)
    train.main(argv(recipe, tweeteval_dir, out, datasets_cache))
    import emotion_hub.training.checkpoints as checkpoints

    monkeypatch.setattr(checkpoints.os, "getuid", lambda: os.stat(out).st_uid + 1)
    with pytest.raises(RuntimeError, match="belong to another user; train.py only resumes checkpoints written by you"):
        train.main(argv(recipe, tweeteval_dir, out, datasets_cache, "--resume_from_checkpoint", "latest"))


def test_output_folder_rules_and_recipe_hash(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    out, recipe = tmp_path / "out", recipe_file(num_epochs=1)
    train.main(argv(recipe, tweeteval_dir, out, datasets_cache))
    with pytest.raises(ValueError, match="already holds a run; pass --resume_from_checkpoint latest"):
        train.main(argv(recipe, tweeteval_dir, out, datasets_cache))
    changed = recipe_file(num_epochs=1, learning_rate=0.01)
    with pytest.raises(ValueError, match=r"different recipe \(changed: learning_rate\)"):
        train.main(argv(changed, tweeteval_dir, out, datasets_cache, "--resume_from_checkpoint", "latest"))
    more = train.main(argv(recipe_file(num_epochs=2), tweeteval_dir, out, datasets_cache,
                           "--resume_from_checkpoint", "latest", "--allow_recipe_change", "true"))
    assert more["epoch"] == 2 and more["train_steps"] == 12
    # A final file an earlier run wrote and the new one does not (a stale processor file) goes with the old run.
    from emotion_hub.training.output import record_final_files

    (out / "stale_processor.json").write_text("{}")
    record_final_files(str(out), ["stale_processor.json"])
    train.main(argv(recipe, tweeteval_dir, out, datasets_cache, "--overwrite_output_dir", "true"))
    assert not (out / "stale_processor.json").exists()
    assert [p for p in os.listdir(out / "checkpoints")] == ["checkpoint-6"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".out.")]  # no lock, staging or replacement left


def snapshot(folder):
    """Every file under `folder` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_folder_that_is_not_a_run_and_touches_nothing(recipe_file, tweeteval_dir, datasets_cache,
                                                                          tmp_path, capsys):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / "Documents" / "thesis.tex").write_text("\\chapter{Results}")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text("KEY")
    (home / ".bashrc").write_text("export PATH")
    before = snapshot(home)
    for flags in (["--overwrite_output_dir", "true"], ["--resume_from_checkpoint", "latest"], []):
        with pytest.raises(SystemExit) as exit_info:
            train.cli(argv(recipe_file(), tweeteval_dir, home, datasets_cache, *flags))
        assert exit_info.value.code == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"error: output_dir {home} is not empty and holds no train.py run") and "\n" not in error
        assert "choose another --output_dir" in error and "pass --overwrite" not in error
        assert ".bashrc" in error and "Documents" in error
        assert snapshot(home) == before
        assert not [n for n in os.listdir(tmp_path) if n.startswith(".home.")]  # no lock, staging or replacement


def test_overwrite_replaces_a_run_only_once_the_new_run_has_finished(recipe_file, tweeteval_dir, datasets_cache,
                                                                     tmp_path, capsys):
    out, recipe = tmp_path / "out", recipe_file(num_epochs=1)
    first = train.main(argv(recipe, tweeteval_dir, out, datasets_cache))
    before = snapshot(out)
    # A wrong data folder fails at once: the run it would have replaced is untouched, nothing is left beside it.
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        train.cli(argv(recipe, str(tmp_path / "empty"), out, datasets_cache, "--overwrite_output_dir", "true"))
    capsys.readouterr()
    assert snapshot(out) == before
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".out.")]
    # A user's file in a run folder: --overwrite_output_dir refuses by name, touching nothing.
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(SystemExit) as exit_info:
        train.cli(argv(recipe, tweeteval_dir, out, datasets_cache, "--overwrite_output_dir", "true"))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "notes.txt" in error and "did not write" in error and "\n" not in error
    assert snapshot(out) == {**before, "notes.txt": b"my notes"}
    (out / "notes.txt").unlink()
    second = train.main(argv(recipe_file(num_epochs=2), tweeteval_dir, out, datasets_cache,
                             "--overwrite_output_dir", "true"))
    assert second["epoch"] == 2 and first["epoch"] == 1
    assert json.load(open(out / "all_results.json"))["epoch"] == 2
    assert sorted(os.listdir(out / "checkpoints")) == ["checkpoint-12"]


def test_an_overwrite_killed_during_its_run_or_its_swap_loses_neither_run(recipe_file, tweeteval_dir, datasets_cache,
                                                                          tmp_path):
    out = tmp_path / "out"
    train.main(argv(recipe_file(num_epochs=1), tweeteval_dir, out, datasets_cache))
    before = snapshot(out)
    two = recipe_file(num_epochs=2)
    overwrite = argv(two, tweeteval_dir, out, datasets_cache, "--overwrite_output_dir", "true")
    killed_train_run(overwrite, "checkpoint:renamed:2")
    assert snapshot(out) == before  # the replacement trains beside the folder
    killed_train_run([*overwrite, "--resume_from_checkpoint", "latest"], "replace:old_moved")
    assert not out.exists() and (tmp_path / ".out.replaced" / "all_results.json").exists()
    # The next command on the folder finishes the swap of the finished replacement, then applies its own rules.
    with pytest.raises(ValueError, match="already holds a run"):
        train.main(argv(two, tweeteval_dir, out, datasets_cache))
    assert json.load(open(out / "all_results.json"))["epoch"] == 2
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".out.")]


def test_resume_keeps_the_users_files(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    out = tmp_path / "out"
    train.main(argv(recipe_file(num_epochs=1), tweeteval_dir, out, datasets_cache))
    (out / "notes.txt").write_text("my notes")
    (out / "plots").mkdir()
    (out / "plots" / "curve.png").write_bytes(b"png")
    more = train.main(argv(recipe_file(num_epochs=2), tweeteval_dir, out, datasets_cache,
                           "--resume_from_checkpoint", "latest", "--allow_recipe_change", "true"))
    assert more["epoch"] == 2
    assert (out / "notes.txt").read_text() == "my notes" and (out / "plots" / "curve.png").read_bytes() == b"png"


def test_resume_refusals_come_before_the_data_is_read(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    """The data folder here is empty: a refusal that came after loading would be the builder's error instead."""
    (tmp_path / "empty").mkdir()
    empty, out = str(tmp_path / "empty"), tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="no checkpoint in"):
        train.main(argv(recipe_file(), empty, out, datasets_cache, "--resume_from_checkpoint", "latest"))
    assert not out.exists()
    train.main(argv(recipe_file(num_epochs=1), tweeteval_dir, out, datasets_cache))
    with pytest.raises(ValueError, match=r"different recipe \(changed: learning_rate\)"):
        train.main(argv(recipe_file(num_epochs=1, learning_rate=0.01), empty, out, datasets_cache,
                        "--resume_from_checkpoint", "latest"))
    import shutil

    shutil.rmtree(out / "checkpoints")
    with pytest.raises(FileNotFoundError, match="holds a finished run"):
        train.main(argv(recipe_file(num_epochs=1), empty, out, datasets_cache, "--resume_from_checkpoint", "latest"))


def test_two_concurrent_runs_on_one_folder_one_refused_one_good(recipe_file, tweeteval_dir, datasets_cache,
                                                                 tmp_path, capsys):
    out, recipe = tmp_path / "out", recipe_file(num_epochs=12)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, os.path.join(REPO, "train.py"),
                              *argv(recipe, tweeteval_dir, out, datasets_cache)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".out.lock"
    deadline = time.time() + 120
    while not (lock.exists() and lock.read_text().startswith("pid")) and time.time() < deadline:
        time.sleep(0.05)
    with pytest.raises(SystemExit) as exit_info:
        train.cli(argv(recipe, tweeteval_dir, out, datasets_cache))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: output_dir") and "is in use by another run" in error and "\n" not in error
    assert first.wait(300) == 0, first.stderr.read()[-2000:]
    assert json.load(open(out / "all_results.json"))["epoch"] == 12
    assert train.modeling.TextCNNForSequenceClassification.from_pretrained(out) is not None


def test_on_evaluate_hook_sees_every_epoch_and_can_stop(recipe_file, tweeteval_dir, datasets_cache, tmp_path):
    seen = []

    def on_evaluate(epoch, metrics):
        seen.append((epoch, metrics["f1_macro"]))
        return epoch == 2

    results = train.main(argv(recipe_file(num_epochs=5), tweeteval_dir, tmp_path / "out", datasets_cache),
                         on_evaluate=on_evaluate)
    assert [e for e, _ in seen] == [1, 2] and results["epoch"] == 2
    history = json.load(open(tmp_path / "out" / "classification_report.json"))["history"]
    assert [h["eval_f1_macro"] for h in history] == [f for _, f in seen]


BAD = [  # (recipe overrides written to the YAML, command-line words, expected piece of the one-line error)
    ({}, ["--model.num_filter", "8"], "unknown recipe key 'model.num_filter'; did you mean ['num_filters']"),
    ({}, ["--export_stock", "true"], "`export_stock: true` cannot be honoured: model_type text_cnn has no stock"),
    ({"model_type": "speech_emotion", "input_column": "audio", "model": {"normalize_hidden_states": True}},
     ["--export_stock", "true"], "cannot be honoured: normalize_hidden_states=True (the stock heads"),
    ({"keep_best_weights": "false"}, [], "'keep_best_weights': cannot read 'false' as true or false"),
    ({}, ["--num_epochs", "2.5"], "'num_epochs': cannot read 2.5 as an int"),
    ({}, ["--model.num_filters", "abc"], "'model.num_filters': cannot read 'abc' as an int"),
    ({}, ["--learning_rate", "[0.1, 0.2]"], "'learning_rate': cannot read [0.1, 0.2] as float"),
    ({}, ["--learning_rate", "fast"], "cannot read 'fast' as float"),
    ({"tokenizer": {"lowercas": False}}, [], "unknown recipe key 'tokenizer.lowercas'; did you mean ['lowercase']"),
    ({"tokenizer": {"min_frequency": "two"}}, [], "'tokenizer.min_frequency': cannot read 'two' as an int"),
    ({"optimiser": "adam"}, [], "unknown recipe key 'optimiser'; did you mean ['optimizer']"),
    ({"schedule": {"warmup": 1}}, [], "unknown recipe key 'schedule'"),
    ({}, ["--optimizer", "lion"], "`optimizer` must be one of"),
    ({}, ["--model_type", "text_cnnn"], "`model_type` must be one of"),
    ({}, ["--per_device_train_batch_size", "0"], "`per_device_train_batch_size` must be >= 1"),
    ({}, ["--augmentation.hflip", "2"], "`augmentation.hflip` must be a probability in [0, 1], got 2"),
    ({"model": "big"}, [], "'model': cannot read 'big' as a mapping"),
    ({}, ["--checkpointing_steps", "often"], "'checkpointing_steps'"),
    ({}, ["--early_stopping_patience", "true"], "'early_stopping_patience': cannot read True as an int"),
    ({"model_type": "erc_fusion", "model": {}, "erc_backbones": {"txt": "gpt2"}}, [],
     "unknown recipe key 'erc_backbones.txt'; did you mean ['text']"),
    ({"model_type": "mfcc_cnn", "model": {}, "feature_extractor": {"n_mfc": 20}}, [],
     "unknown recipe key 'feature_extractor.n_mfc'; did you mean ['n_mfcc'"),
    ({}, ["--data_dir", "/nonexistent/tweets"], "`data_dir` '/nonexistent/tweets': no such folder"),
    ({}, ["--config", "/nonexistent/recipe.yaml"], "--config /nonexistent/recipe.yaml: no such file"),
    ({}, ["--output_dir"], "`output_dir` must be given"),
    ({}, ["stray"], "unexpected argument 'stray'"),
]


@pytest.mark.parametrize("values,words,expected", BAD, ids=[expected[:40] for *_, expected in BAD])
def test_bad_recipes_give_one_line_and_exit_status_2(values, words, expected, tmp_path, tweeteval_dir, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**RECIPE, **values}))
    args = ["--config", str(recipe), "--data_dir", tweeteval_dir, "--output_dir", str(tmp_path / "out")]
    if words[:1] == ["--output_dir"]:
        args, words = args[:4], []
    with pytest.raises(SystemExit) as exit_info:
        train.cli(args + words)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]
    assert not (tmp_path / "out").exists()  # refused before any work


def test_data_errors_are_one_line_too_and_debug_shows_the_traceback(tmp_path, datasets_cache):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    (tmp_path / "empty").mkdir()
    command = [sys.executable, os.path.join(REPO, "train.py"), "--config", str(recipe), "--data_dir",
               str(tmp_path / "empty"), "--output_dir", str(tmp_path / "out"), "--cache_dir", datasets_cache]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert done.returncode == 2
    error = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and "Traceback" not in done.stderr and "empty" in error[0], done.stderr[-2000:]
    with pytest.raises(ValueError, match="model.num_filter"):  # --debug: the exception itself, with its traceback
        train.cli(command[2:] + ["--debug", "--model.num_filter", "3"])


def test_a_non_utf8_data_file_is_one_line_naming_the_file(tmp_path, datasets_cache, capsys):
    from tests.fixtures import write_tweeteval

    data = write_tweeteval(str(tmp_path / "tweets"), sizes=(8, 4, 4))
    path = os.path.join(data, "train_text.txt")
    lines = open(path, encoding="utf-8").read().split("\n")
    lines[2] = "caf\xe9 latin-1 " + lines[2]
    with open(path, "wb") as f:
        f.write("\n".join(lines).encode("latin-1", errors="replace"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    with pytest.raises(SystemExit) as exit_info:
        train.cli(argv(str(recipe), data, tmp_path / "out", str(tmp_path / "cache")))
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err  # the dataset's progress bars, then the error
    last = stderr.rstrip("\n").rsplit("\n", 1)[-1].rsplit("\r", 1)[-1]
    assert stderr.count("error: ") == 1 and "Traceback" not in stderr
    assert last.startswith(f"error: {path}, line 3: not UTF-8 text (byte 0xe9"), stderr[-1000:]
