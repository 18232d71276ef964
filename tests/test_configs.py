"""Every config of the package is declared as typed fields (issue 25): checked by `@strict`, documented once in its
docstring's `Args:` block (the loss arguments written once in `EmotionClassifierConfig`), and a wrong type or value is
one `ValueError` of one line naming the field, also when it comes as a `from_pretrained` override."""

import inspect
import re

import pytest

from emotion_hub import modeling
from emotion_hub.modeling import FAMILIES, EmotionClassifierConfig, EmotionConfig, TextCNNConfig
from emotion_hub.modeling.configuration_erc_fusion import ERCTimmVisionConfig
from emotion_hub.modeling.configuration_utils import _args_entries
from emotion_hub.modeling.losses import LABELS_DOCSTRING

CONFIGS = sorted({family.config_class for family in FAMILIES.values()} | {ERCTimmVisionConfig},
                 key=lambda cls: cls.__name__)


def _documented(cls) -> set:
    """The argument names of the `Args:` blocks of `cls` and its bases (a subclass documents what it adds)."""
    names = set()
    for klass in cls.__mro__:
        entries = _args_entries(klass.__doc__)  # an entry may name several: `a, b, c (`float`, *optional*): ...`
        heads = (" ".join(line.strip() for line in lines).split(" (`")[0] for lines in entries.values())
        names |= {name.strip() for head in heads for name in head.split(",")}
    return names


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda cls: cls.__name__)
def test_every_config_is_strict_typed_fields_documented_in_its_args_block(cls):
    assert issubclass(cls, EmotionConfig) and "__validators__" in cls.__dict__, f"{cls.__name__} is not @strict"
    fields = {**cls.own_fields(), **cls.init_only_arguments()}
    assert fields and not [name for name, annotation in fields.items() if isinstance(annotation, str)]
    documented = _documented(cls)
    missing = sorted(set(fields) - documented)
    assert not missing, f"{cls.__name__} does not document {missing} in its Args block"
    if issubclass(cls, EmotionClassifierConfig) and _args_entries(cls.__doc__):
        assert "problem_type" in documented  # the shared documentation, added to the subclass's own


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda cls: cls.__name__)
def test_a_wrong_type_is_one_line_naming_the_field(cls):
    for name in {**cls.own_fields(), **cls.init_only_arguments()}:
        with pytest.raises(ValueError) as error:
            cls(**{name: object()})
        message = str(error.value)
        assert f"`{name}`" in message and "\n" not in message, (name, message)


def test_a_wrong_value_names_the_field_and_what_it_must_be():
    cases = [(dict(pooling="attention"), "`pooling` must be one of ('max', 'mean', 'kmax'), got 'attention'"),
             (dict(dropout=1.0), "`dropout` must be in [0, 1), got 1.0"),
             (dict(kernel_sizes=[]), "`kernel_sizes` must be a non-empty list of positive ints, got []"),
             (dict(num_filters="8"), "`num_filters` must be an int, got '8'"),
             (dict(freeze_embeddings=1), "`freeze_embeddings` must be true or false, got 1"),
             (dict(class_weights=[1, 2], num_labels=3), "`class_weights` has 2 entries but the model has 3 labels")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            TextCNNConfig(vocab_size=10, **kwargs)


def test_a_from_pretrained_override_is_checked_as_the_constructor_checks_it(tmp_path):
    TextCNNConfig(vocab_size=30, max_sequence_length=8).save_pretrained(tmp_path)
    assert TextCNNConfig.from_pretrained(tmp_path, pooling="kmax").pooling == "kmax"
    with pytest.raises(ValueError, match=r"`pooling` must be one of"):
        TextCNNConfig.from_pretrained(tmp_path, pooling="attention")
    with pytest.raises(ValueError, match=r"`max_sequence_length` \(8\) must be >= the largest kernel size \(9\)"):
        TextCNNConfig.from_pretrained(tmp_path, kernel_sizes=[9])  # a check of several fields runs again


def test_tuples_are_kept_as_lists_as_they_are_saved():
    config = TextCNNConfig(vocab_size=10, kernel_sizes=(2, 3))
    assert config.kernel_sizes == [2, 3] and config == TextCNNConfig(vocab_size=10, kernel_sizes=[2, 3])


@pytest.mark.parametrize("name", sorted({f.model_class.__name__ for f in FAMILIES.values() if f.auto_class}))
def test_every_head_documents_labels_with_the_shared_text(name):
    assert LABELS_DOCSTRING in getattr(modeling, name).forward.__doc__


def test_the_loss_arguments_are_documented_once():
    """The loss arguments' documentation lives in EmotionClassifierConfig's docstring; every family's config docstring
    holds it without a copy in its source."""
    shared = _args_entries(EmotionClassifierConfig.__doc__)
    for cls in CONFIGS:
        if issubclass(cls, EmotionClassifierConfig) and _args_entries(cls.__doc__):
            own = _args_entries(cls.__dict__["__doc__"]) if "__doc__" in cls.__dict__ else {}
            assert all(own.get(name) == lines for name, lines in shared.items()), cls.__name__
    for family in FAMILIES.values():
        source = inspect.getsource(family.config_class)
        assert "focusing parameter of the focal loss" not in source, family.config_class.__name__
