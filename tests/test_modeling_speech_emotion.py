"""SpeechEmotionForAudioClassification over every supported encoder family, on tiny random configs.

wav2vec2 itself is covered in depth by test_modeling_wav2vec2_emotion.py (the same class under its first name); here
each family gets shapes, padding invariance where the encoder allows it, save/reload identity, stock export equality,
loading a plain encoder checkpoint, and Whisper's window, pipeline and bad inputs.
"""

import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import (AutoConfig, AutoModelForAudioClassification, HubertModel, WhisperConfig,
                          WhisperFeatureExtractor, WhisperForAudioClassification, WhisperModel)

from emotion_hub.modeling import SpeechEmotionConfig, SpeechEmotionForAudioClassification, Wav2Vec2EmotionForAudioClassification
from emotion_hub.modeling.speech_encoders import load_pretrained_speech_encoder, speech_encoder_frame_mask
from tests.utils import run_clean_python


LABELS = ["angry", "happy", "neutral"]
WAVEFORM = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, conv_dim=(16, 16),
                conv_kernel=(10, 3), conv_stride=(5, 2), num_feat_extract_layers=2, num_conv_pos_embeddings=16,
                num_conv_pos_embedding_groups=2)
ENCODERS = {
    "wav2vec2": dict(model_type="wav2vec2", feat_extract_norm="layer", do_stable_layer_norm=True, **WAVEFORM),
    "hubert": dict(model_type="hubert", feat_extract_norm="layer", do_stable_layer_norm=True, **WAVEFORM),
    "wavlm": dict(model_type="wavlm", feat_extract_norm="layer", do_stable_layer_norm=True, num_buckets=8,
                  max_bucket_distance=20, **WAVEFORM),
    "data2vec-audio": dict(model_type="data2vec-audio", **WAVEFORM),
    # 8 mel bins, a 1 s window (50 positions, 100 mel frames).
    "whisper": dict(model_type="whisper", d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                    num_mel_bins=8, max_source_positions=50, decoder_layers=1, decoder_attention_heads=2,
                    decoder_ffn_dim=16, vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                    decoder_start_token_id=1),
}
STOCK = {"wav2vec2": "Wav2Vec2ForSequenceClassification", "hubert": "HubertForSequenceClassification",
         "wavlm": "WavLMForSequenceClassification", "data2vec-audio": "Data2VecAudioForSequenceClassification",
         "whisper": "WhisperForAudioClassification"}


def tiny_config(family, **kwargs):
    defaults = dict(audio_config=dict(ENCODERS[family]), projector_size=8, id2label=dict(enumerate(LABELS)),
                    label2id={n: i for i, n in enumerate(LABELS)})
    return SpeechEmotionConfig(**{**defaults, **kwargs})


def tiny_model(family, seed=0, **kwargs):
    torch.manual_seed(seed)
    model = SpeechEmotionForAudioClassification(tiny_config(family, **kwargs)).eval()
    with torch.no_grad():  # logits of O(1), so that the tolerances below mean something
        model.classifier.weight.normal_(0.0, 1.0)
        model.classifier.bias.normal_(0.0, 0.1)
    return model


def whisper_extractor(window=1):
    return WhisperFeatureExtractor(feature_size=8, chunk_length=window)


