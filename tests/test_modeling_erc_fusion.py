import json
import logging
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from emotion_hub.modeling import ERCFusionConfig, ERCFusionForEmotionRecognition, ERCFusionModel
from tests.erc_utils import (BRANCH_CHOICES, LABELS, MODALITY_SUBSETS, TINY_AUDIO_CONFIG, TINY_BERT_CONFIG,
                             TINY_TEXT_CONFIG, TINY_WHISPER_CONFIG, random_examples, tiny_bert_tokenizer, tiny_config,
                             tiny_processor, tiny_tokenizer, tiny_whisper_feature_extractor)
from tests.fixtures import write_word_vectors
from tests.utils import run_clean_python


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def bert_tokenizer():
    return tiny_bert_tokenizer()


def encoders_for(subset, variant):
    """Branch arguments for a modality subset; `variant` alternates the encoder choice of each modality."""
    chosen = {m: BRANCH_CHOICES[m][variant % len(BRANCH_CHOICES[m])] for m in subset}
    return {f"{m}_branch": chosen.get(m, "none") for m in ("text", "audio", "vision")}


@pytest.mark.parametrize("fusion", ["concat", "mha"])
@pytest.mark.parametrize("subset", MODALITY_SUBSETS, ids=["+".join(s) for s in MODALITY_SUBSETS])
def test_every_modality_subset_and_fusion(tokenizer, subset, fusion):
    variant = MODALITY_SUBSETS.index(subset) + (fusion == "mha")
    # No ReLU feed-forward layer here: a tiny one can be dead at initialisation and hide the gradient check.
    config = tiny_config(tokenizer, fusion=fusion, feed_forward_sizes=[], **encoders_for(subset, variant))
    assert config.modalities == list(subset)
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config)
    batch = tiny_processor(tokenizer, config)(*random_examples(3))
    out = model(**batch, labels=torch.tensor([0, 1, 2]))
    assert out.logits.shape == (3, len(LABELS)) and out.loss.ndim == 0
    assert out.fused_representation.shape == (3, 16 if fusion == "mha" else 16 * len(subset))
    assert out.modality_embeddings.shape == (3, len(subset), 16)
    if fusion == "mha":
        assert out.fusion_attentions.shape == (3, 4, len(subset), len(subset))
        weights = model.eval()(**batch).fusion_attentions  # (in training they are the dropped-out weights)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, len(subset)))
        model.train()
    else:
        assert out.fusion_attentions is None
    out.loss.backward()
    for modality in subset:  # every encoder (and only those of the subset) gets a gradient
        encoder = model.erc_fusion.encoders[modality]
        assert sum(p.grad.abs().sum() for p in encoder.parameters() if p.grad is not None) > 0, modality
    assert set(model.erc_fusion.encoders) == set(subset)
    assert model(**batch).loss is None


@pytest.mark.parametrize("loss_kwargs", [
    {"loss_type": "ce"}, {"loss_type": "weighted_ce", "class_weights": [1.0, 2.0, 0.5]},
    {"loss_type": "focal", "class_weights": [1.0, 2.0, 0.5]}, {"loss_type": "dice"},
    {"loss_type": "dice", "triplet_weight": 1.0, "l2_normalize": True},
    {"loss_type": "ce", "triplet_weight": 0.5, "triplet_mining": "batch_all"},
], ids=["ce", "weighted_ce", "focal", "dice", "dice+triplet", "ce+triplet_all"])
def test_every_loss_trains(tokenizer, loss_kwargs):
    torch.manual_seed(0)
    config = tiny_config(tokenizer, text_branch="mean_embedding", audio_branch="none", vision_branch="none",
                         dropout=0.0, **loss_kwargs)
    model = ERCFusionForEmotionRecognition(config)
    dialogues, _, _ = random_examples(9)
    batch = tiny_processor(tokenizer, config)(dialogues)
    labels = torch.arange(9) % 3
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    first = model(**batch, labels=labels).loss.item()
    for _ in range(25):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first * 0.6, (first, loss.item())


TEXT_BRANCHES = {  # (text_config, text_pooling, tokenizer kind)
    "gpt2-last": (TINY_TEXT_CONFIG, None, "bpe"), "bert-cls": (TINY_BERT_CONFIG, None, "wordpiece"),
    "bert-mean": (TINY_BERT_CONFIG, "mean", "wordpiece"), "mean_embedding": (None, None, "bpe"),
    "bert-target": (TINY_BERT_CONFIG, "target", "wordpiece"), "gpt2-target": (TINY_TEXT_CONFIG, "target", "bpe"),
}


def text_setup(name, tokenizer, bert_tokenizer, **kwargs):
    text_config, pooling, kind = TEXT_BRANCHES[name]
    tok = bert_tokenizer if kind == "wordpiece" else tokenizer
    branch = {"text_branch": "mean_embedding"} if name == "mean_embedding" else {"text_config": text_config}
    if pooling:
        branch["text_pooling"] = pooling
    return tok, tiny_config(tok, **branch, **kwargs)


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("text,audio_branch,fusion", [("gpt2-last", "speech_encoder", "mha"),
                                                      ("bert-cls", "speech_encoder", "concat"),
                                                      ("bert-mean", "waveform_mlp", "mha"),
                                                      ("bert-target", "none", "concat"),
                                                      ("gpt2-target", "none", "concat"),
                                                      ("mean_embedding", "waveform_mlp", "concat")])
