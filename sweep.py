#!/usr/bin/env python
"""Hyperparameter sweeps on Optuna: every trial is a normal `train.py` run with overrides.

    python sweep.py --config configs/text-cnn-tweeteval-anger_joy.yaml --space configs/sweeps/text-cnn-anger_joy.yaml \
        --sampler tpe --n_trials 12 --n_jobs 1 --data_dir DIR --output_dir OUT [--metric_for_best_model accuracy ...]

Each trial runs `python train.py --config RECIPE --output_dir OUT/trial_K [train.py overrides] [sampled values]` in a
subprocess (exactly the command a user runs; its output goes to `OUT/trial_K.log`), so any option `train.py`
takes can be appended and reaches every trial. The objective is the recipe's validation metric
(`metric_for_best_model`, `eval_<metric>` of the trial's `all_results.json`; maximised, `loss` minimised): the test
split is never looked at to choose. Bad trials are pruned (Optuna's `MedianPruner`) on the per-epoch validation
metric the training loop appends to `OUT/trial_K/eval_history.jsonl` (one JSON line per epoch:
`{"epoch": e, "step": s, "eval_<metric>": v, ...}`); a pruned trial's process is stopped.

The study lives in `OUT/study.db` (SQLite): the same command continues it, and `--n_trials` is the total number of
finished trials wanted (completed or pruned), so a larger N extends a finished sweep and a killed sweep goes on
where it stopped; finished trials are never re-run. A trial that was running when the sweep was killed is marked
failed and its parameters are queued again (`RetryHeartbeatStaleTrialCallback`; trials of another live process are
recognised by their heartbeat). One sweep process per output folder (`OUT/sweep.lock`).

At the end (also after Ctrl-C): `OUT/trials.csv` and `OUT/trials.md` (one row per finished trial: parameters,
validation metrics, epochs, time), PNG plots (`history.png`, `importances.png`, `parallel_coordinate.png`,
`slice.png`) and `OUT/best.json` (the chosen trial's parameters, its validation metrics, and its test metrics,
read from its `all_results.json` once it has been chosen). Space files: see `configs/sweeps/`.
"""

import argparse
import contextlib
import csv
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time

import yaml
from tqdm.auto import tqdm


HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLERS = ("grid", "random", "tpe")
FINISHED = ("COMPLETE", "PRUNED")


class TrialFailed(RuntimeError):
    """A trial's train.py exited with an error (not retried: the same command would fail again)."""