def inputs_for(model, lengths, seed=0):
    """Random clips of `lengths` samples (16 kHz) -> (clips, model kwargs with attention mask)."""
    generator = torch.Generator().manual_seed(seed)
    clips = [torch.randn(n, generator=generator) * 0.1 for n in lengths]
    if model.config.encoder_type == "whisper":
        features = whisper_extractor(int(model.config.window_seconds))(
            [c.numpy() for c in clips], sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
        return clips, {"input_features": features["input_features"], "attention_mask": features["attention_mask"]}
    values = torch.zeros(len(clips), max(lengths))
    mask = torch.zeros(len(clips), max(lengths), dtype=torch.long)
    for i, clip in enumerate(clips):
        values[i, :len(clip)], mask[i, :len(clip)] = clip, 1
    return clips, {"input_values": values, "attention_mask": mask}


FAMILIES = list(ENCODERS)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("pooling", ["mean", "attentive_stats"])
def test_shapes_loss_and_padding_invariance(family, pooling):
    model = tiny_model(family, pooling=pooling, use_weighted_layer_sum=True)
    assert model.main_input_name == ("input_features" if family == "whisper" else "input_values")
    clips, batch = inputs_for(model, [4000, 9000, 6000])
    with torch.no_grad():
        out = model(**batch, labels=torch.tensor([0, 2, 1]), output_hidden_states=True)
        assert out.logits.shape == (3, 3) and torch.isfinite(out.loss)
        assert len(out.hidden_states) == model.config.num_hidden_states
        # Each clip alone gives the logits it gets in the padded batch (Whisper: every clip is padded to the window).
        # data2vec-audio's stacked positional convolutions see padding frames as non-zero after their first layer, so
        # no data2vec-audio model (the stock one neither) is padding-invariant.
        for i in range(3 if family != "data2vec-audio" else 0):
            _, single = inputs_for(model, [len(clips[i])])
            single[model.main_input_name] = single[model.main_input_name] * 0 + batch[model.main_input_name][i:i + 1, ..., :single[model.main_input_name].shape[-1]]
            alone = model(**single).logits
            assert (alone[0] - out.logits[i]).abs().max() < 1e-4, (family, i)


def test_whisper_frame_mask_covers_the_clip_only():
    config = tiny_config("whisper").audio_config
    mel_mask = torch.zeros(2, 100, dtype=torch.long)
    mel_mask[0, :100], mel_mask[1, :37] = 1, 1
    frames = speech_encoder_frame_mask(config, mel_mask, 50)
    assert frames.sum(-1).tolist() == [50, 19]  # conv2: stride 2, padding 1 -> ceil(37 / 2)


@pytest.mark.parametrize("family", FAMILIES)
def test_save_reload_identity_and_stock_export(family, tmp_path):
    model = tiny_model(family, use_weighted_layer_sum=(family != "wavlm"))
    model.save_pretrained(tmp_path / "ours")
    saved = json.load(open(tmp_path / "ours" / "config.json"))
    assert saved["model_type"] == "speech_emotion" and saved["audio_config"]["model_type"] == family
    reloaded = AutoModelForAudioClassification.from_pretrained(tmp_path / "ours").eval()
    assert type(reloaded) is SpeechEmotionForAudioClassification
    # Whisper's stock class pools the whole window: compare on clips that fill it (16000 samples = 1 s).
    lengths = [16000, 16000] if family == "whisper" else [3000, 5000]
    _, batch = inputs_for(model, lengths, seed=3)
    stock = model.to_stock_model()
    assert type(stock).__name__ == STOCK[family] and getattr(stock.config, "auto_map", None) is None
    assert stock.config.id2label == dict(enumerate(LABELS))
    with torch.no_grad():
        ours = model(**batch).logits
        assert torch.equal(reloaded(**batch).logits, ours)
        stock_batch = dict(batch)
        if family == "whisper":
            stock_batch.pop("attention_mask")
        assert (stock(**stock_batch).logits - ours).abs().max() < 1e-5
        assert ours.abs().max() > 0.01


@pytest.mark.parametrize("family", ["wav2vec2", "whisper"])
def test_standardize_pooled_learns_statistics_reloads_and_folds_into_the_stock_classifier(family, tmp_path):
    model = tiny_model(family, use_weighted_layer_sum=True, standardize_pooled=True)
    assert model.pooled_norm is not None and "pooled_norm" in model.head_module_names()
    assert torch.equal(model.pooled_norm.running_mean, torch.zeros(8))  # fresh: no statistics yet
    lengths = [16000, 16000, 16000] if family == "whisper" else [3000, 5000, 4000]
    _, batch = inputs_for(model, lengths, seed=5)
    model.train()
    for _ in range(3):  # training batches move the running statistics towards the pooled vectors'
        model(**batch)
    model.eval()
    norm = model.pooled_norm
    assert norm.num_batches_tracked.item() == 3 and norm.running_mean.abs().sum() > 0
    model.train()  # a batch of one (an epoch's last) trains with the running statistics, leaving them as they are
    before = norm.running_mean.clone()
    single = {k: v[:1] for k, v in batch.items()}
    loss = model(**single, labels=torch.tensor([1])).loss
    loss.backward()
    assert torch.isfinite(loss) and torch.equal(norm.running_mean, before) and norm.num_batches_tracked.item() == 3
    model.zero_grad()
    model.eval()
    with torch.no_grad():
        hidden = model.encode(batch[model.main_input_name], batch["attention_mask"], output_hidden_states=True)
        pooled = model.pooler(model.projector(model.layer_sum(hidden[0].hidden_states)), hidden[1])
        expected = model.classifier((pooled - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps))
        ours = model(**batch).logits
        assert (ours - expected).abs().max() < 1e-5
    model.save_pretrained(tmp_path)
    reloaded = SpeechEmotionForAudioClassification.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded.pooled_norm.running_var, norm.running_var)
    stock = model.to_stock_model().eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).logits, ours)
        stock_batch = {k: v for k, v in batch.items() if not (family == "whisper" and k == "attention_mask")}
        assert (stock(**stock_batch).logits - ours).abs().max() < 1e-5