def test_padding_does_not_change_logits(tokenizer, bert_tokenizer, padding_side, text, audio_branch, fusion):
    tok, config = text_setup(text, tokenizer, bert_tokenizer, audio_branch=audio_branch, fusion=fusion)
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config).eval()
    processor = tiny_processor(tok, config, padding_side=padding_side)
    dialogues, audio, frames = random_examples(3)
    with torch.no_grad():
        together = model(**processor(dialogues, audio=audio, frames=frames)).logits
        alone = torch.cat([model(**processor([d], audio=[a], frames=[f])).logits
                           for d, a, f in zip(dialogues, audio, frames)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("text", ["gpt2-last", "bert-cls", "bert-mean", "bert-target", "gpt2-target"])
def test_text_pooling_reads_the_right_token(tokenizer, bert_tokenizer, padding_side, text):
    """GPT2 pools at the end token, BERT at [CLS] (or the mean of the real tokens), `target` over the target
    utterance's tokens (after the context, before the end token), whatever the padding."""
    tok, config = text_setup(text, tokenizer, bert_tokenizer, audio_branch="none", vision_branch="none")
    torch.manual_seed(0)
    model = ERCFusionModel(config).eval()
    encoder = model.encoders["text"]
    processor = tiny_processor(tok, config, padding_side=padding_side)
    dialogues, _, _ = random_examples(3)
    batch = processor(dialogues)
    assert batch["attention_mask"].sum(-1).unique().numel() == 3  # three lengths: real padding
    with torch.no_grad():
        pooled, _, _ = encoder(batch["input_ids"], batch["attention_mask"], target_mask=batch["target_mask"])
        for row, dialogue in enumerate(dialogues):
            encoded = processor.encode_dialogue(dialogue)
            ids = torch.tensor([encoded["input_ids"]])
            hidden = encoder.encoder(input_ids=ids).last_hidden_state[0]  # unpadded, default positions
            if text == "gpt2-last":
                assert ids[0, -1] == tok.eos_token_id
                expected = hidden[-1]
            elif text == "bert-cls":
                assert ids[0, 0] == tok.cls_token_id and ids[0, -1] == tok.sep_token_id
                expected = hidden[0]
            elif text.endswith("-target"):
                target = torch.tensor(encoded["target_mask"]).bool()
                words = tok(" " + dialogue[-1]["utterance"], add_special_tokens=False)["input_ids"]
                assert ids[0, target].tolist() == words  # exactly the target utterance's tokens
                expected = hidden[target].mean(0)
            else:
                expected = hidden.mean(0)
            torch.testing.assert_close(pooled[row], expected, rtol=1e-4, atol=1e-5)


def test_bad_and_edge_inputs(tokenizer, caplog):
    config = tiny_config(tokenizer)
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config).eval()
    processor = tiny_processor(tokenizer, config)
    dialogues, audio, frames = random_examples(2)
    batch = processor(dialogues, audio=audio, frames=frames)
    with pytest.raises(ValueError, match=r"`input_values` \(audio\) is required"):
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], pixel_values=batch["pixel_values"])
    with pytest.raises(ValueError, match=r"`pixel_values` \(vision\) is required"):
        model(**{k: v for k, v in batch.items() if k not in ("pixel_values", "frame_mask")})
    with pytest.raises(ValueError, match="different batch sizes"):
        model(**{**batch, "input_values": batch["input_values"][:1], "audio_attention_mask": None})
    # An utterance with no text: the prompt still has the speaker and end token, the output is defined.
    empty = processor([[{"speaker": "Ross", "utterance": ""}]], audio=audio[:1], frames=frames[:1])
    assert empty["target_mask"].sum() == 0
    assert torch.isfinite(model(**empty).logits).all()
    # Audio shorter than wav2vec2's receptive field (45 samples here) is zero-padded to it.
    with caplog.at_level(logging.WARNING):
        short = processor(dialogues[:1], audio=[audio[0][:10]], frames=frames[:1])
    assert short["input_values"].shape[1] == config.audio_receptive_field == 45
    assert "fewer than the audio encoder's receptive field" in caplog.text
    logits = model(**short).logits
    # The model pads on its own too (inputs made without the processor): same result.
    raw = {**short, "input_values": short["input_values"][:, :10], "audio_attention_mask": None}
    torch.testing.assert_close(model(**raw).logits, logits)
    assert torch.isfinite(logits).all()
    # A prompt longer than GPT2's window (n_positions=128) keeps its end, where the target turn is.
    long_ids = torch.randint(1, len(tokenizer), (1, 200))
    cut = model(input_ids=long_ids, input_values=short["input_values"], pixel_values=short["pixel_values"]).logits
    kept = model(input_ids=long_ids[:, -128:], input_values=short["input_values"], pixel_values=short["pixel_values"]).logits
    torch.testing.assert_close(cut, kept)


