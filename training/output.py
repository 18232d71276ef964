"""The output folder: one run at a time, never a mix of two runs, no stale files, and never a file of the user's lost.

- `claim_output_dir` (start of a run, before any data is read): a lock file `.<name>.lock` beside `output_dir` makes
  a second concurrent run fail at once. A folder is *a run* when train.py wrote it: it holds the marker
  `.emotion_hub.json` (written when a run claims a folder; it lists the final files the run wrote), or, for folders
  of earlier releases, the files a run leaves (`all_results.json`, `recipe.yaml`, `eval_history.jsonl`, complete
  checkpoints). A folder that holds anything else is refused by name, whatever the flags: train.py never deletes or
  mixes in files it did not write. A run is refused unless `--resume_from_checkpoint` (go on with it) or
  `--overwrite_output_dir` (replace it) is given; the checkpoint and recipe checks of a resume happen here too.
- `--overwrite_output_dir` replaces a run folder only after the new run has finished: the new run works in
  `.<name>.next/<name>` beside `output_dir` and is swapped in at the end (`finish_run`); a run that fails or is killed
  leaves the old folder as it was (`--overwrite_output_dir true --resume_from_checkpoint latest` goes on with an
  interrupted replacement). A file of the user's found in the old folder at the swap moves into the new one.
- `publish` (end of a run): the final files are written into `.<name>.staging` beside the run folder, flushed, and
  swapped in (`output_dir` -> `.<name>.old`, staging -> `output_dir`); everything of the old folder that is not one
  of its own final files (checkpoints, tracker logs, cross-validation folds, a user's notes) moves over, and the old
  final files are deleted. `recover` (called before every run) finishes or undoes a swap that a kill interrupted.
"""

import fcntl
import json
import os
import re
import shutil
import time

from emotion_hub.training.checkpoints import fsync_tree, kill_point, list_checkpoints, write_json
from emotion_hub.training.recipe import RecipeError, recipe_hash, training_recipe

MARKER = ".emotion_hub.json"
# What a run leaves besides its final files: checkpoints, the live validation history, cross-validation folds,
# cross-corpus targets and selection runs (and their swap folders), tracker logs.
_RUN_ENTRY = re.compile(r"checkpoints|eval_history\.jsonl|runs|(fold_\d+|cross_corpus_[\w.-]+|final)(-selection)?|"
                        r"\.(fold_\d+|cross_corpus_[\w.-]+|final)(-selection)?\.(staging|old|lock)")
# The final files of a run folder written before the marker existed (what save_pretrained, the processors, the card
# and the results writers put there), and the package's code files that save_pretrained copies.
_LEGACY_FINAL = re.compile(
    r"config\.json|generation_config\.json|model\.safetensors|model\.safetensors\.index\.json|"
    r"model-\d{5}-of-\d{5}\.safetensors|(preprocessor|processor|feature_extractor)_config\.json|tokenizer\.json|"
    r"tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json|vocab\.json|vocab\.txt|merges\.txt|"
    r"chat_template\.jinja|README\.md|all_results\.json|classification_report\.json|cv_report\.json|recipe\.yaml|"
    r"confusion_matrix\.png|[a-z0-9_]+\.py")
_RUN_EVIDENCE = ("all_results.json", "recipe.yaml", "eval_history.jsonl")


class OutputDirError(RecipeError):
    """The output folder is in use, holds files train.py did not write, or holds another run."""


def _sibling(output_dir: str, suffix: str) -> str:
    parent, name = os.path.split(os.path.abspath(output_dir))
    return os.path.join(parent, f".{name}.{suffix}")


def replacement_dir(output_dir: str) -> str:
    """Where an `--overwrite_output_dir` run works until it has finished: `.<name>.next/<name>` beside the folder
    (the same base name, so the model card and the tracker logs name the model as the final folder does)."""
    return os.path.join(_sibling(output_dir, "next"), os.path.basename(os.path.abspath(output_dir)))


