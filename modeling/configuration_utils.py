"""What every config of the package shares: typed fields checked by `huggingface_hub.dataclasses.strict`, as
transformers 5 writes its own configs, and errors of one line that name the field.

A config is a dataclass whose fields are its arguments, each with its type and default:

    @strict
    class TextCNNConfig(EmotionClassifierConfig):
        model_type = "text_cnn"

        kernel_sizes: list[int] | tuple[int, ...] = positive_ints(default=(3, 4, 5), allow_empty=False)
        pooling: Literal["max", "mean", "kmax"] = "max"
        dropout: float | int = probability(default=0.5)

        def validate_lengths(self):  # what involves several fields
            ...

The type says what a value may be; a field validator (`probability`, `positive_int`, ...) what a type cannot say
about one field; a `validate_*` method what involves several, run by `@strict` once the config is built. A value that
is turned into others (a Whisper window, a former argument name) is a keyword argument of `__post_init__`, typed in its
signature: `init_only_arguments()` lists them for the recipe check, and `from_dict` routes them (and our fields)
through the constructor, so `from_pretrained(dir, window_seconds=2)` is checked as `Config(window_seconds=2)` is.

A bad value raises one `ValueError` naming the field and what it must be (`@strict` raises a two-line
`StrictDataclassError`, which is no `ValueError`). This file is copied into every saved model folder with the config
that imports it: it may import only the standard library, transformers and huggingface_hub.
"""

import copy
import dataclasses
import inspect
import math
import re
import types
import typing
from typing import Any, ClassVar, Literal, Union

from huggingface_hub.dataclasses import as_validated_field, type_validator
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassError
from transformers import PreTrainedConfig


LossType = Literal["ce", "weighted_ce", "focal", "dice"]
LOSS_TYPES = typing.get_args(LossType)
TripletMining = Literal["batch_hard", "batch_all"]
TRIPLET_MININGS = typing.get_args(TripletMining)
_BASE_FIELDS = frozenset(f.name for f in dataclasses.fields(PreTrainedConfig))


# ---------------------------------------------------------------------------------------------------------------------
# Field validators: what a type cannot say about one value (None passes: the type says whether None is allowed)
# ---------------------------------------------------------------------------------------------------------------------
def at_least(minimum):
    """A field whose value is a finite number >= `minimum`: `vocab_size: int = at_least(2)(default=20000)`."""

    @as_validated_field
    def check(value):
        if value is not None and not (math.isfinite(value) and value >= minimum):
            raise ValueError(f"must be >= {minimum}, got {value!r}")

    return check


positive_int = at_least(1)
non_negative = at_least(0)


@as_validated_field
def probability(value):
    """A dropout or smoothing probability, in [0, 1)."""
    if value is not None and not 0.0 <= value < 1.0:
        raise ValueError(f"must be in [0, 1), got {value!r}")


@as_validated_field
def odd_kernel_size(value):
    if value < 1 or value % 2 == 0:
        raise ValueError(f"must be a positive odd int (same padding), got {value!r}")


def positive_ints(default, allow_empty=True):
    """A list of layer sizes or kernel widths, each >= 1 (`allow_empty=False`: at least one)."""

    def check(values):
        if (not values and not allow_empty) or any(v < 1 for v in values):
            wanted = "positive ints" if allow_empty else "a non-empty list of positive ints"
            raise ValueError(f"must be {wanted}, got {list(values)!r}")

    return dataclasses.field(default=default, metadata={"validator": [check]})


# ---------------------------------------------------------------------------------------------------------------------
# One-line errors
# ---------------------------------------------------------------------------------------------------------------------
_WORDS = {bool: "true or false", int: "an int", float: "a number", str: "a string", dict: "a mapping",
          type(None): "None", list: "a list", tuple: "a list"}
_PLURALS = {int: "ints", float: "numbers", str: "strings", bool: "booleans"}