def test_config_validation_names_the_argument():
    for kwargs, name in [({"text_branch": "lstm"}, "text_branch"), ({"audio_branch": "mfcc"}, "audio_branch"),
                         ({"vision_branch": "resnet"}, "vision_branch"), ({"fusion": "sum"}, "fusion"),
                         ({"text_encoder": "lstm"}, "text_encoder"), ({"text_pooling": "max"}, "text_pooling"),
                         ({"fusion": "mha", "fusion_out_features": 10, "fusion_num_heads": 4}, "fusion_out_features"),
                         ({"waveform_hidden_sizes": [8, 8]}, "waveform_hidden_sizes"), ({"dropout": 1.0}, "dropout"),
                         ({"vision_config": {"name": "resnet50"}}, "vision_config"), ({"triplet_weight": -1}, "triplet_weight"),
                         ({"triplet_mining": "semi_hard"}, "triplet_mining"), ({"loss_type": "hinge"}, "loss_type"),
                         ({"audio_pooling": "max"}, "audio_pooling"),
                         ({"audio_config": {"model_type": "bert"}}, "audio_config"),
                         ({"text_config": {"model_type": "t5"}}, "text_config")]:
        with pytest.raises(ValueError, match=name):
            tiny_config(**kwargs)
    with pytest.raises(ValueError, match="at least one of"):
        tiny_config(text_branch="none", audio_branch="none", vision_branch="none")
    default = ERCFusionConfig()  # GPT2 + wav2vec2-base + ResNet50, as before any encoder of a kind was accepted
    assert (default.text_config.model_type, default.audio_config.model_type, default.vision_config.model_name) == \
        ("gpt2", "wav2vec2", "resnet50")
    assert default.text_pooling == "last" and default.audio_receptive_field == 400  # wav2vec2's conv stack: 25 ms
    assert tiny_config(text_config=TINY_BERT_CONFIG).text_pooling == "cls"


def test_configs_of_the_former_format_convert():
    """Recipes and saved folders name the branches `text_encoder="gpt2"` & co. and hold a plain-dict `vision_config`."""
    legacy = ERCFusionConfig(text_encoder="gpt2", audio_encoder="wav2vec2", vision_encoder="timm",
                             text_config=TINY_TEXT_CONFIG, audio_config=TINY_AUDIO_CONFIG,
                             vision_config={"model_name": "test_resnet", "model_kwargs": {"drop_rate": 0.1}})
    assert (legacy.text_branch, legacy.audio_branch, legacy.vision_branch) == ("transformer", "speech_encoder", "timm")
    assert legacy.text_config.model_type == "gpt2" and legacy.text_config.n_embd == 16
    assert legacy.vision_config["model_name"] == "test_resnet" and legacy.vision_config.model_kwargs == {"drop_rate": 0.1}
    # The former names now read the encoders' sub-configs (transformers' meaning of `text_encoder`), never strings.
    assert (legacy.text_encoder, legacy.audio_encoder, legacy.vision_encoder) == \
        (legacy.text_config, legacy.audio_config, legacy.vision_config)
    saved = legacy.to_dict()
    assert not {"text_encoder", "audio_encoder", "vision_encoder"} & set(saved)
    again = ERCFusionConfig(**{k: v for k, v in saved.items() if k != "model_type"})
    assert again.to_dict() == saved
    other = ERCFusionConfig(text_encoder="mean_embedding", audio_encoder="waveform_mlp", vision_encoder="none")
    assert other.modalities == ["text", "audio"] and other.text_branch == "mean_embedding"
    assert other.text_encoder is other.audio_encoder is other.vision_encoder is None


def test_sub_configs_get_text_config_and_attention_implementation(tokenizer, tmp_path):
    """Nested models are real sub-configs: `get_text_config`, `attn_implementation` and `set_attn_implementation` reach
    them (transformers 5's contract for composite models)."""
    config = tiny_config(tokenizer, vision_branch="none")
    assert set(ERCFusionConfig.sub_configs) == {"text_config", "audio_config", "vision_config"}
    assert config.get_text_config() is config.text_config and config.get_text_config(decoder=True) is config.text_config
    from transformers.testing_utils import set_config_for_less_flaky_test

    set_config_for_less_flaky_test(config)  # transformers' own test helper walks text_encoder/audio_encoder too
    assert config.text_config.layer_norm_epsilon == 1.0
    model = ERCFusionForEmotionRecognition(config)
    model.save_pretrained(tmp_path)

    def implementations(m):
        encoders = m.erc_fusion.encoders
        return (encoders["text"].encoder.config._attn_implementation,
                encoders["audio"].encoder.config._attn_implementation)

    eager = ERCFusionForEmotionRecognition.from_pretrained(tmp_path, attn_implementation="eager")
    assert implementations(eager) == ("eager", "eager")
    assert eager.config.text_config._attn_implementation == "eager"
    eager.set_attn_implementation("sdpa")
    assert implementations(eager) == ("sdpa", "sdpa")
    eager.set_attn_implementation("eager")
    batch = tiny_processor(tokenizer, config)(*random_examples(2)[:2])
    out = eager(**batch, output_attentions=True)
    assert len(out.text_attentions) == 2 and out.text_attentions[0].shape[:2] == (2, 2)
    assert len(out.audio_attentions) == 1


