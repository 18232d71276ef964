"""train.py's erc_fusion task end to end: fabricated MELD.Raw -> build -> train 2 steps -> save -> reload -> predict."""

import collections
import json
import os

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import ModelCard

import train
from emotion_hub.datasets_scripts.meld import EMOTIONS
from tests.erc_utils import TINY_AUDIO_CONFIG, TINY_TEXT_CONFIG, TINY_VISION_CONFIG
from tests.fixtures import CUE_WORDS, FILLER, write_word_vectors
from tests.utils import run_clean_python


MULTIMODAL_RECIPE = {
    "dataset": "meld",
    "dataset_config": "multimodal",
    "input_column": "utterance",
    "label_column": "emotion",
    "model_type": "erc_fusion",
    "model": {"text_encoder": "gpt2", "audio_encoder": "wav2vec2", "vision_encoder": "timm",
              "text_config": TINY_TEXT_CONFIG, "audio_config": TINY_AUDIO_CONFIG, "vision_config": TINY_VISION_CONFIG,
              "fusion": "mha", "fusion_out_features": 16, "feed_forward_sizes": [8], "loss_type": "weighted_ce"},
    "erc_processor": {"tokenizer": "train", "bpe_vocab_size": 400, "bpe_min_frequency": 1, "frame_height": 32,
                      "frame_width": 32, "max_prompt_tokens": 128},
    "max_train_steps": 2,
    "num_epochs": 1,
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 4,
    "metric_for_best_model": "f1_weighted",
    "checkpointing_steps": None,
    "logging_steps": 1,
}


def run(recipe, data_dir, output_dir, cache, tmp_path, *extra):
    path = tmp_path / f"recipe-{os.path.basename(str(output_dir))}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return train.main(["--config", str(path), "--data_dir", str(data_dir), "--output_dir", str(output_dir),
                       "--cache_dir", cache, *map(str, extra)])


def test_multimodal_end_to_end_build_train_save_reload_predict(meld_raw_dir, datasets_cache, tmp_path):
    out = tmp_path / "erc"
    results = run(MULTIMODAL_RECIPE, meld_raw_dir, out, datasets_cache, tmp_path)
    assert results["train_steps"] == 2 and results["eval_samples"] == 6 and results["test_samples"] == 6
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "modeling_erc_fusion.py",
            "pipeline_erc.py", "processing_erc.py", "losses.py", "README.md", "all_results.json"} <= set(os.listdir(out))
    config = json.load(open(out / "config.json"))
    assert config["id2label"]["6"] == "surprise" and len(config["class_weights"]) == 7
    assert config["text_config"]["vocab_size"] == 400 and config["vision_config"]["model_name"] == "test_resnet"
    card = ModelCard.load(out / "README.md")
    assert card.data.pipeline_tag == "video-classification" and "emotion-recognition-in-conversation" in card.text
    assert "multimodal" in card.data.tags

    # The clip of a test utterance, decoded in the clean Python as a user would; logits must match this process's.
    clip = os.path.join(meld_raw_dir, "MELD.Raw", "output_repeated_splits_test", "dia1_utt2.mp4")
    dialogue = [{"speaker": "Monica", "utterance": "Okay, everybody relax."},
                {"speaker": "Joey", "utterance": "C'mon, you're going out with the guy!"}]
    from emotion_hub.datasets_scripts.meld import decode_clip
    from emotion_hub.modeling import ERCFusionForEmotionRecognition
    from emotion_hub.processing import ERCProcessor

    waveform, frames, _ = decode_clip(clip)
    model = ERCFusionForEmotionRecognition.from_pretrained(out).eval()
    processor = ERCProcessor.from_pretrained(out)
    with torch.no_grad():
        expected = model(**processor([dialogue], audio=[waveform.numpy()], frames=[frames])).logits
    torch.save(expected, tmp_path / "expected.pt")
    printed = run_clean_python(f"""
        import json, torch
        from PIL import Image
        from torchcodec.decoders import AudioDecoder, VideoDecoder
        from transformers import AutoModelForSequenceClassification, AutoProcessor, pipeline
        waveform = AudioDecoder({clip!r}, sample_rate=16000, num_channels=1).get_all_samples().data[0].numpy()
        video = VideoDecoder({clip!r}, dimension_order="NHWC")
        frames = [Image.fromarray(f) for f in video.get_frames_at([0, 1, 2, 3, 4]).data.numpy()]
        dialogue = {dialogue!r}
        erc = pipeline("emotion-recognition-in-conversation", model={str(out)!r}, trust_remote_code=True)
        print(json.dumps(erc({{"dialogue": dialogue, "audio": waveform, "frames": frames}}, top_k=3)))
        processor = AutoProcessor.from_pretrained({str(out)!r}, trust_remote_code=True)
        model = AutoModelForSequenceClassification.from_pretrained({str(out)!r}, trust_remote_code=True).eval()
        with torch.no_grad():
            logits = model(**processor([dialogue], audio=[waveform], frames=[frames])).logits
        print(torch.allclose(logits, torch.load({str(tmp_path / "expected.pt")!r}), atol=1e-5))
    """, cwd=str(tmp_path))
    predictions, same = printed.strip().splitlines()[-2:]
    predictions = json.loads(predictions)
    assert len(predictions) == 3 and {p["label"] for p in predictions} <= set(EMOTIONS)
    assert predictions[0]["label"] == EMOTIONS[int(expected.argmax())]
    assert same == "True"


