"""Recipes: a YAML file plus `--key value` overrides, validated before any work.

Every top-level key is a field of `Recipe` (a pydantic dataclass: `extra="forbid"`, strict types); every nested block
is validated against what consumes it: `model` against the typed fields of the model type's config, `tokenizer` against
`build_word_level_tokenizer`, `feature_extractor` / `image_processor` against their classes, `augmentation`,
`audio_augmentation`, `erc_backbones` and `erc_processor` against a pydantic model of their own. An unknown key gets
a did-you-mean suggestion (`difflib`); a wrong type names the key, the value and the expected type. Every problem is
a `RecipeError` (a `ValueError`) whose message is one line, which `train.py` prints as `error: ...` (exit status 2).
"""

import argparse
import dataclasses
import difflib
import hashlib
import inspect
import json
import os
import re
import types
import typing
from typing import Annotated, Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic import create_model
from pydantic.dataclasses import dataclass

# Nothing here imports torch, transformers, datasets or accelerate at module level: `train.py --help` and every recipe
# error come before them. A nested block imports its consumer (config class, processor) only when it is not empty.
METRICS = ("accuracy", "f1_macro", "f1_weighted", "uar", "roc_auc_macro", "loss")
IMAGE_AUGMENTATION_DEFAULTS = {"hflip": 0.0, "rotation": 0.0, "translate": 0.0, "scale": [1.0, 1.0], "brightness": 0.0,
                               "contrast": 0.0, "erasing": 0.0}
IMAGE_AUGMENTATION_KEYS = tuple(IMAGE_AUGMENTATION_DEFAULTS)


