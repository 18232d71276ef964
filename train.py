#!/usr/bin/env python
"""Train any recipe of the package with Accelerate: CPU, one GPU, many GPUs or many nodes.

    python train.py --config configs/text-cnn-tweeteval-emotion.yaml --data_dir DIR --output_dir OUT [--key value ...]

Every recipe key can be overridden on the command line (`--learning_rate 3e-4`, nested keys with a dot:
`--model.num_filters 200`); `python train.py --help` lists them. The output folder is a Hub model repository:
config with `auto_map`, safetensors weights, processor files, the model's code and a model card, plus
`all_results.json` (validation metrics of the best epoch and test metrics of the best weights) and
`classification_report.json` (per-class metrics and confusion matrices). Checkpoints go to `OUT/checkpoints/` and
resume with `--resume_from_checkpoint latest`.

Shape after transformers' `run_glue_no_trainer.py` and accelerate's `complete_nlp_example.py`.
"""

import argparse
import dataclasses
import difflib
import io
import json
import math
import os
import shutil
import sys
import time
import typing
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np
import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from safetensors.torch import load_file, save_file
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support,
                             roc_auc_score)
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
import transformers
from transformers import DataCollatorWithPadding, get_scheduler

import modeling
from datasets_scripts import load_builder_dataset
from modeling.losses import class_weights_from_counts
from model_cards import render_model_card
from processing.feature_extraction_emotion_audio import EmotionAudioFeatureExtractor
from processing.image_processing_fer import FERImageProcessor
from processing.tokenization_word_level import build_word_level_tokenizer
from processing import ERCProcessor, build_byte_level_bpe_tokenizer, default_feature_extractor, frame_image_processor


logger = transformers.utils.logging.get_logger("train")

OPTIMIZERS = ("adam", "adamw", "sgd", "sgd_momentum", "adadelta")
SCHEDULERS = ("constant", "linear", "cosine", "reduce_on_plateau")
METRICS = ("accuracy", "f1_macro", "f1_weighted", "uar", "roc_auc_macro", "loss")
# Image augmentation of the faces recipes (0 / off by default): probability of a horizontal flip, maximum rotation in
# degrees, maximum shift as a fraction of the size, zoom range, maximum brightness shift (fraction of 255), maximum
# contrast change (relative), probability of erasing a random rectangle (2-20% of the image, filled with the mean).
AUGMENTATION_DEFAULTS = {"hflip": 0.0, "rotation": 0.0, "translate": 0.0, "scale": [1.0, 1.0], "brightness": 0.0,
                         "contrast": 0.0, "erasing": 0.0}


