"""train.py reads and checks its command line before torch, transformers, datasets and accelerate are imported:
`--help`, a bad recipe and `--dry_run` of a recipe whose blocks need no model code answer at once. The thread default
(`num_threads: auto`) and the light tables that stand in for the heavy modules while the command line is read."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

HEAVY = ("torch", "transformers", "datasets", "accelerate", "sklearn")
PROBE = """
import json, runpy, sys
sys.argv = ["train.py", *json.loads(sys.argv[1])]
code = 0
try:
    runpy.run_path("train.py", run_name="__main__")
except SystemExit as exit_:
    code = exit_.code
print(json.dumps({"code": code, "heavy": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def probe(*words, cache=None):
    env = {k: v for k, v in os.environ.items() if k != "EMOTION_HUB_LAZY_IMPORT"}
    if cache is not None:
        env["EMOTION_HUB_CACHE"] = str(cache)
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(words)], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_help_and_recipe_errors_come_before_the_heavy_imports(tmp_path):
    answer, _ = probe("--help")
    assert answer == {"code": 0, "heavy": []}
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_type: text_cnn\nlearning_rat: 0.1\n")
    answer, err = probe("--config", str(bad), "--output_dir", str(tmp_path / "out"))
    assert answer == {"code": 2, "heavy": []} and "error: unknown recipe key 'learning_rat'" in err
    answer, err = probe("--config", "configs/text-cnn-tweeteval-emotion.yaml", "--num_epochs", "2.5")
    assert answer == {"code": 2, "heavy": []} and "num_epochs" in err
    answer, err = probe("--config", "configs/text-cnn-tweeteval-emotion.yaml", "--output_dir", "x",
                        "--data_dir", str(tmp_path / "nowhere"))
    assert answer == {"code": 2, "heavy": []} and "no such folder" in err
    faces = tmp_path / "faces.yaml"
    faces.write_text(yaml.safe_dump({"model_type": "fer_cnn", "dataset": "fer2013", "augmentation": {"hflip": 2}}))
    answer, err = probe("--config", str(faces), "--output_dir", str(tmp_path / "out"))
    assert answer == {"code": 2, "heavy": []} and "`augmentation.hflip` must be a probability in [0, 1], got 2" in err
    # A recipe with no block that needs model code is checked whole without them (--dry_run writes nothing).
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({"model_type": "text_cnn", "dataset": "tweet_eval_emotion"}))
    answer, _ = probe("--config", str(plain), "--output_dir", str(tmp_path / "out"), "--dry_run")
    assert answer == {"code": 0, "heavy": []} and not (tmp_path / "out").exists()


def test_the_console_script_answers_before_the_heavy_imports_too():
    code = ("import json, sys\nsys.argv = ['/usr/local/bin/emotion-hub-train', '--help']\n"
            "from emotion_hub.training.cli import cli\ncode = 0\ntry:\n    cli()\nexcept SystemExit as e:\n"
            "    code = e.code\n"
            f"print(json.dumps({{'code': code, 'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))")
    env = {k: v for k, v in os.environ.items() if k != "EMOTION_HUB_LAZY_IMPORT"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "heavy": []}, done.stderr[-2000:]
    # any other program that imports the package gets the Auto classes registered at once
    done = subprocess.run([sys.executable, "-c", "import emotion_hub, transformers; print(type("
                           "transformers.AutoConfig.for_model('text_cnn')).__name__)"], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "TextCNNConfig", done.stderr[-2000:]


def test_block_checks_answer_from_the_cache_without_the_heavy_imports(tmp_path):
    """The keys of the `model`, `erc_processor`... blocks are read from the classes once (torch, transformers), then
    from the cache: a typo, a wrong type, ERC's former key names, all at once; a damaged cache is read again."""
    cache, out = tmp_path / "cache", str(tmp_path / "out")
    recipe = ["--config", "configs/erc-meld-baseline-cce.yaml", "--output_dir", out]  # `text_encoder`: a former name
    answer, _ = probe(*recipe, "--dry_run", cache=cache)
    assert answer["code"] == 0 and "torch" in answer["heavy"]
    answer, _ = probe(*recipe, "--dry_run", cache=cache)
    assert answer == {"code": 0, "heavy": []}
    answer, err = probe(*recipe, "--model.fusion_out_feature", "8", cache=cache)
    assert answer == {"code": 2, "heavy": []} and "'model.fusion_out_feature'; did you mean ['fusion_out_features'" in err
    answer, err = probe(*recipe, "--model.fusion_out_features", "many", cache=cache)
    assert answer == {"code": 2, "heavy": []} and "cannot read 'many'" in err
    answer, err = probe(*recipe, "--erc_processor.max_prompt_token", "8", cache=cache)
    assert answer == {"code": 2, "heavy": []} and "did you mean ['max_prompt_tokens']" in err
    answer, err = probe(*recipe, "--export_stock", "true", cache=cache)  # read from the classes once, then kept
    assert answer["code"] == 2 and "has no stock transformers class" in err
    answer, err = probe(*recipe, "--export_stock", "true", cache=cache)
    assert answer == {"code": 2, "heavy": []} and "has no stock transformers class" in err
    (kept,) = (cache / "recipe_schema").iterdir()
    kept.write_text("{not json")
    answer, _ = probe(*recipe, "--dry_run", cache=cache)
    assert answer["code"] == 0 and "torch" in answer["heavy"]
    # The former names are arguments of the config's `__post_init__`, typed there: the cache holds them as fields.
    fields = json.loads(kept.read_text())["model:erc_fusion"]["fields"]
    assert fields["text_encoder"] == ["union", ["literal", "gpt2", "mean_embedding", "none"], "none"]
    assert {"audio_encoder", "vision_encoder", "text_branch", "fusion_out_features"} <= set(fields)


@pytest.mark.parametrize("override", [("--model.num_filter", "3"), ("--model.num_filters", "many"),
                                      ("--model.text_encoder", "gpt2"), ("--tokenizer.lowercas", "true"),
                                      ("--model.kernel_sizes", "{a: 1}"), ("--model.dropout", "true")])
def test_the_cache_answers_as_the_classes_do(override, tmp_path, monkeypatch):
    import train

    monkeypatch.setenv("EMOTION_HUB_CACHE", str(tmp_path / "cache"))
    argv = ["--config", "configs/text-cnn-tweeteval-emotion.yaml", "--output_dir", str(tmp_path / "out"), *override,
            "--dry_run"]
    answers = []
    for _ in ("read from the classes", "read from the cache"):
        with pytest.raises(ValueError) as error:
            train.main(argv)
        answers.append(str(error.value))
    assert answers[0] == answers[1] and list((tmp_path / "cache" / "recipe_schema").iterdir())


def test_dry_run_checks_every_block_and_writes_nothing(tmp_path, capsys):
    import train

    out = tmp_path / "out"
    result = train.main(["--config", "configs/whisper-emodb.yaml", "--output_dir", str(out), "--dry_run"])
    assert result["dry_run"] and result["recipe"]["model_type"] == "speech_emotion" and not out.exists()
    assert "recipe checked (--dry_run)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown recipe key 'model.poling'"):
        train.main(["--config", "configs/whisper-emodb.yaml", "--output_dir", str(out), "--model.poling", "mean",
                    "--dry_run"])


@pytest.mark.parametrize("recipe, environ, threads", [
    ({"model_type": "text_cnn"}, {}, 1),
    ({"model_type": "speech_emotion", "model": {"freeze_backbone": True}}, {}, 1),  # a head on cached states
    ({"model_type": "speech_emotion", "model": {"freeze_backbone": False}}, {}, 0),
    ({"model_type": "auto_sequence_classification"}, {}, 0),
    ({"model_type": "erc_fusion"}, {}, 0),
    ({"model_type": "wav2vec2_emotion", "model": {"freeze_backbone": True}, "lora_r": 8}, {}, 0),
    ({"model_type": "text_cnn"}, {"OMP_NUM_THREADS": "2"}, 0),  # the user's setting stands
    ({"model_type": "auto_sequence_classification", "num_threads": 1}, {}, 1),
    ({"model_type": "text_cnn", "num_threads": 0}, {}, 0),
])
def test_thread_default(recipe, environ, threads):
    from emotion_hub.training.cli import threads_for
    from emotion_hub.training.recipe import Recipe

    values = {"output_dir": "out", "model": {}, "lora_r": 0, "num_threads": "auto", **recipe}
    stand_in = type("R", (), values)  # threads_for reads these attributes only
    assert threads_for(stand_in, environ=environ) == threads
    assert "num_threads" in {f for f in Recipe.__dataclass_fields__}


def test_main_leaves_torch_threads_as_it_found_them(tmp_path, tweeteval_dir, datasets_cache):
    import torch

    import train

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset": "tweet_eval_emotion", "dataset_config": "emotion", "model_type": "text_cnn",
        "model": {"embedding_dim": 8, "num_filters": 4, "kernel_sizes": [2], "max_sequence_length": 32},
        "num_epochs": 1, "checkpointing_steps": None, "num_threads": 1}))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train.main(["--config", str(recipe), "--data_dir", tweeteval_dir, "--output_dir", str(tmp_path / "out"),
                    "--cache_dir", datasets_cache])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_the_light_tables_match_the_modules():
    from emotion_hub.training.image import AUGMENTATION_DEFAULTS
    from emotion_hub.training.recipe import IMAGE_AUGMENTATION_KEYS, ImageAugmentationBlock
    from emotion_hub.training.registry import MODEL_TYPES

    assert set(IMAGE_AUGMENTATION_KEYS) == set(AUGMENTATION_DEFAULTS) == set(ImageAugmentationBlock.model_fields)
    assert all(isinstance(task, type) for task in MODEL_TYPES.values())


def test_the_families_are_read_without_the_package_and_are_the_ones_it_registers():
    """The command line reads `modeling/families.py` on its own (no torch); importing the models later finds that same
    module, whose families it registers with the Auto classes."""
    code = ("import json, os, sys\nos.environ['EMOTION_HUB_LAZY_IMPORT'] = '1'\n"
            "from emotion_hub.training import registry\nnames = registry.model_type_names()\n"
            f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
            "from emotion_hub import modeling\nimport transformers\n"
            "same = modeling.FAMILIES is registry._families().FAMILIES\n"
            "loads = type(transformers.AutoConfig.for_model('mfcc_cnn')).__name__\n"
            "print(json.dumps({'names': list(names), 'heavy': heavy, 'same': same, 'loads': loads}))")
    env = {k: v for k, v in os.environ.items() if k != "EMOTION_HUB_LAZY_IMPORT"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["heavy"] == [] and answer["same"] and answer["loads"] == "MFCCCNNConfig", done.stderr[-2000:]
    assert {"text_cnn", "auto_sequence_classification", "erc_fusion", "speech_emotion"} <= set(answer["names"])