# -- search space ------------------------------------------------------------------------------------------------------
class SearchSpace:
    """A space file (YAML): `parameters` maps recipe keys (nested with a dot, `model.kernel_sizes`) to

    - a list: categorical choices (any YAML values, lists included: `[[1, 2, 3], [2, 3, 4]]`);
    - `{type: categorical, choices: [...]}`: the same;
    - `{type: float, low: 1.0e-4, high: 1.0e-2, log: true, grid: [3.0e-4, 1.0e-3]}`: a range for `random` / `tpe`
      (`log` for a log-uniform scale, optional `step`), and the values `grid` tries;
    - `{type: int, low: 50, high: 200, step: 50}`: an integer range (the grid: every step, or `grid: [...]`).

    Optional `overrides` maps recipe keys to values given to every trial (e.g. fewer epochs for a sweep).
    """

    MAX_GRID_POINTS = 100_000  # the grid sampler lists every point: a space beyond this is refused

    def __init__(self, path):
        if not os.path.isfile(path):
            raise ValueError(f"--space {path}: no such file")
        try:
            with open(path, encoding="utf-8") as f:
                spec = yaml.safe_load(f) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not a YAML file ({' '.join(str(err).split())})") from None
        if not isinstance(spec, dict) or not isinstance(spec.get("parameters"), dict) or not spec["parameters"]:
            raise ValueError(f"{path}: a space file is a mapping with a non-empty `parameters` mapping")
        unknown = set(spec) - {"parameters", "overrides"}
        if unknown:
            raise ValueError(f"{path}: unknown top-level keys {sorted(unknown)}; allowed: parameters, overrides")
        self.path = path
        self.overrides = dict(spec.get("overrides") or {})
        self.parameters = {name: self._normalise(name, value) for name, value in spec["parameters"].items()}

    def _normalise(self, name, value):
        if isinstance(value, list):
            value = {"type": "categorical", "choices": value}
        if not isinstance(value, dict) or value.get("type") not in ("categorical", "float", "int"):
            raise ValueError(f"{self.path}: parameter {name!r} must be a list of choices or a mapping with `type` "
                             f"categorical, float or int, got {value!r}")
        kind = value["type"]
        allowed = {"categorical": {"type", "choices"}, "float": {"type", "low", "high", "log", "step", "grid"},
                   "int": {"type", "low", "high", "log", "step", "grid"}}[kind]
        if set(value) - allowed:
            raise ValueError(f"{self.path}: parameter {name!r}: unknown keys {sorted(set(value) - allowed)} for type "
                             f"{kind} (allowed: {sorted(allowed)})")
        if kind == "categorical":
            if not value.get("choices"):
                raise ValueError(f"{self.path}: parameter {name!r} needs a non-empty `choices` list")
            return {"type": kind, "choices": list(value["choices"])}
        cast = float if kind == "float" else int
        try:
            spec = {"type": kind, "low": cast(value["low"]), "high": cast(value["high"]), "log": bool(value.get("log")),
                    "step": None if value.get("step") is None else cast(value["step"])}
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{self.path}: parameter {name!r} ({kind}) needs numeric `low` and `high`") from None
        if not spec["low"] < spec["high"] or (spec["log"] and spec["low"] <= 0):
            raise ValueError(f"{self.path}: parameter {name!r}: need low < high (and low > 0 with log)")
        if spec["step"] is not None and spec["step"] <= 0:
            raise ValueError(f"{self.path}: parameter {name!r}: `step` must be > 0, got {spec['step']!r}")
        if "grid" in value:
            if not isinstance(value["grid"], list) or not value["grid"]:
                raise ValueError(f"{self.path}: parameter {name!r}: `grid` must be a non-empty list of {kind} values, "
                                 f"got {value['grid']!r}")
            try:
                spec["grid"] = [cast(v) for v in value["grid"]]
            except (TypeError, ValueError):
                raise ValueError(f"{self.path}: parameter {name!r}: `grid` values must be {kind}s, got "
                                 f"{value['grid']!r}") from None
        return spec

    def _grid_values(self, name, spec) -> list:
        """A parameter's grid values; an integer range's every step, counted before it is listed."""
        if spec["type"] == "categorical":
            return spec["choices"]
        if "grid" in spec:
            return spec["grid"]
        if self._range_size(spec) is not None:
            self._check_range_size(name, spec)
            return list(range(spec["low"], spec["high"] + 1, spec["step"] or 1))
        raise ValueError(f"{self.path}: --sampler grid needs `grid: [...]` values for parameter {name!r}")

    @staticmethod
    def encode(choice):
        """Optuna stores None/bool/int/float/str: other choices (lists) are stored as their YAML flow text."""
        if choice is None or isinstance(choice, (bool, int, float, str)):
            return choice
        return yaml.safe_dump(choice, default_flow_style=True, width=1000).strip()

    def decode(self, name, stored):
        if self.parameters[name]["type"] == "categorical":
            for choice in self.parameters[name]["choices"]:
                if self.encode(choice) == stored:
                    return choice
        return stored

    @staticmethod
    def _range_size(spec):
        """The number of grid values of an integer range without `grid` (None for other parameters)."""
        if spec["type"] == "int" and "grid" not in spec and not spec["log"]:
            return (spec["high"] - spec["low"]) // (spec["step"] or 1) + 1
        return None

    def _check_range_size(self, name, spec):
        count = self._range_size(spec)
        if count is not None and count > self.MAX_GRID_POINTS:
            raise ValueError(f"{self.path}: parameter {name!r} is {count} integers ({spec['low']} to {spec['high']} by "
                             f"{spec['step'] or 1}): too many for --sampler grid; give `grid: [...]` or a larger `step`")

    def grid(self):
        """`GridSampler` search space: every parameter's grid values (encoded). Refuses a grid of more than
        `MAX_GRID_POINTS` points, counted before anything is listed."""
        for name, spec in self.parameters.items():  # a parameter too large on its own is named
            self._check_range_size(name, spec)
        size = self.grid_size()
        if size > self.MAX_GRID_POINTS:
            raise ValueError(f"{self.path}: the grid has {size} points (the product of every parameter's values): too "
                             f"many for --sampler grid; give fewer `grid` values, or use --sampler tpe / random")
        if not hasattr(self, "_grid"):
            self._grid = {name: [self.encode(v) for v in self._grid_values(name, spec)]
                          for name, spec in self.parameters.items()}
        return self._grid

    def grid_size(self):
        return math.prod(self._range_size(spec) or len(self._grid_values(name, spec))
                         for name, spec in self.parameters.items())

    def suggest(self, trial, sampler):
        """The trial's values, decoded (lists back to lists), by recipe key."""
        values = {}
        for name, spec in self.parameters.items():
            if sampler == "grid" or spec["type"] == "categorical":
                stored = trial.suggest_categorical(name, self.grid()[name] if sampler == "grid" else
                                                   [self.encode(c) for c in spec["choices"]])
                values[name] = self.decode(name, stored)
            elif spec["type"] == "float":
                values[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"], step=spec["step"])
            else:
                values[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"],
                                                 step=spec["step"] or 1)
        return values


# -- command line ------------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Any other --key value is a "
                                     "train.py override given to every trial (e.g. --metric_for_best_model accuracy).")
    parser.add_argument("--config", required=True, help="train.py recipe (YAML)")
    parser.add_argument("--space", required=True, help="search space (YAML, see configs/sweeps/)")
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="grid, random or tpe (default)")
    parser.add_argument("--n_trials", type=int, required=True, help="total finished trials wanted in the study")
    parser.add_argument("--n_jobs", type=int, default=1, help="trials run at the same time")
    parser.add_argument("--output_dir", required=True, help="OUT: study.db, trial_K/, tables, plots, best.json")
    parser.add_argument("--data_dir", default=None, help="passed to every trial's train.py")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    parser.add_argument("--n_startup_trials", type=int, default=5,
                        help="random trials before TPE models the space; finished trials before pruning starts")
    parser.add_argument("--pruner", choices=("median", "none"), default="median", help="prune on validation")
    parser.add_argument("--prune_warmup_epochs", type=int, default=1,
                        help="epochs a trial runs before it may be pruned")
    parser.add_argument("--max_failures", type=int, default=3, help="stop after this many failed trials in a row")
    parser.add_argument("--skip_plots", action="store_true", help="tables and best.json only (faster)")
    parser.add_argument("--train_script", default=os.path.join(HERE, "train.py"), help=argparse.SUPPRESS)
    args, train_overrides = parser.parse_known_args(argv)
    if args.n_trials < 1 or args.n_jobs < 1:
        parser.error("--n_trials and --n_jobs must be >= 1")
    for token in train_overrides:
        if token in ("--output_dir", "--config") or token.startswith(("--output_dir=", "--config=")):
            parser.error(f"{token} is the sweep's own option; every trial gets OUT/trial_K and the sweep's recipe")
    return args, train_overrides