@dataclass
class Recipe:
    """A training recipe: every field can come from the YAML file or from `--field value` on the command line."""

    # data
    dataset: str = field(default="tweet_eval_emotion", metadata={"help": "builder name in datasets_scripts"})
    dataset_config: Optional[str] = field(default=None, metadata={"help": "builder config, e.g. anger_joy"})
    data_dir: Optional[str] = field(default=None, metadata={"help": "local copy of the data (else: download)"})
    cache_dir: Optional[str] = field(default=None, metadata={"help": "datasets cache folder"})
    input_column: str = field(default="text", metadata={"help": "column holding the model input"})
    label_column: str = field(default="label", metadata={"help": "ClassLabel column to predict"})
    max_train_samples: Optional[int] = field(default=None, metadata={"help": "truncate train split (debugging)"})
    max_eval_samples: Optional[int] = field(default=None, metadata={"help": "truncate validation/test splits"})
    # model and processor
    model_type: str = field(default="text_cnn", metadata={"help": "model family, see MODEL_TYPES"})
    model: dict = field(default_factory=dict, metadata={"help": "config arguments of the model"})
    tokenizer: dict = field(default_factory=dict, metadata={"help": "build_word_level_tokenizer arguments"})
    word_vectors: Optional[str] = field(default=None, metadata={"help": "GloVe-format text file for embeddings"})
    word_vectors_vocab: int = field(default=0, metadata={"help": "add the N most frequent vector words to vocab"})
    # faces (image classification)
    image_processor: dict = field(default_factory=dict, metadata={
        "help": "FERImageProcessor arguments (default image_mean/image_std: the training split's pixel statistics)"})
    augmentation: dict = field(default_factory=dict, metadata={
        "help": f"training-only image augmentation, keys {sorted(AUGMENTATION_DEFAULTS)}"})
    # optimisation
    output_dir: Optional[str] = field(default=None, metadata={"help": "where the Hub-ready model folder goes"})
    num_epochs: int = field(default=10, metadata={"help": "maximum number of epochs"})
    max_train_steps: Optional[int] = field(default=None, metadata={"help": "stop after this many optimizer steps"})
    per_device_train_batch_size: int = 32
    per_device_eval_batch_size: int = 256
    gradient_accumulation_steps: int = 1
    optimizer: str = field(default="adam", metadata={"help": f"one of {OPTIMIZERS}"})
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = field(default=0.9, metadata={"help": "momentum of sgd_momentum"})
    adam_epsilon: float = 1e-8
    lr_scheduler: str = field(default="constant", metadata={"help": f"one of {SCHEDULERS}"})
    warmup_ratio: float = field(default=0.0, metadata={"help": "fraction of steps of linear warmup"})
    plateau_factor: float = field(default=0.5, metadata={"help": "reduce_on_plateau: lr multiplier"})
    plateau_patience: int = field(default=1, metadata={"help": "reduce_on_plateau: epochs without improvement"})
    max_grad_norm: Optional[float] = field(default=None, metadata={"help": "gradient clipping (None: off)"})
    metric_for_best_model: str = field(default="f1_macro", metadata={"help": f"validation metric, one of {METRICS}"})
    early_stopping_patience: Optional[int] = field(default=3, metadata={"help": "epochs without improvement"})
    keep_best_weights: bool = field(default=True, metadata={
        "help": "keep the best validation epoch's weights (false: the last epoch's, for a number of epochs chosen on "
                "validation beforehand, e.g. on the mean validation curve of a cross-validation)"})
    seed: int = 42
    mixed_precision: str = field(default="no", metadata={"help": "no | fp16 | bf16"})
    dataloader_num_workers: int = 0
    # checkpoints, logging, Hub
    checkpointing_steps: Union[str, int, None] = field(default="epoch", metadata={"help": "'epoch', N or None"})
    checkpoints_total_limit: Optional[int] = field(default=2, metadata={"help": "keep this many checkpoints"})
    resume_from_checkpoint: Optional[str] = field(default=None, metadata={"help": "checkpoint folder or 'latest'"})
    report_to: str = field(default="none", metadata={"help": "none | tensorboard | wandb | all ..."})
    logging_steps: int = 50
    push_to_hub: bool = False
    hub_model_id: Optional[str] = None
    hub_private_repo: bool = False
    hub_token: Optional[str] = field(default=None, metadata={"help": "defaults to the saved login / HF_TOKEN"})
    # conversations (erc_fusion)
    dataset_options: dict = field(default_factory=dict, metadata={
        "help": "builder config options, e.g. {on_bad_clip: skip, num_frames: 5} for MELD's multimodal config"})
    erc_processor: dict = field(default_factory=dict, metadata={
        "help": "erc_fusion processor: tokenizer (Hub id/folder, or 'train' for a byte-level BPE trained on the "
                "training split: bpe_vocab_size, bpe_min_frequency), feature_extractor (Hub id/folder), frame_height, "
                "frame_width, and ERCProcessor arguments (max_prompt_tokens, max_context_turns, target_marker)"})
    erc_backbones: dict = field(default_factory=dict, metadata={
        "help": "erc_fusion pretrained backbones: text (GPT2 id), audio (wav2vec2 id), vision (timm name), "
                "vision_pretrained_cfg_overlay (e.g. {file: weights.safetensors})"})
    # voice (audio classification)
    feature_extractor: dict = field(default_factory=dict, metadata={
        "help": "audio feature extractor: `class` (EmotionAudioFeatureExtractor (default), Wav2Vec2FeatureExtractor, "
                "ASTFeatureExtractor), `from_pretrained` (Hub id/folder) and the class's arguments"})
    audio_augmentation: dict = field(default_factory=dict, metadata={
        "help": "training-only audio augmentation: noise_snr_db [min, max] (white noise), SpecAugment freq_masks / "
                "freq_width / time_masks / time_width (masks of up to width bins/frames set to 0)"})
    random_crop: bool = field(default=False, metadata={
        "help": "training clips: a random max_length_seconds crop per clip and epoch (evaluation: deterministic)"})
    max_length_seconds: Optional[float] = field(default=None, metadata={
        "help": "training crop length (default: the feature extractor's max_length_seconds)"})
    pretrained_backbone: Optional[str] = field(default=None, metadata={
        "help": "start from pretrained weights: a wav2vec2 checkpoint (wav2vec2_emotion, e.g. facebook/wav2vec2-base) "
                "or a timm model name (spectrogram_vit with backbone: timm)"})
    pretrained_backbone_options: dict = field(default_factory=dict, metadata={
        "help": "wav2vec2: {backbone_config_overrides: {mask_time_prob: 0.05}}; timm: {pretrained_cfg_overlay: "
                "{file: weights.safetensors}} for a local checkpoint"})
    group_by_length: bool = field(default=False, metadata={
        "help": "training batches of clips of similar length (less padding), shuffled per epoch"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "recompute activations in the backward"})
    lora_r: int = field(default=0, metadata={"help": "LoRA rank through peft (0: off); merged into the saved model"})
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_target_modules: list = field(default_factory=lambda: ["q_proj", "v_proj"], metadata={
        "help": "modules LoRA adapts (the model's head is trained in full)"})
    export_stock: bool = field(default=False, metadata={
        "help": "save the model as the stock transformers class it matches (ASTForAudioClassification, "
                "Wav2Vec2ForSequenceClassification): no trust_remote_code, runs in the Hub's hosted widget"})
    # cross-validation
    folds: int = field(default=0, metadata={
        "help": "K-fold cross-validation over all splits (0: off): OUT/fold_{k}/ per fold, cv_* in all_results.json"})
    fold_group_column: Optional[str] = field(default=None, metadata={
        "help": "grouped folds: no value of this column (e.g. speaker) in two folds; None: stratified by label"})
    fold_strata_column: Optional[str] = field(default=None, metadata={
        "help": "grouped folds balanced over this per-group column (e.g. gender)"})
    fold_validation_fraction: float = field(default=0.25, metadata={
        "help": "share of each fold's training groups (or examples) held out for validation (at least one)"})
    class_balanced_sampler: bool = field(default=False, metadata={
        "help": "train batches of samples_per_class examples of each of batch_size // samples_per_class classes"})
    samples_per_class: int = field(default=4, metadata={"help": "class_balanced_sampler: examples per class"})

    def __post_init__(self):
        checks = [
            (self.optimizer in OPTIMIZERS, f"`optimizer` must be one of {OPTIMIZERS}"),
            (self.lr_scheduler in SCHEDULERS, f"`lr_scheduler` must be one of {SCHEDULERS}"),
            (self.metric_for_best_model in METRICS, f"`metric_for_best_model` must be one of {METRICS}"),
            (self.mixed_precision in ("no", "fp16", "bf16"), "`mixed_precision` must be no, fp16 or bf16"),
            (self.model_type in MODEL_TYPES, f"`model_type` must be one of {sorted(MODEL_TYPES)}"),
            (self.output_dir is not None, "`output_dir` is required (--output_dir OUT)"),
            (self.num_epochs >= 1 and self.per_device_train_batch_size >= 1, "epochs and batch size must be >= 1"),
            (self.gradient_accumulation_steps >= 1, "`gradient_accumulation_steps` must be >= 1"),
            (0 <= self.warmup_ratio < 1, "`warmup_ratio` must be in [0, 1)"),
            (self.checkpointing_steps in (None, "epoch") or isinstance(self.checkpointing_steps, int)
             and self.checkpointing_steps > 0, "`checkpointing_steps` must be 'epoch', a positive int or None"),
            (not self.push_to_hub or self.hub_model_id, "`push_to_hub` needs `hub_model_id`"),
            (self.folds == 0 or self.folds >= 2, "`folds` must be 0 (off) or >= 2"),
            (0 < self.fold_validation_fraction < 1, "`fold_validation_fraction` must be in (0, 1)"),
            (not (self.folds and self.push_to_hub), "`push_to_hub` pushes one model: with `folds`, push a fold's "
             "folder (OUT/fold_k) yourself"),
            (self.max_length_seconds is None or self.max_length_seconds > 0, "`max_length_seconds` must be > 0"),
            (isinstance(self.lora_r, int) and self.lora_r >= 0, "`lora_r` must be an int >= 0"),
            (not self.lora_r or self.lora_target_modules, "`lora_target_modules` must name the modules to adapt"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{message}, got {self._offending(message)}")
        ImageAugmentation(**self.augmentation)  # faces: unknown keys or out-of-range values fail before any work
        AudioAugmentation(**self.audio_augmentation)  # voice: likewise

    def _offending(self, message):
        name = message.split("`")[1] if "`" in message else None
        return repr(getattr(self, name, None)) if name and hasattr(self, name) else "an invalid recipe"

    @property
    def greater_is_better(self) -> bool:
        return self.metric_for_best_model != "loss"


def _coerce(value, annotation, key):
    """Turn a YAML/CLI value into the field's type (`1e-3` is a string to YAML 1.1)."""
    if value is None or annotation is Any:
        return value
    if typing.get_origin(annotation) is Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if any(isinstance(value, a) for a in options if a is not float):
            return value
        return _coerce(value, options[0], key)
    try:
        if annotation is float and isinstance(value, (str, int)) and not isinstance(value, bool):
            return float(value)
        if annotation is int and isinstance(value, str):
            return int(value)
        if annotation is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    except ValueError:
        raise ValueError(f"recipe key {key!r}: cannot read {value!r} as {annotation.__name__}") from None
    return value


def parse_args(argv=None) -> Recipe:
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    epilog = "recipe keys (override with --key value; nested: --model.key value):\n" + "\n".join(
        f"  --{name:<28} {f.metadata.get('help', '')}" for name, f in fields.items()
    )
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML recipe, e.g. configs/text-cnn-tweeteval-emotion.yaml")
    args, rest = parser.parse_known_args(argv)
    with open(args.config, encoding="utf-8") as f:
        values = yaml.safe_load(f) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{args.config}: a recipe is a YAML mapping of keys to values")
    overrides = []
    while rest:
        token = rest.pop(0)
        if not token.startswith("--"):
            raise ValueError(f"unexpected argument {token!r}; overrides are written --key value")
        key, has_value, raw = token[2:].partition("=")
        if not has_value:
            raw = rest.pop(0) if rest and not rest[0].startswith("--") else "true"
        overrides.append((key, yaml.safe_load(raw)))
    for key, value in [(k, v) for k, v in values.items()] + overrides:
        top, _, sub = key.partition(".")
        if top not in fields:
            close = difflib.get_close_matches(top, fields, n=3)
            raise ValueError(f"unknown recipe key {top!r}" + (f"; did you mean {close}?" if close else "") +
                             f" Valid keys: {sorted(fields)}")
        if sub:
            if not isinstance(values.get(top, {}), dict):
                raise ValueError(f"recipe key {top!r} is not a mapping, cannot set {key!r}")
            values.setdefault(top, {})[sub] = value
        else:
            values[top] = value
    hints = typing.get_type_hints(Recipe)
    return Recipe(**{k: _coerce(v, hints[k], k) for k, v in values.items()})


# ---------------------------------------------------------------------------------------------------------------------
# Model families: how a dataset row becomes model inputs, and how the model is built.
# ---------------------------------------------------------------------------------------------------------------------
class TextClassificationTask:
    """Word-level tokenizer trained on the training split + a text CNN (`model_type: text_cnn`).

    A task is what differs between model families: it builds the processor (saved beside the model), turns a split
    into the dataset the DataLoader reads (`dataset`), batches it (`collator`) and builds the model (`build_model`).
    """

    pipeline_tag = "text-classification"
    config_class, model_class = modeling.TextCNNConfig, modeling.TextCNNForSequenceClassification

    def __init__(self, recipe: Recipe, train_split, label_names):
        self.recipe, self.label_names = recipe, label_names
        max_length = recipe.model.get("max_sequence_length", self.config_class().max_sequence_length)
        extra_words = _first_words(recipe.word_vectors, recipe.word_vectors_vocab) if recipe.word_vectors else ()
        self.processor = build_word_level_tokenizer(
            train_split[recipe.input_column], extra_words=extra_words, model_max_length=max_length, **recipe.tokenizer
        )

    def dataset(self, split_name, split):
        """Tokenised once with `map` (cached by `datasets`); `labels` holds the class ids."""
        columns = self.recipe.input_column, self.recipe.label_column
        split = split.map(lambda batch: self.processor(batch[columns[0]], truncation=True), batched=True,
                          remove_columns=[c for c in split.column_names if c != columns[1]],
                          desc=f"tokenizing {split_name}")
        return split.rename_column(columns[1], "labels")

    def collator(self, train: bool):
        return DataCollatorWithPadding(self.processor)

    def build_model(self, class_weights):
        kwargs = {k: v for k, v in self.recipe.model.items() if k != "class_weights"}
        if self.recipe.word_vectors:
            kwargs.setdefault("word_vectors", os.path.basename(self.recipe.word_vectors))
        config = self.config_class(
            vocab_size=len(self.processor),
            pad_token_id=self.processor.pad_token_id,
            id2label=dict(enumerate(self.label_names)),
            label2id={name: i for i, name in enumerate(self.label_names)},
            class_weights=class_weights,
            **kwargs,
        )
        model = self.model_class(config)
        self.vector_coverage = None
        if self.recipe.word_vectors:
            found = model.load_word_vectors(self.recipe.word_vectors, self.processor.get_vocab())
            self.vector_coverage = found / len(self.processor)
        return model

    def extra_results(self):
        return {"word_vector_coverage": self.vector_coverage} if self.vector_coverage is not None else {}


def _first_words(path, n):
    with open(path, encoding="utf-8") as f:
        return [line.partition(" ")[0] for _, line in zip(range(n), f)]


class ERCTask:
    """Emotion recognition in conversation with ERCFusion (`model_type: erc_fusion`) on MELD: the `text` config for
    text-only models, the `multimodal` config (clip audio and frames) for models that read audio or video.

    Text-only splits are tokenised once with `map` (the dialogue prompts are cached by `datasets`); splits with audio
    or frames are only narrowed to the needed columns, and the collator decodes and processes each batch, so a
    10 GB corpus is never loaded or copied at once (`dataloader_num_workers` parallelises the decoding).
    """

    config_class, model_class = modeling.ERCFusionConfig, modeling.ERCFusionForEmotionRecognition
    TEXT_COLUMNS = ("context", "speaker", "utterance")

    def __init__(self, recipe: Recipe, train_split, label_names):
        self.recipe, self.label_names = recipe, label_names
        self.backbones = dict(recipe.erc_backbones)
        unknown = set(self.backbones) - {"text", "audio", "vision", "vision_pretrained_cfg_overlay"}
        if unknown:
            raise ValueError(f"`erc_backbones` keys are text, audio, vision, vision_pretrained_cfg_overlay; got {sorted(unknown)}")
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
        n_positions = probe.text_config.n_positions
        options.setdefault("max_prompt_tokens", n_positions)
        if probe.text_encoder == "gpt2" and options["max_prompt_tokens"] > n_positions:
            raise ValueError(f"`erc_processor.max_prompt_tokens` ({options['max_prompt_tokens']}) exceeds GPT2's "
                             f"`n_positions` ({n_positions})")
        if tokenizer_name == "train":
            texts = list(train_split["utterance"]) + sorted(set(train_split["speaker"]))
            tokenizer = build_byte_level_bpe_tokenizer(texts, vocab_size=vocab_size, min_frequency=min_frequency,
                                                       model_max_length=options["max_prompt_tokens"])
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer_name)
        if feature_extractor:
            from transformers import AutoFeatureExtractor

            feature_extractor = AutoFeatureExtractor.from_pretrained(feature_extractor, return_attention_mask=True)
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

    def build_model(self, class_weights):
        kwargs = {k: v for k, v in self.recipe.model.items() if k != "class_weights"}
        tokenizer = self.processor.tokenizer
        kwargs.update(id2label=dict(enumerate(self.label_names)),
                      label2id={name: i for i, name in enumerate(self.label_names)}, class_weights=class_weights)
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


class ClassBalancedBatchSampler(torch.utils.data.Sampler):
    """Batches of `samples_per_class` examples of each of `batch_size // samples_per_class` classes (all classes when
    there are fewer), the classes drawn at random for every batch (the "PK" batches that online triplet mining needs).

    Each class's examples are drawn without replacement from a reshuffled pool refilled when empty, so every example
    is used and a rare class repeats its examples rather than being skipped. An epoch has `len(labels) // batch`
    batches (at least one). The order depends only on `seed` and the epoch, not on the global RNG: `set_epoch` sets
    the epoch, and a completed pass moves to the next one (accelerate's multi-process wrapper does not forward
    `set_epoch` to a custom batch sampler).
    """

    def __init__(self, labels, batch_size: int, samples_per_class: int, seed: int = 0):
        labels = np.asarray(labels)
        if samples_per_class < 1:
            raise ValueError(f"`samples_per_class` must be >= 1, got {samples_per_class}")
        self.classes = np.unique(labels)
        if len(self.classes) < 2:
            raise ValueError(f"a class-balanced sampler needs at least 2 classes in the training labels, got {self.classes}")
        self.by_class = {c: np.flatnonzero(labels == c) for c in self.classes}
        self.samples_per_class = samples_per_class
        self.classes_per_batch = max(2, min(len(self.classes), batch_size // samples_per_class))
        self.batch_size = self.classes_per_batch * samples_per_class
        self.num_batches = max(1, len(labels) // self.batch_size)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __len__(self):
        return self.num_batches

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        pools = {c: [] for c in self.classes}
        for _ in range(self.num_batches):
            batch = []
            for c in rng.choice(self.classes, size=self.classes_per_batch, replace=False):
                while len(pools[c]) < self.samples_per_class:
                    pools[c].extend(rng.permutation(self.by_class[c]).tolist())
                batch.extend(pools[c][: self.samples_per_class])
                del pools[c][: self.samples_per_class]
            yield batch
        self.epoch += 1



class ImageAugmentation:
    """Random flips, rotations, shifts, zooms, brightness/contrast changes and erasing of a whole batch at once.

    One affine transform per image (`affine_grid` + bilinear `grid_sample`, edges replicated), drawn from the global
    torch RNG that Accelerate checkpoints. It runs in the training loop (`ImageClassificationTask.augment_batch`), not
    in the collator: the DataLoader collates one batch ahead, so collator draws would not resume exactly.
    """

    def __init__(self, **options):
        unknown = sorted(set(options) - set(AUGMENTATION_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown `augmentation` keys {unknown}; valid keys: {sorted(AUGMENTATION_DEFAULTS)}")
        o = {**AUGMENTATION_DEFAULTS, **options}
        scale = o["scale"] if isinstance(o["scale"], (list, tuple)) else [1 / float(o["scale"]), float(o["scale"])]
        checks = [(0 <= o["hflip"] <= 1, "hflip", "a probability in [0, 1]"),
                  (0 <= o["rotation"] <= 180, "rotation", "degrees in [0, 180]"),
                  (0 <= o["translate"] < 1, "translate", "a fraction of the image size in [0, 1)"),
                  (len(scale) == 2 and 0 < scale[0] <= scale[1], "scale", "[min, max] zoom factors, 0 < min <= max"),
                  (0 <= o["brightness"] < 1, "brightness", "a fraction of 255 in [0, 1)"),
                  (0 <= o["contrast"] < 1, "contrast", "a relative change in [0, 1)"),
                  (0 <= o["erasing"] <= 1, "erasing", "a probability in [0, 1]")]
        for ok, key, expected in checks:
            if not ok:
                raise ValueError(f"`augmentation.{key}` must be {expected}, got {o[key]!r}")
        self.options = {**o, "scale": [float(scale[0]), float(scale[1])]}
        self.geometric = o["hflip"] > 0 or o["rotation"] > 0 or o["translate"] > 0 or scale != [1.0, 1.0]

    def __call__(self, pixels: torch.Tensor, fill: float) -> torch.Tensor:
        """`pixels` `(batch, channels, height, width)` float in [0, 255] -> augmented, same shape."""
        o, batch, device = self.options, pixels.shape[0], pixels.device

        def rand():
            return torch.rand(batch, device=device)

        def uniform(low, high):
            return rand() * (high - low) + low

        if self.geometric:
            # affine_grid maps output to input coordinates in [-1, 1]: zooming in by z samples a 1/z-sized window.
            angle = uniform(-o["rotation"], o["rotation"]) * math.pi / 180
            zoom = uniform(*o["scale"])
            flip = torch.where(rand() < o["hflip"], -1.0, 1.0)
            shift = uniform(-o["translate"], o["translate"]) * 2, uniform(-o["translate"], o["translate"]) * 2
            cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
            theta = torch.stack([torch.stack([cos * flip, -sin, shift[0]], -1),
                                 torch.stack([sin * flip, cos, shift[1]], -1)], 1)  # (batch, 2, 3)
            grid = torch.nn.functional.affine_grid(theta, list(pixels.shape), align_corners=False)
            pixels = torch.nn.functional.grid_sample(pixels, grid, mode="bilinear", padding_mode="border",
                                                     align_corners=False)
        if o["contrast"] or o["brightness"]:
            mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
            contrast = uniform(1 - o["contrast"], 1 + o["contrast"]).view(-1, 1, 1, 1)
            brightness = uniform(-o["brightness"], o["brightness"]).view(-1, 1, 1, 1) * 255
            pixels = ((pixels - mean) * contrast + mean + brightness).clamp(0, 255)
        if o["erasing"]:
            height, width = pixels.shape[-2:]
            area = uniform(0.02, 0.2) * height * width
            ratio = torch.exp(uniform(math.log(0.3), math.log(1 / 0.3)))
            h = (area * ratio).sqrt().clamp(1, height).floor()
            w = (area / ratio).sqrt().clamp(1, width).floor()
            top, left = (rand() * (height - h + 1)).floor(), (rand() * (width - w + 1)).floor()
            rows = torch.arange(height, device=device).view(1, -1, 1)
            cols = torch.arange(width, device=device).view(1, 1, -1)
            box = ((rows >= top.view(-1, 1, 1)) & (rows < (top + h).view(-1, 1, 1)) &
                   (cols >= left.view(-1, 1, 1)) & (cols < (left + w).view(-1, 1, 1)))  # (batch, height, width)
            box &= (rand() < o["erasing"]).view(-1, 1, 1)
            pixels = pixels.masked_fill(box[:, None], fill)
        return pixels


def normalize_pixels(processor: FERImageProcessor, pixels: torch.Tensor) -> torch.Tensor:
    """`(batch, 1 or 3, size, size)` pixels in [0, 255] (uint8 or float) -> the processor's output for those images:
    its RGB conversion (repeat the gray channel) and its own `rescale_and_normalize`, so training sees exactly what
    the saved processor gives the pipeline at inference."""
    p = processor
    if p.do_convert_rgb and pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    pixels = p.rescale_and_normalize(pixels, p.do_rescale, p.rescale_factor, p.do_normalize, p.image_mean,
                                     p.image_std)
    return pixels.contiguous()


class ImageCollator:
    """Stacks uint8 images and normalises them (`normalize=False`: leaves uint8 pixels to `augment_batch`)."""

    def __init__(self, processor: FERImageProcessor, normalize: bool = True):
        self.processor, self.normalize = processor, normalize

    def __call__(self, features):
        pixels = torch.stack([f["pixel_values"] for f in features])  # uint8 (batch, 1 or 3, size, size)
        labels = torch.tensor([int(f["labels"]) for f in features])
        return {"pixel_values": normalize_pixels(self.processor, pixels) if self.normalize else pixels,
                "labels": labels}


class ImageTensorDataset(torch.utils.data.Dataset):
    def __init__(self, pixels: torch.Tensor, labels: torch.Tensor):
        self.pixels, self.labels = pixels, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return {"pixel_values": self.pixels[index], "labels": self.labels[index]}


def decode_images(split, column: str, processor: FERImageProcessor, desc: str) -> torch.Tensor:
    """Every image of `split[column]` decoded once into a uint8 tensor `(n, channels, size, size)`.

    A grayscale image already at the processor's size is kept as is; any other goes through the processor's own
    RGB conversion and resize. Channels: 1 when every image is grayscale (the processor's RGB conversion repeats
    the channel, `ImageCollator` does the same), else 3.
    """
    import datasets
    from PIL import Image

    size = (processor.size.height, processor.size.width)
    raw = split.cast_column(column, datasets.Image(decode=False))[column]
    images = []
    for item in tqdm(raw, desc=f"decoding {desc} images", leave=False):
        source = item["bytes"] if item.get("bytes") is not None else item["path"]
        try:
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            image.load()
        except Exception as err:
            raise ValueError(f"{desc} image {item.get('path') or len(images)}: cannot decode ({err})") from None
        if image.mode == "L" and image.size[::-1] == size:
            images.append(torch.from_numpy(np.array(image))[None])
        else:
            processed = processor(image, do_rescale=False, do_normalize=False, return_tensors="pt")
            images.append(processed["pixel_values"][0].to(torch.uint8))
    if any(image.shape[0] == 3 for image in images):
        images = [image.expand(3, -1, -1) for image in images]
    return torch.stack(images) if images else torch.empty(0, 1, *size, dtype=torch.uint8)


class ImageClassificationTask:
    """Face images + the FER CNN (`model_type: fer_cnn`).

    Images are decoded once into uint8 tensors; training batches are augmented on the fly in the training loop
    (`augment_batch`, on the model's device) and every batch is normalised with the image processor saved beside the
    model, whose mean/std default to the training split's.
    """

    pipeline_tag = "image-classification"
    config_class, model_class = modeling.FERCNNConfig, modeling.FERCNNForImageClassification

    def __init__(self, recipe: Recipe, train_split, label_names):
        self.recipe, self.label_names = recipe, label_names
        self.augmentation = ImageAugmentation(**recipe.augmentation)
        image_size = recipe.model.get("image_size", self.config_class().image_size)
        options = {"size": {"height": image_size, "width": image_size}, **recipe.image_processor}
        self.processor = FERImageProcessor(**options)
        if (self.processor.size.height, self.processor.size.width) != (image_size, image_size):
            raise ValueError(f"`image_processor.size` {dict(self.processor.size)} must be the model's `image_size` "
                             f"{image_size}x{image_size}; set `model.image_size` instead")
        self._decoded = {"train": decode_images(train_split, recipe.input_column, self.processor, "train")}
        if "image_mean" not in recipe.image_processor and "image_std" not in recipe.image_processor:
            # From the histogram of the uint8 values: exact, and no float copy of every training pixel.
            counts = torch.bincount(self._decoded["train"].flatten(), minlength=256).double()
            values, n = torch.arange(256, dtype=torch.float64) / 255, counts.sum()
            mean = (counts * values).sum() / n
            std = ((counts * (values - mean) ** 2).sum() / (n - 1)).sqrt()  # unbiased, as torch.std
            mean, std = round(mean.item(), 4), round(std.item(), 4)
            self.processor = FERImageProcessor(**{**options, "image_mean": [mean] * 3, "image_std": [std] * 3})

    def dataset(self, split_name, split):
        pixels = self._decoded.pop(split_name, None)
        if pixels is None:
            pixels = decode_images(split, self.recipe.input_column, self.processor, split_name)
        return ImageTensorDataset(pixels, torch.tensor(list(split[self.recipe.label_column])))

    def collator(self, train: bool):
        return ImageCollator(self.processor, normalize=not train)

    def augment_batch(self, batch):
        """Training batches only, called by the training loop: random augmentation, then normalisation."""
        p = self.processor
        fill = float(np.mean(p.image_mean)) / p.rescale_factor if p.do_normalize else 0.0  # erase to the mean
        pixels = self.augmentation(batch["pixel_values"].float(), fill)
        return {**batch, "pixel_values": normalize_pixels(p, pixels)}

    def build_model(self, class_weights):
        kwargs = {k: v for k, v in self.recipe.model.items() if k != "class_weights"}
        config = self.config_class(
            id2label=dict(enumerate(self.label_names)),
            label2id={name: i for i, name in enumerate(self.label_names)},
            class_weights=class_weights,
            **kwargs,
        )
        return self.model_class(config)

    def extra_results(self):
        return {}


# ---------------------------------------------------------------------------------------------------------------------
# Voice: audio classification over a `datasets.Audio` column
# ---------------------------------------------------------------------------------------------------------------------
AUDIO_MODELS = {
    "spectrogram_vit": (modeling.SpectrogramViTConfig, modeling.SpectrogramViTForAudioClassification),
    "mfcc_cnn": (modeling.MFCCCNNConfig, modeling.MFCCCNNForAudioClassification),
    "waveform_mlp": (modeling.WaveformMLPConfig, modeling.WaveformMLPForAudioClassification),
    "wav2vec2_emotion": (modeling.Wav2Vec2EmotionConfig, modeling.Wav2Vec2EmotionForAudioClassification),
}


def build_feature_extractor(options: dict):
    """The recipe's `feature_extractor`: `class` (ours by default, or a transformers feature extractor class name),
    optionally `from_pretrained` (a Hub id or folder), and the class's own arguments."""
    import transformers

    options = dict(options)
    name = options.pop("class", "EmotionAudioFeatureExtractor")
    pretrained = options.pop("from_pretrained", None)
    if name == "EmotionAudioFeatureExtractor":
        cls = EmotionAudioFeatureExtractor
    elif name.endswith("FeatureExtractor") and hasattr(transformers, name):
        cls = getattr(transformers, name)
    else:
        raise ValueError(f"`feature_extractor.class` must be EmotionAudioFeatureExtractor or a transformers feature "
                         f"extractor class (Wav2Vec2FeatureExtractor, ASTFeatureExtractor...), got {name!r}")
    return cls.from_pretrained(pretrained, **options) if pretrained else cls(**options)


def crop_waveforms(waveforms: list, max_samples: int) -> list:
    """A random `max_samples` window of every longer clip, offsets drawn from the global torch RNG (checkpointed by
    Accelerate, so a resumed run draws the same crops)."""
    out = []
    for wave in waveforms:
        excess = len(wave) - max_samples
        start = int(torch.randint(0, excess + 1, ()).item()) if excess > 0 else 0
        out.append(wave[start: start + max_samples])
    return out


class AudioAugmentation:
    """White noise at a random SNR on the waveforms, then SpecAugment (Park et al., 2019) frequency and time masks on
    the features, for training batches only; every draw comes from the global torch RNG (checkpointed by Accelerate).
    """

    DEFAULTS = {"noise_snr_db": None, "freq_masks": 0, "freq_width": 0, "time_masks": 0, "time_width": 0}

    def __init__(self, **options):
        unknown = sorted(set(options) - set(self.DEFAULTS))
        if unknown:
            raise ValueError(f"unknown `audio_augmentation` keys {unknown}; valid keys: {sorted(self.DEFAULTS)}")
        o = {**self.DEFAULTS, **options}
        snr = o["noise_snr_db"]
        if snr is not None and not (isinstance(snr, (list, tuple)) and len(snr) == 2 and snr[0] <= snr[1]):
            raise ValueError(f"`audio_augmentation.noise_snr_db` must be [min, max] in dB, got {snr!r}")
        for key in ("freq_masks", "freq_width", "time_masks", "time_width"):
            if not isinstance(o[key], int) or o[key] < 0:
                raise ValueError(f"`audio_augmentation.{key}` must be an int >= 0, got {o[key]!r}")
        self.options = o

    def waveforms(self, waveforms: list) -> list:
        snr = self.options["noise_snr_db"]
        if snr is None:
            return waveforms
        out = []
        for wave in waveforms:
            power = float(np.mean(np.square(wave), dtype=np.float64)) if len(wave) else 0.0
            db = float(torch.empty(()).uniform_(snr[0], snr[1]))
            noise = torch.randn(len(wave)).numpy() * math.sqrt(power / 10 ** (db / 10))
            out.append((wave + noise).astype(np.float32))
        return out

    def features(self, features: torch.Tensor) -> torch.Tensor:
        """`(batch, [channels,] bins, frames)` -> the same with `freq_masks` bands and `time_masks` spans zeroed."""
        o = self.options
        bins, frames = features.shape[-2:]
        keep = torch.ones(features.shape[0], bins, frames, dtype=torch.bool, device=features.device)
        for count, width, size, axis in ((o["freq_masks"], o["freq_width"], bins, 1),
                                         (o["time_masks"], o["time_width"], frames, 2)):
            for _ in range(count if width else 0):
                w = torch.randint(0, width + 1, (features.shape[0],))
                start = (torch.rand(features.shape[0]) * (size - w + 1).clamp_min(1)).long()
                positions = torch.arange(size)[None, :]
                band = (positions >= start[:, None]) & (positions < (start + w)[:, None])  # (batch, size)
                keep &= ~(band[:, :, None] if axis == 1 else band[:, None, :]).to(features.device)
        if features.dim() == 4:
            keep = keep[:, None]
        return features * keep.to(features.dtype)


class AudioDataset(torch.utils.data.Dataset):
    """`{"audio": mono float32 waveform at the processor's rate, "labels": id}` rows of a split with an Audio column;
    a clip that fails to decode raises an error naming its file."""

    def __init__(self, split, column: str, label_column: str, sampling_rate: int):
        import datasets

        split = split.select_columns([column, label_column])
        self.decoded = split.cast_column(column, datasets.Audio(sampling_rate=sampling_rate))
        self.raw = split.cast_column(column, datasets.Audio(decode=False))
        self.column, self.label_column = column, label_column

    def __len__(self):
        return len(self.decoded)

    def path(self, index) -> str:
        return self.raw[index][self.column].get("path") or f"row {index}"

    def lengths(self, sampling_rate: int) -> list[int]:
        """Every clip's length in samples at `sampling_rate`, from the file headers (no decoding)."""
        import soundfile

        lengths = []
        for index, item in enumerate(self.raw[self.column]):
            source = io.BytesIO(item["bytes"]) if item.get("bytes") else item.get("path")
            try:
                info = soundfile.info(source)
                lengths.append(int(info.frames * sampling_rate / info.samplerate))
            except Exception:  # a format soundfile cannot read: decode it
                lengths.append(len(self[index]["audio"]))
        return lengths


    def __getitem__(self, index):
        row = self.decoded[index]
        try:
            audio = row[self.column]
            wave = np.asarray(audio["array"], dtype=np.float32)
        except Exception as err:
            raise ValueError(f"audio file {self.path(index)}: cannot decode ({err})") from None
        if wave.ndim > 1:
            wave = wave.mean(axis=0)
        if wave.size == 0:
            raise ValueError(f"audio file {self.path(index)}: no samples")
        return {"audio": wave, "labels": int(row[self.label_column])}


class LengthGroupedSampler(torch.utils.data.Sampler):
    """Indices in batches of similar length: a random permutation cut into mega-batches of `mega_batch_factor`
    batches, each sorted by decreasing length (as transformers' `LengthGroupedSampler`). The order depends only on
    `seed` and the epoch (`set_epoch`, forwarded by Accelerate), so a resumed run sees the same batches."""

    def __init__(self, lengths, batch_size: int, seed: int = 0, mega_batch_factor: int = 50):
        self.lengths, self.batch_size, self.seed = np.asarray(lengths), batch_size, seed
        self.mega_batch = batch_size * mega_batch_factor
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __len__(self):
        return len(self.lengths)

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.lengths))
        for start in range(0, len(order), self.mega_batch):
            chunk = order[start: start + self.mega_batch]
            yield from chunk[np.argsort(-self.lengths[chunk], kind="stable")].tolist()


@dataclass
class AudioCollator:
    """Evaluation batches: the processor's features of whole clips (its own padding/cropping). Training batches
    (`raw=True`) keep the waveforms, which `AudioClassificationTask.augment_batch` crops and processes in the loop."""

    processor: Any
    raw: bool = False

    def __call__(self, rows):
        labels = torch.tensor([row["labels"] for row in rows], dtype=torch.long)
        waveforms = [row["audio"] for row in rows]
        if self.raw:
            return {"audio": waveforms, "labels": labels}
        return {**features_of(self.processor, waveforms), "labels": labels}


def features_of(processor, waveforms) -> dict:
    features = processor(waveforms, sampling_rate=processor.sampling_rate, return_tensors="pt",
                         **({"padding": True} if not isinstance(processor, EmotionAudioFeatureExtractor) else {}))
    return dict(features)


class AudioClassificationTask:
    """Voice models (`spectrogram_vit`, `mfcc_cnn`, `waveform_mlp`) over an Audio column.

    Clips are decoded (and resampled to the processor's rate by `datasets`) on the fly, so a corpus is never held in
    memory. Evaluation batches are the processor's features of whole clips (fixed-length models: its deterministic
    crop/pad); training batches are random crops (`random_crop`) processed in the training loop, so every epoch sees
    other windows of long clips and a resumed run the same ones. The model's input size comes from the processor.
    """

    pipeline_tag = "audio-classification"

    def __init__(self, recipe: Recipe, train_split, label_names):
        import datasets

        self.recipe, self.label_names = recipe, label_names
        self.config_class, self.model_class = AUDIO_MODELS[recipe.model_type]
        feature = train_split.features.get(recipe.input_column)
        if not isinstance(feature, datasets.Audio):
            raise ValueError(f"model_type {recipe.model_type} reads audio: `input_column` {recipe.input_column!r} "
                             f"must be a datasets.Audio column, got {type(feature).__name__}")
        self.processor = build_feature_extractor(recipe.feature_extractor)
        self.augmentation = AudioAugmentation(**recipe.audio_augmentation)
        max_length = recipe.max_length_seconds or getattr(self.processor, "max_length_seconds", None)
        if recipe.random_crop and not max_length:
            raise ValueError("`random_crop` needs a crop length: set `max_length_seconds` (or the feature "
                             "extractor's)")
        self.train_samples = int(round(max_length * self.processor.sampling_rate)) if recipe.random_crop else None
        p = self.processor
        if isinstance(p, EmotionAudioFeatureExtractor) and p.feature_normalization == "global" and p.feature_mean is None:
            data = AudioDataset(train_split, recipe.input_column, recipe.label_column, p.sampling_rate)
            waves = [data[i]["audio"] for i in tqdm(range(len(data)), desc="feature statistics", leave=False)]
            mean, std = p.compute_global_statistics(waves, p.sampling_rate)  # floats, or per-row lists
            mean, std = (np.round(np.asarray(v, dtype=np.float64), 6).tolist() for v in (mean, std))
            self.processor = build_feature_extractor({**recipe.feature_extractor, "feature_mean": mean,
                                                      "feature_std": std})

    def dataset(self, split_name, split):
        return AudioDataset(split, self.recipe.input_column, self.recipe.label_column, self.processor.sampling_rate)

    def collator(self, train: bool):
        return AudioCollator(self.processor, raw=train)

    def augment_batch(self, batch):
        """Training batches, called by the training loop: random crops, noise, the processor's features, masks."""
        waveforms = batch["audio"]
        if self.train_samples:
            waveforms = crop_waveforms(waveforms, self.train_samples)
        waveforms = self.augmentation.waveforms(waveforms)
        device = batch["labels"].device
        features = {k: v.to(device) for k, v in features_of(self.processor, waveforms).items()}
        if "input_features" in features:
            features["input_features"] = self.augmentation.features(features["input_features"])
        return {**features, "labels": batch["labels"]}

    def input_size(self) -> dict:
        """Config arguments fixed by the processor's output shape."""
        p, model_type = self.processor, self.recipe.model_type
        if model_type == "wav2vec2_emotion":
            values = getattr(p, "feature_type", "waveform") == "waveform" and "input_values" in p.model_input_names
            if not values or p.sampling_rate != 16000:
                raise ValueError(f"wav2vec2 reads 16 kHz waveforms (`input_values`): use Wav2Vec2FeatureExtractor "
                                 f"(the backbone's), got {type(p).__name__} at {p.sampling_rate} Hz")
            return {}
        if isinstance(p, transformers.ASTFeatureExtractor):
            if model_type != "spectrogram_vit":
                raise ValueError(f"ASTFeatureExtractor features suit model_type spectrogram_vit, not {model_type}")
            return {"num_mel_bins": p.num_mel_bins, "max_frames": p.max_length}
        if not isinstance(p, EmotionAudioFeatureExtractor):
            raise ValueError(f"model_type {model_type} needs EmotionAudioFeatureExtractor or ASTFeatureExtractor "
                             f"features, got {type(p).__name__}")
        expected = {"spectrogram_vit": "log_mel", "mfcc_cnn": "mfcc", "waveform_mlp": "waveform"}[model_type]
        if p.feature_type != expected:
            raise ValueError(f"model_type {model_type} reads `feature_type: {expected}` features, the recipe's "
                             f"feature extractor makes {p.feature_type!r}")
        if not p.max_length_seconds:
            raise ValueError(f"model_type {model_type} has a fixed input size: set `feature_extractor."
                             f"max_length_seconds`")
        shape = p.output_shape()
        if model_type == "waveform_mlp":
            return {"input_length": shape[-1]}
        if model_type == "spectrogram_vit":
            return {"num_mel_bins": shape[-2], "max_frames": shape[-1], "num_channels": 1 if len(shape) == 2 else shape[0]}
        return {"input_height": shape[-2], "input_width": shape[-1], "num_channels": 1 if len(shape) == 2 else shape[0]}

    def build_model(self, class_weights):
        kwargs = {k: v for k, v in self.recipe.model.items() if k != "class_weights"}
        for key, value in self.input_size().items():
            if kwargs.setdefault(key, value) != value:
                raise ValueError(f"`model.{key}` is {kwargs[key]} but the feature extractor gives {value}; leave it "
                                 f"out of the recipe (it follows the features)")
        kwargs.update(id2label=dict(enumerate(self.label_names)),
                      label2id={name: i for i, name in enumerate(self.label_names)}, class_weights=class_weights)
        backbone, options = self.recipe.pretrained_backbone, self.recipe.pretrained_backbone_options
        if backbone and self.recipe.model_type == "wav2vec2_emotion":
            return self.model_class.from_pretrained_backbone(backbone, **options, **kwargs)
        if backbone and self.recipe.model_type == "spectrogram_vit":
            return self.model_class.from_pretrained_timm(backbone, **options, **kwargs)
        if backbone:
            raise ValueError(f"`pretrained_backbone` starts wav2vec2_emotion or spectrogram_vit (timm) models, not "
                             f"{self.recipe.model_type}")
        return self.model_class(self.config_class(**kwargs))

    def train_sampler(self, dataset):
        if not self.recipe.group_by_length:
            return None
        lengths = dataset.lengths(self.processor.sampling_rate)
        if self.train_samples:
            lengths = [min(length, self.train_samples) for length in lengths]
        return LengthGroupedSampler(lengths, self.recipe.per_device_train_batch_size, seed=self.recipe.seed)

    def save_model(self, model, output_dir):
        """`export_stock`: the stock transformers class instead of ours (no custom code in the folder)."""
        if self.recipe.export_stock:
            model.save_stock_pretrained(output_dir, safe_serialization=True)
            if isinstance(self.processor, EmotionAudioFeatureExtractor):
                logger.warning("export_stock: the model is a stock class but EmotionAudioFeatureExtractor is our code "
                               "(trust_remote_code); for a folder the hosted widget runs, train with a stock feature "
                               "extractor (ASTFeatureExtractor, Wav2Vec2FeatureExtractor)")
        else:
            model.save_pretrained(output_dir, safe_serialization=True)

    def extra_results(self):
        return {}


MODEL_TYPES = {"text_cnn": TextClassificationTask, "erc_fusion": ERCTask, "fer_cnn": ImageClassificationTask,
               **{name: AudioClassificationTask for name in AUDIO_MODELS}}


# ---------------------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------------------
def compute_metrics(probabilities: np.ndarray, references: np.ndarray, label_names: list[str]):
    """Flat scalar metrics plus a per-class report with the confusion matrix.

    `probabilities` is `(n, num_labels)`. Besides accuracy and F1: unweighted average recall (`uar`, the mean of
    per-class recalls, the customary speech-emotion metric) and one-vs-rest ROC AUC per class (`nan` for a class
    absent from `references` or present alone) with their macro mean over the defined ones.
    """
    labels = list(range(len(label_names)))
    predictions = probabilities.argmax(-1)
    precision, recall, f1, support = precision_recall_fscore_support(
        references, predictions, labels=labels, zero_division=0
    )
    auc = []
    for label in labels:
        positives = references == label
        auc.append(float(roc_auc_score(positives, probabilities[:, label])) if 0 < positives.sum() < len(references)
                   else float("nan"))
    defined = [a for a in auc if not math.isnan(a)]
    metrics = {
        "accuracy": float(accuracy_score(references, predictions)),
        "f1_macro": float(f1_score(references, predictions, labels=labels, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(references, predictions, labels=labels, average="weighted", zero_division=0)),
        "uar": float(np.mean([r for r, n in zip(recall, support) if n > 0])) if support.sum() else 0.0,
        "roc_auc_macro": float(np.mean(defined)) if defined else float("nan"),
        "samples": int(len(references)),
    }
    metrics.update({f"f1_{name}": float(value) for name, value in zip(label_names, f1)})
    report = {
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(s), "roc_auc": a, "support": int(n)}
            for name, p, r, s, a, n in zip(label_names, precision, recall, f1, auc, support)
        },
        "confusion_matrix": confusion_matrix(references, predictions, labels=labels).tolist(),
        "labels": list(label_names),
    }
    return metrics, report


def evaluate(model, dataloader, accelerator, label_names, desc):
    """Metrics over the whole split, each example counted once across processes (`gather_for_metrics`)."""
    model.eval()
    probabilities, references = [], []
    for batch in tqdm(dataloader, desc=desc, leave=False, disable=not accelerator.is_local_main_process):
        with torch.no_grad():
            outputs = model(**batch)
        logits, labels = accelerator.gather_for_metrics((outputs.logits.float(), batch["labels"]))
        probabilities.append(logits.softmax(-1).cpu())
        references.append(labels.cpu())
    probabilities, references = torch.cat(probabilities), torch.cat(references)
    metrics, report = compute_metrics(probabilities.numpy(), references.numpy(), label_names)
    # Plain cross-entropy whatever the training loss, so runs with different losses compare.
    metrics["loss"] = float(torch.nn.functional.nll_loss(probabilities.clamp_min(1e-12).log(), references))
    return metrics, report


def plot_confusion_matrix(report, path, title):
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(report["confusion_matrix"])
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    names = report["labels"]
    size = 1.2 + 0.75 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title=title)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    for i, j in np.ndindex(counts.shape):
        ax.text(j, i, f"{counts[i, j]}\n{rates[i, j]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------------------
# Optimisation
# ---------------------------------------------------------------------------------------------------------------------
def build_optimizer(recipe: Recipe, model):
    params = [p for p in model.parameters() if p.requires_grad]
    lr, wd = recipe.learning_rate, recipe.weight_decay
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, eps=recipe.adam_epsilon)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, eps=recipe.adam_epsilon)
    if recipe.optimizer in ("sgd", "sgd_momentum"):
        momentum = recipe.momentum if recipe.optimizer == "sgd_momentum" else 0.0
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)