def test_resize_token_embeddings(tokenizer):
    for text_config in (TINY_TEXT_CONFIG, TINY_BERT_CONFIG):
        model = ERCFusionForEmotionRecognition(tiny_config(tokenizer, text_config=text_config, audio_branch="none",
                                                           vision_branch="none"))
        before = model.get_input_embeddings().weight.detach().clone()
        model.resize_token_embeddings(len(tokenizer) + 3)  # e.g. after adding speaker tokens
        assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) + 3
        assert model.config.text_config.vocab_size == len(tokenizer) + 3
        torch.testing.assert_close(model.get_input_embeddings().weight[: len(tokenizer)], before)
        ids = torch.tensor([[len(tokenizer) + 2, 5, 6]])
        assert torch.isfinite(model(input_ids=ids).logits).all()
    mean = ERCFusionForEmotionRecognition(tiny_config(tokenizer, text_branch="mean_embedding", audio_branch="none",
                                                      vision_branch="none"))
    mean.resize_token_embeddings(len(tokenizer) + 1)
    assert mean.get_input_embeddings().num_embeddings == len(tokenizer) + 1
    audio_only = ERCFusionForEmotionRecognition(tiny_config(text_branch="none", vision_branch="none"))
    assert audio_only.get_input_embeddings() is None
    with pytest.raises(ValueError, match="no token embeddings"):
        audio_only.set_input_embeddings(torch.nn.Embedding(3, 3))


@pytest.mark.parametrize("reloaded", [False, True])
def test_frozen_parts_get_no_gradient_and_keep_batch_norm(tokenizer, tmp_path, reloaded):
    config = tiny_config(tokenizer, freeze_text_encoder=True, freeze_vision_encoder=True)
    model = ERCFusionForEmotionRecognition(config).train()
    if reloaded:  # transformers 5 reloads weights as new, trainable Parameters: the freezing must survive
        model.save_pretrained(tmp_path)
        model = ERCFusionForEmotionRecognition.from_pretrained(tmp_path).train()
    encoders = model.erc_fusion.encoders
    assert not any(p.requires_grad for p in encoders["text"].parameters())
    assert not any(p.requires_grad for p in encoders["audio"].encoder.feature_extractor.parameters())
    assert any(p.requires_grad for p in encoders["audio"].encoder.encoder.parameters())
    assert not encoders["vision"].backbone.training and encoders["audio"].training
    stats = {k: v.clone() for k, v in encoders["vision"].backbone.state_dict().items() if "running" in k}
    model(**tiny_processor(tokenizer, config)(*random_examples(2)), labels=torch.tensor([0, 1])).loss.backward()
    after = encoders["vision"].backbone.state_dict()
    assert all(torch.equal(after[k], v) for k, v in stats.items())


def test_pretrained_backbones_come_in_through_the_classmethod(tokenizer, tmp_path):
    import timm
    from transformers import (BertConfig, BertModel, GPT2Config, GPT2Model, Wav2Vec2Config, Wav2Vec2Model,
                              WhisperConfig, WhisperForAudioClassification)

    torch.manual_seed(1)
    gpt2 = GPT2Model(GPT2Config(**TINY_TEXT_CONFIG, vocab_size=len(tokenizer)))
    gpt2.save_pretrained(tmp_path / "gpt2")
    bert = BertModel(BertConfig(**{k: v for k, v in TINY_BERT_CONFIG.items() if k != "model_type"}, vocab_size=50))
    bert.save_pretrained(tmp_path / "bert")
    wav2vec2 = Wav2Vec2Model(Wav2Vec2Config(**TINY_AUDIO_CONFIG))
    wav2vec2.save_pretrained(tmp_path / "wav2vec2")
    whisper = WhisperForAudioClassification(WhisperConfig(**{k: v for k, v in TINY_WHISPER_CONFIG.items()
                                                             if k != "model_type"}, max_target_positions=8))
    whisper.save_pretrained(tmp_path / "whisper")
    resnet = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    save_file(resnet.state_dict(), tmp_path / "resnet.safetensors")
    model = ERCFusionForEmotionRecognition.from_pretrained_backbones(
        text=str(tmp_path / "gpt2"), audio=str(tmp_path / "wav2vec2"), vision="test_resnet",
        vision_pretrained_cfg_overlay={"file": str(tmp_path / "resnet.safetensors")},
        fusion="mha", fusion_out_features=16, feed_forward_sizes=[8], id2label=dict(enumerate(LABELS)),
    )
    encoders = model.erc_fusion.encoders
    for mine, theirs in ((encoders["text"].encoder, gpt2), (encoders["audio"].encoder, wav2vec2),
                         (encoders["vision"].backbone, resnet)):
        reference = theirs.state_dict()
        assert all(torch.equal(v, reference[k]) for k, v in mine.state_dict().items())
    assert model.config.text_config.n_embd == 16 and model.config.vision_config["model_name"] == "test_resnet"
    assert not any(p.requires_grad for p in encoders["audio"].encoder.feature_extractor.parameters())
    # Any encoder of its kind: a BERT text branch (pooled at [CLS]) and a Whisper audio branch.
    other = ERCFusionForEmotionRecognition.from_pretrained_backbones(
        text=str(tmp_path / "bert"), audio=str(tmp_path / "whisper"), vision_branch="none", fusion_out_features=16,
        feed_forward_sizes=[8], id2label=dict(enumerate(LABELS)))
    assert other.config.text_config.model_type == "bert" and other.config.text_pooling == "cls"
    assert other.config.audio_config.model_type == "whisper" and other.config.audio_input_name == "input_features"
    for mine, theirs in ((other.erc_fusion.encoders["text"].encoder, bert),
                         (other.erc_fusion.encoders["audio"].encoder, whisper.encoder)):
        reference = theirs.state_dict()
        assert all(torch.equal(v, reference[k]) for k, v in mine.state_dict().items())
    with pytest.raises(ValueError, match="loads a pretrained encoder but `text_branch` is 'mean_embedding'"):
        ERCFusionForEmotionRecognition.from_pretrained_backbones(text=str(tmp_path / "gpt2"),
                                                                 text_branch="mean_embedding", vision_branch="none",
                                                                 audio_branch="none")