def test_text_only_mean_embedding_with_word_vectors_triplet_and_balanced_batches(meld_dir, datasets_cache, tmp_path):
    words = FILLER + [w for cue in CUE_WORDS.values() for w in cue]
    vectors = write_word_vectors(tmp_path / "glove.txt", words, dim=8)
    recipe = {**MULTIMODAL_RECIPE, "dataset_config": "text", "word_vectors": str(vectors),
              "model": {"text_encoder": "mean_embedding", "audio_encoder": "none", "vision_encoder": "none",
                        "mean_embedding_dim": 8, "fusion_out_features": 16, "feed_forward_sizes": [8],
                        "l2_normalize": True, "loss_type": "dice", "triplet_weight": 1.0},
              "class_balanced_sampler": True, "samples_per_class": 2, "per_device_train_batch_size": 8,
              "max_train_steps": 4}
    results = run(recipe, meld_dir, tmp_path / "text", datasets_cache, tmp_path)
    assert results["train_steps"] == 4 and 0.05 < results["word_vector_coverage"] <= 1.0  # of 400 BPE tokens
    assert results["train_samples_per_second"] > 0 and np.isfinite(results["test_f1_weighted"])
    config = json.load(open(tmp_path / "text" / "config.json"))
    assert config["triplet_weight"] == 1.0 and config["word_vectors"] == "glove.txt"
    card = ModelCard.load(tmp_path / "text" / "README.md")
    assert card.data.pipeline_tag == "text-classification" and "multimodal" not in card.data.tags
    with pytest.raises(ValueError, match=r"lacks columns \['audio', 'frames'\]"):
        run({**MULTIMODAL_RECIPE, "dataset_config": "text"}, meld_dir, tmp_path / "x", datasets_cache, tmp_path)


def test_text_only_prompts_group_by_length_and_multimodal_refuses(meld_dir, datasets_cache, tmp_path):
    """`group_by_length` batches text-only dialogue prompts of similar token counts; a model that also reads audio or
    frames has no tokenised prompt column to group by, and says so."""
    from types import SimpleNamespace
    from emotion_hub.training.conversation import ERCTask

    recipe = {**MULTIMODAL_RECIPE, "dataset_config": "text", "group_by_length": True, "max_train_steps": 2,
              "model": {**MULTIMODAL_RECIPE["model"], "audio_encoder": "none", "vision_encoder": "none",
                        "fusion": "concat"}}
    results = run(recipe, meld_dir, tmp_path / "grouped", datasets_cache, tmp_path)
    assert results["train_steps"] == 2
    multimodal = SimpleNamespace(recipe=SimpleNamespace(group_by_length=True), modalities=["text", "audio"])
    with pytest.raises(ValueError, match="it is for text-only erc_fusion models; this one reads"):
        ERCTask.train_sampler(multimodal, None)