@pytest.mark.parametrize("family", ["wav2vec2", "whisper"])
def test_training_forward_with_layerdrop_keeps_every_hidden_state(family):
    # transformers 5 records no hidden state for a layer LayerDrop skips: the weighted layer sum would get too few.
    layerdrop = {"encoder_layerdrop": 0.9} if family == "whisper" else {"layerdrop": 0.9}
    model = tiny_model(family, use_weighted_layer_sum=True,
                       audio_config={**ENCODERS[family], **layerdrop}).train()
    _, batch = inputs_for(model, [16000, 16000] if family == "whisper" else [3000, 5000])
    for _ in range(4):
        out = model(**batch, labels=torch.tensor([0, 1]), output_hidden_states=True)
        assert len(out.hidden_states) == model.config.num_hidden_states and torch.isfinite(out.loss)
    holder = model.encoder if family == "whisper" else model.encoder.config
    assert holder.layerdrop == 0.9  # restored after each forward


def test_plain_encoder_checkpoints_load_with_from_pretrained(tmp_path):
    torch.manual_seed(0)
    hubert = HubertModel(AutoConfig.for_model(**ENCODERS["hubert"])).eval()
    hubert.save_pretrained(tmp_path / "hubert")
    model = SpeechEmotionForAudioClassification.from_pretrained(tmp_path / "hubert", num_labels=4)
    assert model.config.encoder_type == "hubert" and model.config.num_labels == 4
    for name, tensor in hubert.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[name], tensor), name
    # The legacy class loads a plain wav2vec2 checkpoint as Wav2Vec2ForSequenceClassification does.
    from transformers import Wav2Vec2Model

    wav2vec2 = Wav2Vec2Model(AutoConfig.for_model(**ENCODERS["wav2vec2"]))
    wav2vec2.save_pretrained(tmp_path / "w2v")
    legacy = Wav2Vec2EmotionForAudioClassification.from_pretrained(tmp_path / "w2v", num_labels=2)
    assert legacy.config.audio_config.hidden_size == 32
    assert torch.equal(legacy.wav2vec2.encoder.layers[0].attention.q_proj.weight,
                       wav2vec2.encoder.layers[0].attention.q_proj.weight)


def test_whisper_backbone_window_cuts_the_position_table(tmp_path):
    torch.manual_seed(0)
    full = WhisperModel(WhisperConfig(**{k: v for k, v in ENCODERS["whisper"].items() if k != "model_type"},
                                      max_target_positions=32)).eval()
    full.config.max_source_positions = 50
    full.save_pretrained(tmp_path / "whisper")
    config, encoder = load_pretrained_speech_encoder(str(tmp_path / "whisper"), window_seconds=None)
    assert config.max_source_positions == 50
    model = SpeechEmotionForAudioClassification.from_pretrained_backbone(
        str(tmp_path / "whisper"), num_labels=3, window_seconds=1, freeze_backbone=True)
    assert model.config.window_seconds == 1 and model.encoder.embed_positions.weight.shape[0] == 50
    assert torch.equal(model.encoder.layers[1].fc1.weight, full.encoder.layers[1].fc1.weight)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    with pytest.raises(ValueError, match="whole number of seconds"):
        SpeechEmotionForAudioClassification.from_pretrained_backbone(str(tmp_path / "whisper"), window_seconds=0.3)
    with pytest.raises(ValueError, match="window needs more"):
        SpeechEmotionForAudioClassification.from_pretrained_backbone(str(tmp_path / "whisper"), window_seconds=2)


