"""Write a Gradio demo Space for a saved model folder (and push it).

    python -m model_cards.space --model_dir outputs/text-cnn-tweeteval-emotion --output_dir spaces/text-cnn \
        [--model_id user/text-cnn-tweeteval-emotion] [--push --repo_id user/text-cnn-demo]

The Hub's hosted widget cannot run custom-code models (text CNN, MFCC CNN, non-square ViT, ERC model); a Space can.
The folder holds `app.py` (this package's `model_cards/space_app.py` with the model filled in: a text box for text
models, upload + microphone for voice, upload + webcam for faces, a dialogue editor for conversations; label scores
as a bar chart), `requirements.txt` and a `README.md` with the Space metadata (`sdk: gradio`, `app_file`, `models`).

The app loads `--model_id` (the model's Hub repository, what a Space should use) with `pipeline(...,
trust_remote_code=True)`; without it, `--model_dir` (a local folder, for `python app.py` on this machine). The task
is read from the folder (`custom_pipelines`, the processor files) unless `--task` says it.
"""

import argparse
import json
import os
import re
import shutil


TASKS = ("text", "voice", "face", "erc")
HERE = os.path.dirname(os.path.abspath(__file__))
ERC_PIPELINE_TASK = "emotion-recognition-in-conversation"
REQUIREMENTS = {  # what the model's code imports (CONVENTIONS: stdlib, torch, numpy, transformers, timm, librosa)
    "text": ["tokenizers"],
    "voice": ["torchaudio", "librosa", "soundfile"],
    "face": ["timm", "pillow"],
    "erc": ["tokenizers", "torchaudio", "librosa", "timm", "pillow"],
}
ERC_EXAMPLE = [["Monica", "You're getting married?!"], ["Rachel", "Oh my God, yes! I can't believe it!"]]


def detect_task(model_dir: str) -> str:
    """`text`, `voice`, `face` or `erc`, from a saved folder's config and processor files."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    pipelines = config.get("custom_pipelines") or {}
    if ERC_PIPELINE_TASK in pipelines:
        return "erc"
    if "audio-classification" in pipelines:
        return "voice"
    if "image-classification" in pipelines:
        return "face"
    preprocessor = {}
    path = os.path.join(model_dir, "preprocessor_config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            preprocessor = json.load(f)
    architectures = " ".join(config.get("architectures") or [])
    if "feature_extractor_type" in preprocessor or "AudioClassification" in architectures or \
            config.get("model_type") in ("wav2vec2", "audio-spectrogram-transformer", "hubert", "wavlm", "whisper"):
        return "voice"
    if "image_processor_type" in preprocessor or "ImageClassification" in architectures:
        return "face"
    if os.path.isfile(os.path.join(model_dir, "tokenizer.json")) or "SequenceClassification" in architectures:
        return "text"
    raise ValueError(f"{model_dir}: cannot tell the task (no tokenizer.json, preprocessor_config.json or "
                     f"custom_pipelines in config.json); pass --task, one of {TASKS}")


def _card_metadata(model_dir: str) -> dict:
    """The model card's YAML front matter (datasets, license, language), if the folder has a README.md."""
    path = os.path.join(model_dir, "README.md")
    if not os.path.isfile(path):
        return {}
    import yaml

    match = re.match(r"^---\n(.*?)\n---\n", open(path, encoding="utf-8").read(), re.S)
    try:
        return (yaml.safe_load(match.group(1)) or {}) if match else {}
    except yaml.YAMLError:
        return {}


def _examples(task: str, model_dir: str) -> list:
    """Example inputs: the model card's widget texts (text models), a short dialogue (conversations)."""
    if task == "erc":
        return [ERC_EXAMPLE]
    if task != "text":
        return []
    widget = _card_metadata(model_dir).get("widget") or []
    texts = [w["text"] for w in widget if isinstance(w, dict) and isinstance(w.get("text"), str)]
    return texts[:5] or ["I can't believe they cancelled my flight again!", "Best day of my life!"]


def requirements(task: str) -> list[str]:
    """`requirements.txt` lines: gradio comes with the Space SDK (`sdk_version`), the rest is what the model runs on."""
    return ["torch", "transformers>=5.0,<6", "numpy", *REQUIREMENTS[task]]


