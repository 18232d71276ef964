import json
import logging
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from modeling import ERCFusionConfig, ERCFusionForEmotionRecognition, ERCFusionModel
from tests.erc_utils import (ENCODER_CHOICES, LABELS, MODALITY_SUBSETS, TINY_AUDIO_CONFIG, TINY_TEXT_CONFIG,
                             random_examples, tiny_config, tiny_processor, tiny_tokenizer)
from tests.fixtures import write_word_vectors
from tests.utils import run_clean_python


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def encoders_for(subset, variant):
    """Encoder arguments for a modality subset; `variant` alternates the encoder choice of each modality."""
    chosen = {m: ENCODER_CHOICES[m][variant % len(ENCODER_CHOICES[m])] for m in subset}
    return {f"{m}_encoder": chosen.get(m, "none") for m in ("text", "audio", "vision")}


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
    config = tiny_config(tokenizer, text_encoder="mean_embedding", audio_encoder="none", vision_encoder="none",
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


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("encoders", [("gpt2", "wav2vec2", "mha"), ("mean_embedding", "waveform_mlp", "concat")])
def test_padding_does_not_change_logits(tokenizer, padding_side, encoders):
    text, audio_encoder, fusion = encoders
    config = tiny_config(tokenizer, text_encoder=text, audio_encoder=audio_encoder, fusion=fusion)
    torch.manual_seed(0)
    model = ERCFusionForEmotionRecognition(config).eval()
    processor = tiny_processor(tokenizer, config, padding_side=padding_side)
    dialogues, audio, frames = random_examples(3)
    with torch.no_grad():
        together = model(**processor(dialogues, audio=audio, frames=frames)).logits
        alone = torch.cat([model(**processor([d], audio=[a], frames=[f])).logits
                           for d, a, f in zip(dialogues, audio, frames)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


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
    for kwargs, name in [({"text_encoder": "lstm"}, "text_encoder"), ({"audio_encoder": "mfcc"}, "audio_encoder"),
                         ({"vision_encoder": "resnet"}, "vision_encoder"), ({"fusion": "sum"}, "fusion"),
                         ({"fusion": "mha", "fusion_out_features": 10, "fusion_num_heads": 4}, "fusion_out_features"),
                         ({"waveform_hidden_sizes": [8, 8]}, "waveform_hidden_sizes"), ({"dropout": 1.0}, "dropout"),
                         ({"vision_config": {"name": "resnet50"}}, "vision_config"), ({"triplet_weight": -1}, "triplet_weight"),
                         ({"triplet_mining": "semi_hard"}, "triplet_mining"), ({"loss_type": "hinge"}, "loss_type"),
                         ({"audio_pooling": "max"}, "audio_pooling")]:
        with pytest.raises(ValueError, match=name):
            tiny_config(**kwargs)
    with pytest.raises(ValueError, match="at least one of"):
        tiny_config(text_encoder="none", audio_encoder="none", vision_encoder="none")
    assert ERCFusionConfig().audio_receptive_field == 400  # wav2vec2-base's conv stack: 25 ms at 16 kHz


@pytest.mark.parametrize("reloaded", [False, True])
def test_frozen_parts_get_no_gradient_and_keep_batch_norm(tokenizer, tmp_path, reloaded):
    config = tiny_config(tokenizer, freeze_text_encoder=True, freeze_vision_encoder=True)
    model = ERCFusionForEmotionRecognition(config).train()
    if reloaded:  # transformers 5 reloads weights as new, trainable Parameters: the freezing must survive
        model.save_pretrained(tmp_path)
        model = ERCFusionForEmotionRecognition.from_pretrained(tmp_path).train()
    encoders = model.erc_fusion.encoders
    assert not any(p.requires_grad for p in encoders["text"].parameters())
    assert not any(p.requires_grad for p in encoders["audio"].wav2vec2.feature_extractor.parameters())
    assert any(p.requires_grad for p in encoders["audio"].wav2vec2.encoder.parameters())
    assert not encoders["vision"].backbone.training and encoders["audio"].training
    stats = {k: v.clone() for k, v in encoders["vision"].backbone.state_dict().items() if "running" in k}
    model(**tiny_processor(tokenizer, config)(*random_examples(2)), labels=torch.tensor([0, 1])).loss.backward()
    after = encoders["vision"].backbone.state_dict()
    assert all(torch.equal(after[k], v) for k, v in stats.items())


def test_pretrained_backbones_come_in_through_the_classmethod(tokenizer, tmp_path):
    import timm
    from transformers import GPT2Config, GPT2Model, Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(1)
    gpt2 = GPT2Model(GPT2Config(**TINY_TEXT_CONFIG, vocab_size=len(tokenizer)))
    gpt2.save_pretrained(tmp_path / "gpt2")
    wav2vec2 = Wav2Vec2Model(Wav2Vec2Config(**TINY_AUDIO_CONFIG))
    wav2vec2.save_pretrained(tmp_path / "wav2vec2")
    resnet = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    save_file(resnet.state_dict(), tmp_path / "resnet.safetensors")
    model = ERCFusionForEmotionRecognition.from_pretrained_backbones(
        text=str(tmp_path / "gpt2"), audio=str(tmp_path / "wav2vec2"), vision="test_resnet",
        vision_pretrained_cfg_overlay={"file": str(tmp_path / "resnet.safetensors")},
        fusion="mha", fusion_out_features=16, feed_forward_sizes=[8], id2label=dict(enumerate(LABELS)),
    )
    encoders = model.erc_fusion.encoders
    for mine, theirs in ((encoders["text"].gpt2, gpt2), (encoders["audio"].wav2vec2, wav2vec2),
                         (encoders["vision"].backbone, resnet)):
        reference = theirs.state_dict()
        assert all(torch.equal(v, reference[k]) for k, v in mine.state_dict().items())
    assert model.config.text_config.n_embd == 16 and model.config.vision_config["model_name"] == "test_resnet"
    assert not any(p.requires_grad for p in encoders["audio"].wav2vec2.feature_extractor.parameters())
    with pytest.raises(ValueError, match="loads a GPT2 backbone but `text_encoder` is 'mean_embedding'"):
        ERCFusionForEmotionRecognition.from_pretrained_backbones(text=str(tmp_path / "gpt2"),
                                                                 text_encoder="mean_embedding", vision_encoder="none",
                                                                 audio_encoder="none")


def test_word_vectors_initialise_token_embeddings(tokenizer, tmp_path):
    config = tiny_config(tokenizer, text_encoder="mean_embedding", audio_encoder="none", vision_encoder="none")
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
