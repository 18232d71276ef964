import pytest
import torch
import torch.nn.functional as F

from emotion_hub.modeling import TextCNNConfig
from emotion_hub.modeling.losses import DiceLoss, FocalLoss, build_loss, class_weights_from_counts, classification_loss


def test_class_weights_balanced_and_absent_class():
    assert class_weights_from_counts([10, 30]) == pytest.approx([2.0, 2 / 3])
    weights = class_weights_from_counts([5, 0, 15])
    assert weights[1] == 0.0 and weights[0] == pytest.approx(2.0) and weights[2] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="all zero"):
        class_weights_from_counts([0, 0])


def test_focal_with_gamma_zero_is_weighted_cross_entropy():
    torch.manual_seed(0)
    logits, labels = torch.randn(16, 4), torch.randint(0, 4, (16,))
    weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
    assert FocalLoss(gamma=0.0)(logits, labels) == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)
    assert FocalLoss(gamma=0.0, weight=weight)(logits, labels) == pytest.approx(
        F.cross_entropy(logits, labels, weight=weight).item(), rel=1e-5)
    # Focusing down-weights easy examples: the focal loss is below cross-entropy.
    assert FocalLoss(gamma=2.0)(logits, labels) < F.cross_entropy(logits, labels)


def test_dice_is_near_zero_for_confident_correct_and_high_for_wrong():
    labels = torch.tensor([0, 1, 2, 1])
    right = F.one_hot(labels, 3).float() * 50
    wrong = F.one_hot((labels + 1) % 3, 3).float() * 50
    assert DiceLoss(smooth=1e-6)(right, labels) < 1e-3
    assert DiceLoss(smooth=1e-6)(wrong, labels) > 0.99


def test_build_loss_follows_config_and_validates():
    config = TextCNNConfig(vocab_size=10, num_labels=2, loss_type="weighted_ce", class_weights=[1.0, 3.0])
    loss = build_loss(config)
    assert isinstance(loss, torch.nn.CrossEntropyLoss) and loss.weight.tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="loss_type"):
        TextCNNConfig(vocab_size=10, loss_type="hinge")
    with pytest.raises(ValueError, match="class_weights"):
        TextCNNConfig(vocab_size=10, loss_type="weighted_ce")
    with pytest.raises(ValueError, match="3 entries but the model has 2 labels"):
        TextCNNConfig(vocab_size=10, num_labels=2, class_weights=[1, 2, 3])


def test_label_outside_label_set_is_a_clear_error():
    config = TextCNNConfig(vocab_size=10, num_labels=3)
    with pytest.raises(ValueError, match=r"labels \[5\] are outside the model's label ids 0..2"):
        classification_loss(config, torch.randn(2, 3), torch.tensor([0, 5]))