def image_augmentation_options(options: dict) -> dict:
    """The `augmentation` block with its defaults and `scale` as `[min, max]`; a key or range that is not allowed is a
    `ValueError` naming it (what `training.image.ImageAugmentation` takes; checked here without torch)."""
    unknown = sorted(set(options) - set(IMAGE_AUGMENTATION_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown `augmentation` keys {unknown}; valid keys: {sorted(IMAGE_AUGMENTATION_DEFAULTS)}")
    o = {**IMAGE_AUGMENTATION_DEFAULTS, **options}
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
    return {**o, "scale": [float(scale[0]), float(scale[1])]}
OPTIMIZERS = ("adam", "adamw", "sgd", "sgd_momentum", "adadelta")
SCHEDULERS = ("constant", "linear", "cosine", "reduce_on_plateau")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)")


class RecipeError(ValueError):
    """A recipe or command-line problem, with a one-line message naming the key or file."""


def _float(value):
    """YAML 1.1 reads `1e-3` as a string: accept a string that is a number, and ints; nothing else (no bools)."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


Float = Annotated[float, BeforeValidator(_float)]
# YAML 1.1 reads `mixed_precision: no` (and `--mixed_precision no`) as false: that is the "no" Accelerate means.
Precision = Annotated[StrictStr, BeforeValidator(lambda value: "no" if value is False else value)]
STRICT = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)


@dataclass(config=STRICT)
class Recipe:
    """A training recipe: every field can come from the YAML file or from `--field value` on the command line."""

    # data
    dataset: StrictStr = Field("tweet_eval_emotion", description="builder name in datasets_scripts")
    dataset_config: Optional[StrictStr] = Field(None, description="builder config, e.g. anger_joy")
    data_dir: Optional[StrictStr] = Field(None, description="local copy of the data (else: download)")
    cache_dir: Optional[StrictStr] = Field(None, description="datasets cache folder")
    input_column: StrictStr = Field("text", description="column holding the model input")
    label_column: StrictStr = Field("label", description="ClassLabel column to predict")
    max_train_samples: Optional[StrictInt] = Field(None, description="truncate train split (debugging)")
    max_eval_samples: Optional[StrictInt] = Field(None, description="truncate validation/test splits")
    # model and processor
    model_type: StrictStr = Field("text_cnn", description="model family, see modeling/families.py")
    model: dict = Field(default_factory=dict, description="config arguments of the model")
    tokenizer: dict = Field(default_factory=dict, description="build_word_level_tokenizer arguments")
    word_vectors: Optional[StrictStr] = Field(None, description="GloVe-format text file for embeddings")
    word_vectors_vocab: StrictInt = Field(0, description="add the N most frequent vector words to vocab")
    # faces (image classification)
    image_processor: dict = Field(default_factory=dict, description=(
        "FERImageProcessor arguments (default image_mean/image_std: the training split's pixel statistics for "
        "fer_cnn, the backbone's for fer_timm)"))
    augmentation: dict = Field(default_factory=dict, description=(
        f"training-only image augmentation, keys {sorted(IMAGE_AUGMENTATION_KEYS)}"))
    # optimisation
    output_dir: Optional[StrictStr] = Field(None, description="where the Hub-ready model folder goes")
    overwrite_output_dir: StrictBool = Field(False, description="replace a folder that holds another run")
    num_epochs: StrictInt = Field(10, description="maximum number of epochs")
    max_train_steps: Optional[StrictInt] = Field(None, description="stop after this many optimizer steps")
    per_device_train_batch_size: StrictInt = 32
    per_device_eval_batch_size: StrictInt = 256
    gradient_accumulation_steps: StrictInt = 1
    optimizer: StrictStr = Field("adam", description=f"one of {OPTIMIZERS}")
    learning_rate: Float = 1e-3
    head_learning_rate: Optional[Float] = Field(None, description=(
        "learning rate of the parameters outside the pretrained encoder(s) (a fresh head next to a fine-tuned "
        "backbone); null: learning_rate for all"))
    weight_decay: Float = 0.0
    momentum: Float = Field(0.9, description="momentum of sgd_momentum")
    adam_epsilon: Float = 1e-8
    lr_scheduler: StrictStr = Field("constant", description=f"one of {SCHEDULERS}")
    warmup_ratio: Float = Field(0.0, description="fraction of steps of linear warmup")
    plateau_factor: Float = Field(0.5, description="reduce_on_plateau: lr multiplier")
    plateau_patience: StrictInt = Field(1, description="reduce_on_plateau: epochs without improvement")
    max_grad_norm: Optional[Float] = Field(None, description="gradient clipping (None: off)")
    metric_for_best_model: StrictStr = Field("f1_macro", description=f"validation metric, one of {METRICS}")
    early_stopping_patience: Optional[StrictInt] = Field(3, description="epochs without improvement")
    keep_best_weights: StrictBool = Field(True, description=(
        "keep the best validation epoch's weights (false: the last epoch's, for a number of epochs chosen on "
        "validation beforehand, e.g. on the mean validation curve of a cross-validation)"))
    seed: StrictInt = 42
    mixed_precision: Precision = Field("no", description="no | fp16 | bf16")
    dataloader_num_workers: StrictInt = 0
    num_threads: Union[Literal["auto"], StrictInt] = Field("auto", description=(
        "torch intra-op threads per process: N, 0 for torch's default (every core), or auto: OMP_NUM_THREADS when "
        "set, torch's default when the recipe fine-tunes a pretrained transformer (auto_sequence_classification, "
        "erc_fusion, a speech encoder not frozen, LoRA), else 1 (small models and heads on cached features, whose "
        "steps slow several-fold beside another job with more threads)"))
    # checkpoints, logging, Hub
    checkpointing_steps: Union[Literal["epoch"], StrictInt, None] = Field("epoch", description="'epoch', N or None")
    checkpoints_total_limit: Optional[StrictInt] = Field(2, description="keep this many checkpoints of this run")
    resume_from_checkpoint: Optional[StrictStr] = Field(None, description="checkpoint folder or 'latest'")
    allow_recipe_change: StrictBool = Field(False, description=(
        "resume a checkpoint written by a different recipe (e.g. more epochs)"))
    report_to: StrictStr = Field("none", description="none | tensorboard | wandb | all ...")
    logging_steps: StrictInt = 50
    push_to_hub: StrictBool = False
    hub_model_id: Optional[StrictStr] = None
    hub_private_repo: StrictBool = False
    hub_token: Optional[StrictStr] = Field(None, description="defaults to the saved login / HF_TOKEN")
    # conversations (erc_fusion)
    dataset_options: dict = Field(default_factory=dict, description=(
        "builder config options, e.g. {on_bad_clip: skip, num_frames: 5} for MELD's multimodal config"))
    erc_processor: dict = Field(default_factory=dict, description=(
        "erc_fusion processor: tokenizer (Hub id/folder, or 'train' for a byte-level BPE trained on the training "
        "split: bpe_vocab_size, bpe_min_frequency), feature_extractor (Hub id/folder), frame_height, frame_width, "
        "and ERCProcessor arguments (max_prompt_tokens, max_context_turns, target_marker)"))
    erc_backbones: dict = Field(default_factory=dict, description=(
        "erc_fusion pretrained backbones: text (any transformers text model), audio (any supported speech "
        "encoder), vision (timm name), vision_pretrained_cfg_overlay (e.g. {file: weights.safetensors}), "
        "audio_window_seconds (Whisper: seconds per forward; the feature extractor's chunk_length follows)"))
    # voice (audio classification)
    feature_extractor: dict = Field(default_factory=dict, description=(
        "audio feature extractor: `class` (EmotionAudioFeatureExtractor (default), Wav2Vec2FeatureExtractor, "
        "ASTFeatureExtractor), `from_pretrained` (Hub id/folder) and the class's arguments"))
    audio_augmentation: dict = Field(default_factory=dict, description=(
        "training-only audio augmentation: noise_snr_db [min, max] (white noise), SpecAugment freq_masks / "
        "freq_width / time_masks / time_width (masks of up to width bins/frames set to 0)"))
    random_crop: StrictBool = Field(False, description=(
        "training clips: a random max_length_seconds crop per clip and epoch (evaluation: deterministic)"))
    max_length_seconds: Optional[Float] = Field(None, description=(
        "training crop length (default: the feature extractor's max_length_seconds)"))
    pretrained_backbone: Optional[StrictStr] = Field(None, description=(
        "start from pretrained weights: a wav2vec2 checkpoint (wav2vec2_emotion, e.g. facebook/wav2vec2-base) or a "
        "timm model name (spectrogram_vit with backbone: timm; fer_timm, also a local timm folder)"))
    pretrained_backbone_options: dict = Field(default_factory=dict, description=(
        "wav2vec2: {backbone_config_overrides: {mask_time_prob: 0.05}}; timm: {pretrained_cfg_overlay: "
        "{file: weights.safetensors}} for a local checkpoint"))
    group_by_length: StrictBool = Field(False, description=(
        "training batches of similar length (audio clips; tokenised text of auto_sequence_classification and "
        "text-only erc_fusion), less padding, shuffled per epoch"))
    gradient_checkpointing: StrictBool = Field(False, description="recompute activations in the backward")
    lora_r: StrictInt = Field(0, description="LoRA rank through peft (0: off); merged into the saved model")
    lora_alpha: StrictInt = 16
    lora_dropout: Float = 0.0
    lora_target_modules: list[StrictStr] = Field(default_factory=lambda: ["q_proj", "v_proj"], description=(
        "modules LoRA adapts (the model's head is trained in full)"))
    export_stock: StrictBool = Field(False, description=(
        "save the model as the stock transformers class it matches (ASTForAudioClassification, "
        "Wav2Vec2ForSequenceClassification, TimmWrapperForImageClassification): no trust_remote_code, runs in the "
        "Hub's hosted widget"))
    # cross-validation
    encoder_cache: Union[Literal["auto"], StrictBool] = Field("auto", description=(
        "speech encoders with model.freeze_backbone: run the encoder once per clip and train the head from its "
        "cached hidden states (auto: whenever nothing changes a clip between epochs; false: encoder every step)"))
    encoder_cache_dir: Optional[StrictStr] = Field(None, description=(
        "where the frozen-encoder cache lives (default $EMOTION_HUB_CACHE/encoder_cache or "
        "~/.cache/emotion_hub/encoder_cache)"))
    folds: Union[Literal["loso"], StrictInt] = Field(0, description=(
        "K-fold cross-validation over all splits (0: off): OUT/fold_{k}/ per fold, cv_* in all_results.json; "
        "'loso': leave-one-group-out, one fold per value of fold_group_column (e.g. per speaker)"))
    fold_group_column: Optional[StrictStr] = Field(None, description=(
        "grouped folds: no value of this column (e.g. speaker) in two folds; None: stratified by label"))
    fold_strata_column: Optional[StrictStr] = Field(None, description=(
        "grouped folds balanced over this per-group column (e.g. gender)"))
    fold_validation_fraction: Float = Field(0.25, description=(
        "share of each fold's training groups (or examples) held out for validation (at least one)"))
    fold_refit: StrictBool = Field(False, description=(
        "after each fold's model is chosen on its validation groups (its best epoch), train a fresh one on the "
        "training + validation groups for that many epochs and test that one (OUT/fold_{k}; the selection run in "
        "OUT/fold_{k}-selection)"))
    # cross-corpus evaluation (training/cross_corpus.py)
    cross_corpus: Union[Literal["loco"], list[StrictStr], None] = Field(None, description=(
        "train on some corpora of a multi-corpus dataset, test on another's clips, unadapted and with the "
        "standardisation statistics re-estimated on its unlabelled audio: 'loco' (leave-one-corpus-out: every "
        "corpus in turn) or a list of target corpora; OUT/cross_corpus_<target>/ per target, cross_corpus_* in "
        "all_results.json"))
    cross_corpus_train: Optional[list[StrictStr]] = Field(None, description=(
        "cross_corpus: the training corpora (default: every corpus but the target)"))
    corpus_column: StrictStr = Field("source", description="cross_corpus: the column naming each row's corpus")
    cross_corpus_final_model: StrictBool = Field(False, description=(
        "cross_corpus: then train a model on every corpus (the builder's speaker-disjoint splits) into OUT, its card "
        "stating the cross-corpus figures"))
    class_balanced_sampler: StrictBool = Field(False, description=(
        "train batches of samples_per_class examples of each of batch_size // samples_per_class classes"))
    samples_per_class: StrictInt = Field(4, description="class_balanced_sampler: examples per class")

    def __post_init__(self):
        from emotion_hub.training.registry import model_type_names

        MODEL_TYPES = model_type_names()

        checks = [
            (self.optimizer in OPTIMIZERS, "optimizer", f"one of {OPTIMIZERS}"),
            (self.lr_scheduler in SCHEDULERS, "lr_scheduler", f"one of {SCHEDULERS}"),
            (self.metric_for_best_model in METRICS, "metric_for_best_model", f"one of {METRICS}"),
            (self.mixed_precision in ("no", "fp16", "bf16"), "mixed_precision", "no, fp16 or bf16"),
            (self.model_type in MODEL_TYPES, "model_type", f"one of {sorted(MODEL_TYPES)}"),
            (self.output_dir is not None, "output_dir", "given (--output_dir OUT)"),
            (self.num_epochs >= 1, "num_epochs", ">= 1"),
            (self.per_device_train_batch_size >= 1, "per_device_train_batch_size", ">= 1"),
            (self.per_device_eval_batch_size >= 1, "per_device_eval_batch_size", ">= 1"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", ">= 1"),
            (self.learning_rate >= 0, "learning_rate", ">= 0"),
            (self.head_learning_rate is None or self.head_learning_rate > 0, "head_learning_rate", "> 0 or null"),
            (self.head_learning_rate is None or not self.lora_r, "head_learning_rate",
             "null with lora_r (LoRA trains the adapters and the head at learning_rate)"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio", "in [0, 1)"),
            (self.checkpointing_steps is None or self.checkpointing_steps == "epoch" or self.checkpointing_steps > 0,
             "checkpointing_steps", "'epoch', a positive int or null"),
            (self.checkpoints_total_limit is None or self.checkpoints_total_limit >= 1, "checkpoints_total_limit",
             ">= 1 or null"),
            (not self.push_to_hub or self.hub_model_id, "hub_model_id", "set when `push_to_hub` is true"),
            (self.folds == "loso" or self.folds == 0 or self.folds >= 2, "folds", "0 (off), >= 2 or 'loso'"),
            (self.folds != "loso" or self.fold_group_column, "fold_group_column", "set with `folds: loso` (the column "
             "whose values are left out one at a time, e.g. speaker)"),
            (0 < self.fold_validation_fraction < 1, "fold_validation_fraction", "in (0, 1)"),
            (not self.fold_refit or self.folds or self.cross_corpus, "fold_refit",
             "false without `folds` or `cross_corpus` (it refits each fold's model: with `--folds 0` add "
             "`--fold_refit false`)"),
            (not (self.folds and self.push_to_hub), "push_to_hub", "false with `folds` (push a fold's folder, "
             "OUT/fold_k, yourself)"),
            (self.max_length_seconds is None or self.max_length_seconds > 0, "max_length_seconds", "> 0"),
            (not (self.cross_corpus and self.folds), "cross_corpus", "null with `folds` (one protocol per run)"),
            (not self.cross_corpus or self.fold_group_column, "fold_group_column", "set with `cross_corpus` (the "
             "speaker column: validation speakers and speaker-adapted statistics)"),
            (self.cross_corpus is None or self.cross_corpus == "loco" or len(self.cross_corpus) >= 1, "cross_corpus",
             "'loco' or a non-empty list of target corpora"),
            (not (self.cross_corpus and self.push_to_hub and not self.cross_corpus_final_model), "push_to_hub",
             "false with `cross_corpus` unless `cross_corpus_final_model` (push a target's folder yourself)"),
            (not (self.cross_corpus_train or self.cross_corpus_final_model) or self.cross_corpus, "cross_corpus",
             "set with `cross_corpus_train` / `cross_corpus_final_model`"),
            (self.lora_r >= 0, "lora_r", "an int >= 0"),
            (not self.lora_r or self.lora_target_modules, "lora_target_modules", "the modules to adapt"),
            (self.logging_steps >= 1, "logging_steps", ">= 1"),
            (self.num_threads == "auto" or self.num_threads >= 0, "num_threads", "'auto', 0 (torch's default) or N"),
        ]
        for ok, key, expected in checks:
            if not ok:
                raise RecipeError(f"`{key}` must be {expected}, got {getattr(self, key)!r}")
        if self.data_dir not in (None, "download") and not os.path.isdir(self.data_dir):  # "download": fetch it
            raise RecipeError(f"`data_dir` {self.data_dir!r}: no such folder")
        if self.word_vectors is not None and not os.path.isfile(self.word_vectors):
            raise RecipeError(f"`word_vectors` {self.word_vectors!r}: no such file")
        validate_blocks(self)

    @property
    def greater_is_better(self) -> bool:
        return self.metric_for_best_model != "loss"


# ---------------------------------------------------------------------------------------------------------------------
# Nested blocks: one pydantic model per block
# ---------------------------------------------------------------------------------------------------------------------
class ImageAugmentationBlock(BaseModel):
    model_config = STRICT
    hflip: Float = 0.0
    rotation: Float = 0.0
    translate: Float = 0.0
    scale: Union[list[Float], Float] = [1.0, 1.0]
    brightness: Float = 0.0
    contrast: Float = 0.0
    erasing: Float = 0.0


class AudioAugmentationBlock(BaseModel):
    model_config = STRICT
    noise_snr_db: Optional[list[Float]] = None
    freq_masks: StrictInt = 0
    freq_width: StrictInt = 0
    time_masks: StrictInt = 0
    time_width: StrictInt = 0


class ERCBackbonesBlock(BaseModel):
    model_config = STRICT
    text: Optional[StrictStr] = None
    audio: Optional[StrictStr] = None
    vision: Optional[StrictStr] = None
    vision_pretrained_cfg_overlay: Optional[dict] = None
    audio_window_seconds: Optional[Float] = None


# The type of a block's key, as JSON (a block's fields are cached as {key: kind}): a name ("any", "bool", "int",
# "float", "str", "none", "dict", "list") or a list: ["list", item kind], ["union", kind, ...], ["literal", value, ...].
NAMED_KINDS = {"any": Any, "bool": StrictBool, "int": StrictInt, "float": Float, "str": StrictStr, "none": type(None),
               "dict": dict, "list": list}
_PLAIN = {bool: "bool", int: "int", float: "float", str: "str", type(None): "none", dict: "dict", list: "list",
          tuple: "list"}
_PLAIN_ANNOTATIONS = (bool, int, float, str, Optional[bool], Optional[int], Optional[float], Optional[str])


def _pydantic_type(kind):
    """The strict pydantic type of a kind."""
    if isinstance(kind, str):
        return NAMED_KINDS[kind]
    head, *rest = kind
    if head == "list":
        return list[_pydantic_type(rest[0])]
    if head == "literal":
        return Literal[tuple(rest)]
    return Union[tuple(_pydantic_type(item) for item in rest)]


def kind_of_type(annotation):
    """The kind of a typed field: `list[int] | tuple[int, ...] | None` -> `["union", ["list", "int"], ["list", "int"],
    "none"]`. A class that is none of the plain ones (a nested config) is "any"."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return ["literal", *args]
    if origin in (Union, types.UnionType):
        return ["union", *(kind_of_type(arg) for arg in args)]
    if origin in (list, tuple):
        return ["list", kind_of_type(args[0])] if args else "list"
    if origin is dict:
        return "dict"
    return _PLAIN.get(annotation, "any") if isinstance(annotation, type) else "any"


def _kind(parameter):
    """The kind of a processor's argument (a default or an `inspect.Parameter`), whose type is not declared as a
    field's is: its annotation when it is a plain one, else its default's type (None: any value)."""
    default = parameter.default if isinstance(parameter, inspect.Parameter) else parameter
    annotation = parameter.annotation if isinstance(parameter, inspect.Parameter) else inspect.Parameter.empty
    if annotation in _PLAIN_ANNOTATIONS:
        return kind_of_type(annotation)
    if default is None or default is inspect.Parameter.empty:
        return "any"
    guesses = {bool: "bool", int: ["union", "int", "list", "none"],  # or a per-axis / per-layer list
               float: ["union", "float", "none"], str: ["union", "str", "none"],
               list: ["union", "list", "int", "none"], tuple: ["union", "list", "int", "none"],  # or one for all
               dict: ["union", "dict", "none"]}
    return next((kind for cls, kind in guesses.items() if isinstance(default, cls)), "any")


def _kinds(parameters: dict[str, Any]) -> dict:
    return {key: _kind(parameter) for key, parameter in parameters.items()}


def _model_of_kinds(name: str, kinds: dict):
    return create_model(name, __config__=STRICT, **{key: (_pydantic_type(kind), None) for key, kind in kinds.items()})


def _parameters(function, skip=()):
    return {k: p for k, p in inspect.signature(function).parameters.items()
            if k not in ("self", *skip) and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


STATIC_BLOCKS = {"augmentation": ImageAugmentationBlock, "audio_augmentation": AudioAugmentationBlock,
                 "erc_backbones": ERCBackbonesBlock}
CODE_BLOCKS = ("model", "tokenizer", "image_processor", "erc_processor", "feature_extractor")


def validate_blocks(recipe: Recipe):
    """Every nested block against its consumer; raises `RecipeError` naming `block.key`. An empty block has nothing
    to check. The keys a consumer takes and their types (a config's typed fields, a processor's arguments) are read
    from the classes once and kept in a small cache keyed by the package's source files and the transformers version
    (`BlockSchemas`), so later checks import none of torch, transformers and the models; a missing or stale cache
    reads the classes."""
    schemas = BlockSchemas()
    try:
        for block in [*CODE_BLOCKS, *STATIC_BLOCKS]:
            values = getattr(recipe, block)
            if isinstance(values, dict) and not values:
                continue
            if block in STATIC_BLOCKS:
                model = STATIC_BLOCKS[block]
            else:
                if not isinstance(values, dict):
                    check_keys(values, {}, block)  # one line: not a mapping
                name = _schema_name(block, recipe)
                entry = schemas.get(name)
                if entry is None:
                    entry = _read_schema(block, recipe)
                    if _cacheable(block, recipe):
                        schemas.put(name, entry)
                model = _model_of_kinds(f"{recipe.model_type}.{block}" if block == "model" else block, entry["fields"])
            check_keys(values, model.model_fields, block)
            try:
                model(**values)
            except ValidationError as err:
                raise RecipeError(describe(err, prefix=f"{block}.", values=values)) from None
        if recipe.export_stock:
            blockers = _stock_blockers(recipe, schemas)
            if blockers:
                raise RecipeError("`export_stock: true` cannot be honoured: " + "; ".join(blockers) + " (drop "
                                  "--export_stock, or change the model settings named)")
    finally:
        schemas.save()  # what was read from the classes, even when the recipe was refused
    if recipe.augmentation:  # the ranges (ImageAugmentation checks them the same way)
        _check_ranges(image_augmentation_options, recipe.augmentation)
    if recipe.audio_augmentation:
        from emotion_hub.training.audio import AudioAugmentation

        _check_ranges(AudioAugmentation, recipe.audio_augmentation)


def _cacheable(block: str, recipe: Recipe) -> bool:
    """A schema read from the package's sources (what the cache is keyed on); not a family registered from outside."""
    from emotion_hub.training.registry import is_package_family

    return block != "model" or is_package_family(recipe.model_type)


def _stock_blockers(recipe: Recipe, schemas) -> list:
    """`registry.export_stock_blockers(recipe)`, kept in the cache by the values of the model keys it reads (the
    config's `stock_export_checks`)."""
    name = f"export_stock:{recipe.model_type}"
    entry = schemas.get(name)
    if entry is None:
        from emotion_hub.training.registry import config_class_of

        checks = getattr(config_class_of(recipe.model_type), "stock_export_checks", ())
        entry = {"checks": [[key, default] for key, default in checks], "results": {}}
    values = {key: recipe.model.get(key, default) for key, default in entry["checks"]}
    token = json.dumps(values, sort_keys=True, default=str)
    if token not in entry["results"]:
        from emotion_hub.training.registry import export_stock_blockers

        entry = {**entry, "results": {**entry["results"], token: export_stock_blockers(recipe)}}
        if _cacheable("model", recipe):
            schemas.put(name, entry)
    return entry["results"][token]


def _check_ranges(consumer, values):
    try:
        consumer(values) if consumer is image_augmentation_options else consumer(**values)
    except ValueError as err:
        raise RecipeError(str(err)) from None


def _schema_name(block: str, recipe: Recipe) -> str:
    if block == "model":
        return f"model:{recipe.model_type}"
    if block == "feature_extractor":
        return f"feature_extractor:{recipe.feature_extractor.get('class', 'EmotionAudioFeatureExtractor')}"
    return block


def _read_schema(block: str, recipe: Recipe) -> dict:
    """`{"fields": {key: kind}}` of a block, read from its consumer."""
    if block == "model":
        return _model_schema(recipe.model_type)
    if block == "tokenizer":
        from emotion_hub.processing.tokenization_word_level import build_word_level_tokenizer

        parameters = _parameters(build_word_level_tokenizer, skip=("texts",))
    elif block == "image_processor":
        from emotion_hub.processing.image_processing_fer import FERImageProcessor

        parameters = FERImageProcessor().to_dict()
    elif block == "erc_processor":
        from emotion_hub.processing import ERCProcessor

        parameters = {"tokenizer": None, "feature_extractor": None, "bpe_vocab_size": 8000, "bpe_min_frequency": 2,
                      "frame_height": 224, "frame_width": 224,
                      **_parameters(ERCProcessor.__init__, skip=("tokenizer", "feature_extractor", "image_processor"))}
    else:
        parameters = {"class": "", "from_pretrained": None,
                      **_parameters(_feature_extractor_class(recipe.feature_extractor))}
    return {"fields": _kinds(parameters)}


def _model_schema(model_type: str) -> dict:
    """The `model` block of `model_type`: the typed fields of its config (transformers' own included: `problem_type`,
    `id2label`...), the arguments its `__post_init__` takes besides them (a Whisper window, the former names of
    arguments), and `class_weights`, which a recipe may also set to "auto" (from the training split's counts)."""
    from emotion_hub.training.registry import config_class_of

    config_class = config_class_of(model_type)
    types_ = {field.name: field.type for field in dataclasses.fields(config_class)}
    types_.update(config_class.init_only_arguments())
    fields = {name: kind_of_type(annotation) for name, annotation in types_.items()}
    fields["class_weights"] = ["union", ["literal", "auto"], ["list", "float"], "none"]
    return {"fields": fields}


class BlockSchemas:
    """`{block: {"fields": {key: kind}, "mentioned": [words]}}` read from the consumers' classes, kept in
    `$EMOTION_HUB_CACHE/recipe_schema/<hash>.json` (default `~/.cache/emotion_hub`) under a hash of the package's
    modeling/, processing/ and training/ sources and the transformers version: a changed source or release reads the
    classes again. A cache that cannot be read or written is left aside."""

    VERSION = 2

    def __init__(self):
        self.path = self._path()
        self.cached = {}
        try:
            with open(self.path, encoding="utf-8") as f:
                self.cached = json.load(f)
        except (OSError, ValueError, TypeError):
            pass
        self.fresh = {}

    def get(self, name):
        return self.cached.get(name) or self.fresh.get(name)

    def put(self, name, entry):
        self.fresh[name] = entry

    def save(self):
        if not self.fresh or self.path is None:
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({**self.cached, **self.fresh}, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError:
            pass

    @classmethod
    def _path(cls):
        import importlib.metadata

        import emotion_hub

        digest = hashlib.sha256(f"{cls.VERSION}".encode())
        try:
            digest.update(importlib.metadata.version("transformers").encode())
        except importlib.metadata.PackageNotFoundError:
            return None
        sources = []
        for base in emotion_hub.__path__:
            for folder in ("modeling", "processing", "training"):
                where = os.path.join(base, folder)
                if os.path.isdir(where):
                    sources += sorted(os.path.join(where, name) for name in os.listdir(where) if name.endswith(".py"))
        if not sources:
            return None
        for path in sources:
            with open(path, "rb") as f:
                digest.update(os.path.basename(path).encode() + b"\0" + f.read())
        root = os.environ.get("EMOTION_HUB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "emotion_hub")
        return os.path.join(root, "recipe_schema", f"{digest.hexdigest()[:24]}.json")


def _feature_extractor_class(options: dict):
    import transformers

    from emotion_hub.processing.feature_extraction_emotion_audio import EmotionAudioFeatureExtractor

    name = options.get("class", "EmotionAudioFeatureExtractor")
    if name == "EmotionAudioFeatureExtractor":
        return EmotionAudioFeatureExtractor.__init__
    if isinstance(name, str) and name.endswith("FeatureExtractor") and hasattr(transformers, name):
        return getattr(transformers, name).__init__
    raise RecipeError(f"`feature_extractor.class` must be EmotionAudioFeatureExtractor or a transformers feature "
                      f"extractor class (Wav2Vec2FeatureExtractor, ASTFeatureExtractor...), got {name!r}")


def check_keys(values, valid, where: str):
    """Unknown keys of mapping `values` -> `RecipeError` with the closest valid names."""
    if not isinstance(values, dict):
        raise RecipeError(f"recipe key {where!r} must be a mapping of keys to values, got {values!r}")
    for key in values:
        if key not in valid:
            close = difflib.get_close_matches(str(key), list(valid), n=3)
            name = f"{where}.{key}" if where else key
            hint = f"; did you mean {close}?" if close else f"; valid keys: {sorted(valid)}"
            raise RecipeError(f"unknown recipe key {name!r}{hint}")


def describe(err: ValidationError, prefix: str = "", values: Optional[dict] = None) -> str:
    """The first pydantic error as one line: the key, the value and what was expected."""
    first = err.errors()[0]
    if first["type"] == "value_error" and isinstance(first.get("ctx", {}).get("error"), RecipeError):
        return str(first["ctx"]["error"])
    loc = [str(part) for part in first["loc"] if not str(part).startswith(("function-", "union[", "nullable["))]
    loc = [part for part in loc if part not in ("str", "int", "float", "bool", "list", "dict", "literal['epoch']")]
    key = prefix + ".".join(loc[:1]) if loc else prefix.rstrip(".")
    value = first.get("input")
    expected = {"int_type": "an int", "int_parsing": "an int", "float_type": "a float", "float_parsing": "a float",
                "bool_type": "true or false (without quotes)", "string_type": "a string", "list_type": "a list",
                "dict_type": "a mapping"}
    kinds = [e["type"] for e in err.errors()]
    wanted = " or ".join(dict.fromkeys(expected[k] for k in kinds if k in expected)) or first["msg"]
    if "float_type" in kinds or "float_parsing" in kinds:
        return f"recipe key {key!r}: cannot read {value!r} as float (expected {wanted})"
    if first["type"] == "literal_error":  # a field typed with its choices
        return f"recipe key {key!r} must be {first['ctx']['expected']}, got {value!r}"
    if any(k in expected for k in kinds):
        return f"recipe key {key!r}: cannot read {value!r} as {wanted}"
    return f"recipe key {key!r}: {first['msg']}, got {value!r}"


# ---------------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------------
def recipe_fields() -> dict:
    return {f.name: f for f in dataclasses.fields(Recipe)}


def parse_args(argv=None) -> Recipe:
    """`--config FILE [--key value ...]` -> a validated `Recipe` (`RecipeError` otherwise)."""
    fields = recipe_fields()
    epilog = "recipe keys (override with --key value; nested: --model.key value):\n" + "\n".join(
        f"  --{name:<28} {getattr(f.default, 'description', None) or ''}" for name, f in fields.items())
    parser = argparse.ArgumentParser(prog="train.py", description="Train a recipe of emotion-hub with Accelerate.",
                                     epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML recipe, e.g. configs/text-cnn-tweeteval-emotion.yaml")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("--dry_run", action="store_true", help=(
        "read and check the recipe and the command line (files, folders, every block), print the recipe and stop: "
        "no model, no data, no output folder"))
    args, rest = parser.parse_known_args(argv)
    if not os.path.exists(args.config) or os.path.isdir(args.config):
        raise RecipeError(f"--config {args.config}: no such file")
    try:
        with open(args.config, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise RecipeError(f"{args.config}: not a YAML file ({' '.join(str(err).split())})") from None
    if not isinstance(values, dict):
        raise RecipeError(f"{args.config}: a recipe is a YAML mapping of keys to values")
    overrides = []
    while rest:
        token = rest.pop(0)
        if not token.startswith("--") or len(token) == 2:
            raise RecipeError(f"unexpected argument {token!r}; overrides are written --key value")
        key, has_value, raw = token[2:].partition("=")
        if not has_value:
            raw = rest.pop(0) if rest and not rest[0].startswith("--") else "true"
        try:
            overrides.append((key, yaml.safe_load(raw)))
        except yaml.YAMLError:
            raise RecipeError(f"--{key}: cannot read {raw!r} (YAML value expected)") from None
    for key, value in list(values.items()) + overrides:
        top, _, sub = str(key).partition(".")
        check_keys({top: None}, fields, "")
        if sub:
            if not isinstance(values.get(top, {}), dict):
                raise RecipeError(f"recipe key {top!r} is not a mapping, cannot set {key!r}")
            values[top] = {**values.get(top, {}), sub: value}
        else:
            values[top] = value
    values = {k: v for k, v in values.items() if "." not in str(k)}
    for name, field in fields.items():  # a mapping block given as null means "empty"
        if values.get(name, 0) is None and field.default_factory is dict:
            values[name] = {}
    try:
        return Recipe(**values)
    except ValidationError as err:
        raise RecipeError(describe(err)) from None


def recipe_dict(recipe: Recipe) -> dict:
    return {k: v for k, v in dataclasses.asdict(recipe).items() if k != "hub_token"}


# Keys that change where and how a run is stored or reported, not what it trains.
NOT_HASHED = ("output_dir", "overwrite_output_dir", "resume_from_checkpoint", "allow_recipe_change", "data_dir",
              "cache_dir", "report_to", "logging_steps", "push_to_hub", "hub_model_id", "hub_private_repo", "hub_token",
              "checkpointing_steps", "checkpoints_total_limit", "dataloader_num_workers", "num_threads")


def training_recipe(recipe: Recipe) -> dict:
    """The part of a recipe a checkpoint depends on (what `recipe_hash` covers)."""
    return {k: v for k, v in dataclasses.asdict(recipe).items() if k not in NOT_HASHED}


def recipe_hash(recipe: Recipe) -> str:
    payload = json.dumps(training_recipe(recipe), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


__all__ = ["Recipe", "RecipeError", "parse_args", "recipe_dict", "recipe_hash", "training_recipe", "OPTIMIZERS",
           "SCHEDULERS"]