def objective_metric(config_path, train_overrides):
    """`(metric, direction)`: the recipe's `metric_for_best_model`, or its override on the sweep's command line."""
    with open(config_path, encoding="utf-8") as f:
        metric = (yaml.safe_load(f) or {}).get("metric_for_best_model", "f1_macro")
    for i, token in enumerate(train_overrides):
        if token == "--metric_for_best_model" and i + 1 < len(train_overrides):
            metric = train_overrides[i + 1]
        elif token.startswith("--metric_for_best_model="):
            metric = token.split("=", 1)[1]
    return metric, ("minimize" if metric == "loss" else "maximize")


def _yaml_arg(value):
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip() \
        if not isinstance(value, str) else value


def trial_command(args, train_overrides, values, output_dir, space_overrides):
    command = [sys.executable, args.train_script, "--config", args.config, "--output_dir", output_dir]
    if args.data_dir:
        command += ["--data_dir", args.data_dir]
    for key, value in {**space_overrides}.items():
        command += [f"--{key}", _yaml_arg(value)]
    command += list(train_overrides)
    for key, value in values.items():  # last: the sampled values win over everything
        command += [f"--{key}", _yaml_arg(value)]
    return command


def _die_with_parent():
    """Linux: a trial's train.py gets SIGKILL when the sweep process dies, even by SIGKILL (no orphans training)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def read_history(path, offset):
    """New complete JSON lines of `eval_history.jsonl` after byte `offset`: `(records, new_offset)`."""
    if not os.path.isfile(path):
        return [], offset
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1  # a line being written has no newline yet: read it next time
    records = [json.loads(line) for line in data[:end].decode("utf-8").splitlines() if line.strip()]
    return records, offset + end


# -- one trial -----------------------------------------------------------------------------------------------------
class Objective:
    def __init__(self, args, train_overrides, space, metric, poll_seconds=0.25):
        self.args, self.train_overrides, self.space, self.metric = args, train_overrides, space, metric
        self.poll_seconds = poll_seconds
        self.processes = set()
        self.lock = threading.Lock()

    def __call__(self, trial):
        import optuna

        values = self.space.suggest(trial, self.args.sampler)
        out = os.path.join(self.args.output_dir, f"trial_{trial.number}")
        if os.path.isdir(out) and os.listdir(out):  # train.py refuses a folder holding another run
            raise TrialFailed(f"{out} exists but the study has no such trial (was study.db deleted?); remove it or "
                              f"use another --output_dir")
        command = trial_command(self.args, self.train_overrides, values, out, self.space.overrides)
        trial.set_user_attr("output_dir", out)
        trial.set_user_attr("command", command[1:])
        key = f"eval_{self.metric}"
        history_path, offset, epochs = os.path.join(out, "eval_history.jsonl"), 0, 0
        log_path = f"{out}.log"  # beside the trial's folder: train.py wants an empty (or no) output folder
        trial.set_user_attr("log", log_path)
        with open(log_path, "w", encoding="utf-8") as log:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd(), env=env,
                                       preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
            with self.lock:
                self.processes.add(process)
            try:
                while True:
                    finished = process.poll() is not None
                    records, offset = read_history(history_path, offset)
                    for record in records:
                        if key not in record:
                            continue
                        epochs = int(record.get("epoch", epochs + 1))
                        trial.report(float(record[key]), step=epochs)
                        trial.set_user_attr("epochs", epochs)
                        if not finished and trial.should_prune():
                            process.terminate()
                            try:
                                process.wait(timeout=30)
                            except subprocess.TimeoutExpired:
                                process.kill()
                                process.wait()
                            raise optuna.TrialPruned(f"{key} {record[key]:.4f} at epoch {epochs}")
                    if finished:
                        break
                    time.sleep(self.poll_seconds)
            finally:
                with self.lock:
                    self.processes.discard(process)
                if process.poll() is None:
                    process.kill()
                    process.wait()
        if process.returncode != 0:
            raise TrialFailed(f"trial {trial.number}: train.py exited with {process.returncode}; see {log_path}")
        results_path = os.path.join(out, "all_results.json")
        if not os.path.isfile(results_path):
            raise TrialFailed(f"trial {trial.number}: no {results_path}")
        with open(results_path, encoding="utf-8") as f:
            results = json.load(f)
        if key not in results:
            raise TrialFailed(f"trial {trial.number}: {results_path} has no {key!r} (keys: {sorted(results)[:8]}...)")
        for name, value in results.items():  # validation only: test figures are read for the chosen trial alone
            if name.startswith("eval_") and isinstance(value, (int, float)) and not name.startswith("eval_f1_") \
                    and name != "eval_samples" or name in ("eval_f1_macro", "eval_f1_weighted"):
                trial.set_user_attr(name, value)
        if "epochs" not in trial.user_attrs and isinstance(results.get("epoch"), int):  # no per-epoch history
            trial.set_user_attr("epochs", results["epoch"])
        return float(results[key])

    def stop_all(self):
        with self.lock:
            for process in list(self.processes):
                with contextlib.suppress(Exception):
                    process.terminate()


# -- reports -------------------------------------------------------------------------------------------------------
def finished_trials(study):
    return [t for t in study.get_trials(deepcopy=False) if t.state.name in FINISHED]


def write_tables(study, space, metric, output_dir):
    trials = finished_trials(study)
    params = list(space.parameters)
    extra = sorted({k for t in trials for k in t.user_attrs if k.startswith("eval_")} - {f"eval_{metric}"})
    header = ["trial", "state", f"eval_{metric}", *params, "epochs", "seconds", *extra]
    rows = []
    for t in trials:
        value = t.value if t.state.name == "COMPLETE" else (
            t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None)
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None
        rows.append([t.number, t.state.name.lower(), value,
                     *[space.decode(p, t.params.get(p)) for p in params], t.user_attrs.get("epochs"),
                     None if seconds is None else round(seconds, 1), *[t.user_attrs.get(k) for k in extra]])
    with open(os.path.join(output_dir, "trials.csv"), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([[json.dumps(v) if isinstance(v, list) else v for v in row] for row in rows])

    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else f"`{value}`" if isinstance(value, list) else str(value)

    best = study.best_trial.number if any(t.state.name == "COMPLETE" for t in trials) else None
    lines = [f"# Sweep: {study.study_name}", "",
             f"Objective: validation `{metric}` ({study.direction.name.lower()}); pruned trials show their last "
             f"reported validation value. {len(trials)} finished trials"
             + (f", best: trial {best} (**bold**)." if best is not None else "."), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in sorted(rows, key=lambda r: r[0]):
        text = [cell(v) for v in row]
        if row[0] == best:
            text = [f"**{v}**" if v else v for v in text]
        lines.append("| " + " | ".join(text) + " |")
    failed = sum(t.state.name == "FAIL" for t in study.get_trials(deepcopy=False))
    if failed:
        lines += ["", f"{failed} failed trial(s) not shown (a trial killed with the sweep is re-queued)."]
    with open(os.path.join(output_dir, "trials.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


MIN_TRIALS_FOR_IMPORTANCE = 10  # fANOVA importances from fewer completed trials say more about noise than the space


def write_plots(study, output_dir, space=None):
    """PNG plots: the optimisation history and parallel coordinates (optuna.visualization.matplotlib), the
    validation metric against each parameter (`slice.png`: one panel per parameter, a log axis for log-scale and
    learning-rate-like values, readable tick labels), and the parameter importances once there are at least
    `MIN_TRIALS_FOR_IMPORTANCE` completed trials (fewer: not drawn, and said so). Returns the files written."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    written = []
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    makers = [("history.png", plots.plot_optimization_history, 1),
              ("parallel_coordinate.png", plots.plot_parallel_coordinate, 2)]
    if len(complete) >= MIN_TRIALS_FOR_IMPORTANCE:
        makers.insert(1, ("importances.png", plots.plot_param_importances, MIN_TRIALS_FOR_IMPORTANCE))
    elif complete:
        tqdm.write(f"importances.png not drawn: parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCE} "
                   f"completed trials ({len(complete)} so far)")
    stale = os.path.join(output_dir, "importances.png")
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE and os.path.exists(stale):
        os.remove(stale)  # written by this sweep's code before the rule: it would be read as meaningful
    for name, make, needed in makers:
        if len(complete) < needed:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = make(study)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
            figure.set_size_inches(max(figure.get_size_inches()[0], 8), max(figure.get_size_inches()[1], 5))
            figure.savefig(os.path.join(output_dir, name), dpi=100, bbox_inches="tight")
            plt.close(figure)
            written.append(name)
        except Exception as error:  # e.g. importances when every completed trial has the same parameters
            tqdm.write(f"plot {name} skipped: {type(error).__name__}: {error}")
    if complete and space is not None:
        write_slice_plot(study, space, complete, os.path.join(output_dir, "slice.png"))
        written.append("slice.png")
    return written


