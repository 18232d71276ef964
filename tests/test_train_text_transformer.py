"""train.py's auto_sequence_classification task: a pretrained transformers checkpoint (a tiny random BERT here)
fine-tuned 2 steps on self-made TweetEval files, saved as a stock folder that loads without our code."""

import json
import os

import pytest
import yaml
from transformers import BertConfig, BertModel

import train
from tests.erc_utils import tiny_bert_tokenizer
from tests.fixtures import TWEET_LABELS, write_tweeteval
from tests.utils import run_clean_python


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A bare BERT encoder (no classification head, as sentence-transformers/all-MiniLM-L6-v2) and its tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = tiny_bert_tokenizer()
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tweets_with_emoji(tmp_path_factory):
    folder = write_tweeteval(str(tmp_path_factory.mktemp("tweeteval")), sizes=(24, 8, 8))
    path = os.path.join(folder, "train_text.txt")
    lines = open(path, encoding="utf-8").read().splitlines()
    lines[0] += " so funny \U0001F602\\nreally"  # an emoji and TweetEval's escaped newline
    open(path, "w", encoding="utf-8").write("\n".join(lines) + "\n")
    return folder


def recipe(tmp_path, checkpoint, **overrides):
    values = {"dataset": "tweet_eval_emotion", "dataset_config": "emotion", "input_column": "text",
              "label_column": "label", "model_type": "auto_sequence_classification", "pretrained_backbone": checkpoint,
              "model": {"max_sequence_length": 32, "classifier_dropout": 0.0},
              "tokenizer": {"unescape_newlines": True, "emoji": "words"}, "optimizer": "adamw",
              "learning_rate": 0.001, "max_train_steps": 2, "num_epochs": 1, "per_device_train_batch_size": 8,
              "per_device_eval_batch_size": 8, "checkpointing_steps": None, "early_stopping_patience": None,
              "logging_steps": 1, **overrides}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_two_steps_save_a_stock_folder_that_loads_without_our_code(checkpoint, tweets_with_emoji, datasets_cache,
                                                                   tmp_path):
    out = tmp_path / "out"
    results = train.main(["--config", recipe(tmp_path, checkpoint), "--data_dir", tweets_with_emoji, "--output_dir",
                          str(out), "--cache_dir", datasets_cache])
    assert results["train_steps"] == 2 and 0 <= results["test_f1_macro"] <= 1
    files = set(os.listdir(out))
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "all_results.json"} <= files
    assert not [f for f in files if f.endswith(".py")]  # stock: no remote code
    config = json.load(open(out / "config.json"))
    assert config["architectures"] == ["BertForSequenceClassification"] and "auto_map" not in config
    assert [config["id2label"][str(i)] for i in range(len(TWEET_LABELS))] == TWEET_LABELS
    assert config["classifier_dropout"] == 0.0 and config["problem_type"] == "single_label_classification"

    printed = run_clean_python(f"""
        import json
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
        model = AutoModelForSequenceClassification.from_pretrained({str(out)!r})
        print(type(model).__name__, type(model).__module__.split(".")[0])
        tokenizer = AutoTokenizer.from_pretrained({str(out)!r})
        cleaned = tokenizer.convert_ids_to_tokens(tokenizer("so funny \\U0001F602\\\\nreally")["input_ids"])
        plain = tokenizer.convert_ids_to_tokens(tokenizer("so funny face with tears of joy really")["input_ids"])
        print(cleaned == plain)
        classify = pipeline("text-classification", model={str(out)!r}, top_k=None)
        print(json.dumps(classify(["I am so happy today", "this is awful \\U0001F602"])))
    """, cwd=str(tmp_path))
    name, loaded, predictions = printed.strip().splitlines()[-3:]
    assert name == "BertForSequenceClassification transformers"
    assert loaded == "True"  # the tweet cleaning travels in tokenizer.json
    predictions = json.loads(predictions)
    assert len(predictions) == 2 and all({p["label"] for p in row} == set(TWEET_LABELS) for row in predictions)