def type_words(annotation) -> str:
    """`list[int] | None` -> "a list of ints or None": what a field's type allows, in words."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return f"one of {args}"
    if origin in (Union, types.UnionType):
        if float in args:  # `float | int`: a number
            args = tuple(arg for arg in args if arg is not int)
        return " or ".join(dict.fromkeys(type_words(arg) for arg in args))
    if origin in (list, tuple) and args:
        item = args[0] if typing.get_origin(args[0]) not in (Union, types.UnionType) else float
        return f"a list of {_PLURALS.get(item, 'values')}"
    if origin is dict:
        return "a mapping"
    return _WORDS.get(annotation, f"a {getattr(annotation, '__name__', annotation)}")


def _one_line(cls, err: StrictDataclassError, arguments: dict) -> str:
    cause = err.__cause__
    if isinstance(err, StrictDataclassClassValidationError) and cause is not None:
        return str(cause)  # a `validate_*` method writes the whole sentence
    found = re.match(r"Validation error for field '([^']+)'", str(err))
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    name = found.group(1) if found else None
    if name in fields and isinstance(cause, TypeError) and name in arguments:
        return f"`{name}` must be {type_words(fields[name].type)}, got {arguments[name]!r}"
    if name in fields and isinstance(cause, ValueError):
        return f"`{name}` {cause}"
    return " ".join(str(err).split())


class _OneLineErrors(type):
    """Building a config raises a `ValueError` of one line naming the field (`train.py` prints it as `error: ...`):
    the types of `__post_init__`'s own arguments are checked first, then what `@strict` finds is said again."""

    def __call__(cls, *args, **kwargs):
        for name, annotation in cls.init_only_arguments().items():
            if name in kwargs:
                try:
                    type_validator(name, kwargs[name], annotation)
                except TypeError:
                    raise ValueError(f"`{name}` must be {type_words(annotation)}, got {kwargs[name]!r}") from None
        try:
            return super().__call__(*args, **kwargs)
        except StrictDataclassError as err:
            raise ValueError(_one_line(cls, err, kwargs)) from err


# ---------------------------------------------------------------------------------------------------------------------
# The base classes
# ---------------------------------------------------------------------------------------------------------------------
class EmotionConfig(PreTrainedConfig, metaclass=_OneLineErrors):
    r"""
    Base of every config of the package (decorate each concrete config with `@strict`). Its fields given as tuples are
    kept as lists, as they are saved.
    """

    @classmethod
    def own_fields(cls) -> dict:
        """`{name: type}` of the fields our classes declare (not transformers' `PreTrainedConfig`'s)."""
        return {f.name: f.type for f in dataclasses.fields(cls) if f.name not in _BASE_FIELDS}

    @classmethod
    def init_only_arguments(cls) -> dict:
        """`{name: type}` of the keyword arguments a `__post_init__` of this class takes besides the fields: values it
        turns into fields, former names of arguments that saved folders and recipes still use."""
        arguments = {}
        for klass in reversed(cls.__mro__):
            if issubclass(klass, EmotionConfig) and "__post_init__" in klass.__dict__:
                for name, parameter in inspect.signature(klass.__dict__["__post_init__"]).parameters.items():
                    if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                        arguments[name] = Any if parameter.annotation is parameter.empty else parameter.annotation
        return arguments

    def __post_init__(self, **kwargs):
        for name in self.own_fields():
            if isinstance(getattr(self, name), tuple):
                setattr(self, name, list(getattr(self, name)))
        super().__post_init__(**kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """`PreTrainedConfig.from_dict`; overrides of our own fields and init-only arguments (`from_pretrained(dir,
        window_seconds=2)`, `pooling=...`) go through the constructor, which checks them and derives what follows from
        them. Other keywords are transformers' own."""
        own = set(cls.own_fields()) | set(cls.init_only_arguments())
        config_dict = {**config_dict, **{name: kwargs.pop(name) for name in own & set(kwargs)}}
        return super().from_dict(config_dict, **kwargs)


def _args_entries(docstring: str) -> dict:
    """`{name: entry lines}` of the `Args:` block of a docstring (an entry: its first line and the more indented
    ones after it)."""
    lines, entries, name, indent = (docstring or "").splitlines(), {}, None, None
    for line in lines[next((i + 1 for i, line in enumerate(lines) if line.strip() == "Args:"), len(lines)):]:
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        indent = width if indent is None else indent
        if width < indent:
            break
        if width == indent:
            name = line.split("(", 1)[0].strip()
            entries[name] = []
        entries[name].append(line[indent:])
    return entries


def with_shared_arguments(docstring: str, shared: dict) -> str:
    """`docstring` whose `Args:` block also documents the `shared` entries (`{name: lines}`) it does not document."""
    entries = _args_entries(docstring)
    missing = [name for name in shared if name not in entries]
    if not entries or not missing:
        return docstring
    lines = docstring.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Args:")
    indent = " " * (len(lines[start]) - len(lines[start].lstrip()) + 4)
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(indent)):
        end += 1
    while not lines[end - 1].strip():
        end -= 1
    added = [indent + line for name in missing for line in shared[name]]
    return "\n".join(lines[:end] + added + lines[end:])


