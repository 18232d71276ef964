"""Emotion recognition in conversation (`model_type: erc_fusion`): MELD dialogues, optional audio and frames."""

import os
from dataclasses import dataclass
from typing import Any

import torch

from emotion_hub.modeling.speech_encoders import WHISPER_FRAMES_PER_SECOND, whisper_window_positions
from emotion_hub.processing import ERCProcessor, build_byte_level_bpe_tokenizer, default_feature_extractor, frame_image_processor
from emotion_hub.training.samplers import token_length_sampler
from emotion_hub.training.task import Task


class ERCTask(Task):
    """Emotion recognition in conversation with ERCFusion (`model_type: erc_fusion`) on MELD: the `text` config for
    text-only models, the `multimodal` config (clip audio and frames) for models that read audio or video.

    Text-only splits are tokenised once with `map` (the dialogue prompts are cached by `datasets`); splits with audio
    or frames are only narrowed to the needed columns, and the collator decodes and processes each batch, so a
    10 GB corpus is never loaded or copied at once (`dataloader_num_workers` parallelises the decoding).
    """

    TEXT_COLUMNS = ("context", "speaker", "utterance")
    supports_length_grouping = True  # text-only models: `train_sampler` refuses the others by name

    def __init__(self, recipe, train_split, label_names):
        super().__init__(recipe, train_split, label_names)
        self.backbones = {k: v for k, v in recipe.erc_backbones.items() if v is not None}
        unknown = set(self.backbones) - {"text", "audio", "vision", "vision_pretrained_cfg_overlay",
                                         "audio_window_seconds"}
        if unknown:
            raise ValueError(f"`erc_backbones` keys are text, audio, vision, vision_pretrained_cfg_overlay, "
                             f"audio_window_seconds; got {sorted(unknown)}")
        if "audio_window_seconds" in self.backbones and not self.backbones.get("audio"):
            raise ValueError("`erc_backbones.audio_window_seconds` sets the window of a Whisper `erc_backbones.audio`; "
                             "no audio backbone is given")
        model_args = {k: v for k, v in recipe.model.items() if k != "class_weights"}
        if self.backbones.get("vision"):
            model_args["vision_config"] = {**model_args.get("vision_config", {}), "model_name": self.backbones["vision"]}
        # Validates the model arguments early and tells the modalities (class weights come later, in build_model).
        probe = self.config_class(**{**model_args, "loss_type": "ce"})
        self.modalities = probe.modalities
        # The dialogue columns are always read (the prompt is cheap to build even when no text encoder uses it).
        self.columns = list(self.TEXT_COLUMNS) + [c for m, c in (("audio", "audio"), ("vision", "frames"))
                                                  if m in self.modalities]
        missing = [c for c in self.columns if c not in train_split.column_names]
        if missing:
            raise ValueError(f"model_type erc_fusion reads {self.modalities}: dataset {recipe.dataset}/"
                             f"{recipe.dataset_config} lacks columns {missing} (MELD: use the 'multimodal' config "
                             f"for audio and frames)")
        self.pipeline_tag = {("text",): "text-classification", ("audio",): "audio-classification"}.get(
            tuple(self.modalities), "video-classification")

        options = dict(recipe.erc_processor)
        tokenizer_name = options.pop("tokenizer", self.backbones.get("text") or "gpt2")
        vocab_size, min_frequency = options.pop("bpe_vocab_size", 8000), options.pop("bpe_min_frequency", 2)
        feature_extractor = options.pop("feature_extractor", self.backbones.get("audio"))
        height, width = options.pop("frame_height", 224), options.pop("frame_width", 224)
        if self.backbones.get("text"):  # the text encoder the model will load: its position table bounds the prompt
            from transformers import AutoConfig

            text_config = AutoConfig.from_pretrained(self.backbones["text"]).to_dict()
            probe = self.config_class(**{**model_args, "loss_type": "ce", "text_config": text_config})
        limit = probe.max_text_positions if probe.text_branch == "transformer" else None
        options.setdefault("max_prompt_tokens", limit or probe.text_config.n_positions)
        if limit is not None and options["max_prompt_tokens"] > limit:
            raise ValueError(f"`erc_processor.max_prompt_tokens` ({options['max_prompt_tokens']}) exceeds the "
                             f"{probe.text_config.model_type} text encoder's {limit} positions: set it to at most "
                             f"{limit} (the prompt is truncated from its oldest turn)")
        if tokenizer_name == "train":
            texts = list(train_split["utterance"]) + sorted(set(train_split["speaker"]))
            tokenizer = build_byte_level_bpe_tokenizer(texts, vocab_size=vocab_size, min_frequency=min_frequency,
                                                       model_max_length=options["max_prompt_tokens"])
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer_name)
        if feature_extractor:
            from transformers import AutoFeatureExtractor

            window = self.backbones.get("audio_window_seconds")
            extra = {}
            if window is not None:  # Whisper pads each clip to its window (whole seconds, as `chunk_length` is)
                extra["chunk_length"] = whisper_window_positions(window) // WHISPER_FRAMES_PER_SECOND
            feature_extractor = AutoFeatureExtractor.from_pretrained(feature_extractor, return_attention_mask=True,
                                                                     **extra)
        else:
            feature_extractor = default_feature_extractor()
        image_processor = frame_image_processor(probe.vision_config["model_name"], height, width)
        self.processor = ERCProcessor(tokenizer, feature_extractor, image_processor,
                                      min_audio_samples=probe.audio_receptive_field, **options)
        self.vector_coverage = None

    def _dialogues(self, rows_context, rows_speaker, rows_utterance):
        return [list(context) + [{"speaker": speaker, "utterance": utterance}]
                for context, speaker, utterance in zip(rows_context, rows_speaker, rows_utterance)]

    def dataset(self, split_name, split):
        label = self.recipe.label_column
        if self.modalities != ["text"]:
            return split.select_columns(self.columns + [label]).rename_column(label, "labels")

        def encode(batch):
            encoded = [self.processor.encode_dialogue(d, i)
                       for i, d in enumerate(self._dialogues(batch["context"], batch["speaker"], batch["utterance"]))]
            return {key: [e[key] for e in encoded] for key in encoded[0]}

        split = split.map(encode, batched=True, remove_columns=[c for c in split.column_names if c != label],
                          desc=f"building dialogue prompts of {split_name}")
        return split.rename_column(label, "labels")

    def collator(self, train: bool):
        return ERCCollator(self.processor, self.modalities)

    def train_sampler(self, dataset):
        if self.recipe.group_by_length and self.modalities != ["text"]:
            raise ValueError(f"`group_by_length` groups tokenised dialogue prompts: it is for text-only erc_fusion "
                             f"models; this one reads {self.modalities}")
        return token_length_sampler(self.recipe, dataset)

    def build_model(self, class_weights):
        kwargs = self.model_arguments(class_weights)
        tokenizer = self.processor.tokenizer
        if self.recipe.word_vectors:
            kwargs.setdefault("word_vectors", os.path.basename(self.recipe.word_vectors))
        if self.backbones.get("text"):
            model = self.model_class.from_pretrained_backbones(**self.backbones, **kwargs)
        else:
            kwargs["text_config"] = {**kwargs.get("text_config", {}), "vocab_size": len(tokenizer),
                                     "bos_token_id": tokenizer.eos_token_id, "eos_token_id": tokenizer.eos_token_id}
            backbones = {k: v for k, v in self.backbones.items() if v}
            model = (self.model_class.from_pretrained_backbones(**backbones, **kwargs) if backbones
                     else self.model_class(self.config_class(**kwargs)))
        embeddings = model.get_input_embeddings()
        if embeddings is not None and embeddings.num_embeddings < len(tokenizer):
            raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but the text encoder only "
                             f"{embeddings.num_embeddings} embeddings")
        if self.recipe.word_vectors:
            found = model.load_word_vectors(self.recipe.word_vectors, tokenizer.get_vocab())
            self.vector_coverage = found / len(tokenizer)
        return model

    def extra_results(self):
        return {"word_vector_coverage": self.vector_coverage} if self.vector_coverage is not None else {}


@dataclass
class ERCCollator:
    """Pads pre-built prompts, or builds prompt, audio and frame inputs of a batch of raw dataset rows."""

    processor: Any
    modalities: list

    def __call__(self, rows):
        labels = torch.tensor([row["labels"] for row in rows], dtype=torch.long)
        if "input_ids" in rows[0]:
            return {**self.processor.pad_prompts(rows), "labels": labels}
        dialogues = [list(r["context"]) + [{"speaker": r["speaker"], "utterance": r["utterance"]}] for r in rows]
        audio = frames = sampling_rate = None
        if "audio" in self.modalities:
            audio = [r["audio"]["array"] for r in rows]
            sampling_rate = rows[0]["audio"]["sampling_rate"]
        if "vision" in self.modalities:
            frames = [r["frames"] for r in rows]
        batch = self.processor(dialogues=dialogues, audio=audio, frames=frames, sampling_rate=sampling_rate)
        return {**batch, "labels": labels}


__all__ = ["ERCCollator", "ERCTask"]