def build_scheduler(recipe: Recipe, optimizer, num_training_steps):
    if recipe.lr_scheduler == "reduce_on_plateau":
        mode = "max" if recipe.greater_is_better else "min"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=recipe.plateau_factor, patience=recipe.plateau_patience
        )
    name = "constant_with_warmup" if recipe.lr_scheduler == "constant" else recipe.lr_scheduler
    return get_scheduler(name, optimizer, num_warmup_steps=math.ceil(recipe.warmup_ratio * num_training_steps),
                         num_training_steps=num_training_steps)


# ---------------------------------------------------------------------------------------------------------------------
# Checkpoints: accelerate's save_state (model, optimizer, scheduler, RNG) + our loop state and best weights
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class LoopState:
    epoch: int = 0  # epoch to run next (or being run, when `batches_in_epoch` > 0)
    batches_in_epoch: int = 0  # batches of `epoch` already trained on
    completed_steps: int = 0
    samples_seen: int = 0
    train_seconds: float = 0.0
    best_metric: Optional[float] = None
    best_epoch: Optional[int] = None
    bad_epochs: int = 0
    history: list = field(default_factory=list)


def save_checkpoint(accelerator, output_dir, state: LoopState, best_state, limit):
    path = os.path.join(output_dir, "checkpoints", f"checkpoint-{state.completed_steps}")
    accelerator.save_state(path)
    if accelerator.is_main_process:
        with open(os.path.join(path, "loop_state.json"), "w") as f:
            json.dump(dataclasses.asdict(state), f, indent=2)
        if best_state is not None:
            save_file(best_state, os.path.join(path, "best_model.safetensors"))
        if limit:
            for old in list_checkpoints(output_dir)[:-limit]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def list_checkpoints(output_dir):
    root = os.path.join(output_dir, "checkpoints")
    found = [d for d in os.listdir(root) if d.startswith("checkpoint-")] if os.path.isdir(root) else []
    return [os.path.join(root, d) for d in sorted(found, key=lambda d: int(d.split("-")[1]))]