def space_readme(title: str, task: str, model_ref: str, model_id: str | None, metadata: dict) -> str:
    import yaml

    emoji = {"text": "💬", "voice": "🎙️", "face": "🙂", "erc": "🗣️"}[task]
    header = {"title": title[:60], "emoji": emoji, "colorFrom": "indigo", "colorTo": "pink", "sdk": "gradio"}
    try:
        from importlib.metadata import version

        header["sdk_version"] = version("gradio")
    except Exception:  # gradio not installed here: the Hub picks its default
        pass
    header.update({"app_file": "app.py", "pinned": False})
    if model_id:
        header["models"] = [model_id]
    for key in ("license", "datasets", "language"):
        if metadata.get(key):
            header[key] = metadata[key]
    header["short_description"] = {"text": "Emotion of a text", "voice": "Emotion of a voice clip",
                                   "face": "Emotion of a face", "erc": "Emotion of a dialogue turn"}[task]
    inputs = {"text": "a text box", "voice": "an audio upload or the microphone", "face": "an image upload or the "
              "webcam", "erc": "a dialogue editor (speaker, utterance; the last turn is classified)"}[task]
    lines = [f"# {title}", "",
             f"A Gradio demo of `{model_id or model_ref}`: {inputs}; the label scores show as a bar chart. The model "
             "is loaded with `transformers.pipeline(..., trust_remote_code=True)`, so its own code (uploaded with the "
             "model) runs here; the Hub's hosted widget cannot run it.", "",
             "Run it locally: `pip install gradio -r requirements.txt && python app.py` (http://127.0.0.1:7860); "
             "`MODEL_ID=path/or/repo python app.py` loads another checkpoint."]
    if not model_id:
        lines += ["", f"**Local model**: the app loads `{model_ref}`; pass `--model_id user/name` (the pushed model) "
                      "or `--bundle_model` when writing the Space for the Hub."]
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(lines) + "\n"


def write_space(model_dir: str, output_dir: str, model_id: str | None = None, task: str | None = None,
                title: str | None = None, bundle_model: bool = False) -> str:
    """Write `app.py`, `requirements.txt` and `README.md` of a Gradio Space for the model in `model_dir`.

    The app loads `model_id` (a Hub repository) if given; with `bundle_model` a copy of the folder in `SPACE/model/`
    (a self-contained Space, for small models); otherwise `model_dir` itself (to run the app on this machine)."""
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise FileNotFoundError(f"{model_dir}: no config.json; pass the folder train.py saved (its --output_dir)")
    task = task or detect_task(model_dir)
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}, got {task!r}")
    os.makedirs(output_dir, exist_ok=True)
    if model_id:
        model_ref = model_id
    elif bundle_model:
        target = os.path.join(output_dir, "model")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns("checkpoints", "runs", "fold_*", "*.log"))
        model_ref = "model"
    else:
        model_ref = os.path.abspath(model_dir)
    title = title or f"Emotion recognition: {model_id or os.path.basename(os.path.abspath(model_dir))}"
    with open(os.path.join(HERE, "space_app.py"), encoding="utf-8") as f:
        app = f.read()
    model_expr = ('os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")' if model_ref == "model"
                  else repr(model_ref))
    for placeholder, value in (('"__MODEL_ID__"', model_expr), ('"__TASK__"', repr(task)),
                               ('"__TITLE__"', repr(title)), ("__EXAMPLES__", repr(_examples(task, model_dir)))):
        assert placeholder in app, placeholder
        app = app.replace(placeholder, value)
    with open(os.path.join(output_dir, "app.py"), "w", encoding="utf-8") as f:
        f.write(app)
    with open(os.path.join(output_dir, "requirements.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(requirements(task)) + "\n")
    with open(os.path.join(output_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write(space_readme(title, task, model_ref, model_id, _card_metadata(model_dir)))
    return output_dir


def push_space(output_dir: str, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Create the Space repository (Gradio SDK) if needed and upload the folder; returns the Space URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    api.upload_folder(folder_path=output_dir, repo_id=repo_id, repo_type="space",
                      commit_message="Gradio demo written by emotion-hub's model_cards.space")
    return f"{api.endpoint}/spaces/{repo_id}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="a saved model folder (train.py's --output_dir)")
    parser.add_argument("--output_dir", required=True, help="the Space folder to write")
    parser.add_argument("--model_id", default=None, help="the model's Hub repository, loaded by the Space")
    parser.add_argument("--bundle_model", action="store_true", help="copy the model into the Space (small models)")
    parser.add_argument("--task", choices=TASKS, default=None, help="default: read from the model folder")
    parser.add_argument("--title", default=None)
    parser.add_argument("--push", action="store_true", help="upload the Space to --repo_id")
    parser.add_argument("--repo_id", default=None, help="the Space repository, user/name")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    if args.push and not args.repo_id:
        parser.error("--push needs --repo_id")
    if args.push and not (args.model_id or args.bundle_model):
        parser.error("a pushed Space cannot read a local folder: pass --model_id user/name or --bundle_model")
    try:
        folder = write_space(args.model_dir, args.output_dir, args.model_id, args.task, args.title, args.bundle_model)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"Space written to {folder} (run it: cd {folder} && python app.py)")
    if args.push:
        print(f"pushed: {push_space(folder, args.repo_id, args.token, args.private)}")


__all__ = ["detect_task", "main", "push_space", "requirements", "space_readme", "write_space"]


if __name__ == "__main__":
    main()