@pytest.mark.parametrize("overrides,message", [
    ({"pretrained_backbone": None}, "needs `pretrained_backbone`"),
    ({"tokenizer": {"min_frequency": 2}}, r"`tokenizer` options \['min_frequency'\] belong to the word-level"),
    ({"model": {"loss_type": "focal"}}, "'model.loss_type' must be 'ce' or 'weighted_ce', got 'focal'"),
    ({"model": {"class_weights": [1.0, 2.0, 1.0, 1.0]}}, "weighs the training loss of `loss_type: weighted_ce`"),
    ({"model": {"loss_type": "weighted_ce", "class_weights": [1.0, 2.0]}}, "has 2 values for 4 labels"),
    ({"model_type": "text_cnn", "pretrained_backbone": None, "tokenizer": {}, "model": {}, "group_by_length": True},
     "`group_by_length` is not available for model_type text_cnn"),
])
def test_bad_recipes_say_what_is_wrong(checkpoint, tweets_with_emoji, datasets_cache, tmp_path, overrides, message):
    with pytest.raises(Exception, match=message):
        train.main(["--config", recipe(tmp_path, checkpoint, **overrides), "--data_dir", tweets_with_emoji,
                    "--output_dir", str(tmp_path / "out"), "--cache_dir", datasets_cache])


def test_weighted_ce_weighs_the_training_loss_and_keeps_the_folder_stock(checkpoint, tweets_with_emoji,
                                                                        datasets_cache, tmp_path, monkeypatch):
    """`loss_type: weighted_ce`: the loop trains on the class-weighted cross-entropy of the stock head's logits
    (inverse training frequency by default); the saved folder is the same stock class, with no trace of the weights."""
    import torch
    from emotion_hub.training.text_transformer import TextTransformerTask

    seen = []
    original = TextTransformerTask.training_loss

    def spy(self, model, batch):
        loss = original(self, model, batch)
        with torch.no_grad():
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        seen.append((torch.tensor(self.options.class_weights), logits, batch["labels"].clone(), loss.detach()))
        return loss

    monkeypatch.setattr(TextTransformerTask, "training_loss", spy)
    build = TextTransformerTask.build_model

    def decisive(self, class_weights):
        """A random tiny BERT scores every class about alike (both losses about ln 4): a larger head makes the
        weighted and the plain loss of a batch differ, so the check below can tell them apart whatever the seed."""
        model = build(self, class_weights)
        with torch.no_grad():
            model.classifier.weight.mul_(30.0)
        return model

    monkeypatch.setattr(TextTransformerTask, "build_model", decisive)
    skewed = write_tweeteval(str(tmp_path / "skewed"), sizes=(24, 8, 8),
                             labels_override={"train": [0] * 12 + [1] * 6 + [2] * 4 + [3] * 2})
    out = tmp_path / "out"
    results = train.main(["--config", recipe(tmp_path, checkpoint, model={"max_sequence_length": 32,
                                                                          "classifier_dropout": 0.0,
                                                                          "hidden_dropout_prob": 0.0,
                                                                          "attention_probs_dropout_prob": 0.0,
                                                                          "loss_type": "weighted_ce"}),
                          "--data_dir", skewed, "--output_dir", str(out), "--cache_dir", datasets_cache])
    assert results["train_steps"] == 2 and len(seen) == 2
    labels = open(os.path.join(skewed, "train_labels.txt")).read().split()
    counts = [labels.count(str(i)) for i in range(len(TWEET_LABELS))]
    expected = torch.tensor([len(labels) / (len(TWEET_LABELS) * c) for c in counts])  # 0.5, 1, 1.5, 3
    for weights, logits, targets, loss in seen:
        assert torch.allclose(weights, expected)
        weighted = torch.nn.functional.cross_entropy(logits, targets, weight=expected)
        plain = torch.nn.functional.cross_entropy(logits, targets)
        assert torch.allclose(loss, weighted, atol=1e-5)
        assert not torch.allclose(weighted, plain, atol=1e-4)
    config = json.load(open(out / "config.json"))
    assert config["architectures"] == ["BertForSequenceClassification"] and "class_weights" not in config
    assert "auto_map" not in config