def test_word_vectors_initialise_token_embeddings(tokenizer, tmp_path):
    config = tiny_config(tokenizer, text_branch="mean_embedding", audio_branch="none", vision_branch="none")
    model = ERCFusionForEmotionRecognition(config)
    path = write_word_vectors(tmp_path / "vectors.txt", ["the", "there", "guy", "hump", "zzz"], dim=8)
    vocab = tokenizer.get_vocab()
    found = model.load_word_vectors(str(path), vocab)
    rows = {line.split()[0]: torch.tensor([float(v) for v in line.split()[1:]]) for line in open(path)}
    weight = model.get_input_embeddings().weight
    assert "\u0120guy" in vocab and found >= 2
    torch.testing.assert_close(weight[vocab["\u0120guy"]], rows["guy"])
    with pytest.raises(ValueError, match="8 wide"):
        model.load_word_vectors(str(write_word_vectors(tmp_path / "v16.txt", ["guy"], dim=16)), vocab)


def test_save_reload_and_clean_python_hub_load(tokenizer, tmp_path):
    config = tiny_config(tokenizer, fusion="mha")
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config).eval()
    processor = tiny_processor(tokenizer, config)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    saved = json.load(open(tmp_path / "config.json"))
    assert saved["auto_map"] == {"AutoConfig": "configuration_erc_fusion.ERCFusionConfig",
                                 "AutoModelForSequenceClassification": "modeling_erc_fusion.ERCFusionForEmotionRecognition"}
    assert saved["custom_pipelines"]["emotion-recognition-in-conversation"]["impl"] == \
        "pipeline_erc.EmotionRecognitionInConversationPipeline"
    assert {"configuration_erc_fusion.py", "modeling_erc_fusion.py", "losses.py", "pipeline_erc.py",
            "processing_erc.py", "processor_config.json", "tokenizer.json", "model.safetensors"} <= set(os.listdir(tmp_path))
    dialogues, audio, frames = random_examples(2)
    batch = processor(dialogues, audio=audio, frames=frames)
    expected = model(**batch).logits
    reloaded = ERCFusionForEmotionRecognition.from_pretrained(tmp_path).eval()
    # Not bit-equal: oneDNN may pick another convolution kernel for differently aligned weights (~1e-9 apart).
    torch.testing.assert_close(reloaded(**batch).logits, expected, rtol=1e-5, atol=1e-6)
    assert isinstance(ERCFusionModel.from_pretrained(tmp_path), ERCFusionModel)
    torch.save({"expected": expected, "dialogues": dialogues, "audio": audio, "frames": frames}, tmp_path / "inputs.pt")

    printed = run_clean_python(f"""
        import json, torch
        from transformers import AutoModelForSequenceClassification, AutoProcessor, pipeline
        data = torch.load({str(tmp_path / "inputs.pt")!r}, weights_only=False)
        processor = AutoProcessor.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
        model = AutoModelForSequenceClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        out = model(**processor(data["dialogues"], audio=data["audio"], frames=data["frames"]))
        assert torch.allclose(out.logits, data["expected"], rtol=1e-5, atol=1e-6), "logits differ"
        print("attention", tuple(out.fusion_attentions.shape))
        erc = pipeline("emotion-recognition-in-conversation", model={str(tmp_path)!r}, trust_remote_code=True)
        one = erc({{"dialogue": data["dialogues"][0], "audio": data["audio"][0], "frames": data["frames"][0]}})
        print(json.dumps(one))
        top = erc([{{"dialogue": d, "audio": a, "frames": f}} for d, a, f in zip(data["dialogues"], data["audio"],
                                                                          data["frames"])], top_k=1)
        print(json.dumps(top))
        try:
            erc(data["dialogues"][0])  # this model also reads audio and frames
        except ValueError as err:
            print("error:", err)
        try:
            erc("just a string")
        except ValueError as err:
            print("error:", err)
    """, cwd=str(tmp_path))
    lines = printed.strip().splitlines()[-5:]
    assert lines[0] == "attention (2, 4, 3, 3)"
    one = json.loads(lines[1])
    assert [r["label"] for r in one] == [LABELS[i] for i in expected[0].argsort(descending=True).tolist()]
    assert sum(r["score"] for r in one) == pytest.approx(1.0, abs=1e-5)
    assert [t[0]["label"] for t in json.loads(lines[2])] == [LABELS[i] for i in expected.argmax(-1).tolist()]
    assert lines[3].startswith("error: this model reads ['text', 'audio', 'vision']: `input_values` (audio) is required")
    assert lines[4].startswith("error: expected a dialogue")


