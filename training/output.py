"""The output folder: one run at a time, never a mix of two runs, no stale files.

- `claim_output_dir` (start of a run): a lock file `.<name>.lock` beside `output_dir` makes a second concurrent run
  fail at once; a folder that holds anything is refused unless `--resume_from_checkpoint` (go on with that run) or
  `--overwrite_output_dir` (its contents are deleted first) is given, as with transformers' `Trainer`.
- `publish` (end of a run): the final files are written into `.<name>.staging` beside `output_dir`, flushed, and
  swapped in (`output_dir` -> `.<name>.old`, staging -> `output_dir`); the run's folders (checkpoints, tracker logs,
  cross-validation folds) move over and the old folder is deleted. `recover` (called before every run) finishes or
  undoes a swap that a kill interrupted.
"""

import fcntl
import os
import shutil

from emotion_hub.training.checkpoints import fsync_tree, kill_point
from emotion_hub.training.recipe import RecipeError


class OutputDirError(RecipeError):
    """The output folder is in use or holds another run."""


def _sibling(output_dir: str, suffix: str) -> str:
    parent, name = os.path.split(os.path.abspath(output_dir))
    return os.path.join(parent, f".{name}.{suffix}")


def recover(output_dir: str):
    """Finish (or undo) a final swap interrupted by a kill, and drop a half-written staging folder."""
    staging, old = _sibling(output_dir, "staging"), _sibling(output_dir, "old")
    if os.path.isdir(old):
        if not os.path.exists(output_dir):  # killed between the two renames: the old folder is the current one
            os.rename(old, output_dir)
        else:  # killed after the swap: bring the run's folders over, then drop the old final files
            for name in os.listdir(old):
                if os.path.isdir(os.path.join(old, name)) and not os.path.exists(os.path.join(output_dir, name)):
                    os.rename(os.path.join(old, name), os.path.join(output_dir, name))
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def claim_output_dir(recipe):
    """Lock `recipe.output_dir` for this process and apply the folder rules. Returns the open lock file (keep it
    open for the whole run; the OS releases the lock when the process ends, even on SIGKILL)."""
    output_dir = recipe.output_dir
    os.makedirs(os.path.dirname(os.path.abspath(output_dir)), exist_ok=True)
    lock_path = _sibling(output_dir, "lock")
    lock = open(lock_path, "a+")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise OutputDirError(f"output_dir {output_dir} is in use by another run ({holder}, lock {lock_path}); "
                             f"wait for it to finish or choose another --output_dir") from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}\n")
    lock.flush()
    recover(output_dir)
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        if recipe.overwrite_output_dir:
            for name in os.listdir(output_dir):
                path = os.path.join(output_dir, name)
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
        elif not recipe.resume_from_checkpoint:
            lock.close()
            raise OutputDirError(f"output_dir {output_dir} already holds a run; pass --resume_from_checkpoint latest "
                                 f"to go on with it or --overwrite_output_dir true to replace it")
    os.makedirs(output_dir, exist_ok=True)
    return lock


def publish(output_dir: str, write):
    """Call `write(folder)` on an empty staging folder beside `output_dir`, then swap it in (main process only)."""
    staging_root, old = _sibling(output_dir, "staging"), _sibling(output_dir, "old")
    recover(output_dir)
    # The staging folder has the output folder's name (the model card names the model after it).
    staging = os.path.join(staging_root, os.path.basename(os.path.abspath(output_dir)))
    os.makedirs(staging)
    write(staging)
    fsync_tree(staging)
    kill_point("final:staged")
    if os.path.exists(output_dir):
        os.rename(output_dir, old)
    kill_point("final:old_moved")
    os.rename(staging, output_dir)
    kill_point("final:swapped")
    recover(output_dir)  # the run's folders move over, the old final files go


__all__ = ["OutputDirError", "claim_output_dir", "publish", "recover"]