def test_group_by_length_batches_texts_of_similar_length(checkpoint, tweets_with_emoji, datasets_cache, tmp_path):
    """`group_by_length` on tokenised text: each mega-batch is sorted by decreasing token count, the order is fixed
    by the seed and epoch (a resumed run sees the same batches), and it changes from epoch to epoch."""
    from emotion_hub.training.loop import load_splits
    from emotion_hub.training.recipe import parse_args
    from emotion_hub.training.text_transformer import TextTransformerTask

    args = ["--config", recipe(tmp_path, checkpoint, group_by_length=True, per_device_train_batch_size=2),
            "--data_dir", tweets_with_emoji, "--output_dir", str(tmp_path / "out"), "--cache_dir", datasets_cache]
    parsed = parse_args(args)
    splits = load_splits(parsed)
    task = TextTransformerTask(parsed, splits["train"], splits["train"].features["label"].names)
    data = task.dataset("train", splits["train"])
    sampler = task.train_sampler(data)
    lengths = [len(ids) for ids in data["input_ids"]]
    sampler.set_epoch(0)
    first = list(sampler)
    assert sorted(first) == list(range(len(lengths)))
    mega = sampler.mega_batch
    for start in range(0, len(first), mega):
        chunk = [lengths[i] for i in first[start:start + mega]]
        assert chunk == sorted(chunk, reverse=True)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first or len(set(lengths)) == 1
    parsed = parse_args(args[:1] + [recipe(tmp_path, checkpoint)] + args[2:])
    assert TextTransformerTask(parsed, splits["train"], task.label_names).train_sampler(data) is None


def test_erc_with_a_bert_text_branch_trains_and_labels_every_turn(checkpoint, meld_dir, datasets_cache, tmp_path):
    """erc-meld-t-um-minilm in miniature: `erc_backbones.text` and `erc_processor.tokenizer` name a BERT checkpoint
    (here the tiny random one); the saved ERC folder's pipeline labels every turn of a dialogue in a clean Python."""
    with open(os.path.join(os.path.dirname(__file__), "..", "configs", "erc-meld-t-um-minilm.yaml")) as f:
        values = yaml.safe_load(f)
    values.update({"erc_backbones": {"text": checkpoint},
                   "erc_processor": {**values["erc_processor"], "tokenizer": checkpoint, "max_prompt_tokens": 64},
                   "model": {**values["model"], "fusion_out_features": 16, "feed_forward_sizes": [8]},
                   "max_train_steps": 2, "num_epochs": 1, "per_device_train_batch_size": 4,
                   "per_device_eval_batch_size": 8, "checkpointing_steps": None, "logging_steps": 1})
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(values))
    out = tmp_path / "erc"
    results = train.main(["--config", str(path), "--data_dir", meld_dir, "--output_dir", str(out),
                          "--cache_dir", datasets_cache])
    assert results["train_steps"] == 2
    config = json.load(open(out / "config.json"))
    assert config["text_config"]["model_type"] == "bert" and config["text_pooling"] == "target"
    dialogue = [{"speaker": "Monica", "utterance": "There's nothing to tell!"},
                {"speaker": "Joey", "utterance": "C'mon, you're going out with the guy!"},
                {"speaker": "Chandler", "utterance": "All right Joey, be nice."}]
    printed = run_clean_python(f"""
        import json
        from transformers import pipeline
        erc = pipeline("emotion-recognition-in-conversation", model={str(out)!r}, trust_remote_code=True)
        print(json.dumps(erc({dialogue!r}, every_turn=True)))
    """, cwd=str(tmp_path))
    turns = json.loads(printed.strip().splitlines()[-1])
    labels = set(config["id2label"].values())
    assert [t["speaker"] for t in turns] == ["Monica", "Joey", "Chandler"] and all(t["label"] in labels for t in turns)