def test_whisper_bad_inputs_name_the_input():
    model = tiny_model("whisper")
    _, batch = inputs_for(model, [8000])
    features = batch["input_features"]
    with pytest.raises(ValueError, match=r"input_features.*\(batch, 8, 100\).*chunk_length=1"):
        model(input_features=torch.randn(1, 8, 3000))  # a stock 30 s extractor's output
    with pytest.raises(ValueError, match="exactly one of"):
        model(input_values=torch.randn(1, 16000), input_features=features)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model(input_features=features.masked_fill(torch.zeros_like(features, dtype=torch.bool).index_fill(2, torch.tensor([3]), True), float("nan")))
    with pytest.raises(ValueError, match="no audio frame"):
        model(input_features=features, attention_mask=torch.zeros(1, 100, dtype=torch.long))
    with pytest.raises(ValueError, match="attention_mask"):
        model(input_features=features, attention_mask=torch.ones(1, 16000, dtype=torch.long))
    with pytest.raises(ValueError, match="must be a float tensor"):
        model(input_features=features.long())
    with pytest.raises(ValueError, match="window_seconds"):
        tiny_config("wav2vec2", window_seconds=3)
    with pytest.raises(ValueError, match="audio_config.model_type"):
        SpeechEmotionConfig(audio_config={"model_type": "bert"})


def test_whisper_export_traces():
    model = tiny_model("whisper", pooling="mean_max")
    _, batch = inputs_for(model, [8000, 16000])
    exported = torch.export.export(model, (), kwargs=dict(batch))
    with torch.no_grad():
        assert (exported.module()(**batch).logits - model(**batch).logits).abs().max() < 1e-5


