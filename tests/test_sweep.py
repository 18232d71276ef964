"""sweep.py: Optuna studies whose trials are train.py runs (here a stand-in script that follows train.py's output
contract: all_results.json and one eval_history.jsonl line per epoch), resumable from SQLite, pruned on validation."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from sweep import SearchSpace, read_history, trial_command


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytest.importorskip("optuna")

# A stand-in for train.py: same command line, same output files. Validation accuracy peaks at learning_rate 1e-3 and
# batch size 32; test accuracy is validation minus 0.05 (so best.json's test figures can be checked).
FAKE_TRAIN = r'''
import json, math, os, sys, time
argv = sys.argv[1:]
args = {argv[i][2:]: argv[i + 1] for i in range(0, len(argv), 2)}
out = args["output_dir"]
if os.environ.get("SWEEP_TEST_FAIL"):
    sys.exit(3)
os.makedirs(out, exist_ok=True)
with open(os.environ["SWEEP_TEST_RUNS"], "a") as f:
    f.write(json.dumps({"output_dir": out, "pid": os.getpid(), "args": args}) + "\n")
lr = float(args.get("learning_rate", 1e-3)); batch = int(args.get("per_device_train_batch_size", 32))
kernels = json.loads(args.get("model.kernel_sizes", "[1, 2, 3]"))
quality = 0.9 - 0.1 * abs(math.log10(lr) + 3) - 0.001 * abs(batch - 32) - 0.01 * (len(kernels) != 3)
epochs = int(args.get("num_epochs", 4))
best = 0.0
for epoch in range(1, epochs + 1):
    time.sleep(float(os.environ.get("SWEEP_TEST_EPOCH_SECONDS", "0")))
    value = quality * (1 - 0.5 ** epoch)
    best = max(best, value)
    with open(os.path.join(out, "eval_history.jsonl"), "a") as f:
        f.write(json.dumps({"epoch": epoch, "step": 10 * epoch, "eval_accuracy": value, "eval_loss": 1 - value}) + "\n")
with open(os.path.join(out, "all_results.json"), "w") as f:
    json.dump({"eval_accuracy": best, "eval_f1_macro": best - 0.02, "eval_loss": 1 - best,
               "test_accuracy": best - 0.05, "test_f1_macro": best - 0.07}, f)
'''


@pytest.fixture
def sweep_env(tmp_path):
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"metric_for_best_model": "f1_macro", "num_epochs": 4}))
    runs = tmp_path / "runs.jsonl"
    env = {**os.environ, "SWEEP_TEST_RUNS": str(runs), "SWEEP_TEST_EPOCH_SECONDS": "0"}
    return {"script": str(script), "recipe": str(recipe), "runs": runs, "env": env, "tmp": tmp_path}


def write_space(path, parameters, overrides=None):
    path.write_text(yaml.safe_dump({"parameters": parameters, **({"overrides": overrides} if overrides else {})}))
    return str(path)


def sweep(env, space, out, *extra, sampler="grid", n_trials=4, wait=True, epoch_seconds="0"):
    command = [sys.executable, os.path.join(REPO, "sweep.py"), "--config", env["recipe"], "--space", space,
               "--sampler", sampler, "--n_trials", str(n_trials), "--output_dir", str(out), "--train_script",
               env["script"], "--metric_for_best_model", "accuracy", *extra]
    process_env = {**env["env"], "SWEEP_TEST_EPOCH_SECONDS": epoch_seconds}
    if not wait:
        return subprocess.Popen(command, env=process_env, cwd=str(env["tmp"]), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(command, env=process_env, cwd=str(env["tmp"]), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def runs(env):
    return [json.loads(line) for line in env["runs"].read_text().splitlines()] if env["runs"].exists() else []


def alive(pid):
    """Running (a killed process may linger as a zombie until its new parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def load_study(out):
    import optuna

    return optuna.load_study(study_name=os.path.basename(str(out)), storage=f"sqlite:///{out}/study.db")


def test_grid_sweep_tables_plots_and_best_on_validation(sweep_env, tmp_path):
    space = write_space(tmp_path / "space.yaml", {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "grid": [1e-4, 1e-3]},
        "model.kernel_sizes": [[1, 2, 3], [2, 3]],
    }, overrides={"num_epochs": 3})
    out = tmp_path / "out"
    # the grid holds 4: the sweep stops there; two trials at a time
    result = sweep(sweep_env, space, out, "--pruner", "none", "--n_jobs", "2", n_trials=10)
    assert len(runs(sweep_env)) == 4
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"complete"}
    assert {(float(r["learning_rate"]), r["model.kernel_sizes"]) for r in rows} == {
        (1e-4, "[1, 2, 3]"), (1e-4, "[2, 3]"), (1e-3, "[1, 2, 3]"), (1e-3, "[2, 3]")}
    assert all(r["epochs"] == "3" for r in rows) and "test_accuracy" not in rows[0]  # validation only in the table
    best = json.loads((out / "best.json").read_text())
    assert best["params"] == {"learning_rate": 1e-3, "model.kernel_sizes": [1, 2, 3]}
    assert best["metric"] == "eval_accuracy" and best["value"] == pytest.approx(0.9 * (1 - 0.5 ** 3))
    assert best["test"]["test_accuracy"] == pytest.approx(best["value"] - 0.05)
    assert best["validation"]["eval_accuracy"] == pytest.approx(best["value"])
    assert "|" in (out / "trials.md").read_text() and "best: trial" in (out / "trials.md").read_text()
    for plot in ("history.png", "parallel_coordinate.png", "slice.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
    # importances from 4 trials would be noise: not drawn, and the sweep says why
    assert not (out / "importances.png").exists() and "importances need at least 10" in result.stdout + result.stderr
    # every trial ran exactly the user's command: --config, OUT/trial_K, the space's overrides, the sampled values
    args = runs(sweep_env)[0]["args"]
    assert args["config"] == sweep_env["recipe"] and args["num_epochs"] == "3"
    assert args["metric_for_best_model"] == "accuracy"
    assert os.path.basename(args["output_dir"]).startswith("trial_")
    assert "best: trial" in result.stdout


def test_bad_trials_are_pruned_on_the_per_epoch_validation_metric(sweep_env, tmp_path):
    space = write_space(tmp_path / "space.yaml", {"learning_rate": [1e-3, 1e-1, 1e-5, 1e-3, 3e-1, 1e-6]},
                        overrides={"num_epochs": 5})
    out = tmp_path / "out"
    sweep(sweep_env, space, out, "--pruner", "median", "--n_startup_trials", "2", "--prune_warmup_epochs", "0",
          "--skip_plots", sampler="grid", n_trials=6, epoch_seconds="0.3")
    study = load_study(out)
    states = {t.number: t.state.name for t in study.trials}
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned, states
    for trial in pruned:  # stopped early: the process was terminated before its last epoch
        history, _ = read_history(os.path.join(trial.user_attrs["output_dir"], "eval_history.jsonl"), 0)
        assert len(history) < 5 and not os.path.exists(os.path.join(trial.user_attrs["output_dir"], "all_results.json"))
        assert trial.params["learning_rate"] != "0.001"
    with open(out / "trials.csv") as f:
        assert len(list(csv.DictReader(f))) == 6  # finished = completed + pruned


def test_killed_sweep_resumes_without_rerunning_finished_trials(sweep_env, tmp_path):
    space = write_space(tmp_path / "space.yaml", {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "per_device_train_batch_size": {"type": "int", "low": 16, "high": 64, "step": 16},
    })
    out = tmp_path / "out"
    process = sweep(sweep_env, space, out, "--pruner", "none", "--skip_plots", sampler="tpe", n_trials=4, wait=False,
                    epoch_seconds="0.3")
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it (SIGKILL: no clean-up) once 2 trials finished and a third runs
        finished = [r for r in runs(sweep_env) if os.path.exists(os.path.join(r["output_dir"], "all_results.json"))]
        if len(finished) >= 2 and len(runs(sweep_env)) > len(finished):
            break
        time.sleep(0.2)
    process.kill()
    process.wait()
    first = runs(sweep_env)
    killed = [r for r in first if not os.path.exists(os.path.join(r["output_dir"], "all_results.json"))]
    assert len(first) >= 3 and killed
    time.sleep(0.5)
    for run in killed:  # its train.py died with the sweep (no orphan training on)
        assert not alive(run["pid"])

    sweep(sweep_env, space, out, "--pruner", "none", "--skip_plots", sampler="tpe", n_trials=4)
    second = runs(sweep_env)[len(first):]
    done_before = {r["output_dir"] for r in first} - {r["output_dir"] for r in killed}
    assert not done_before & {r["output_dir"] for r in second}  # finished trials were not re-run
    study = load_study(out)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == len(killed)
    requeued = [t for t in study.trials if t.system_attrs.get("failed_trial") is not None]
    assert requeued and requeued[0].state.name == "COMPLETE"  # the interrupted trial's parameters ran again
    failed = next(t for t in study.trials if t.state.name == "FAIL")
    assert requeued[0].params == failed.params
    with open(out / "trials.csv") as f:
        assert len(list(csv.DictReader(f))) == 4

    # a larger N continues the study
    sweep(sweep_env, space, out, "--pruner", "none", "--skip_plots", sampler="tpe", n_trials=5)
    assert [t.state.name for t in load_study(out).trials].count("COMPLETE") == 5
    assert len(runs(sweep_env)) == len(first) + len(second) + 1


def test_space_file_format_and_errors(tmp_path):
    space = SearchSpace(write_space(tmp_path / "s.yaml", {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "grid": [1e-4, 1e-3]},
        "per_device_train_batch_size": {"type": "int", "low": 16, "high": 64, "step": 16},
        "model.kernel_sizes": [[1, 2, 3], [3, 4, 5]],
    }))
    assert space.grid() == {"learning_rate": [1e-4, 1e-3], "per_device_train_batch_size": [16, 32, 48, 64],
                            "model.kernel_sizes": ["[1, 2, 3]", "[3, 4, 5]"]}
    assert space.grid_size() == 16 and space.decode("model.kernel_sizes", "[3, 4, 5]") == [3, 4, 5]
    with pytest.raises(ValueError, match="needs `grid: \\[...\\]` values for parameter 'lr'"):
        SearchSpace(write_space(tmp_path / "a.yaml", {"lr": {"type": "float", "low": 0.1, "high": 1.0}})).grid()
    with pytest.raises(ValueError, match="'lr' must be a list of choices or a mapping with `type`"):
        SearchSpace(write_space(tmp_path / "b.yaml", {"lr": 0.1}))
    with pytest.raises(ValueError, match="low < high"):
        SearchSpace(write_space(tmp_path / "c.yaml", {"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}))


@pytest.mark.parametrize("name", ["text-cnn-anger_joy.yaml", "fer-cnn-lr-batch.yaml"])
def test_shipped_spaces_are_grids_of_valid_recipe_keys(name):
    import train

    space = SearchSpace(os.path.join(REPO, "configs", "sweeps", name))
    assert space.grid_size() >= 4
    fields = {f for f in train.Recipe.__dataclass_fields__}
    for key in [*space.parameters, *space.overrides]:
        assert key.split(".")[0] in fields, key


def test_trial_command_is_the_train_py_command_line(tmp_path):
    class Args:
        train_script, config, data_dir = "train.py", "configs/x.yaml", "data"

    command = trial_command(Args, ["--max_train_samples", "64"], {"learning_rate": 3e-4, "model.kernel_sizes": [1, 2]},
                            "OUT/trial_3", {"num_epochs": 5})
    assert command[1:] == ["train.py", "--config", "configs/x.yaml", "--output_dir", "OUT/trial_3", "--data_dir",
                           "data", "--num_epochs", "5", "--max_train_samples", "64", "--learning_rate", "0.0003",
                           "--model.kernel_sizes", "[1, 2]"]


def kill_when(env, process, finished_wanted):
    """SIGKILL the sweep once `finished_wanted` trials have finished and the next one runs."""
    deadline = time.time() + 120
    while time.time() < deadline:
        finished = [r for r in runs(env) if os.path.exists(os.path.join(r["output_dir"], "all_results.json"))]
        if len(finished) >= finished_wanted and len(runs(env)) > len(finished):
            break
        time.sleep(0.1)
    process.kill()
    process.wait()


def test_a_killed_grid_sweep_resumes_to_run_every_point_once(sweep_env, tmp_path):
    space = write_space(tmp_path / "space.yaml", {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "grid": [1e-4, 1e-3]},
        "per_device_train_batch_size": [16, 32],
    })
    out = tmp_path / "out"
    process = sweep(sweep_env, space, out, "--pruner", "none", "--skip_plots", wait=False, epoch_seconds="0.3")
    kill_when(sweep_env, process, 1)
    sweep(sweep_env, space, out, "--pruner", "none", "--skip_plots")
    study = load_study(out)
    complete = [(float(t.params["learning_rate"]), int(t.params["per_device_train_batch_size"]))
                for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(complete) == [(1e-4, 16), (1e-4, 32), (1e-3, 16), (1e-3, 32)]  # every point, once
    finished_runs = [r for r in runs(sweep_env) if os.path.exists(os.path.join(r["output_dir"], "all_results.json"))]
    points = [(float(r["args"]["learning_rate"]), int(r["args"]["per_device_train_batch_size"])) for r in finished_runs]
    assert sorted(points) == sorted(complete)


def sweep_error(env, space, out, *extra, sampler="grid", n_trials=4, process_env=None):
    command = [sys.executable, os.path.join(REPO, "sweep.py"), "--config", env["recipe"], "--space", space,
               "--sampler", sampler, "--n_trials", str(n_trials), "--output_dir", str(out), "--train_script",
               env["script"], "--metric_for_best_model", "accuracy", "--skip_plots", *extra]
    result = subprocess.run(command, env={**env["env"], **(process_env or {})}, cwd=str(env["tmp"]),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0, result.stdout[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return errors[0]


def test_a_resumed_sweep_with_other_trial_settings_is_refused(sweep_env, tmp_path):
    space = write_space(tmp_path / "space.yaml", {"learning_rate": [1e-3, 1e-4]})
    out = tmp_path / "out"
    sweep(sweep_env, space, out, "--num_epochs", "2", "--skip_plots", n_trials=1)
    error = sweep_error(sweep_env, space, out, "--num_epochs", "4", n_trials=2)
    assert "train_overrides" in error and "--num_epochs 2" in error and "--num_epochs 4" in error
    error = sweep_error(sweep_env, space, out, "--num_epochs", "2", "--data_dir", str(tmp_path), n_trials=2)
    assert "data_dir" in error
    write_space(tmp_path / "space.yaml", {"learning_rate": [1e-3, 1e-4]}, overrides={"max_train_samples": 100})
    assert "space_sha256" in sweep_error(sweep_env, space, out, "--num_epochs", "2", n_trials=2)
    assert len(runs(sweep_env)) == 1  # nothing ran


def test_impossible_spaces_and_bad_space_files_are_one_line_before_any_trial(sweep_env, tmp_path):
    huge = write_space(tmp_path / "huge.yaml", {"model.num_filters": {"type": "int", "low": 1, "high": 1e9}})
    started = time.time()
    error = sweep_error(sweep_env, huge, tmp_path / "a")
    assert "huge.yaml" in error and "'model.num_filters' is 1000000000 integers" in error and time.time() - started < 60
    product = write_space(tmp_path / "product.yaml", {f"p{i}": list(range(20)) for i in range(5)})
    assert "the grid has 3200000 points" in sweep_error(sweep_env, product, tmp_path / "b")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("parameters:\n  learning_rate: [1e-3, 1e-4\n")
    assert sweep_error(sweep_env, str(bad_yaml), tmp_path / "c").startswith(f"error: {bad_yaml}: not a YAML file")
    bad_value = write_space(tmp_path / "value.yaml", {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2,
                                                                          "grid": ["fast", 1e-3]}})
    error = sweep_error(sweep_env, bad_value, tmp_path / "d")
    assert "value.yaml" in error and "'learning_rate'" in error and "fast" in error
    assert "no such file" in sweep_error(sweep_env, str(tmp_path / "missing.yaml"), tmp_path / "e")
    assert not runs(sweep_env)
    # Under TPE an integer range is sampled, never listed: the same space runs.
    sweep(sweep_env, huge, tmp_path / "f", "--skip_plots", sampler="tpe", n_trials=1)


def test_a_sweep_whose_every_trial_fails_exits_non_zero(sweep_env, tmp_path):
    space = write_space(tmp_path / "space.yaml", {"learning_rate": [1e-3, 1e-4]})
    error = sweep_error(sweep_env, space, tmp_path / "out", "--max_failures", "2", process_env={"SWEEP_TEST_FAIL": "1"})
    assert "2 failed trials in a row" in error and "trial_1.log" in error
