"""MaskedBCEWithLogitsLoss against torch's BCEWithLogitsLoss and a hand computation."""

import math

import pytest
import torch

from ferlab.registry import MODELS


def build(**kw):
    return MODELS.build(dict(type='MaskedBCEWithLogitsLoss', **kw))


def test_full_mask_equals_torch_bce_with_pos_weight():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 5, generator=g)
    y = (torch.rand(6, 5, generator=g) > 0.5).float()
    pw = [1.0, 2.0, 0.5, 3.0, 1.5]
    ref = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))(z, y)
    assert torch.allclose(build(pos_weight=pw)(z, y), ref, atol=1e-6)
    assert torch.allclose(build()(z, y), torch.nn.BCEWithLogitsLoss()(z, y), atol=1e-6)


def test_hand_value_of_masked_mean():
    z = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    y = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    m = torch.tensor([[1, 0], [0, 1]], dtype=torch.bool)
    # annotated entries: (0,0) z=0 y=1 -> log 2; (1,1) z=-1 y=1 -> log(1 + e)
    expect = (math.log(2) + math.log(1 + math.e)) / 2
    assert build()(z, y, m).item() == pytest.approx(expect, abs=1e-6)
    # pos_weight 2 on AU 1 doubles the positive term of (1,1) only
    expect_pw = (math.log(2) + 2 * math.log(1 + math.e)) / 2
    assert build(pos_weight=[1.0, 2.0])(z, y, m).item() == pytest.approx(expect_pw, abs=1e-6)
    assert build(reduction='sum', loss_weight=0.5)(z, y, m).item() == pytest.approx(expect, abs=1e-6)


def test_unlabelled_sample_gets_no_gradient():
    z = torch.randn(4, 3, requires_grad=True)
    y = torch.ones(4, 3)
    m = torch.ones(4, 3)
    m[1] = 0  # sample 1 has no AU labels
    m[2, 0] = 0  # sample 2 lacks AU 0
    y[1] = float('nan')  # whatever its targets are, they must not matter
    loss = build()(z, y.nan_to_num(5.0), m)
    loss.backward()
    assert torch.equal(z.grad[1], torch.zeros(3))
    assert z.grad[2, 0] == 0 and (z.grad[2, 1:] != 0).all()
    assert (z.grad[0] != 0).all()
    # only annotated entries: equal to torch's loss over those entries
    ref = torch.nn.functional.binary_cross_entropy_with_logits(z[m > 0], torch.ones(8))
    assert torch.allclose(loss, ref, atol=1e-6)


def test_empty_mask_is_zero_with_zero_gradient():
    z = torch.randn(2, 3, requires_grad=True)
    loss = build()(z, torch.zeros(2, 3), torch.zeros(2, 3))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(z.grad, torch.zeros(2, 3))


def test_bad_shapes_are_one_clear_error():
    with pytest.raises(ValueError, match='differ in shape'):
        build()(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='pos_weight has 2 entries for 3 AUs'):
        build(pos_weight=[1.0, 1.0])(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match='positive'):
        build(pos_weight=[1.0, 0.0])