def write_slice_plot(study, space, complete, path):
    """The validation metric of every completed trial against each parameter, one panel per parameter."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    names = list(space.parameters)
    figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), squeeze=False)
    values = [t.value for t in complete]
    for ax, name in zip(axes[0], names):
        spec = space.parameters[name]
        decoded = [space.decode(name, t.params.get(name)) for t in complete]
        numeric = spec["type"] != "categorical" and all(isinstance(v, (int, float)) for v in decoded)
        if numeric:
            ax.scatter(decoded, values, c=range(len(values)), cmap="Blues", edgecolors="black", s=36)
            if spec.get("log") or (min(decoded) > 0 and max(decoded) / min(decoded) >= 50):
                ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.3g}"))
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
        else:
            seen = {str(v) for v in decoded}
            labels = [c for c in dict.fromkeys(str(c) for c in spec.get("choices", [])) if c in seen] or sorted(seen)
            position = {label: i for i, label in enumerate(labels)}
            ax.scatter([position[str(v)] for v in decoded], values, c=range(len(values)), cmap="Blues",
                       edgecolors="black", s=36)
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"validation {study.user_attrs.get('metric', 'objective')}")
    figure.suptitle(f"{len(complete)} completed trials (darker: later)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_best(study, space, metric, output_dir):
    """`best.json`: the chosen trial (best validation metric), its parameters, validation and test metrics."""
    if not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        return None
    trial = study.best_trial
    with open(os.path.join(trial.user_attrs["output_dir"], "all_results.json"), encoding="utf-8") as f:
        results = json.load(f)
    best = {
        "trial": trial.number,
        "metric": f"eval_{metric}",
        "direction": study.direction.name.lower(),
        "value": trial.value,
        "params": {name: space.decode(name, value) for name, value in trial.params.items()},
        "validation": {k: v for k, v in results.items() if k.startswith("eval_")},
        "test": {k: v for k, v in results.items() if k.startswith("test_")},
        "output_dir": trial.user_attrs["output_dir"],
        "command": ["python", *trial.user_attrs.get("command", [])],
    }
    with open(os.path.join(output_dir, "best.json"), "w", encoding="utf-8") as f:
        json.dump(best, f, indent=2)
    return best


# -- study -----------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def output_lock(output_dir):
    path = os.path.join(output_dir, "sweep.lock")
    if os.path.isfile(path):
        with contextlib.suppress(ValueError, OSError):
            pid = int(open(path).read().strip() or 0)
            if pid and pid != os.getpid():
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    pass  # left by a killed sweep
                else:
                    raise SystemExit(f"error: another sweep (pid {pid}) is running in {output_dir}; wait for it or "
                                     f"remove {path} if it is gone")
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def requeue_interrupted(study, retry):
    """Trials left RUNNING by a killed sweep (this folder is locked, so no live process owns them): mark them failed
    and queue their parameters again, as the heartbeat's `RetryFailedTrialCallback` does for stale trials."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            retry(study, study._storage.get_trial(trial._trial_id))
            tqdm.write(f"trial {trial.number} was interrupted: marked failed, its parameters queued again")


