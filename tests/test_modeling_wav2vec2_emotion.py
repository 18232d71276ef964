import json
import os
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F
from transformers import (AutoConfig, AutoModel, AutoModelForAudioClassification, Wav2Vec2Config,
                          Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining, Wav2Vec2ForSequenceClassification,
                          Wav2Vec2Model)

from emotion_hub.modeling import Wav2Vec2EmotionConfig, Wav2Vec2EmotionForAudioClassification
from emotion_hub.modeling.losses import build_loss
from tests.utils import run_clean_python
from tests.wav2vec2_utils import (GROUP_NORM, LABELS, LAYER_NORM, POOLINGS, RECEPTIVE_FIELD, TINY_BACKBONE,
                                  padded_batch, tiny_config, tiny_model)


@pytest.mark.parametrize("use_weighted_layer_sum", [False, True], ids=["last_layer", "layer_sum"])
@pytest.mark.parametrize("projector_size", [8, None], ids=["projector", "no_projector"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_every_pooling_shapes_loss_and_gradients(pooling, projector_size, use_weighted_layer_sum):
    model = tiny_model(pooling=pooling, projector_size=projector_size,
                       use_weighted_layer_sum=use_weighted_layer_sum).train()
    width = projector_size or TINY_BACKBONE["hidden_size"]
    assert model.config.pooled_size == width * (1 if pooling in ("mean", "max") else 2)
    assert model.classifier.in_features == model.config.pooled_size
    _, values, mask = padded_batch([900, 1600, 1200])
    out = model(values, attention_mask=mask, labels=torch.tensor([0, 1, 2]))
    assert out.logits.shape == (3, len(LABELS)) and out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert out.hidden_states is None and out.attentions is None
    out.loss.backward()
    for name in model.head_module_names():
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, name).parameters()), name
    assert model.wav2vec2.encoder.layers[0].attention.q_proj.weight.grad.abs().sum() > 0
    expected_heads = (["layer_sum"] if use_weighted_layer_sum else []) + (["projector"] if projector_size else []) + \
        (["pooler"] if pooling == "attentive_stats" else []) + ["classifier"]
    assert model.head_module_names() == expected_heads

    model.eval()
    plain = model(values, attention_mask=mask)
    assert plain.loss is None
    with_states = model(values, attention_mask=mask, output_hidden_states=True)
    assert len(with_states.hidden_states) == TINY_BACKBONE["num_hidden_layers"] + 1
    as_tuple = model(values, attention_mask=mask, labels=torch.tensor([0, 1, 2]), return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[1], plain.logits)


