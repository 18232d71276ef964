"""One import namespace: `emotion_hub.*` never collides with a user's own `modeling.py` / `processing.py`, and no source
file of the package is imported under two module names (the Auto classes would get two different class objects)."""

import collections
import os
import subprocess
import sys
import textwrap

import emotion_hub
from emotion_hub.modeling import TextCNNConfig, TextCNNForSequenceClassification
from tests.conftest import REPO

PACKAGE_FOLDERS = ("modeling", "processing", "datasets_scripts", "model_cards", "training")
USER_MODELING = "USER = 'the user modeling'\ndef train():\n    return 'user code'\n"
USER_PROCESSING = "USER = 'the user processing'\n"


def test_a_folder_with_its_own_modeling_and_processing_modules(tmp_path):
    saved = tmp_path / "saved"
    model = TextCNNForSequenceClassification(TextCNNConfig(vocab_size=50, embedding_dim=8, num_filters=4,
                                                           kernel_sizes=[2], num_labels=3)).eval()
    model.save_pretrained(saved)  # no auto_map: only our registered Auto classes can load it
    project = tmp_path / "project"
    project.mkdir()
    (project / "modeling.py").write_text(USER_MODELING)
    (project / "processing.py").write_text(USER_PROCESSING)
    code = textwrap.dedent(f"""
        import sys
        import modeling, processing  # the user's own modules, from the current folder
        import emotion_hub  # ours: registers the Auto classes
        from transformers import AutoConfig, AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained({str(saved)!r})
        assert type(model).__module__ == "emotion_hub.modeling.modeling_text_cnn", type(model).__module__
        assert AutoConfig.from_pretrained({str(saved)!r}).__class__.__name__ == "TextCNNConfig"
        import modeling as again
        assert again is modeling and modeling.USER == "the user modeling" and modeling.train() == "user code"
        assert processing.USER == "the user processing"
        assert sys.modules["modeling"].__file__ == {str(project / "modeling.py")!r}
        ours = [name for name, module in sys.modules.items()
                if (getattr(module, "__file__", None) or "").startswith({REPO + os.sep!r})]
        assert all(name.split(".")[0] == "emotion_hub" for name in ours), [n for n in ours if "emotion_hub" not in n]
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=str(project), env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
    assert (project / "modeling.py").read_text() == USER_MODELING  # untouched
    assert sorted(set(os.listdir(project)) - {"__pycache__"}) == ["modeling.py", "processing.py"]


def test_no_source_file_is_imported_under_two_module_names():
    import train  # noqa: F401  (the entry point and everything it imports)
    from emotion_hub.training import registry  # noqa: F401

    names = collections.defaultdict(list)
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        folder = os.path.relpath(os.path.abspath(path), REPO).split(os.sep)[0] if path else None
        if folder in PACKAGE_FOLDERS:
            names[os.path.abspath(path)].append(name)
    twice = {path: found for path, found in names.items() if len(found) > 1}
    assert not twice
    packaged = [n for found in names.values() for n in found if n.split(".")[0] != "emotion_hub"]
    assert not packaged, f"imported outside the emotion_hub namespace: {packaged}"
    assert emotion_hub.modeling.TextCNNConfig is TextCNNConfig
