"""ARBEx losses (Eq. 20-22) against hand computations and torch's own NLL / cross-entropy."""

import math

import pytest
import torch
import torch.nn.functional as F

from ferlab.registry import MODELS


def loss(type_, **kw):
    return MODELS.build(dict(type=type_, **kw))


# ---------------------------------------------------------------- Eq. 20
def test_nll_equals_torch_nll_loss_with_and_without_class_weights():
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(6, 4), 1)
    y = torch.tensor([0, 1, 2, 3, 1, 1])
    assert loss('DistributionNLLLoss')(probs, y).item() == pytest.approx(F.nll_loss(probs.log(), y).item())
    w = [1.0, 2.0, 0.5, 3.0]
    got = loss('DistributionNLLLoss', class_weight=w)(probs, y).item()
    assert got == pytest.approx(F.nll_loss(probs.log(), y, weight=torch.tensor(w)).item(), rel=1e-6)


def test_label_smoothing_matches_cross_entropy_on_log_probs():
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(5, 7), 1)
    y = torch.tensor([0, 6, 2, 3, 3])
    got = loss('DistributionNLLLoss', label_smoothing=0.11)(probs, y).item()
    # log_softmax(log p) = log p for normalised p, so torch's smoothed CE is the oracle
    assert got == pytest.approx(F.cross_entropy(probs.log(), y, label_smoothing=0.11).item(), rel=1e-6)


def test_nll_soft_targets_and_zero_probability_by_hand():
    probs = torch.tensor([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    soft = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    expected = (-math.log(0.5) + 0.5 * -math.log(0.25) + 0.5 * -math.log(0.5)) / 2
    assert loss('DistributionNLLLoss')(probs, soft).item() == pytest.approx(expected)
    # a zero probability on the label: finite (clamped at eps)
    value = loss('DistributionNLLLoss')(probs[:1], torch.tensor([2])).item()
    assert math.isfinite(value) and value == pytest.approx(-math.log(1e-12))


def test_nll_bad_input():
    with pytest.raises(ValueError, match=r'labels must lie in 0\.\.2'):
        loss('DistributionNLLLoss')(torch.full((1, 3), 1 / 3), torch.tensor([3]))
    with pytest.raises(ValueError, match='class_weight has 2 entries'):
        loss('DistributionNLLLoss', class_weight=[1.0, 1.0])(torch.full((1, 3), 1 / 3), torch.tensor([0]))
    with pytest.raises(ValueError, match='label_smoothing'):
        loss('DistributionNLLLoss', label_smoothing=1.0)


# ---------------------------------------------------------------- Eq. 21
def test_anchor_loss_by_hand():
    a = torch.tensor([[[0.0]], [[1.0]]])  # N = 2, K = 1, D = 1: one pair at squared distance 1
    assert loss('AnchorLoss')(a).item() == pytest.approx(-(1 - math.exp(-1.0)))
    assert loss('AnchorLoss', normalize='mean')(a).item() == pytest.approx(-1.0)
    assert loss('AnchorLoss', normalize='public')(a).item() == pytest.approx(-2.0)  # both orders, /sqrt(1)/1
    # N = 1, K = 2, D = 2: anchors (0, 0) and (2, 0), |d|^2 / D = 2; 'public' ignores same-class pairs
    b = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])
    assert loss('AnchorLoss')(b).item() == pytest.approx(-(1 - math.exp(-2.0)))
    assert loss('AnchorLoss', normalize='public')(b).item() == 0.0


def test_anchor_loss_is_bounded_and_its_gradient_reaches_random_anchors():
    far = torch.randn(3, 4, 8) * 1e3
    assert -1.0 <= loss('AnchorLoss')(far).item() < -0.999
    a = torch.randn(3, 4, 8, requires_grad=True)
    loss('AnchorLoss')(a).backward()
    assert a.grad.abs().sum() > 0


def test_zero_anchors_give_zero_anchor_gradient():
    """The public code's zero initialisation: every pairwise difference is 0, so is the gradient."""
    for normalize in ('bounded', 'mean', 'public'):
        a = torch.zeros(3, 2, 8, requires_grad=True)
        loss('AnchorLoss', normalize=normalize)(a).backward()
        assert a.grad.abs().sum() == 0


# ---------------------------------------------------------------- Eq. 22
def test_center_loss_closest_anchor_by_hand_and_gradient():
    anchors = torch.tensor(
        [[[1.0, 0.0], [0.0, 2.0]], [[5.0, 5.0], [6.0, 6.0]]], requires_grad=True
    )  # (N = 2, K = 2, D = 2)
    e = torch.tensor([[0.0, 0.0]], requires_grad=True)
    y = torch.tensor([0])
    value = loss('AnchorCenterLoss', normalize='none')(e, anchors, y)
    assert value.item() == pytest.approx(1.0)  # min(1, 4)
    value.backward()
    grad = torch.zeros(2, 2, 2)
    grad[0, 0] = torch.tensor([2.0, 0.0])  # d/da ||e - a||^2 = 2 (a - e), closest anchor of class 0 only
    torch.testing.assert_close(anchors.grad, grad)
    torch.testing.assert_close(e.grad, torch.tensor([[-2.0, 0.0]]))
    assert loss('AnchorCenterLoss')(e, anchors, y).item() == pytest.approx(0.5)  # / D
    w = torch.tensor([0.5])
    # public: unsquared distance / sqrt(D), times the confidence weight
    assert loss('AnchorCenterLoss', normalize='public')(e, anchors, y, w).item() == pytest.approx(
        0.5 * 1.0 / math.sqrt(2)
    )


def test_center_loss_batch_mean_and_bad_input():
    anchors = torch.zeros(2, 1, 3)
    e = torch.tensor([[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]])
    got = loss('AnchorCenterLoss', normalize='none')(e, anchors, torch.tensor([0, 1])).item()
    assert got == pytest.approx((3.0 + 4.0) / 2)
    with pytest.raises(ValueError, match=r'labels must lie in 0\.\.1'):
        loss('AnchorCenterLoss')(e, anchors, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match='embeddings'):
        loss('AnchorCenterLoss')(e, torch.zeros(2, 1, 4), torch.tensor([0, 1]))
