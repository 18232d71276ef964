"""Checkpoints that are complete or absent, and that load without running code.

A checkpoint `OUT/checkpoints/checkpoint-<step>/` holds accelerate's `save_state` (model safetensors, optimizer and
RNG states, all read back with `weights_only=True`), the scheduler as `scheduler.json`, the best weights so far as
`best_model.safetensors`, the recipe as `recipe.json` and, written last, `loop_state.json` (epoch, step, early
stopping, history, this run's id and recipe hash). Parameters that do not train (a frozen pretrained encoder, frozen
embeddings) are left out of both weight files: the run rebuilds them from their source (`pretrained_backbone`, the
word vectors, the seed) before it resumes, and `frozen.json` records their names and a SHA-256 of their values, so a
checkpoint whose frozen part no longer matches its source is refused (the whisper-emodb recipe: 2.2 MB instead of
161 MB). It is written into `checkpoints/.tmp-checkpoint-<step>/`, flushed to disk and renamed into place, so a kill
at any moment leaves either the whole checkpoint or none. Only then are older checkpoints pruned, and only those
written by this run (same `run_id`). `latest` is the newest complete checkpoint. No custom objects are registered
with accelerate (its `custom_checkpoint_*.pkl` files are unpickled with `weights_only=False`), and a checkpoint
holding any file we did not write, or a file of another user, is refused before anything is read.

`EMOTION_HUB_TEST_KILL_AT=<stage>[:<n>]` kills the process with SIGKILL at the n-th (default first) pass through
`kill_point(stage)`: the tests use it to check that every stage of a save survives a kill.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import uuid
from dataclasses import dataclass, field
from typing import Optional

import torch
from safetensors.torch import load_file, save_file

from emotion_hub.training.recipe import RecipeError, recipe_hash, training_recipe

CHECKPOINT = re.compile(r"checkpoint-(\d+)")
REQUIRED = ("loop_state.json", "scheduler.json", "recipe.json", "optimizer.bin", "random_states_0.pkl")
FROZEN = "frozen.json"
_passes: dict = {}


class CheckpointError(RuntimeError):
    """A checkpoint that is incomplete, tampered with, or of another recipe."""


def kill_point(stage: str):
    """Test hook: SIGKILL this process at `stage` when `EMOTION_HUB_TEST_KILL_AT` names it."""
    wanted = os.environ.get("EMOTION_HUB_TEST_KILL_AT")
    if not wanted:
        return
    name, _, count = wanted.rpartition(":")
    if not count.isdigit():  # no `:<n>`: the first pass
        name, count = wanted, "1"
    if name == stage:
        _passes[stage] = _passes.get(stage, 0) + 1
        if _passes[stage] == int(count or 1):
            os.kill(os.getpid(), signal.SIGKILL)


def fsync_tree(path: str):
    """Flush every file of `path` and the folder entries themselves to disk."""
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json(path: str, payload):
    """Atomic: a temporary file renamed over `path`."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_tree(path: str):
    """Rename first, then delete: a kill half-way leaves a hidden `.trash-*` folder, never a half checkpoint."""
    if os.path.exists(path):
        trash = os.path.join(os.path.dirname(path), f".trash-{os.path.basename(path)}-{uuid.uuid4().hex[:8]}")
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)


@dataclass
class LoopState:
    epoch: int = 0  # epoch to run next (or being run, when `batches_in_epoch` > 0)
    batches_in_epoch: int = 0  # batches of `epoch` already trained on
    completed_steps: int = 0
    samples_seen: int = 0
    train_seconds: float = 0.0
    best_metric: Optional[float] = None
    best_epoch: Optional[int] = None
    bad_epochs: int = 0
    history: list = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    recipe_hash: Optional[str] = None


def frozen_parameter_names(model) -> list[str]:
    """State-dict names of `model`'s parameters that do not train (`requires_grad` false). Buffers are not among them:
    a frozen module's running statistics may still move."""
    return [name for name, parameter in model.named_parameters(remove_duplicate=False) if not parameter.requires_grad]


def tensors_sha256(tensors: dict) -> str:
    """SHA-256 of named tensors (names, dtypes, shapes and bytes, in name order)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _drop_frozen(models, weights, output_dir):
    """accelerate's save-state hook: the frozen parameters leave the state dicts it is about to write."""
    for model, weights_of_model in zip(models, weights):
        for name in frozen_parameter_names(model):
            weights_of_model.pop(name, None)