@pytest.mark.parametrize("audio", ["wav2vec2", "whisper"])
def test_speech_encoder_audio_branch(tokenizer, audio):
    """Any speech encoder the voice models support: wav2vec2 reads waveforms, Whisper log-mel features; both pool over
    the frames that hold audio, so padding (to the batch, or to Whisper's window) does not change the result."""
    whisper = audio == "whisper"
    config = tiny_config(tokenizer, text_branch="none", vision_branch="none", audio_pooling="mean_max",
                         audio_config=TINY_WHISPER_CONFIG if whisper else TINY_AUDIO_CONFIG)
    assert config.audio_input_name == ("input_features" if whisper else "input_values")
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config).eval()
    processor = tiny_processor(tokenizer, config, feature_extractor=tiny_whisper_feature_extractor() if whisper else None)
    _, audio_clips, _ = random_examples(3, audio_lengths=(9000, 3000, 5000))
    batch = processor(audio=audio_clips)
    assert set(batch) == {config.audio_input_name, "audio_attention_mask"}
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
        alone = torch.cat([model(**processor(audio=[a])).logits for a in audio_clips])
        unmasked = model(**{**batch, "audio_attention_mask": None}).logits
    torch.testing.assert_close(out.logits, alone, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(unmasked[1:], out.logits[1:], atol=1e-4)  # the mask matters: padding is left out
    frames = 50 if whisper else out.audio_hidden_states[-1].shape[1]
    assert len(out.audio_hidden_states) == 2 and out.audio_hidden_states[-1].shape == (3, frames, 16)
    with pytest.raises(ValueError, match=rf"`{config.audio_input_name}` \(audio\) is required"):
        model(**{("input_values" if whisper else "input_features"): torch.zeros(1, 16, 100)})


def test_new_num_labels_reload_gives_a_fresh_head_and_timm_init_for_what_is_missing(tokenizer, tmp_path):
    """Fine-tuning a saved model on one's own labels: the new classifier is drawn from the init distribution, every
    other weight is the checkpoint's; a vision branch the checkpoint lacks is initialised the timm way."""
    from safetensors.torch import load_file

    config = tiny_config(tokenizer, audio_branch="waveform_mlp", vision_config={"model_name": "test_efficientnet"})
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config)
    model.save_pretrained(tmp_path)
    five = ERCFusionForEmotionRecognition.from_pretrained(tmp_path, num_labels=5, ignore_mismatched_sizes=True)
    head = five.classifier.weight
    assert head.shape == (5, 8) and torch.isfinite(head).all() and 0.005 < head.std() < 0.05  # N(0, 0.02)
    assert (five.classifier.bias == 0).all()
    reference = model.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in five.state_dict().items() if not k.startswith("classifier"))

    weights = load_file(tmp_path / "model.safetensors")
    save_file({k: v for k, v in weights.items() if ".encoders.vision." not in k}, tmp_path / "model.safetensors",
              metadata={"format": "pt"})
    partial = ERCFusionForEmotionRecognition.from_pretrained(tmp_path)
    backbone = partial.erc_fusion.encoders["vision"].backbone
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(torch.equal(m.running_var, torch.ones_like(m.running_var)) and (m.running_mean == 0).all()
                         for m in norms)
    convs = [m.weight for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(torch.isfinite(w).all() and 0 < w.std() < 1 for w in convs)
    torch.testing.assert_close(partial.erc_fusion.encoders["text"].encoder.wte.weight,
                               model.erc_fusion.encoders["text"].encoder.wte.weight)
    logits = partial(**tiny_processor(tokenizer, config)(*random_examples(2))).logits
    assert torch.isfinite(logits).all()


def test_problem_types_return_dict_and_hidden_states(tokenizer):
    torch.manual_seed(0)
    dialogues, audio, frames = random_examples(3)
    batch = tiny_processor(tokenizer)(dialogues, audio=audio, frames=frames)
    multi = ERCFusionForEmotionRecognition(tiny_config(tokenizer, problem_type="multi_label_classification")).eval()
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    out = multi(**batch, labels=targets)
    torch.testing.assert_close(out.loss, torch.nn.functional.binary_cross_entropy_with_logits(out.logits, targets))
    regression = ERCFusionForEmotionRecognition(tiny_config(tokenizer, num_labels=1, id2label=None, label2id=None))
    values = torch.tensor([0.7, 0.2, -0.3])
    out = regression.eval()(**batch, labels=values)
    assert regression.config.problem_type == "regression" and out.loss > 0
    torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(out.logits.squeeze(-1), values))

    config = tiny_config(tokenizer, fusion="mha", feed_forward_sizes=[8, 4])
    model = ERCFusionForEmotionRecognition(config).eval()
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        as_dict = model(**batch, labels=labels, output_hidden_states=True)
        as_tuple = model(**batch, labels=labels, output_hidden_states=True, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(as_dict)
    for value, expected in zip(as_tuple, as_dict.to_tuple()):
        torch.testing.assert_close(value, expected)
    assert [h.shape for h in as_dict.hidden_states] == [(3, 16), (3, 8), (3, 4)]
    assert len(as_dict.text_hidden_states) == 3 and as_dict.text_hidden_states[-1].shape[:2] == batch["input_ids"].shape
    assert as_dict.vision_hidden_states[0].shape == (3, 3, model.erc_fusion.encoders["vision"].backbone.num_features)
    assert model(**batch).hidden_states is None
    model.config.output_hidden_states = True  # from the config too
    from_config = model(**batch)
    assert len(from_config.hidden_states) == 3 and from_config.audio_hidden_states is not None
    model.config.return_dict = False
    assert isinstance(model(**batch), tuple)


@pytest.mark.parametrize("text", ["gpt2-last", "bert-cls", "mean_embedding"])
def test_text_path_exports(tokenizer, bert_tokenizer, text):
    """`torch.export` of the text-only model, with a dynamic batch and sequence length: no Python branch on values."""
    tok, config = text_setup(text, tokenizer, bert_tokenizer, audio_branch="none", vision_branch="none")
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config).eval()
    processor = tiny_processor(tok, config)
    dialogues, _, _ = random_examples(3)
    batch = {k: v for k, v in processor(dialogues).items() if k in ("input_ids", "attention_mask")}
    batch_dim, seq_dim = torch.export.Dim("batch", min=2, max=16), torch.export.Dim("seq", min=4, max=100)
    program = torch.export.export(model, (), kwargs=batch, strict=False,
                                  dynamic_shapes={"input_ids": {0: batch_dim, 1: seq_dim},
                                                  "attention_mask": {0: batch_dim, 1: seq_dim}})
    exported = program.module()
    other = {k: v for k, v in processor(dialogues[1:] * 3).items() if k in batch}  # another batch size and length
    assert other["input_ids"].shape != batch["input_ids"].shape
    with torch.no_grad():
        for inputs in (batch, other):
            torch.testing.assert_close(exported(**inputs).logits, model(**inputs).logits, rtol=1e-4, atol=1e-5)