def test_whisper_hub_folder_and_stock_export_in_clean_python(tmp_path):
    model = tiny_model("whisper", use_weighted_layer_sum=True)
    extractor = whisper_extractor(1)
    ours, stock = tmp_path / "ours", tmp_path / "stock"
    model.save_pretrained(ours)
    extractor.save_pretrained(ours)
    model.save_stock_pretrained(stock, feature_extractor=extractor)
    assert json.load(open(stock / "config.json"))["architectures"] == ["WhisperForAudioClassification"]
    with pytest.raises(ValueError, match="chunk_length"):
        model.save_stock_pretrained(tmp_path / "bad", feature_extractor=whisper_extractor(2))
    rng = np.random.default_rng(0)
    short = (rng.standard_normal(9000) * 0.1).astype(np.float32)    # 0.56 s: padded to the 1 s window
    full = (rng.standard_normal(16000) * 0.1).astype(np.float32)    # exactly the window
    long = (rng.standard_normal(40000) * 0.1).astype(np.float32)    # 2.5 s: scored in 1 s windows
    sf.write(tmp_path / "short.wav", short, 16000)
    stereo_44k = np.stack([np.interp(np.arange(0, 9000, 16000 / 44100), np.arange(9000), short)] * 2, axis=1)
    with torch.no_grad():
        def probs(clip):
            batch = extractor(clip, sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
            return model(**batch).logits.softmax(-1)[0].tolist()
        expected_short, expected_full = probs(short), probs(full)
    np.save(tmp_path / "clips.npy", np.stack([full, np.pad(short, (0, 7000))]))
    printed = run_clean_python(f"""
        import json, numpy as np
        from transformers import pipeline
        full, short = np.load({str(tmp_path / "clips.npy")!r}); short = short[:9000]
        ours = pipeline("audio-classification", model={str(ours)!r}, trust_remote_code=True, top_k=None)
        stock = pipeline("audio-classification", model={str(stock)!r}, top_k=None)  # no remote code
        assert "transformers_modules" not in type(stock.model).__module__
        def scores(result): return {{r["label"]: r["score"] for r in result}}
        print(json.dumps({{
            "path": scores(ours({str(tmp_path / "short.wav")!r})),
            "array": scores(ours(short)),
            "row": scores(ours({{"audio": {{"array": short, "sampling_rate": 16000}}}})),
            "long": scores(ours(np.concatenate([full, full, full[:8000]]))),
            "stock_full": scores(stock(full)),
            "ours_full": scores(ours(full)),
        }}))
    """, cwd=str(tmp_path))
    result = json.loads(printed.strip().splitlines()[-1])
    for key in ("path", "array", "row"):
        assert [result[key][label] for label in LABELS] == pytest.approx(expected_short, abs=1e-3), key
    assert [result["ours_full"][label] for label in LABELS] == pytest.approx(expected_full, abs=1e-5)
    assert [result["stock_full"][label] for label in LABELS] == pytest.approx(expected_full, abs=1e-5)
    assert set(result["long"]) == set(LABELS) and sum(result["long"].values()) == pytest.approx(1.0, abs=1e-4)
    del stereo_44k, long


def test_whisper_pipeline_bad_audio_names_the_input(tmp_path):
    from transformers import pipeline

    model = tiny_model("whisper")
    model.save_pretrained(tmp_path / "m")
    whisper_extractor(1).save_pretrained(tmp_path / "m")
    classifier = pipeline("audio-classification", model=str(tmp_path / "m"), trust_remote_code=True)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    with pytest.raises(ValueError, match="empty.wav: the file is empty"):
        classifier(str(tmp_path / "empty.wav"))
    with pytest.raises(ValueError, match="corrupt.wav: cannot decode"):
        classifier(str(tmp_path / "corrupt.wav"))
    with pytest.raises(ValueError, match="NaN or infinite"):
        classifier(np.full(8000, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="no audio frame"):
        classifier(np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError, match="sampling_rate"):
        classifier({"array": np.zeros(8000, dtype=np.float32)})
    # Stereo int16 at 44.1 kHz: mixed down and resampled to the extractor's 16 kHz, then the same as mono float.
    rng = np.random.default_rng(0)
    mono = (rng.standard_normal(44100) * 3000).astype(np.int16)
    stereo = np.stack([mono, mono], axis=1)
    a = classifier({"array": stereo, "sampling_rate": 44100}, top_k=None)
    b = classifier({"array": mono.astype(np.float32) / 32768, "sampling_rate": 44100}, top_k=None)
    assert [r["label"] for r in a] == [r["label"] for r in b]
    assert [r["score"] for r in a] == pytest.approx([r["score"] for r in b], abs=1e-5)


NO_DROPOUT = dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
                  layerdrop=0.0)


@pytest.mark.parametrize("family", ["wav2vec2", "hubert", "data2vec-audio", "whisper"])
@pytest.mark.parametrize("weighted", [True, False])
def test_top_layers_from_fixed_states_equal_the_whole_encoder(family, weighted):
    """`trainable_encoder_layers=1`: the top layer (and a final norm after it) train, the rest is fixed and in
    inference mode; running the top layer on the fixed part's hidden states (what the cache stores) gives the logits
    and the gradients of running the whole encoder."""
    audio = {**ENCODERS[family], **({} if family == "whisper" else NO_DROPOUT)}
    model = tiny_model(family, audio_config=audio, trainable_encoder_layers=1, use_weighted_layer_sum=weighted,
                       classifier_dropout=0.0).train()
    config = model.config
    assert config.num_fixed_hidden_states == config.num_hidden_states - 1
    trained = {n for n, p in model.named_parameters() if p.requires_grad and n.startswith("audio_encoder.")}
    top = "layers.1." if family == "whisper" else "encoder.layers.1."
    assert trained and all(n.startswith("audio_encoder." + top) or "layer_norm" in n for n in trained), trained
    final_norm = model.final_encoder_norm()
    if family in ("wav2vec2", "hubert", "whisper"):  # stable layer norm / Whisper: the norm after the top layer trains
        assert final_norm is not None and all(p.requires_grad for p in final_norm.parameters())
    # The fixed part (front end, lower layer, the encoder's own SpecAugment and LayerDrop) is in inference mode.
    assert not model.encoder.training and not model.encoder_layers[0].training and model.encoder_layers[1].training
    assert model.classifier.training

    _, batch = inputs_for(model, [16000, 9000] if family == "whisper" else [5000, 3000])
    labels = torch.tensor([0, 2])
    whole = model(**batch, labels=labels)
    whole.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert set(n for n in grads if n.startswith("audio_encoder.")) <= trained
    model.zero_grad()

    with torch.no_grad():
        outputs, frame_mask = model.encode(batch[model.main_input_name], batch["attention_mask"],
                                           output_hidden_states=True)
    fixed = torch.stack(outputs.hidden_states[:config.num_fixed_hidden_states], dim=1)
    from_fixed = model(encoder_hidden_states=fixed, frame_mask=frame_mask, labels=labels)
    assert (from_fixed.logits - whole.logits).abs().max() < 1e-5
    from_fixed.loss.backward()
    for name, grad in grads.items():
        assert torch.allclose(model.get_parameter(name).grad, grad, atol=1e-5), name
    # Hidden states of every layer are still accepted (only the head runs); other counts are refused by name.
    all_states = torch.stack(outputs.hidden_states, dim=1)
    assert model(encoder_hidden_states=all_states, frame_mask=frame_mask).logits.shape == (2, 3)
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        model(encoder_hidden_states=all_states[:, :1], frame_mask=frame_mask)


def test_trainable_encoder_layers_settings_and_reload(tmp_path):
    with pytest.raises(ValueError, match="trainable_encoder_layers"):
        tiny_config("whisper", trainable_encoder_layers=3)  # the tiny encoder has 2 layers
    with pytest.raises(ValueError, match="trainable_encoder_layers"):
        tiny_config("whisper", trainable_encoder_layers=True)
    with pytest.raises(ValueError, match="freeze_backbone"):
        tiny_config("whisper", trainable_encoder_layers=1, freeze_backbone=True)
    assert tiny_config("whisper", freeze_backbone=True).num_fixed_hidden_states == 3
    assert tiny_config("whisper").num_fixed_hidden_states == 0
    # WavLM's top layers need its first layer's relative position bias: trained end to end, not from fixed states.
    wavlm = tiny_model("wavlm", trainable_encoder_layers=1).train()
    _, batch = inputs_for(wavlm, [3000, 5000])
    assert torch.isfinite(wavlm(**batch, labels=torch.tensor([0, 1])).loss)
    states = torch.zeros(2, wavlm.config.num_fixed_hidden_states, 9, 32)
    with pytest.raises(ValueError, match="relative position bias"):
        wavlm(encoder_hidden_states=states)

    model = tiny_model("whisper", trainable_encoder_layers=1)
    model.save_pretrained(tmp_path)
    reloaded = SpeechEmotionForAudioClassification.from_pretrained(tmp_path)
    trained = lambda m: sorted(n for n, p in m.named_parameters() if p.requires_grad)
    assert reloaded.config.trainable_encoder_layers == 1 and trained(reloaded) == trained(model)


@pytest.mark.parametrize("family", ["whisper", "wav2vec2"])
@pytest.mark.parametrize("pooling", ["mean", "mean_max"])
def test_concatenate_layers_pools_every_layer_on_its_own(family, pooling, tmp_path):
    """Each hidden state normalised per frame and pooled over the clip's frames, side by side: what a probe on the
    concatenated layers reads; cached layer means and frames give the same logits; no stock export."""
    model = tiny_model(family, concatenate_layers=True, normalize_hidden_states=True, projector_size=0,
                       standardize_pooled=True, pooling=pooling, freeze_backbone=True)
    config = model.config
    assert config.pooled_size == config.num_hidden_states * config.hidden_size * (2 if pooling == "mean_max" else 1)
    with torch.no_grad():
        model.pooled_norm.running_mean.normal_()
        model.pooled_norm.running_var.uniform_(0.5, 2.0)
    _, inputs = inputs_for(model, [16000, 9000])
    with torch.no_grad():
        logits = model(**inputs).logits
        outputs, frame_mask = model.encode(inputs[config.input_name], inputs["attention_mask"], output_hidden_states=True)
        per_layer = []
        for state in outputs.hidden_states:
            normed = torch.nn.functional.layer_norm(state, state.shape[-1:])
            per_layer.append(model.pooler(normed, frame_mask))
        expected = model.classify_pooled(torch.cat(per_layer, dim=-1)) if pooling == "mean" else None
        cached = model(encoder_hidden_states=torch.stack(outputs.hidden_states, 1), frame_mask=frame_mask).logits
    if expected is not None:  # mean_max interleaves differently; the cached path covers it
        assert (logits - expected).abs().max() < 1e-5
        with torch.no_grad():  # the cache of a mean-pooled head: every layer's normalised mean
            from_means = model(pooled_hidden_states=torch.stack(per_layer, dim=1)).logits
        assert (logits - from_means).abs().max() < 1e-5
    assert (logits - cached).abs().max() < 1e-5
    assert model.stock_export_blockers() and "concatenate_layers" in " ".join(model.stock_export_blockers())
    model.save_pretrained(tmp_path)
    reloaded = SpeechEmotionForAudioClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**inputs).logits, logits)
    with pytest.raises(ValueError, match="set one of them"):
        tiny_config(family, concatenate_layers=True, use_weighted_layer_sum=True)