def save_checkpoint(accelerator, output_dir, state: LoopState, best_state, scheduler, recipe, limit, model=None):
    """Write `checkpoint-<step>` atomically, then prune this run's older checkpoints beyond `limit`. With `model`, its
    frozen parameters are left out of the weight files and recorded by name and hash in `frozen.json`."""
    root = os.path.join(output_dir, "checkpoints")
    name = f"checkpoint-{state.completed_steps}"
    path, tmp = os.path.join(root, name), os.path.join(root, f".tmp-{name}")
    if accelerator.is_main_process:
        os.makedirs(root, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)  # a save killed earlier
    accelerator.wait_for_everyone()
    kill_point("checkpoint:start")
    frozen = frozen_parameter_names(accelerator.unwrap_model(model)) if model is not None else []
    handle = accelerator.register_save_state_pre_hook(_drop_frozen) if frozen else None
    try:
        accelerator.save_state(tmp)  # model, optimizer, RNG of every process (weights_only-loadable)
    finally:
        if handle is not None:
            handle.remove()
    kill_point("checkpoint:state")
    if accelerator.is_main_process:
        write_json(os.path.join(tmp, "scheduler.json"), scheduler.state_dict())
        write_json(os.path.join(tmp, "recipe.json"), {"hash": recipe_hash(recipe), "recipe": training_recipe(recipe)})
        if frozen:
            values = accelerator.unwrap_model(model).state_dict()
            write_json(os.path.join(tmp, FROZEN), {
                "parameters": sorted(frozen), "sha256": tensors_sha256({name: values[name] for name in frozen}),
                "source": recipe.pretrained_backbone})
        if best_state is not None:
            left_out = set(frozen)
            save_file({k: v for k, v in best_state.items() if k not in left_out},
                      os.path.join(tmp, "best_model.safetensors"))
        kill_point("checkpoint:best")
        write_json(os.path.join(tmp, "loop_state.json"), dataclasses.asdict(state))  # last: marks it complete
        fsync_tree(tmp)
        kill_point("checkpoint:loop_state")
        if os.path.exists(path):  # resumed from an earlier checkpoint of this folder: replace the later one
            remove_tree(path)
        os.rename(tmp, path)
        kill_point("checkpoint:renamed")
        if limit:
            for old in list_checkpoints(output_dir, run_id=state.run_id)[:-limit]:
                remove_tree(old)
        kill_point("checkpoint:pruned")
    accelerator.wait_for_everyone()
    return path


def read_loop_state(path: str) -> Optional[LoopState]:
    """The checkpoint's loop state, or None when it is not a complete checkpoint."""
    if not all(os.path.isfile(os.path.join(path, f)) for f in REQUIRED):
        return None
    try:
        with open(os.path.join(path, "loop_state.json"), encoding="utf-8") as f:
            return LoopState(**json.load(f))
    except (ValueError, TypeError):
        return None


def list_checkpoints(output_dir, run_id: Optional[str] = None):
    """Complete checkpoints of `output_dir` (of run `run_id` when given), oldest first."""
    root = os.path.join(output_dir, "checkpoints")
    found = []
    for name in os.listdir(root) if os.path.isdir(root) else []:
        match = CHECKPOINT.fullmatch(name)
        state = read_loop_state(os.path.join(root, name)) if match else None
        if state is not None and (run_id is None or state.run_id == run_id):
            found.append((int(match.group(1)), os.path.join(root, name)))
    return [path for _, path in sorted(found)]


def _check_files(path: str):
    allowed = {"model.safetensors", "optimizer.bin", "scheduler.json", "recipe.json", "best_model.safetensors",
               "loop_state.json", "scaler.pt", FROZEN}
    unexpected = sorted(name for name in os.listdir(path)
                        if name not in allowed and not re.fullmatch(r"random_states_\d+\.pkl", name))
    if unexpected:
        raise CheckpointError(f"checkpoint {path} holds files train.py did not write ({', '.join(unexpected)}); "
                              f"refusing to load it (remove them if you put them there)")
    # accelerate's optimizer and RNG files are pickles (read with weights_only=True): only resume your own.
    me = os.getuid() if hasattr(os, "getuid") else None
    foreign = sorted(name for name in os.listdir(path)
                     if me is not None and os.stat(os.path.join(path, name)).st_uid != me)
    if foreign:
        raise CheckpointError(f"checkpoint {path}: {', '.join(foreign)} belong to another user; train.py only resumes "
                              f"checkpoints written by you (copy them if you trust them)")