def load_checkpoint(accelerator, path, output_dir):
    if path == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            raise FileNotFoundError(f"--resume_from_checkpoint latest: no checkpoint in {output_dir}/checkpoints")
        path = found[-1]
    if not os.path.isfile(os.path.join(path, "loop_state.json")):
        raise FileNotFoundError(f"{path} is not a checkpoint of train.py (no loop_state.json)")
    accelerator.load_state(path)
    with open(os.path.join(path, "loop_state.json")) as f:
        state = LoopState(**json.load(f))
    best = os.path.join(path, "best_model.safetensors")
    accelerator.print(f"resumed from {path} (epoch {state.epoch}, step {state.completed_steps})")
    return state, (load_file(best) if os.path.isfile(best) else None)


# ---------------------------------------------------------------------------------------------------------------------
def load_splits(recipe: Recipe):
    raw = load_builder_dataset(recipe.dataset, recipe.dataset_config, data_dir=recipe.data_dir, cache_dir=recipe.cache_dir,
                               **recipe.dataset_options)
    for split in ("train", "validation", "test"):
        if split not in raw:
            raise ValueError(f"dataset {recipe.dataset}/{recipe.dataset_config} has no {split!r} split: {list(raw)}")
    for column in (recipe.input_column, recipe.label_column):
        if column not in raw["train"].column_names:
            raise ValueError(f"column {column!r} is not in {recipe.dataset}: {raw['train'].column_names}")
    if not hasattr(raw["train"].features[recipe.label_column], "names"):
        raise ValueError(f"`label_column` {recipe.label_column!r} must be a ClassLabel column")
    limits = {"train": recipe.max_train_samples, "validation": recipe.max_eval_samples, "test": recipe.max_eval_samples}
    for split, limit in limits.items():
        if limit is not None:
            raw[split] = raw[split].select(range(min(limit, len(raw[split]))))
    return raw