def test_class_balanced_batch_sampler():
    labels = [0] * 50 + [1] * 10 + [2] * 3 + [3] * 37
    sampler = train.ClassBalancedBatchSampler(labels, batch_size=9, samples_per_class=3, seed=0)
    assert sampler.batch_size == 9 and len(sampler) == 100 // 9
    batches = list(sampler)
    for batch in batches:  # 3 classes x 3 examples each
        counts = collections.Counter(labels[i] for i in batch)
        assert len(counts) == 3 and set(counts.values()) == {3}
    second = list(sampler)  # a completed pass moves to the next epoch
    assert second != batches
    sampler.set_epoch(0)
    assert list(sampler) == batches  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) == second
    # A rare class repeats its examples instead of being dropped; drawn without replacement until exhausted.
    rare = collections.Counter(i for batch in batches for i in batch if labels[i] == 2)
    assert set(rare) == {60, 61, 62} and max(rare.values()) - min(rare.values()) <= 1
    frequent = collections.Counter(i for batch in batches for i in batch if labels[i] == 0)
    assert max(frequent.values()) == 1  # fewer draws than examples: none repeated
    with pytest.raises(ValueError, match="samples_per_class"):
        train.ClassBalancedBatchSampler(labels, 8, 0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        train.ClassBalancedBatchSampler([1, 1, 1], 8, 2)


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(os.path.join(os.path.dirname(__file__), "..", "configs"))
                                        if f.startswith("erc-meld-")))
def test_recipes_parse_and_their_model_arguments_validate(name):
    from emotion_hub.modeling import ERCFusionConfig

    path = os.path.join(os.path.dirname(__file__), "..", "configs", name)
    recipe = train.parse_args(["--config", path, "--output_dir", "x"])
    assert recipe.model_type == "erc_fusion" and recipe.metric_for_best_model == "f1_weighted"
    model_args = {k: v for k, v in recipe.model.items() if k != "class_weights"}
    config = ERCFusionConfig(**model_args)
    assert (recipe.dataset_config == "text") == (config.modalities == ["text"])
    backbones = recipe.erc_backbones
    assert set(backbones.values()) <= {"gpt2", "facebook/wav2vec2-base", "resnet50",
                                       "sentence-transformers/all-MiniLM-L6-v2"}
    if config.text_branch == "transformer" and backbones.get("text", "gpt2") == "gpt2":  # GPT2 text recipes
        assert backbones.get("text") == "gpt2" or recipe.erc_processor.get("tokenizer") == "train"


def test_whisper_audio_branch_trains_on_a_window_from_the_recipe(meld_raw_dir, datasets_cache, tmp_path):
    """`erc_backbones.audio` names a Whisper checkpoint with a 2 s window; `audio_window_seconds: 1` cuts the model's
    position table to 1 s and sets the feature extractor's chunk_length to match (its mel frames fit the encoder)."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    from tests.erc_utils import TINY_WHISPER_CONFIG

    whisper = tmp_path / "tiny-whisper"
    torch.manual_seed(0)
    WhisperModel(WhisperConfig(**{**TINY_WHISPER_CONFIG, "max_source_positions": 100, "pad_token_id": 0,
                                   "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 1})).save_pretrained(whisper)
    WhisperFeatureExtractor(feature_size=16, chunk_length=2).save_pretrained(whisper)
    recipe = {**MULTIMODAL_RECIPE,
              "model": {"text_branch": "transformer", "audio_branch": "speech_encoder", "vision_branch": "none",
                        "text_config": TINY_TEXT_CONFIG, "fusion": "concat", "fusion_out_features": 16,
                        "feed_forward_sizes": [8], "loss_type": "ce"},
              "erc_backbones": {"audio": str(whisper), "audio_window_seconds": 1.0}}
    out = tmp_path / "erc-whisper"
    results = run(recipe, meld_raw_dir, out, datasets_cache, tmp_path)
    assert results["train_steps"] == 2 and np.isfinite(results["eval_loss"])
    config = json.load(open(out / "config.json"))
    assert config["audio_config"]["model_type"] == "whisper" and config["audio_config"]["max_source_positions"] == 50
    assert json.load(open(out / "processor_config.json"))["feature_extractor"]["chunk_length"] == 1
    with pytest.raises(ValueError, match="no audio backbone"):
        run({**recipe, "erc_backbones": {"audio_window_seconds": 1.0}}, meld_raw_dir, tmp_path / "bad",
            datasets_cache, tmp_path)