def _file_digest(path) -> str:
    import hashlib

    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def study_identity(args, train_overrides, metric) -> dict:
    """Everything that decides what a trial means: the recipe and space files (their content), the train.py overrides
    and data given to every trial, the sampler (and the grid's seed) and the objective. A resumed sweep must match."""
    identity = {"config": os.path.abspath(args.config), "config_sha256": _file_digest(args.config),
                "space": os.path.abspath(args.space), "space_sha256": _file_digest(args.space),
                "sampler": args.sampler, "metric": metric, "train_overrides": " ".join(train_overrides),
                "data_dir": os.path.abspath(args.data_dir) if args.data_dir else None}
    if args.sampler == "grid":
        identity["seed"] = args.seed
    return identity


def make_sampler(args, space, n_existing):
    import optuna

    if args.sampler == "grid":
        # The grid's order comes from the seed and a grid trial's point from its number: a resumed sweep must keep the
        # seed, or its trials would map to other points (repeating some, never running others).
        return optuna.samplers.GridSampler(space.grid(), seed=args.seed)
    seed = args.seed + n_existing  # a resumed random/TPE sweep must not replay the first run's draws
    if args.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=args.n_startup_trials)


def open_study(args, train_overrides, metric, direction):
    """The sweep's study in `output_dir/study.db` (created, or loaded to resume), refused when its recorded identity
    (recipe, space, sampler, objective, overrides) or direction differs from this command's; with its interrupted
    trials queued again. Returns the study."""
    import optuna
    from optuna.storages import RDBStorage

    try:  # optuna >= 4.9 renamed it
        from optuna.storages import RetryHeartbeatStaleTrialCallback as RetryCallback
    except ImportError:
        from optuna.storages import RetryFailedTrialCallback as RetryCallback

    retry = RetryCallback(max_retry=2)
    storage = RDBStorage(f"sqlite:///{os.path.abspath(os.path.join(args.output_dir, 'study.db'))}",
                         engine_kwargs={"connect_args": {"timeout": 60}}, heartbeat_interval=30, grace_period=120,
                         heartbeat_stale_trial_callback=retry)
    name = os.path.basename(os.path.abspath(args.output_dir))
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=args.n_startup_trials,
                                          n_warmup_steps=args.prune_warmup_epochs)
              if args.pruner == "median" else optuna.pruners.NopPruner())
    study = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True,
                                pruner=pruner)
    identity = study_identity(args, train_overrides, metric)
    known = {k: study.user_attrs[k] for k in identity if k in study.user_attrs}
    changed = sorted(k for k in known if known[k] != identity[k])
    if changed:
        detail = "; ".join(f"{k}: {known[k]!r} then, {identity[k]!r} now" for k in changed)
        raise SystemExit(f"error: {args.output_dir} holds a study whose trials mean something else ({detail}); "
                         f"its finished trials would be ranked with the new ones. Resume with the same command, "
                         f"or use another --output_dir")
    for key, value in identity.items():
        study.set_user_attr(key, value)
    if study.direction.name.lower() != direction:
        raise SystemExit(f"error: the study in {args.output_dir} {study.direction.name.lower()}s; {metric} needs "
                         f"{direction}")
    requeue_interrupted(study, retry)
    return study