def test_attentions_with_eager_attention():
    model = tiny_model()
    model.set_attn_implementation("eager")
    out = model(torch.randn(2, 800), output_attentions=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape[:2] == (2, 2)


@pytest.mark.parametrize("loss_kwargs", [
    {"loss_type": "ce"}, {"loss_type": "weighted_ce", "class_weights": [1.0, 2.0, 0.5]},
    {"loss_type": "focal", "class_weights": [1.0, 2.0, 0.5], "focal_gamma": 1.5}, {"loss_type": "dice"},
], ids=["ce", "weighted_ce", "focal", "dice"])
def test_every_loss_type_is_the_configured_loss_and_trains(loss_kwargs):
    model = tiny_model(pooling="mean_max", freeze_feature_encoder=False,
                       backbone=dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0,
                                     mask_time_prob=0.0), **loss_kwargs).train()
    _, values, mask = padded_batch([400, 800, 600, 500, 350, 650], seed=1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    out = model(values, attention_mask=mask, labels=labels)
    torch.testing.assert_close(out.loss, build_loss(model.config)(out.logits, labels))
    if loss_kwargs["loss_type"] == "ce":
        torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    first = out.loss.item()
    for _ in range(8):
        loss = model(values, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first * 0.7, (first, loss.item())


@pytest.mark.parametrize("use_weighted_layer_sum", [False, True], ids=["last_layer", "layer_sum"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_does_not_change_logits_with_layer_norm_and_mask(pooling, use_weighted_layer_sum):
    model = tiny_model(pooling=pooling, use_weighted_layer_sum=use_weighted_layer_sum)
    clips, values, mask = padded_batch([900, 2400, 1300])
    with torch.no_grad():
        together = model(values, attention_mask=mask).logits
        alone = torch.cat([model(clip[None]).logits for clip in clips])
        # Extra padding beyond the longest clip changes nothing either.
        wider = model(F.pad(values, (0, 500)), attention_mask=F.pad(mask, (0, 500))).logits
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(wider, alone, rtol=1e-5, atol=1e-5)


def test_group_norm_backbone_what_batching_preserves():
    """wav2vec2-base style: the first conv layer's GroupNorm normalises each channel over the whole (padded) time axis,
    so padding changes a clip's logits whatever the mask; clips of equal length (e.g. `classify_windows`' windows, or
    one clip at a time as the stock pipeline runs) batch exactly."""
    model = tiny_model(norm=GROUP_NORM)
    equal = torch.randn(3, 1200, generator=torch.Generator().manual_seed(3))
    clips, values, mask = padded_batch([900, 2400])
    with torch.no_grad():
        torch.testing.assert_close(model(equal).logits, torch.cat([model(c[None]).logits for c in equal]),
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model(equal, attention_mask=torch.ones_like(equal, dtype=torch.long)).logits,
                                   model(equal).logits, rtol=1e-5, atol=1e-5)
        alone = model(clips[0][None]).logits
        for padded in (model(values, attention_mask=mask).logits, model(values).logits):
            assert (padded[0] - alone[0]).abs().max() > 1e-3  # the documented limitation: padded batches differ
        # The longest clip of the batch has no padding: its logits are its own.
        torch.testing.assert_close(model(values, attention_mask=mask).logits[1:], model(clips[1][None]).logits,
                                   rtol=1e-5, atol=1e-5)


def test_bad_inputs_give_clear_errors():
    model = tiny_model()
    good = torch.randn(2, 400)
    for bad_value in (float("nan"), float("inf"), float("-inf")):
        bad = good.clone()
        bad[1, 17] = bad_value
        with pytest.raises(ValueError, match="NaN or infinite"):
            model(bad)
    with pytest.raises(ValueError, match=r"shape \(batch, samples\), got \(400,\)"):
        model(good[0])
    with pytest.raises(ValueError, match=r"shape \(batch, samples\), got \(2, 1, 400\)"):
        model(good[:, None])
    with pytest.raises(ValueError, match="float tensor"):
        model(torch.ones(2, 400, dtype=torch.long))
    with pytest.raises(TypeError, match="attention_masks"):  # a misspelt argument is not silently ignored
        model(good, attention_masks=torch.ones(2, 400, dtype=torch.long))
    with pytest.raises(ValueError, match="`attention_mask` must have the shape"):
        model(good, attention_mask=torch.ones(2, 300, dtype=torch.long))
    short = f"a clip of 19 samples .* at least {RECEPTIVE_FIELD} samples \\(0.00125 s at 16 kHz\\)"
    with pytest.raises(ValueError, match=short):
        model(torch.randn(1, RECEPTIVE_FIELD - 1))
    mask = torch.ones(2, 400, dtype=torch.long)
    mask[1, RECEPTIVE_FIELD - 1:] = 0  # a 19-sample clip padded in a batch
    with pytest.raises(ValueError, match=short):
        model(good, attention_mask=mask)
    assert torch.isfinite(model(torch.randn(1, RECEPTIVE_FIELD)).logits).all()  # exactly one frame is enough
    with pytest.raises(ValueError, match=r"labels \[3\] are outside"):
        model(good, labels=torch.tensor([0, 3]))
    assert Wav2Vec2EmotionConfig().receptive_field == 400  # wav2vec2-base: 25 ms at 16 kHz
    # wav2vec2-base's conv kernels and strides, narrow channels: the same 400-sample minimum.
    base_conv = Wav2Vec2EmotionForAudioClassification(tiny_config(backbone=dict(
        conv_dim=(8,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
        num_feat_extract_layers=7))).eval()
    with pytest.raises(ValueError, match=r"a clip of 399 samples .* at least 400 samples \(0.025 s at 16 kHz\)"):
        base_conv(torch.randn(1, 399))
    assert base_conv(torch.randn(1, 400)).logits.shape == (1, 3)


def test_config_validation_names_the_argument():
    for kwargs, name in [({"pooling": "attention"}, "pooling"), ({"projector_size": -1}, "projector_size"),
                         ({"projector_size": 2.5}, "projector_size"), ({"classifier_dropout": 1.0}, "classifier_dropout"),
                         ({"classifier_dropout": -0.1}, "classifier_dropout"),
                         ({"attention_hidden_size": 0}, "attention_hidden_size"),
                         ({"use_weighted_layer_sum": "yes"}, "use_weighted_layer_sum"),
                         ({"freeze_backbone": 1}, "freeze_backbone"), ({"freeze_feature_encoder": None}, "freeze_feature_encoder"),
                         ({"loss_type": "hinge"}, "loss_type"), ({"loss_type": "weighted_ce"}, "class_weights"),
                         ({"class_weights": [1.0, 2.0]}, "class_weights"), ({"focal_gamma": -1}, "focal_gamma"),
                         ({"dice_smooth": -1}, "dice_smooth"), ({"wav2vec2_config": "base"}, "wav2vec2_config"),
                         ({"backbone": {"add_adapter": True}}, "add_adapter")]:
        with pytest.raises(ValueError, match=name):
            tiny_config(**kwargs)
    config = tiny_config(projector_size=0)
    assert config.projector_size is None and config.frame_size == 32
    assert isinstance(Wav2Vec2EmotionConfig(wav2vec2_config=Wav2Vec2Config(**TINY_BACKBONE)).wav2vec2_config,
                      Wav2Vec2Config)
    assert Wav2Vec2EmotionConfig.sub_configs == {"audio_config": AutoConfig}  # any supported speech encoder


def test_freezing_sets_requires_grad():
    def trainable(model, part):
        return {p.requires_grad for p in getattr(model.wav2vec2, part).parameters()}

    default = tiny_model()  # freeze_feature_encoder defaults to True
    assert trainable(default, "feature_extractor") == {False}
    assert trainable(default, "feature_projection") == trainable(default, "encoder") == {True}
    assert all(p.requires_grad for n in default.head_module_names() for p in getattr(default, n).parameters())
    nothing = tiny_model(freeze_feature_encoder=False)
    assert all(p.requires_grad for p in nothing.parameters())
    head_only = tiny_model(freeze_backbone=True, use_weighted_layer_sum=True, pooling="attentive_stats")
    assert not any(p.requires_grad for p in head_only.wav2vec2.parameters())
    assert {n.split(".")[0] for n, p in head_only.named_parameters() if p.requires_grad} == \
        {"layer_sum", "projector", "pooler", "classifier"}
    # A frozen backbone gets no gradient and stays as it was after an optimiser step.
    head_only.train()
    before = {k: v.clone() for k, v in head_only.wav2vec2.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in head_only.parameters() if p.requires_grad], lr=0.1)
    head_only(torch.randn(2, 800), labels=torch.tensor([0, 1])).loss.backward()
    optimizer.step()
    assert all(p.grad is None for p in head_only.wav2vec2.parameters())
    assert all(torch.equal(v, before[k]) for k, v in head_only.wav2vec2.state_dict().items())


def test_gradient_checkpointing_gives_the_same_gradients():
    # No dropout, layerdrop or SpecAugment: the two backward passes must see the same network.
    kwargs = dict(backbone=dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0,
                                mask_time_prob=0.0), use_weighted_layer_sum=True)
    _, values, mask = padded_batch([900, 1600])
    labels = torch.tensor([0, 2])
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(**kwargs).train()
        if checkpointing:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # transformers 5.24 renames it activation_checkpointing
                model.gradient_checkpointing_enable()
            assert model.is_activation_checkpointing
            assert all(layer.gradient_checkpointing for layer in model.wav2vec2.encoder.layers)
        model(values, attention_mask=mask, labels=labels).loss.backward()
        # (`encoder.layer_norm` gets none: transformers 5's hidden states, which the layer sum reads, are the layer
        # outputs before the stable-layer-norm encoder's final norm, in the stock class too.)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert len(grads[0]) == sum(p.requires_grad for p in model.parameters()) - 2
    assert all(grads[1][n].abs().sum() > 0 for n in grads[1] if ".encoder.layers." in n)
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


def test_save_reload_identical_logits_and_local_auto_classes(tmp_path):
    model = tiny_model(pooling="attentive_stats", use_weighted_layer_sum=True, freeze_backbone=True)
    model.save_pretrained(tmp_path)
    _, values, mask = padded_batch([900, 1600])
    with torch.no_grad():
        expected = model(values, attention_mask=mask).logits
        for loader in (Wav2Vec2EmotionForAudioClassification, AutoModelForAudioClassification, AutoModel):
            reloaded = loader.from_pretrained(tmp_path).eval()
            assert isinstance(reloaded, Wav2Vec2EmotionForAudioClassification)
            # oneDNN may pick another convolution kernel for differently aligned weights (~1e-7 apart).
            torch.testing.assert_close(reloaded(values, attention_mask=mask).logits, expected, rtol=1e-5, atol=1e-6)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, Wav2Vec2EmotionConfig) and isinstance(config.wav2vec2_config, Wav2Vec2Config)
    assert config.wav2vec2_config.feat_extract_norm == "layer" and config.pooling == "attentive_stats"
    assert config.id2label == dict(enumerate(LABELS))
    assert not any(p.requires_grad for p in reloaded.wav2vec2.parameters())  # the freezing comes back with the config


def test_hub_folder_loads_in_clean_python_with_trust_remote_code(tmp_path):
    model = tiny_model(pooling="mean_max", use_weighted_layer_sum=True)
    model.save_pretrained(tmp_path)
    saved = json.load(open(tmp_path / "config.json"))
    assert saved["auto_map"] == {
        "AutoConfig": "configuration_wav2vec2_emotion.Wav2Vec2EmotionConfig",
        "AutoModelForAudioClassification": "modeling_wav2vec2_emotion.Wav2Vec2EmotionForAudioClassification",
    }
    assert saved["model_type"] == "wav2vec2_emotion" and saved["audio_config"]["model_type"] == "wav2vec2"
    assert {"configuration_wav2vec2_emotion.py", "modeling_wav2vec2_emotion.py", "losses.py",
            "model.safetensors"} <= set(os.listdir(tmp_path))
    _, values, mask = padded_batch([900, 1600])
    with torch.no_grad():
        expected = model(values, attention_mask=mask).logits
    torch.save({"values": values, "mask": mask, "expected": expected}, tmp_path / "inputs.pt")
    printed = run_clean_python(f"""
        import torch
        from transformers import AutoModelForAudioClassification
        data = torch.load({str(tmp_path / "inputs.pt")!r})
        model = AutoModelForAudioClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            logits = model(data["values"], attention_mask=data["mask"]).logits
        print(type(model).__name__, (logits - data["expected"]).abs().max().item())
    """, cwd=str(tmp_path))
    name, difference = printed.split()[-2:]
    assert name == "Wav2Vec2EmotionForAudioClassification" and float(difference) < 1e-6


@pytest.mark.parametrize("variant", [
    dict(norm=LAYER_NORM), dict(norm=GROUP_NORM), dict(norm=LAYER_NORM, projector_size=None),
    dict(norm=GROUP_NORM, use_weighted_layer_sum=True, classifier_dropout=0.3),
    dict(norm=LAYER_NORM, use_weighted_layer_sum=True, projector_size=None),
], ids=["layer", "group", "layer-no_projector", "group-layer_sum-dropout", "layer-layer_sum-no_projector"])
def test_stock_export_gives_the_same_logits(variant):
    model = tiny_model(**variant)
    stock = model.to_stock_model()
    assert type(stock) is Wav2Vec2ForSequenceClassification and not stock.training
    config = stock.config
    assert config.model_type == "wav2vec2" and getattr(config, "auto_map", None) is None
    assert config.id2label == dict(enumerate(LABELS)) and config.label2id == model.config.label2id
    assert config.use_weighted_layer_sum == model.config.use_weighted_layer_sum
    assert config.classifier_proj_size == (variant.get("projector_size", 8) or TINY_BACKBONE["hidden_size"])
    clips, values, mask = padded_batch([900, 2400, 1300], seed=4)
    with torch.no_grad():
        for kwargs in ({"attention_mask": mask}, {}):
            ours, theirs = model(values, **kwargs).logits, stock(values, **kwargs).logits
            assert (ours - theirs).abs().max() < 1e-5, kwargs
            assert ours.abs().max() > 0.01  # logits of a size that makes the 1e-5 meaningful
        single = clips[0][None]
        assert (model(single).logits - stock(single).logits).abs().max() < 1e-5


def test_stock_export_refuses_custom_parts(tmp_path):
    for pooling in ("max", "mean_max", "attentive_stats"):
        model = tiny_model(pooling=pooling)
        assert model.stock_export_blockers() == [
            f"pooling={pooling!r} (the stock class mean-pools; only pooling='mean' exports)"]
        with pytest.raises(ValueError, match=f"cannot be exported as a Wav2Vec2ForSequenceClassification: pooling='{pooling}'"):
            model.to_stock_model()
        with pytest.raises(ValueError, match="cannot be exported"):
            model.save_stock_pretrained(tmp_path / pooling)
        assert not (tmp_path / pooling).exists()
    assert tiny_model().stock_export_blockers() == []

    class CustomExtractor(Wav2Vec2FeatureExtractor):
        pass

    with pytest.raises(ValueError, match="not a stock transformers feature extractor"):
        tiny_model().save_stock_pretrained(tmp_path / "custom", feature_extractor=CustomExtractor())


def test_stock_export_runs_in_the_stock_pipeline_without_custom_code(tmp_path):
    """wav2vec2-base style (group norm, no attention mask from the feature extractor): what the hosted widget runs."""
    # The nested config names the architecture it came from, as facebook/wav2vec2-base's does: the export replaces it.
    model = tiny_model(norm=GROUP_NORM, use_weighted_layer_sum=True, backbone={"architectures": ["Wav2Vec2ForPreTraining"]})
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                         return_attention_mask=False)
    folder = tmp_path / "stock"
    model.save_stock_pretrained(folder, feature_extractor=extractor)
    saved = json.load(open(folder / "config.json"))
    assert saved["model_type"] == "wav2vec2" and "auto_map" not in saved
    assert saved["architectures"] == ["Wav2Vec2ForSequenceClassification"]
    assert not [f for f in os.listdir(folder) if f.endswith(".py")]
    assert {"model.safetensors", "preprocessor_config.json"} <= set(os.listdir(folder))

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    clip = (0.5 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(16000)).astype(np.float32)
    clip_48k = np.repeat(clip, 3)  # a 48 kHz version; the pipeline resamples it with torchaudio
    sf.write(tmp_path / "clip.wav", clip, 16000, subtype="FLOAT")  # float WAV: ffmpeg decodes it sample-exact

    def expected_scores(waveform):
        with torch.no_grad():
            logits = model(**extractor(waveform, sampling_rate=16000, return_tensors="pt")).logits[0]
        return {LABELS[i]: p for i, p in enumerate(logits.softmax(-1).tolist())}

    import torchaudio
    resampled = torchaudio.functional.resample(torch.from_numpy(clip_48k), 48000, 16000).numpy()
    np.save(tmp_path / "clip.npy", clip)
    np.save(tmp_path / "clip_48k.npy", clip_48k)
    printed = run_clean_python(f"""
        import json, numpy as np
        from transformers import AutoModelForAudioClassification, pipeline
        model = AutoModelForAudioClassification.from_pretrained({str(folder)!r})
        assert type(model).__module__ == "transformers.models.wav2vec2.modeling_wav2vec2", type(model).__module__
        classifier = pipeline("audio-classification", model={str(folder)!r})
        clip = np.load({str(tmp_path / "clip.npy")!r})
        results = [classifier(clip), classifier({{"raw": np.load({str(tmp_path / "clip_48k.npy")!r}), "sampling_rate": 48000}}),
                   classifier({str(tmp_path / "clip.wav")!r})]
        print(type(classifier.model).__name__)
        print(json.dumps([{{r["label"]: r["score"] for r in result}} for result in results]))
    """, cwd=str(tmp_path))
    lines = printed.strip().splitlines()
    assert lines[-2] == "Wav2Vec2ForSequenceClassification"
    array_scores, dict_scores, file_scores = json.loads(lines[-1])
    for got, want in ((array_scores, expected_scores(clip)), (dict_scores, expected_scores(resampled)),
                      (file_scores, expected_scores(clip))):
        assert got.keys() == set(LABELS)
        for label in LABELS:
            assert got[label] == pytest.approx(want[label], abs=1e-5), (label, got, want)
    assert max(array_scores.values()) - min(array_scores.values()) > 0.01  # not a uniform guess


@pytest.mark.parametrize("checkpoint_class", [Wav2Vec2Model, Wav2Vec2ForPreTraining],
                         ids=["Wav2Vec2Model", "Wav2Vec2ForPreTraining"])  # facebook/wav2vec2-base is the latter
def test_pretrained_backbone_comes_in_through_the_classmethod(tmp_path, checkpoint_class):
    torch.manual_seed(1)
    pretrained = checkpoint_class(Wav2Vec2Config(**TINY_BACKBONE, **LAYER_NORM))
    pretrained.save_pretrained(tmp_path / "backbone")
    reference = (pretrained if checkpoint_class is Wav2Vec2Model else pretrained.wav2vec2).state_dict()
    model = Wav2Vec2EmotionForAudioClassification.from_pretrained_backbone(
        str(tmp_path / "backbone"), backbone_config_overrides={"layerdrop": 0.0, "mask_time_prob": 0.1},
        pooling="mean_max", id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    state = model.wav2vec2.state_dict()
    assert state.keys() == reference.keys()
    assert all(torch.equal(v, reference[k]) for k, v in state.items())
    config = model.config
    assert config.wav2vec2_config.layerdrop == 0.0 and config.wav2vec2_config.mask_time_prob == 0.1
    assert config.wav2vec2_config.hidden_size == 32 and config.pooling == "mean_max" and config.num_labels == 3
    assert not any(p.requires_grad for p in model.wav2vec2.feature_extractor.parameters())
    # Our own checkpoint then reloads from one folder, backbone and head together.
    model.save_pretrained(tmp_path / "ours")
    reloaded = Wav2Vec2EmotionForAudioClassification.from_pretrained(tmp_path / "ours")
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="backbone_config_overrides"):
        Wav2Vec2EmotionForAudioClassification.from_pretrained_backbone(str(tmp_path / "backbone"),
                                                                       wav2vec2_config=TINY_BACKBONE)


@pytest.mark.parametrize("pooling", ["mean", "attentive_stats"])
def test_lora_trains_adapter_and_head_then_merges_into_our_class(tmp_path, pooling):
    import peft

    model = tiny_model(pooling=pooling, use_weighted_layer_sum=True,
                       backbone=dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0,
                                     mask_time_prob=0.0))
    head = model.head_module_names()
    assert head == ["layer_sum", "projector"] + (["pooler"] if pooling == "attentive_stats" else []) + ["classifier"]
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                      modules_to_save=head))
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or ".modules_to_save." in n for n in trainable)
    assert {n.split(".")[2] for n in trainable if ".modules_to_save." in n} == set(head)
    assert sum("lora_A" in n for n in trainable) == 2 * TINY_BACKBONE["num_hidden_layers"]  # q_proj, v_proj per layer
    assert not any(p.requires_grad for n, p in lora.named_parameters() if ".original_module." in n)

    lora.train()
    _, values, mask = padded_batch([900, 1600, 1200], seed=2)
    labels = torch.tensor([0, 1, 2])
    optimizer = torch.optim.Adam([p for p in lora.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = lora(input_values=values, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    lora.eval()
    with torch.no_grad():
        expected = lora(input_values=values, attention_mask=mask).logits
    merged = lora.merge_and_unload()
    assert type(merged) is Wav2Vec2EmotionForAudioClassification
    assert not any("lora_" in n or "modules_to_save" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(values, attention_mask=mask).logits, expected, rtol=1e-5, atol=1e-5)
    merged.save_pretrained(tmp_path)
    reloaded = Wav2Vec2EmotionForAudioClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(values, attention_mask=mask).logits, expected, rtol=1e-5, atol=1e-5)