def build_accelerator(recipe: Recipe) -> Accelerator:
    return Accelerator(
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        mixed_precision=recipe.mixed_precision,
        log_with=None if recipe.report_to == "none" else recipe.report_to,
        project_dir=recipe.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=recipe.seed),
    )


def main(argv=None):
    recipe = parse_args(argv)
    accelerator = build_accelerator(recipe)
    accelerator.print(f"{accelerator.num_processes} process(es), device {accelerator.device}")
    if accelerator.is_main_process:
        os.makedirs(recipe.output_dir, exist_ok=True)
    if recipe.report_to != "none":
        accelerator.init_trackers(os.path.basename(os.path.normpath(recipe.output_dir)), config=_flat(recipe))
    with accelerator.main_process_first():
        splits = load_splits(recipe)

    if recipe.folds:
        results = cross_validate(recipe, accelerator, splits, recipe.output_dir, recipe.resume_from_checkpoint)
    else:
        results = train_and_evaluate(recipe, accelerator, splits, recipe.output_dir, recipe.resume_from_checkpoint)

    if accelerator.is_main_process and recipe.push_to_hub:
        push_to_hub(recipe)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return results


def apply_lora(recipe: Recipe, model):
    """LoRA adapters (peft) on `lora_target_modules`; the model's head (`head_module_names()`, else `classifier`)
    is trained in full. Only the adapters and the head train; `merge_and_unload` folds them in after training."""
    from peft import LoraConfig, get_peft_model

    head = model.head_module_names() if hasattr(model, "head_module_names") else ["classifier"]
    config = LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                        target_modules=list(recipe.lora_target_modules), modules_to_save=head)
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise ValueError(f"`lora_target_modules` {recipe.lora_target_modules}: {err}") from None