def optimize(study, objective, args, space, metric, total) -> tuple[int, bool]:
    """Run trials until `total` have finished, `max_failures` fail in a row, the grid is exhausted or the user
    interrupts; one line per trial. Returns `(failures in a row at the end, interrupted)`."""
    done = len(finished_trials(study))
    progress = tqdm(total=total, initial=min(done, total), desc=f"sweep {study.study_name}", unit="trial")
    failures = [0]

    def on_trial_end(study, trial):
        failures[0] = failures[0] + 1 if trial.state.name == "FAIL" else 0
        if trial.state.name in FINISHED:
            progress.update(1)
        value = trial.value if trial.value is not None else (
            trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None)
        progress.write(f"trial {trial.number} {trial.state.name.lower()}: eval_{metric} "
                       f"{'-' if value is None else f'{value:.4f}'} "
                       f"{ {k: space.decode(k, v) for k, v in trial.params.items()} }"
                       + (f" (log: {trial.user_attrs.get('log')})" if trial.state.name == "FAIL" else ""))
        if len(finished_trials(study)) >= total or failures[0] >= args.max_failures:
            study.stop()

    interrupted = False
    try:
        while len(finished_trials(study)) < total and failures[0] < args.max_failures:
            remaining = total - len(finished_trials(study))
            study.optimize(objective, n_trials=remaining, n_jobs=args.n_jobs, catch=(TrialFailed,),
                           callbacks=[on_trial_end], gc_after_trial=False)
            if args.sampler == "grid" and not _grid_left(study, space):
                break
    except KeyboardInterrupt:
        interrupted = True
        objective.stop_all()
    finally:
        progress.close()
    return failures[0], interrupted