def test_folder_of_the_former_format_loads(tokenizer, tmp_path):
    """A folder saved before the branches took any encoder: `text_encoder="gpt2"` config keys, a plain-dict
    `vision_config`, weights under `encoders.text.gpt2.` / `encoders.audio.wav2vec2.`."""
    from safetensors.torch import load_file

    config = tiny_config(tokenizer)
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config).eval()
    model.save_pretrained(tmp_path)
    saved = json.load(open(tmp_path / "config.json"))
    for new, old, value in (("text_branch", "text_encoder", "gpt2"), ("audio_branch", "audio_encoder", "wav2vec2"),
                            ("vision_branch", "vision_encoder", "timm")):
        del saved[new]
        saved[old] = value
    saved["vision_config"] = {"model_name": "test_resnet", "model_kwargs": {}}
    del saved["text_pooling"]
    json.dump(saved, open(tmp_path / "config.json", "w"))
    weights = load_file(tmp_path / "model.safetensors")
    renamed = {k.replace(".encoders.text.encoder.", ".encoders.text.gpt2.")
                .replace(".encoders.audio.encoder.", ".encoders.audio.wav2vec2."): v for k, v in weights.items()}
    assert any(".gpt2." in k for k in renamed) and any(".wav2vec2." in k for k in renamed)
    save_file(renamed, tmp_path / "model.safetensors", metadata={"format": "pt"})
    reloaded, info = ERCFusionForEmotionRecognition.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert reloaded.config.text_branch == "transformer" and reloaded.config.text_pooling == "last"
    batch = tiny_processor(tokenizer, config)(*random_examples(2))
    torch.testing.assert_close(reloaded.eval()(**batch).logits, model(**batch).logits, rtol=1e-5, atol=1e-6)


