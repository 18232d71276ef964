"""Test helpers: running code in a Python where our packages are NOT importable."""

import os
import subprocess
import sys
import textwrap


OUR_PACKAGES = ("emotion_hub", "modeling", "processing", "datasets_scripts", "model_cards", "training", "train")

_PRELUDE = f"""
import importlib.abc, sys
sys.path[:] = [p for p in sys.path if p not in ("", ".") and not p.startswith({os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r})]
class _Block(importlib.abc.MetaPathFinder):
    # Editable installs put a finder for our packages on sys.meta_path: refuse them before it is asked.
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {OUR_PACKAGES!r}:
            raise ModuleNotFoundError(f"{{name}} is blocked in this clean Python")
sys.meta_path.insert(0, _Block())
for _name in {OUR_PACKAGES!r}:
    try:
        __import__(_name)
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit(f"{{_name}} is importable: the clean Python is not clean")
"""


def run_clean_python(code: str, cwd: str, env: dict | None = None, timeout: int = 300) -> str:
    """Run `code` in a fresh interpreter, from `cwd`, with our packages unimportable; return its stdout."""
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full_env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"})
    full_env.update(env or {})
    result = subprocess.run([sys.executable, "-c", _PRELUDE + textwrap.dedent(code)], cwd=cwd, env=full_env,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"clean Python failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def error_chain(exc: BaseException) -> str:
    """All messages of an exception and its causes: `datasets` wraps generation errors in a generic
    `DatasetGenerationError` whose cause is the builder's own message (both show in the traceback)."""
    messages = []
    while exc is not None:
        messages.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(messages)


def killed_train_run(argv, stage):
    """`train.main(argv)` in a forked child that SIGKILLs itself at `stage` (see training/checkpoints.kill_point)."""
    import multiprocessing
    import signal

    import train

    def child():
        os.environ["EMOTION_HUB_TEST_KILL_AT"] = stage
        train.main(argv)
        os._exit(0)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(300)
    assert process.exitcode == -signal.SIGKILL, f"the run was not killed at {stage} (exit {process.exitcode})"