@pytest.mark.parametrize("max_prompt_tokens", [None, 65])
def test_erc_prompt_length_is_bounded_by_the_text_encoder(checkpoint, meld_dir, datasets_cache, tmp_path,
                                                          max_prompt_tokens):
    """The tiny BERT has 64 positions: a longer `max_prompt_tokens` is refused by name, and without one the prompt is
    cut to 64 tokens (not GPT2's 1024, which would index past BERT's position table)."""
    from emotion_hub.training.conversation import ERCTask
    from emotion_hub.training.recipe import parse_args
    from emotion_hub.datasets_scripts import load_builder_dataset

    with open(os.path.join(os.path.dirname(__file__), "..", "configs", "erc-meld-t-um-minilm.yaml")) as f:
        values = yaml.safe_load(f)
    processor_options = {**values["erc_processor"], "tokenizer": checkpoint}
    processor_options.pop("max_prompt_tokens")
    if max_prompt_tokens:
        processor_options["max_prompt_tokens"] = max_prompt_tokens
    values.update({"erc_backbones": {"text": checkpoint}, "erc_processor": processor_options})
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(values))
    recipe = parse_args(["--config", str(path), "--data_dir", meld_dir, "--output_dir", str(tmp_path / "out"),
                         "--cache_dir", datasets_cache])
    train_split = load_builder_dataset("meld", "text", data_dir=meld_dir, cache_dir=datasets_cache)["train"]
    labels = train_split.features["emotion"].names
    if max_prompt_tokens:
        with pytest.raises(ValueError, match=r"max_prompt_tokens` \(65\) exceeds the bert text encoder's 64 positions"):
            ERCTask(recipe, train_split, labels)
    else:
        assert ERCTask(recipe, train_split, labels).processor.max_prompt_tokens == 64


def test_head_learning_rate_gives_the_fresh_head_its_own_rate(checkpoint, tmp_path):
    """`head_learning_rate`: the pretrained encoder keeps `learning_rate`, everything else (the new head; in ERC fusion
    the projections, fusion, feed-forward layers and classifier) gets its own rate, in both model kinds."""
    from transformers import AutoModelForSequenceClassification
    from emotion_hub.modeling import ERCFusionForEmotionRecognition
    from emotion_hub.training.optim import build_optimizer
    from emotion_hub.training.recipe import parse_args

    parsed = parse_args(["--config", recipe(tmp_path, checkpoint, learning_rate=5e-5, head_learning_rate=1e-3),
                         "--output_dir", str(tmp_path / "out")])
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=4)
    encoder, head = build_optimizer(parsed, model).param_groups
    assert (encoder["lr"], head["lr"]) == (5e-5, 1e-3)
    assert {id(p) for p in head["params"]} == {id(p) for p in model.classifier.parameters()}
    assert len(encoder["params"]) + len(head["params"]) == len(list(model.parameters()))

    erc = ERCFusionForEmotionRecognition.from_pretrained_backbones(text=checkpoint, audio_branch="none",
                                                                   vision_branch="none", fusion_out_features=8,
                                                                   feed_forward_sizes=[8])
    encoder, head = build_optimizer(parsed, erc).param_groups
    text = {id(p) for p in erc.erc_fusion.encoders["text"].parameters()}
    assert {id(p) for p in encoder["params"]} == text and head["lr"] == 1e-3
    assert {id(p) for p in head["params"]} == {id(p) for p in erc.parameters()} - text

    with pytest.raises(ValueError, match="has no separate pretrained encoder"):
        build_optimizer(parsed, torch_linear())
    with pytest.raises(ValueError, match="head_learning_rate"):
        parse_args(["--config", recipe(tmp_path, checkpoint, head_learning_rate=0), "--output_dir", "x"])
    with pytest.raises(ValueError, match="null with lora_r"):
        parse_args(["--config", recipe(tmp_path, checkpoint, head_learning_rate=1e-3, lora_r=4), "--output_dir", "x"])


def torch_linear():
    import torch
    return torch.nn.Linear(2, 2)


def test_card_base_model_names_the_hub_checkpoints_only(tmp_path):
    """The card's `base_model` (the Hub's model tree) lists the Hub checkpoints a run started from; local folders
    (the offline runs here) and bare timm names are not Hub ids and are left out."""
    from types import SimpleNamespace
    from huggingface_hub import ModelCardData
    from emotion_hub.model_cards.card import base_models

    assert base_models(SimpleNamespace(pretrained_backbone="sentence-transformers/all-MiniLM-L6-v2",
                                       erc_backbones={})) == ["sentence-transformers/all-MiniLM-L6-v2"]
    erc = SimpleNamespace(pretrained_backbone=None, erc_backbones={"text": "FacebookAI/roberta-base",
                                                                   "audio": str(tmp_path), "vision": "resnet50"})
    assert base_models(erc) == ["FacebookAI/roberta-base"]
    assert base_models(SimpleNamespace(pretrained_backbone=str(tmp_path), erc_backbones=None)) == []
    assert "base_model: FacebookAI/roberta-base" in ModelCardData(base_model=base_models(erc)[0]).to_yaml()