class EmotionClassifierConfig(EmotionConfig):
    r"""
    Base of the configs of our classifiers: the loss arguments every one of them takes, the pipelines its folder
    ships (`default_custom_pipelines`, saved as `custom_pipelines`) and the documentation of both, which every
    subclass's docstring gets in its `Args:` block.

    Args:
        loss_type (`str`, *optional*, defaults to `"ce"`): `"ce"`, `"weighted_ce"`, `"focal"` or `"dice"`, the loss of
            single-label classification (multi-label classification and regression follow `problem_type`).
        class_weights (`list[float]`, *optional*): one weight per label in label-id order, used by `"weighted_ce"`
            (required there) and, when given, by `"focal"` and `"dice"`.
        focal_gamma (`float`, *optional*, defaults to 2.0): focusing parameter of the focal loss.
        dice_smooth (`float`, *optional*, defaults to 1.0): smoothing term of the Dice loss.
        problem_type (`str`, *optional*): `"single_label_classification"` (int label ids, `loss_type`),
            `"multi_label_classification"` (0/1 float targets per label, binary cross-entropy; the pipeline gives
            independent sigmoid scores) or `"regression"` (float targets, mean squared error); inferred from the labels
            at the first loss when unset, as in transformers' stock heads.
    """

    default_custom_pipelines: ClassVar[dict] = {}

    loss_type: LossType = "ce"
    class_weights: list[float | int] | tuple[float | int, ...] | None = None
    focal_gamma: float | int = non_negative(default=2.0)
    dice_smooth: float | int = non_negative(default=1.0)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__doc__ = with_shared_arguments(cls.__doc__, _args_entries(EmotionClassifierConfig.__doc__))

    def __post_init__(self, **kwargs):
        if self.default_custom_pipelines:
            kwargs.setdefault("custom_pipelines", copy.deepcopy(self.default_custom_pipelines))
        super().__post_init__(**kwargs)

    def validate_loss(self):
        if self.class_weights is not None:
            if not all(isinstance(w, (int, float)) and math.isfinite(w) and w >= 0 for w in self.class_weights):
                raise ValueError(f"`class_weights` must be finite non-negative numbers, got {self.class_weights}")
            if self.num_labels is not None and len(self.class_weights) != self.num_labels:
                raise ValueError(f"`class_weights` has {len(self.class_weights)} entries but the model has "
                                 f"{self.num_labels} labels")
        if self.loss_type == "weighted_ce" and self.class_weights is None:
            raise ValueError("`loss_type='weighted_ce'` needs `class_weights` (one per label, in label-id order); "
                             "train.py computes them from the training split's label counts with "
                             "`class_weights_from_counts`")


__all__ = ["EmotionClassifierConfig", "EmotionConfig", "LOSS_TYPES", "LossType", "TRIPLET_MININGS", "TripletMining",
           "at_least", "non_negative",
           "odd_kernel_size", "positive_int", "positive_ints", "probability", "type_words", "with_shared_arguments"]
