"""WingLoss (Feng et al., 2018, Eq. 5) and LandmarkL1Loss against hand-computed values."""

import math

import pytest
import torch

from ferlab.registry import MODELS


def test_wing_hand_values_both_branches():
    loss = MODELS.build(dict(type='WingLoss', omega=10.0, epsilon=2.0, reduction='sum_coords'))
    # one sample, two coordinates: |x| = 1 (log branch) and |x| = 15 (linear branch)
    pred = torch.tensor([[1.0, -15.0]])
    target = torch.zeros(1, 2)
    c = 10 - 10 * math.log(1 + 10 / 2)  # = 10 - 10 ln 6 = -7.9176
    want = 10 * math.log(1 + 1 / 2) + (15 - c)  # 4.0547 + 22.9176
    assert loss(pred, target).item() == pytest.approx(want, rel=1e-6)
    assert want == pytest.approx(26.97228, abs=1e-4)


def test_wing_is_continuous_at_omega_and_reductions():
    loss = MODELS.build(dict(type='WingLoss', omega=4.0, epsilon=1.0))
    eps = 1e-4
    below = loss(torch.tensor([[4.0 - eps]]), torch.zeros(1, 1)).item()
    above = loss(torch.tensor([[4.0 + eps]]), torch.zeros(1, 1)).item()
    assert abs(below - above) < 1e-3
    assert below == pytest.approx(4 * math.log(5), abs=1e-3)
    # (B, L, 2) input: 'sum_coords' sums the 2L coordinates of each sample, averages over B;
    # 'mean' averages everything: 2L = 4 times smaller here
    pred = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 3.0]]])
    t = torch.zeros_like(pred)
    per = [4 * math.log(2), 4 * math.log(4)]  # |x| = 1 and 3, both below omega
    assert loss(pred, t).item() == pytest.approx(sum(per) / 2, rel=1e-6)
    mean = MODELS.build(dict(type='WingLoss', omega=4.0, epsilon=1.0, reduction='mean'))
    assert mean(pred, t).item() == pytest.approx(sum(per) / 8, rel=1e-6)


def test_wing_gradient_is_larger_for_small_errors_than_l1():
    loss = MODELS.build(dict(type='WingLoss', omega=10.0, epsilon=2.0))
    x = torch.tensor([[0.5]], requires_grad=True)
    loss(x, torch.zeros(1, 1)).backward()
    # d/dx w ln(1 + x/eps) = w / (eps + x) = 10 / 2.5
    assert x.grad.item() == pytest.approx(4.0, rel=1e-6)


def test_l1_and_omega_zero_wing_agree_and_bad_input():
    l1 = MODELS.build(dict(type='LandmarkL1Loss'))
    pred = torch.tensor([[3.0, -2.0, 0.5]])
    assert l1(pred, torch.zeros(1, 3)).item() == pytest.approx(5.5)
    w0 = MODELS.build(dict(type='WingLoss', omega=0.0, epsilon=1.0))
    assert w0(pred, torch.zeros(1, 3)).item() == pytest.approx(5.5)
    with pytest.raises(ValueError, match='differ'):
        l1(pred, torch.zeros(1, 4))
    with pytest.raises(ValueError, match='epsilon > 0'):
        MODELS.build(dict(type='WingLoss', epsilon=0.0))