def run(args, train_overrides):
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat, plots
    space = SearchSpace(args.space)
    if args.sampler == "grid":
        space.grid()  # an impossible grid is refused before the study exists
    metric, direction = objective_metric(args.config, train_overrides)
    os.makedirs(args.output_dir, exist_ok=True)
    # Optuna logs every caught trial failure with its traceback: the sweep prints one line per trial instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with output_lock(args.output_dir):
        study = open_study(args, train_overrides, metric, direction)
        study.sampler = make_sampler(args, space, len(study.trials))
        objective = Objective(args, train_overrides, space, metric)
        total = args.n_trials if args.sampler != "grid" else min(args.n_trials, space.grid_size())
        failures, interrupted = optimize(study, objective, args, space, metric, total)
        stopped = None
        if failures >= args.max_failures:
            last = [t for t in study.get_trials(deepcopy=False) if t.state.name == "FAIL"][-1]
            stopped = f"stopped after {failures} failed trials in a row; last log: {last.user_attrs.get('log')}"
        write_tables(study, space, metric, args.output_dir)
        plots = [] if args.skip_plots else write_plots(study, args.output_dir, space)
        best = write_best(study, space, metric, args.output_dir)
    print(f"{len(finished_trials(study))} finished trials; table {os.path.join(args.output_dir, 'trials.md')}; "
          f"plots {', '.join(plots) or 'none yet'}")
    if stopped:
        raise SystemExit(f"error: {stopped}")
    if not finished_trials(study) and not interrupted:
        failed = [t for t in study.get_trials(deepcopy=False) if t.state.name == "FAIL"]
        log = failed[-1].user_attrs.get("log") if failed else None
        raise SystemExit(f"error: no trial finished ({len(failed)} failed" + (f"; last log: {log})" if log else ")"))
    if best:
        print(f"best: trial {best['trial']} eval_{metric} {best['value']:.4f} {best['params']}; test "
              + ", ".join(f"{k} {v:.4f}" for k, v in best["test"].items()
                          if k in ("test_accuracy", "test_f1_macro") and isinstance(v, (int, float))))
    if interrupted:
        raise SystemExit(130)
    return study


def _grid_left(study, space):
    visited = {tuple(sorted(t.params.items())) for t in finished_trials(study)}
    return len(visited) < space.grid_size()


def main(argv=None):
    args, train_overrides = parse_args(argv)
    try:
        run(args, train_overrides)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None


__all__ = ["Objective", "SearchSpace", "main", "open_study", "optimize", "read_history", "run", "trial_command",
           "write_best", "write_plots", "write_tables"]


if __name__ == "__main__":
    main()