def train_and_evaluate(recipe: Recipe, accelerator, splits, output_dir, resume_from_checkpoint=None):
    """Train a fresh model on `splits["train"]`, select it on `validation`, evaluate it on `test`, and save it with
    its processor, results and model card as a Hub-ready folder `output_dir`. Returns the results dict."""
    # One Accelerator serves every fold of a cross-validation: forget the previous run's prepared objects and
    # checkpointed scheduler, or `save_state` would save (and `load_state` expect) them all. Accelerate has no public
    # call for the registered custom objects.
    accelerator.free_memory()
    accelerator._custom_objects.clear()
    set_seed(recipe.seed)
    label_names = splits["train"].features[recipe.label_column].names
    task = MODEL_TYPES[recipe.model_type](recipe, splits["train"], label_names)
    with accelerator.main_process_first():
        data = {name: task.dataset(name, split) for name, split in splits.items()}

    counts = np.bincount(splits["train"][recipe.label_column], minlength=len(label_names))
    loss_type = recipe.model.get("loss_type", "ce")
    class_weights = recipe.model.get("class_weights")
    if class_weights == "auto" or (loss_type == "weighted_ce" and class_weights is None):
        class_weights = class_weights_from_counts(counts.tolist())
    model = task.build_model(class_weights)
    if recipe.gradient_checkpointing:
        if not model.supports_gradient_checkpointing:
            raise ValueError(f"`gradient_checkpointing`: {type(model).__name__} does not support it")
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if recipe.lora_r:
        model = apply_lora(recipe, model)

    # Loaders draw their worker seed from their own generator, not the global RNG that dropout uses: creating an
    # iterator after a resumed checkpoint must not shift the dropout masks of an uninterrupted run.
    def loader(name, train=False):
        if train and recipe.class_balanced_sampler:  # batches of several examples of several classes (triplet loss)
            sampler = ClassBalancedBatchSampler(list(splits["train"][recipe.label_column]), recipe.per_device_train_batch_size,
                                                recipe.samples_per_class, seed=recipe.seed)
            return DataLoader(data[name], batch_sampler=sampler, collate_fn=task.collator(train),
                              num_workers=recipe.dataloader_num_workers)
        sampler = task.train_sampler(data[name]) if train and hasattr(task, "train_sampler") else None
        if sampler is not None:  # length-grouped batches (voice)
            return DataLoader(data[name], sampler=sampler, collate_fn=task.collator(train),
                              batch_size=recipe.per_device_train_batch_size, num_workers=recipe.dataloader_num_workers,
                              generator=torch.Generator().manual_seed(recipe.seed))
        return DataLoader(data[name], shuffle=train, collate_fn=task.collator(train),
                          batch_size=recipe.per_device_train_batch_size if train else recipe.per_device_eval_batch_size,
                          num_workers=recipe.dataloader_num_workers, generator=torch.Generator().manual_seed(recipe.seed))

    train_dataloader, eval_dataloader, test_dataloader = loader("train", True), loader("validation"), loader("test")
    steps_per_epoch = math.ceil(len(train_dataloader) / accelerator.num_processes / recipe.gradient_accumulation_steps)
    max_steps = recipe.max_train_steps or recipe.num_epochs * steps_per_epoch
    num_epochs = min(recipe.num_epochs, math.ceil(max_steps / steps_per_epoch))
    optimizer = build_optimizer(recipe, model)
    scheduler = build_scheduler(recipe, optimizer, max_steps)
    model, optimizer, train_dataloader, eval_dataloader, test_dataloader = accelerator.prepare(
        model, optimizer, train_dataloader, eval_dataloader, test_dataloader
    )
    # The scheduler is not prepared: it steps once per optimizer step (per epoch for plateau) on every process,
    # over `max_steps` counted per process, so its schedule does not depend on the number of processes.
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    accelerator.register_for_checkpointing(scheduler)

    state, best_state = LoopState(), None
    if resume_from_checkpoint:
        state, best_state = load_checkpoint(accelerator, resume_from_checkpoint, output_dir)

    total_batch = recipe.per_device_train_batch_size * accelerator.num_processes * recipe.gradient_accumulation_steps
    accelerator.print(
        f"train {len(data['train'])} / validation {len(data['validation'])} / test {len(data['test'])};"
        f" {num_epochs} epochs x {steps_per_epoch} steps, batch {total_batch}, {_count(model)} trainable parameters"
    )
    augment = getattr(task, "augment_batch", None)  # tasks that augment training batches in the loop (faces)
    progress = tqdm(total=max_steps, initial=state.completed_steps, desc="training",
                    disable=not accelerator.is_local_main_process)
    sign = 1 if recipe.greater_is_better else -1
    stop = state.completed_steps >= max_steps
    for epoch in range(state.epoch, num_epochs):
        if stop:
            break
        model.train()
        train_dataloader.set_epoch(epoch)
        skip = state.batches_in_epoch if epoch == state.epoch else 0
        batches = accelerator.skip_first_batches(train_dataloader, skip) if skip else train_dataloader
        started, running_loss, running_n = time.perf_counter(), 0.0, 0
        for batch_index, batch in enumerate(batches, start=skip):
            if augment is not None:
                batch = augment(batch)
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients and recipe.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), recipe.max_grad_norm)
                optimizer.step()
                if accelerator.sync_gradients and not plateau:
                    scheduler.step()
                optimizer.zero_grad()
            running_loss += loss.detach().float().item()
            running_n += 1
            state.samples_seen += len(batch["labels"]) * accelerator.num_processes
            state.batches_in_epoch = batch_index + 1
            if not accelerator.sync_gradients:
                continue
            state.completed_steps += 1
            progress.update(1)
            if state.completed_steps % recipe.logging_steps == 0:
                accelerator.log({"train_loss": running_loss / running_n, "lr": optimizer.param_groups[0]["lr"]},
                                step=state.completed_steps)
                progress.set_postfix(loss=f"{running_loss / running_n:.4f}")
            if isinstance(recipe.checkpointing_steps, int) and state.completed_steps % recipe.checkpointing_steps == 0:
                state.train_seconds += time.perf_counter() - started
                started = time.perf_counter()
                save_checkpoint(accelerator, output_dir, state, best_state, recipe.checkpoints_total_limit)
            if state.completed_steps >= max_steps:
                stop = True
                break
        state.train_seconds += time.perf_counter() - started

        metrics, _ = evaluate(model, eval_dataloader, accelerator, label_names, "validation")
        value = metrics[recipe.metric_for_best_model]
        state.history.append({"epoch": epoch + 1, "step": state.completed_steps,
                              "learning_rate": optimizer.param_groups[0]["lr"],
                              "train_loss": running_loss / max(running_n, 1),
                              **{f"eval_{k}": v for k, v in metrics.items()}})
        accelerator.log({f"eval_{k}": v for k, v in metrics.items()}, step=state.completed_steps)
        accelerator.print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {metrics[k]:.4f}" for k in ("loss", *METRICS[:4])))
        if plateau:
            scheduler.step(value)
        if not recipe.keep_best_weights or state.best_metric is None or sign * (value - state.best_metric) > 0:
            state.best_metric, state.best_epoch, state.bad_epochs = value, epoch + 1, 0
            best_state = {k: v.detach().cpu().clone().contiguous()
                          for k, v in accelerator.unwrap_model(model).state_dict().items()}
        else:
            state.bad_epochs += 1
        state.epoch, state.batches_in_epoch = epoch + 1, 0
        patience_over = recipe.early_stopping_patience is not None and state.bad_epochs >= recipe.early_stopping_patience
        if recipe.checkpointing_steps == "epoch" or patience_over or stop or epoch + 1 == num_epochs:
            save_checkpoint(accelerator, output_dir, state, best_state, recipe.checkpoints_total_limit)
        if patience_over:
            accelerator.print(f"early stopping: no {recipe.metric_for_best_model} improvement for {state.bad_epochs} epochs")
            break
    progress.close()

    # Best weights, then the final validation and test figures.
    # The final figures come from the plain model in full precision (without the mixed-precision autocast wrapper):
    # what the saved weights give users in `from_pretrained` / `pipeline`.
    unwrapped = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    if best_state is not None:
        unwrapped.load_state_dict(best_state)
    if recipe.lora_r:  # the adapters folded into the weights: the saved model is our plain class, no peft needed
        unwrapped = unwrapped.merge_and_unload()
    eval_metrics, eval_report = evaluate(unwrapped, eval_dataloader, accelerator, label_names, "validation")
    test_metrics, test_report = evaluate(unwrapped, test_dataloader, accelerator, label_names, "test")
    results = {f"eval_{k}": v for k, v in eval_metrics.items()}
    results.update({f"test_{k}": v for k, v in test_metrics.items()})
    results.update({
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "train_steps": state.completed_steps,
        "train_samples": len(data["train"]),
        "train_runtime": round(state.train_seconds, 3),
        "train_samples_per_second": round(state.samples_seen / max(state.train_seconds, 1e-9), 3),
        "num_processes": accelerator.num_processes,
    })
    results.update(task.extra_results())
    accelerator.print(json.dumps({k: v for k, v in results.items() if not k.startswith(("eval_f1_", "test_f1_"))
                                  or k.endswith(("macro", "weighted"))}, indent=2))
    accelerator.log({k: v for k, v in results.items() if isinstance(v, (int, float))}, step=state.completed_steps)

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        out = output_dir
        if hasattr(task, "save_model"):
            task.save_model(unwrapped, out)
        else:
            unwrapped.save_pretrained(out, safe_serialization=True)
        task.processor.save_pretrained(out)
        _write_json(os.path.join(out, "all_results.json"), results)
        _write_json(os.path.join(out, "classification_report.json"),
                    {"validation": eval_report, "test": test_report, "history": state.history})
        with open(os.path.join(out, "recipe.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump({k: v for k, v in dataclasses.asdict(recipe).items() if k != "hub_token"}, f,
                           sort_keys=False)
        plot_confusion_matrix(test_report, os.path.join(out, "confusion_matrix.png"),
                              f"{recipe.dataset} test, best validation epoch")
        render_model_card(
            out,
            recipe=recipe,
            results=results,
            report=test_report,
            pipeline_tag=task.pipeline_tag,
            split_sizes={split: len(data[split]) for split in ("train", "validation", "test")},
            train_label_counts=dict(zip(label_names, counts.tolist())),
        )
    accelerator.wait_for_everyone()
    return results


# ---------------------------------------------------------------------------------------------------------------------
# Cross-validation
# ---------------------------------------------------------------------------------------------------------------------
CV_METRICS = ("accuracy", "f1_macro", "f1_weighted", "uar", "roc_auc_macro")


def fold_assignment(recipe: Recipe, full) -> tuple[np.ndarray, np.ndarray]:
    """`(fold, validation)` per row: the test fold of each row, and whether it is held out for validation when its
    fold is not the test fold (`validation[k]` holds the rows validating the model of fold k).

    Grouped (`fold_group_column`): `speaker_folds` over the groups, balanced over `fold_strata_column`; then, per
    fold, a `fold_validation_fraction` share of the training groups (at least one) validates. Ungrouped: stratified
    K-fold over the labels, and a stratified share of each fold's training rows validates.
    """
    from datasets_scripts.audio_utils import deal_folds, speaker_folds
    from sklearn.model_selection import StratifiedKFold, train_test_split

    k, labels = recipe.folds, np.asarray(full[recipe.label_column])
    validation = np.full((k, len(labels)), False)
    if recipe.fold_group_column:
        for column in (recipe.fold_group_column, recipe.fold_strata_column):
            if column and column not in full.column_names:
                raise ValueError(f"fold column {column!r} is not in {recipe.dataset}: {full.column_names}")
        groups = list(full[recipe.fold_group_column])
        strata = list(full[recipe.fold_strata_column]) if recipe.fold_strata_column else None
        fold_of = speaker_folds(groups, k, strata=strata, seed=recipe.seed)
        folds = np.array([fold_of[g] for g in groups])
        stratum_of = dict(zip(groups, strata)) if strata else {g: None for g in groups}
        for test_fold in range(k):
            train_groups = sorted({g for g, f in fold_of.items() if f != test_fold}, key=str)
            if len(train_groups) < 2:
                raise ValueError(f"fold {test_fold} leaves {len(train_groups)} training group(s): nothing to validate "
                                 f"on; use fewer folds")
            n_val = min(len(train_groups) - 1, max(1, round(recipe.fold_validation_fraction * len(train_groups))))
            dealt = deal_folds({g: stratum_of[g] for g in train_groups}, math.ceil(len(train_groups) / n_val),
                               seed=recipe.seed + test_fold)
            chosen = {g for g, f in dealt.items() if f == 0}
            validation[test_fold] = np.array([g in chosen for g in groups]) & (folds != test_fold)
        return folds, validation
    folds = np.zeros(len(labels), dtype=int)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=recipe.seed)
    for fold, (_, test_index) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[test_index] = fold
    for test_fold in range(k):
        rest = np.flatnonzero(folds != test_fold)
        _, held = train_test_split(rest, test_size=recipe.fold_validation_fraction, stratify=labels[rest],
                                   random_state=recipe.seed + test_fold)
        validation[test_fold, held] = True
    return folds, validation