def read_marker(folder: str):
    try:
        with open(os.path.join(folder, MARKER), encoding="utf-8") as f:
            marker = json.load(f)
        return marker if isinstance(marker, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable, but it is ours


def write_marker(folder: str, **fields):
    """Create or update the marker of a run folder (atomically)."""
    marker = {**(read_marker(folder) or {}), "package": "emotion_hub", "format": 1, **fields}
    write_json(os.path.join(folder, MARKER), marker)


def record_final_files(folder: str, names):
    """Add `names` (top-level entries of `folder`) to the final files its marker lists."""
    marker = read_marker(folder) or {}
    write_marker(folder, files=sorted(set(marker.get("files", [])) | set(names)))


def _is_run_entry(folder: str, name: str) -> bool:
    base = os.path.basename(os.path.abspath(folder))
    return bool(_RUN_ENTRY.fullmatch(name)) or (name == base and os.path.isdir(os.path.join(folder, name)))


def final_files(folder: str) -> set:
    """The entries of `folder` that are the final files of the run it holds (replaced by the next final save)."""
    marker = read_marker(folder)
    names = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    if marker is not None and "files" in marker:
        return names & set(marker["files"])
    return {n for n in names if _LEGACY_FINAL.fullmatch(n) and os.path.isfile(os.path.join(folder, n))}


def inspect_folder(folder: str):
    """`(kind, foreign)`: kind `"empty"` (absent or empty), `"run"` (train.py wrote it) or `"other"`; `foreign` the
    sorted entries train.py did not write."""
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            return "other", [os.path.basename(folder)]
        return "empty", []
    names = set(os.listdir(folder))
    if not names:
        return "empty", []
    ours = final_files(folder) | {n for n in names if _is_run_entry(folder, n)} | ({MARKER} & names)
    foreign = sorted(names - ours)
    evidence = (MARKER in names or any(n in names for n in _RUN_EVIDENCE) or bool(list_checkpoints(folder))
                or any(re.fullmatch(r"fold_\d+", n) and inspect_folder(os.path.join(folder, n))[0] == "run"
                       for n in names))
    return ("run" if evidence else "other"), foreign


def _names(entries, limit=5) -> str:
    shown = ", ".join(entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def _merge_foreign(old: str, new: str):
    """Move the entries of `old` that are not its run's into `new` (never deleting a file train.py did not write)."""
    if not os.path.isdir(old):
        return
    ours = final_files(old) | {MARKER}
    for name in os.listdir(old):
        if name in ours or _is_run_entry(old, name):
            continue
        target = os.path.join(new, name)
        if os.path.exists(target):  # the new run wrote that name too: keep the user's under another name
            target = os.path.join(new, f"{name}.user-{time.strftime('%Y%m%d-%H%M%S')}")
        os.rename(os.path.join(old, name), target)


def recover(output_dir: str):
    """Finish (or undo) a swap interrupted by a kill, and drop a half-written staging folder."""
    staging, old, replaced = (_sibling(output_dir, s) for s in ("staging", "old", "replaced"))
    if os.path.isdir(old):  # the final save of a run (publish)
        if not os.path.exists(output_dir):  # killed between the two renames: the old folder is the current one
            os.rename(old, output_dir)
        else:  # killed after the swap: bring the run's folders and the user's files over, drop the old final files
            finals = final_files(old) | {MARKER}
            for name in os.listdir(old):
                if name not in finals and not os.path.exists(os.path.join(output_dir, name)):
                    os.rename(os.path.join(old, name), os.path.join(output_dir, name))
            _merge_foreign(old, output_dir)
            shutil.rmtree(old, ignore_errors=True)
    if os.path.isdir(replaced):  # an --overwrite_output_dir replacement (finish_run)
        if not os.path.exists(output_dir):
            os.rename(replaced, output_dir)
        else:
            _merge_foreign(replaced, output_dir)
            shutil.rmtree(replaced, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def _finished(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, "all_results.json")) and read_marker(folder) is not None


def _swap_in(work_dir: str, output_dir: str):
    """The finished replacement `work_dir` becomes `output_dir`; the replaced run goes, the user's files stay."""
    replaced = _sibling(output_dir, "replaced")
    if os.path.exists(output_dir):
        os.rename(output_dir, replaced)
    kill_point("replace:old_moved")
    os.rename(work_dir, output_dir)
    shutil.rmtree(os.path.dirname(work_dir), ignore_errors=True)
    kill_point("replace:swapped")
    recover(output_dir)


def _acquire(lock_path: str, output_dir: str):
    """An exclusive lock on `lock_path` (the same file other runs see: a lock file unlinked by a finishing run is
    recreated)."""
    while True:
        lock = open(lock_path, "a+")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise OutputDirError(f"output_dir {output_dir} is in use by another run ({holder}, lock {lock_path}); "
                                 f"wait for it to finish or choose another --output_dir") from None
        try:
            if os.fstat(lock.fileno()).st_ino == os.stat(lock_path).st_ino:
                return lock
        except FileNotFoundError:
            pass
        lock.close()  # removed by the run that held it: lock the new file


def release(lock):
    """Remove the lock file, then release it (at the end of a run, also a failed one)."""
    if lock is None or lock.closed:
        return
    try:
        os.remove(lock.name)
    except OSError:
        pass
    lock.close()


def _check_resume(recipe, folder: str):
    """The refusals of a resume that need only the folder, before any data is read."""
    if recipe.allow_recipe_change:
        pass
    else:
        marker = read_marker(folder) or {}
        if marker.get("recipe_hash") and marker["recipe_hash"] != recipe_hash(recipe):
            saved, current = marker.get("recipe", {}), training_recipe(recipe)
            current = json.loads(json.dumps(current, default=str))
            changed = sorted(k for k in set(current) | set(saved) if current.get(k) != saved.get(k))
            raise RecipeError(f"{folder} was written by a different recipe (changed: {', '.join(changed) or '?'}); "
                              f"pass --allow_recipe_change true to resume it anyway")
    if recipe.resume_from_checkpoint == "latest" and not recipe.folds and not list_checkpoints(folder):
        finished = os.path.isfile(os.path.join(folder, "all_results.json"))
        raise FileNotFoundError(f"--resume_from_checkpoint latest: no checkpoint in {folder}/checkpoints"
                                + ("; it holds a finished run (pass --overwrite_output_dir true to replace it)"
                                   if finished else ""))


def claim_output_dir(recipe):
    """Lock `recipe.output_dir` for this process and apply the folder rules (main process only, before any data is
    read). Returns `(lock, work_dir)`: keep the lock file open for the whole run (the OS releases it even on SIGKILL)
    and train into `work_dir` (the output folder, or its replacement folder with `--overwrite_output_dir`); call
    `finish_run` at the end."""
    output_dir = recipe.output_dir
    os.makedirs(os.path.dirname(os.path.abspath(output_dir)), exist_ok=True)
    lock = _acquire(_sibling(output_dir, "lock"), output_dir)
    try:
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        work_dir = _claim(recipe, output_dir)
    except BaseException:
        release(lock)
        raise
    return lock, work_dir


def _claim(recipe, output_dir: str) -> str:
    recover(output_dir)
    work_dir = replacement_dir(output_dir)
    if os.path.isdir(work_dir):
        recover(work_dir)
        if _finished(work_dir):  # a replacement killed just before its swap: it had finished
            _swap_in(work_dir, output_dir)
    kind, foreign = inspect_folder(output_dir)
    if kind == "other":
        raise OutputDirError(f"output_dir {output_dir} is not empty and holds no train.py run ({_names(foreign)}); "
                             f"train.py never deletes or mixes in files it did not write: choose another --output_dir "
                             f"(a new or empty folder)")
    if kind == "run" and recipe.overwrite_output_dir:
        if foreign:
            raise OutputDirError(f"output_dir {output_dir} holds a train.py run and files train.py did not write "
                                 f"({_names(foreign)}); --overwrite_output_dir only replaces a folder of train.py's "
                                 f"own files: move those away or choose another --output_dir")
        if recipe.resume_from_checkpoint:
            if not os.path.isdir(work_dir):
                raise FileNotFoundError(f"--resume_from_checkpoint with --overwrite_output_dir goes on with an "
                                        f"interrupted replacement of {output_dir}, and there is none ({work_dir}); "
                                        f"drop one of the two flags")
            _check_resume(recipe, work_dir)
        else:
            if os.path.isdir(work_dir):
                kind_next, foreign_next = inspect_folder(work_dir)
                if foreign_next:
                    raise OutputDirError(f"{work_dir} (an interrupted --overwrite_output_dir run) holds files train.py "
                                         f"did not write ({_names(foreign_next)}); move them away first")
            shutil.rmtree(os.path.dirname(work_dir), ignore_errors=True)
            os.makedirs(work_dir)
        write_marker(work_dir, recipe_hash=recipe_hash(recipe), recipe=_jsonable(training_recipe(recipe)))
        return work_dir
    if kind == "run" and not recipe.resume_from_checkpoint:
        raise OutputDirError(f"output_dir {output_dir} already holds a run; pass --resume_from_checkpoint latest to go "
                             f"on with it, or --overwrite_output_dir true to replace it once the new run has finished")
    if kind == "run":
        _check_resume(recipe, output_dir)
    elif recipe.resume_from_checkpoint == "latest":
        raise FileNotFoundError(f"--resume_from_checkpoint latest: no checkpoint in {output_dir}/checkpoints (the "
                                f"folder holds no run)")
    os.makedirs(output_dir, exist_ok=True)
    write_marker(output_dir, recipe_hash=recipe_hash(recipe), recipe=_jsonable(training_recipe(recipe)))
    return output_dir


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def finish_run(output_dir: str, work_dir: str, succeeded: bool):
    """End of a run (main process): a finished replacement is swapped in; a run that failed before writing anything
    leaves no marker behind (so the folder is not taken for a run), nor an empty folder it created."""
    if succeeded:
        if os.path.abspath(work_dir) != os.path.abspath(output_dir):
            _swap_in(work_dir, output_dir)
        return
    if not os.path.isdir(work_dir) or set(os.listdir(work_dir)) - {MARKER}:
        return  # checkpoints or results to resume from, or files of the user's
    os.remove(os.path.join(work_dir, MARKER)) if os.path.exists(os.path.join(work_dir, MARKER)) else None
    if os.path.abspath(work_dir) != os.path.abspath(output_dir):
        shutil.rmtree(os.path.dirname(work_dir), ignore_errors=True)
    else:
        try:
            os.rmdir(work_dir)
        except OSError:
            pass


def publish(output_dir: str, write, marker: dict = None):
    """Call `write(folder)` on an empty staging folder beside `output_dir`, then swap it in (main process only).
    `marker`: fields of the run's marker (e.g. its recipe hash) kept in the new folder."""
    staging_root, old = _sibling(output_dir, "staging"), _sibling(output_dir, "old")
    recover(output_dir)
    # The staging folder has the output folder's name (the model card names the model after it).
    staging = os.path.join(staging_root, os.path.basename(os.path.abspath(output_dir)))
    os.makedirs(staging)
    write(staging)
    previous = {k: v for k, v in (read_marker(output_dir) or {}).items() if k != "files"}
    write_marker(staging, **{**previous, **(marker or {})}, files=sorted(os.listdir(staging)))
    fsync_tree(staging)
    kill_point("final:staged")
    if os.path.exists(output_dir):
        os.rename(output_dir, old)
    kill_point("final:old_moved")
    os.rename(staging, output_dir)
    kill_point("final:swapped")
    recover(output_dir)  # the run's folders and the user's files move over, the old final files go


__all__ = ["MARKER", "OutputDirError", "claim_output_dir", "final_files", "finish_run", "inspect_folder", "publish",
           "read_marker", "record_final_files", "recover", "release", "replacement_dir", "write_marker"]