def test_bert_and_whisper_branches_load_in_a_clean_python(bert_tokenizer, tmp_path):
    """The issue's MiniLM path in miniature: a BERT text branch (mean pooling, as sentence-transformers) with a
    Whisper audio branch, and a text-only BERT model whose pipeline labels every turn; loaded with only transformers."""
    torch.manual_seed(0)
    dialogues, audio, _ = random_examples(2, audio_lengths=(12000, 4000))
    audio_config = tiny_config(bert_tokenizer, text_config=TINY_BERT_CONFIG, text_pooling="mean",
                               audio_config=TINY_WHISPER_CONFIG, vision_branch="none", fusion="mha")
    text_config = tiny_config(bert_tokenizer, text_config=TINY_BERT_CONFIG, audio_branch="none", vision_branch="none")
    expected = {}
    for name, config, extractor in (("audio", audio_config, tiny_whisper_feature_extractor()), ("text", text_config, None)):
        model = ERCFusionForEmotionRecognition(config).eval()
        processor = tiny_processor(bert_tokenizer, config, feature_extractor=extractor, padding_side="right")
        model.save_pretrained(tmp_path / name)
        processor.save_pretrained(tmp_path / name)
        inputs = processor(dialogues, audio=audio) if name == "audio" else processor(dialogues)
        with torch.no_grad():
            expected[name] = model(**inputs).logits
    every_turn = [processor([dialogues[1][: i + 1]]) for i in range(len(dialogues[1]))]
    with torch.no_grad():
        expected["turns"] = torch.cat([model(**inputs).logits for inputs in every_turn]).argmax(-1)
    torch.save({"dialogues": dialogues, "waveforms": audio, **expected}, tmp_path / "inputs.pt")

    printed = run_clean_python(f"""
        import json, torch
        from transformers import AutoModelForSequenceClassification, AutoProcessor, pipeline
        data = torch.load({str(tmp_path / "inputs.pt")!r}, weights_only=False)
        for name in ("audio", "text"):
            folder = {str(tmp_path)!r} + "/" + name
            processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
            model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
            inputs = processor(data["dialogues"], audio=data["waveforms"] if name == "audio" else None)
            with torch.no_grad():
                logits = model(**inputs).logits
            print(name, sorted(k for k in inputs), torch.allclose(logits, data[name], rtol=1e-5, atol=1e-6))
        erc = pipeline("emotion-recognition-in-conversation", model=folder, trust_remote_code=True)
        turns = erc(data["dialogues"][1], every_turn=True)
        print(json.dumps([[t["speaker"], t["label"]] for t in turns]))
        for bad in ([], [{{"speaker": "Ross"}}], [{{"speaker": "Ross", "utterance": 7}}],
                    [{{"speaker": "Ross", "utterance": "hi", "mood": "sad"}}]):
            try:
                erc(bad)
            except ValueError as err:
                print("error:", err)
        long = [{{"speaker": "S" + str(i % 3), "utterance": "turn " + str(i)}} for i in range(10000)]
        print(len(erc(long)))
    """, cwd=str(tmp_path))
    lines = printed.strip().splitlines()[-8:]
    assert lines[0] == "audio ['attention_mask', 'audio_attention_mask', 'context_mask', 'input_features', " \
                       "'input_ids', 'target_mask'] True"
    assert lines[1] == "text ['attention_mask', 'context_mask', 'input_ids', 'target_mask'] True"
    assert json.loads(lines[2]) == [[t["speaker"], LABELS[i]] for t, i in zip(dialogues[1], expected["turns"].tolist())]
    assert lines[3] == "error: dialogue #0 is empty: it needs at least the turn to classify"
    assert lines[4].startswith("error: dialogue #0, turn 0 has no 'utterance'")
    assert lines[5] == "error: dialogue #0, turn 0: 'utterance' must be a string, got int 7"
    assert lines[6].startswith("error: dialogue #0, turn 0: unknown field 'mood'")
    assert lines[7] == str(len(LABELS))


def test_multimodal_model_exports_and_compiles_fullgraph(tokenizer):
    """Text + wav2vec2 + timm frames: `torch.export` with a dynamic batch, and `torch.compile(fullgraph=True)` with
    hidden states asked for (the fused states are there; transformers' nested models give theirs in eager only)."""
    config = tiny_config(tokenizer, fusion="mha")
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config).eval()
    processor = tiny_processor(tokenizer, config)
    batch = dict(processor(*random_examples(2)))
    names = list(batch)

    class LogitsOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *args):
            return self.model(**dict(zip(names, args))).logits

    dim = torch.export.Dim("batch", min=1, max=16)
    program = torch.export.export(LogitsOnly().eval(), tuple(batch.values()),
                                  dynamic_shapes=(tuple({0: dim} for _ in names),))
    other = {name: torch.cat([value, value[:1]]) for name, value in batch.items()}  # batch of 3, same lengths
    with torch.no_grad():
        for inputs in (batch, other):
            torch.testing.assert_close(program.module()(*[inputs[n] for n in names]), model(**inputs).logits,
                                       rtol=1e-4, atol=1e-5)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        expected = model(**batch, output_hidden_states=True)
        actual = compiled(**batch, output_hidden_states=True)
    torch.testing.assert_close(actual.logits, expected.logits)
    for a, e in zip(actual.hidden_states, expected.hidden_states):
        torch.testing.assert_close(a, e)
    assert expected.text_hidden_states is not None and actual.text_hidden_states is None