def _check_frozen(path, model) -> list[str]:
    """The frozen parameters checkpoint `path` left out (names); refused when `model`'s, rebuilt from their source,
    are not the ones it was trained with, or when its weights are not the rest of `model`'s."""
    frozen_file = os.path.join(path, FROZEN)
    if not os.path.isfile(frozen_file):
        return []
    with open(frozen_file, encoding="utf-8") as f:
        saved = json.load(f)
    if model is None:
        raise CheckpointError(f"checkpoint {path} leaves out frozen parameters; resuming it needs the model they are "
                              f"rebuilt into")
    names = saved["parameters"]
    values = model.state_dict()
    lacking = [name for name in names if name not in values]
    found = "absent" if lacking else tensors_sha256({name: values[name] for name in names})
    if found != saved["sha256"]:
        source = saved.get("source") or "the recipe's model settings"
        raise CheckpointError(
            f"checkpoint {path}: its {len(names)} frozen parameters, rebuilt from {source}, no longer match the ones "
            f"it was trained with (sha256 {saved['sha256'][:12]}, now {found[:12]}); resume with the same source, or "
            f"start a new run")
    return names


def load_checkpoint(accelerator, path, output_dir, scheduler, recipe, model=None):
    """Restore model, optimizer, scheduler and RNG from `path` (or the newest complete checkpoint for `latest`);
    returns `(LoopState, best weights or None)`. Nothing is unpickled except with `weights_only=True`. Frozen
    parameters the checkpoint left out keep the values `model` was rebuilt with, once their hash matches."""
    from accelerate.utils import load as weights_only_load

    if path == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            raise FileNotFoundError(f"--resume_from_checkpoint latest: no checkpoint in {output_dir}/checkpoints")
        path = found[-1]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--resume_from_checkpoint {path}: no such folder")
    state = read_loop_state(path)
    if state is None:
        raise CheckpointError(f"{path} is not a complete checkpoint of train.py (it lacks one of {list(REQUIRED)})")
    _check_files(path)
    with open(os.path.join(path, "recipe.json"), encoding="utf-8") as f:
        saved = json.load(f)
    if saved["hash"] != recipe_hash(recipe) and not recipe.allow_recipe_change:
        current = training_recipe(recipe)
        changed = sorted(k for k in set(current) | set(saved["recipe"]) if current.get(k) != saved["recipe"].get(k))
        raise RecipeError(f"checkpoint {path} was written by a different recipe (changed: {', '.join(changed)}); "
                          f"pass --allow_recipe_change true to resume it anyway")
    best_path = os.path.join(path, "best_model.safetensors")
    if state.best_metric is not None and recipe.keep_best_weights and not os.path.isfile(best_path):
        raise CheckpointError(f"checkpoint {path} records a best {recipe.metric_for_best_model} of "
                              f"{state.best_metric} (epoch {state.best_epoch}) but has no best_model.safetensors")
    unwrapped = accelerator.unwrap_model(model) if model is not None else None
    frozen = _check_frozen(path, unwrapped)
    if frozen:  # the weights file must hold exactly the other parameters and buffers of the model
        from safetensors import safe_open

        with safe_open(os.path.join(path, "model.safetensors"), framework="pt") as f:
            stored = set(f.keys())
        expected = set(model.state_dict()) - set(frozen_parameter_names(model))
        if stored != expected:
            raise CheckpointError(f"checkpoint {path} holds weights of another model ({len(stored ^ expected)} names "
                                  f"differ, e.g. {sorted(stored ^ expected)[0]!r})")
    try:  # accelerate ignores an unreadable RNG file; we do not
        weights_only_load(os.path.join(path, f"random_states_{accelerator.process_index}.pkl"))
        accelerator.load_state(path, **({"strict": False} if frozen else {}))
    except Exception as err:
        raise CheckpointError(f"checkpoint {path}: cannot load it safely ({type(err).__name__}: "
                              f"{' '.join(str(err).split())[:300]})") from None
    with open(os.path.join(path, "scheduler.json"), encoding="utf-8") as f:
        scheduler.load_state_dict(json.load(f))
    accelerator.print(f"resumed from {path} (epoch {state.epoch}, step {state.completed_steps})")
    best = load_file(best_path) if os.path.isfile(best_path) else None
    if best is not None and frozen:
        values = unwrapped.state_dict()
        best.update({name: values[name].detach().cpu().clone() for name in frozen})
    return state, best


def best_weights(model) -> dict:
    return {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}


__all__ = ["CheckpointError", "LoopState", "best_weights", "frozen_parameter_names", "kill_point", "list_checkpoints",
           "load_checkpoint", "save_checkpoint", "tensors_sha256", "write_json"]