def cross_validate(recipe: Recipe, accelerator, splits, output_dir, resume_from_checkpoint=None):
    """K-fold cross-validation over all rows of `splits`: a fresh model per fold (`train_and_evaluate` seeds and
    builds a new one), trained on the other folds minus a validation share, selected on that share, tested on the
    fold; each fold's model a Hub-ready `output_dir/fold_{k}/`. Returns mean and std (over folds, ddof=0) of the test
    metrics as `cv_{metric}_mean` / `cv_{metric}_std`, plus every fold's results.

    With `resume_from_checkpoint`, folds that finished (their `all_results.json` exists) are read back, not retrained,
    and the first unfinished fold resumes from its latest checkpoint.
    """
    import datasets

    full = datasets.concatenate_datasets([splits[name] for name in ("train", "validation", "test")])
    folds, validation = fold_assignment(recipe, full)
    label_names = full.features[recipe.label_column].names
    fold_results, confusions, histories = [], [], []
    for k in range(recipe.folds):
        fold_dir = os.path.join(output_dir, f"fold_{k}")
        test_rows = np.flatnonzero(folds == k)
        val_rows = np.flatnonzero(validation[k])
        train_rows = np.flatnonzero((folds != k) & ~validation[k])
        fold_splits = {"train": full.select(train_rows), "validation": full.select(val_rows),
                       "test": full.select(test_rows)}
        done = os.path.join(fold_dir, "all_results.json")
        if resume_from_checkpoint and os.path.isfile(done):
            with open(done) as f:
                results = json.load(f)
            accelerator.print(f"fold {k}: finished earlier, results read from {done}")
        else:
            resume = resume_from_checkpoint if resume_from_checkpoint and list_checkpoints(fold_dir) else None
            groups = (sorted(set(fold_splits["test"][recipe.fold_group_column]), key=str)
                      if recipe.fold_group_column else None)
            accelerator.print(f"fold {k}/{recipe.folds}: train {len(train_rows)}, validation {len(val_rows)}, test "
                              f"{len(test_rows)}" + (f" (test groups {groups})" if groups else ""))
            results = train_and_evaluate(recipe, accelerator, fold_splits, fold_dir, resume)
        fold_results.append(results)
        with open(os.path.join(fold_dir, "classification_report.json")) as f:
            report = json.load(f)
        confusions.append(np.asarray(report["test"]["confusion_matrix"]))
        histories.append(report["history"])

    summary = {"cv_folds": recipe.folds, "cv_group_column": recipe.fold_group_column}
    for metric in CV_METRICS + tuple(f"f1_{name}" for name in label_names):
        values = np.array([r[f"test_{metric}"] for r in fold_results], dtype=float)
        summary[f"cv_{metric}_mean"] = float(np.mean(values))
        summary[f"cv_{metric}_std"] = float(np.std(values))
    for metric in ("accuracy", "f1_macro"):
        summary[f"cv_eval_{metric}_mean"] = float(np.mean([r[f"eval_{metric}"] for r in fold_results]))
    # The validation curve averaged over folds (epochs every fold ran): choosing the number of epochs on it is far
    # less noisy than each fold's own early stopping when a fold validates on a handful of speakers.
    epochs = min(len(h) for h in histories)
    metric = f"eval_{recipe.metric_for_best_model}"
    curve = [float(np.mean([h[e][metric] for h in histories])) for e in range(epochs)]
    summary["cv_validation_curve"] = {"metric": metric, "mean_over_folds": curve}
    if curve:
        best = int(np.argmax(curve) if recipe.greater_is_better else np.argmin(curve))
        summary["cv_validation_curve"]["best_epoch"] = best + 1
    confusion = np.sum(confusions, axis=0)  # the out-of-fold prediction of every row, counted once
    summary["cv_pooled_accuracy"] = float(np.trace(confusion) / confusion.sum())
    summary["train_runtime"] = round(sum(r["train_runtime"] for r in fold_results), 3)
    summary["folds"] = fold_results
    per_class = tuple(f"cv_f1_{name}_" for name in label_names)
    accelerator.print(json.dumps({k: v for k, v in summary.items() if k.startswith("cv_") and not k.startswith(per_class)},
                                 indent=2))
    if accelerator.is_main_process:
        _write_json(os.path.join(output_dir, "all_results.json"), summary)
        report = {"labels": label_names, "confusion_matrix": confusion.tolist(),
                  "folds": {f"fold_{k}": sorted(set(full.select(np.flatnonzero(folds == k))[recipe.fold_group_column]),
                                                key=str) if recipe.fold_group_column else int((folds == k).sum())
                            for k in range(recipe.folds)}}
        _write_json(os.path.join(output_dir, "cv_report.json"), report)
        plot_confusion_matrix(report, os.path.join(output_dir, "confusion_matrix.png"),
                              f"{recipe.dataset}: {recipe.folds}-fold out-of-fold predictions")
    accelerator.wait_for_everyone()
    return summary


def push_to_hub(recipe: Recipe):
    from huggingface_hub import create_repo, upload_folder

    repo = create_repo(recipe.hub_model_id, private=recipe.hub_private_repo, token=recipe.hub_token, exist_ok=True)
    upload_folder(repo_id=repo.repo_id, folder_path=recipe.output_dir, token=recipe.hub_token,
                  commit_message="Upload model trained with emotion-hub train.py",
                  ignore_patterns=["checkpoints/*", "runs/*", "*.tfevents.*", "*/events.out.*"])
    print(f"pushed {recipe.output_dir} to {repo}")


def _write_json(path, payload):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2)


def _flat(recipe: Recipe):
    flat = {}
    for key, value in dataclasses.asdict(recipe).items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, v in items:
            name = f"{key}.{sub}" if sub else key
            flat[name] = v if isinstance(v, (int, float, str, bool)) else str(v)
    flat.pop("hub_token", None)
    return flat


def _count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def cli():
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
