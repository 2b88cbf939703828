"""DAN's affinity, center and partition losses: hand-computed values, gradients, errors."""

import math

import pytest
import torch

from ferlab.registry import MODELS


def _affinity(**kw):
    return MODELS.build(dict(type='AffinityLoss', **kw))


def test_affinity_loss_hand_computed():
    loss = _affinity(num_classes=2, feat_dim=2, reduction='mean')
    with torch.no_grad():
        loss.centers.copy_(torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
    # σ_c² = var([0, 2]) + var([0, 2]) = 2 + 2 = 4 (unbiased).
    feats = torch.tensor([[1.0, 0.0], [2.0, 3.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    # squared distances: 1, 1, 8 -> sum 10 -> / 4 = 2.5 -> mean over 3 samples.
    assert loss(feats, labels).item() == pytest.approx(2.5 / 3)
    summed = _affinity(num_classes=2, feat_dim=2)  # default: Eq. 2 as printed (a sum)
    summed.load_state_dict(loss.state_dict())
    assert summed(feats, labels).item() == pytest.approx(2.5)
    # a (B, D, H, W) map is average-pooled first
    fmap = feats[:, :, None, None].expand(3, 2, 2, 2).clone()
    assert loss(fmap, labels).item() == pytest.approx(2.5 / 3)
    weighted = _affinity(num_classes=2, feat_dim=2, loss_weight=0.5, reduction='mean')
    weighted.load_state_dict(loss.state_dict())
    assert weighted(feats, labels).item() == pytest.approx(2.5 / 6)


def test_affinity_gradients_reach_centers_and_push_them_apart():
    torch.manual_seed(0)
    loss = _affinity(num_classes=3, feat_dim=4)
    feats = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    loss(feats, labels).backward()
    assert loss.centers.grad is not None and loss.centers.grad.abs().sum() > 0
    assert feats.grad.abs().sum() > 0
    # With features sitting on their centers, the gradient still increases σ_c (pushes centers apart).
    loss.centers.grad = None
    with torch.no_grad():
        feats2 = loss.centers[labels].clone() + 0.1
    before = loss.center_variance().item()
    opt = torch.optim.SGD(loss.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        loss(feats2, labels).backward()
        opt.step()
    assert loss.center_variance().item() > before


def test_affinity_loss_checks_labels_and_sizes():
    loss = _affinity(num_classes=7, feat_dim=4)
    with pytest.raises(ValueError, match='0..6'):
        loss(torch.randn(2, 4), torch.tensor([0, 7]))
    with pytest.raises(ValueError, match='feat_dim=4'):
        loss(torch.randn(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='shape'):
        loss(torch.randn(2, 4), torch.tensor([0]))
    with pytest.raises(ValueError, match='reduction'):
        _affinity(num_classes=3, reduction='max')


def test_center_loss_hand_computed():
    loss = MODELS.build(dict(type='CenterLoss', num_classes=2, feat_dim=2))
    with torch.no_grad():
        loss.centers.copy_(torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
    feats = torch.tensor([[1.0, 0.0], [2.0, 3.0], [0.0, 0.0]], requires_grad=True)
    value = loss(feats, torch.tensor([0, 1, 1]))
    assert value.item() == pytest.approx(0.5 * 10 / 3)
    value.backward()
    assert loss.centers.grad.abs().sum() > 0


def test_partition_loss_paper_hand_computed():
    # B=1, k=2, C=2: head values per channel (0, 2) and (1, 1+sqrt(2)).
    heads = torch.tensor([[[0.0, 1.0], [2.0, 1.0 + math.sqrt(2.0)]]])
    # unbiased variance over 2 heads = d²/2: channel 0 -> 2, channel 1 -> 1.
    loss = MODELS.build(dict(type='PartitionLoss', mode='paper', eps=0.0))
    expected = (math.log(1 + 2 / 2) + math.log(1 + 2 / 1)) / 2
    assert loss(heads).item() == pytest.approx(expected, rel=1e-6)


def test_partition_loss_public_hand_computed():
    heads = torch.tensor([[[0.0, 1.0], [2.0, 1.0 + math.sqrt(2.0)]]])
    loss = MODELS.build(dict(type='PartitionLoss', mode='public', eps=0.0))
    expected = math.log(1 + 2 / 1.5)  # one log of the averaged variance (2 + 1) / 2
    assert loss(heads).item() == pytest.approx(expected, rel=1e-6)
    # Jensen: the paper's form is larger whenever the variances differ.
    paper = MODELS.build(dict(type='PartitionLoss', mode='paper', eps=0.0))
    assert paper(heads).item() > loss(heads).item()


def test_partition_loss_two_samples_and_weight():
    # sample 0: variances (2, 1); sample 1: heads differ by 1 in both channels -> variance 0.5.
    heads = torch.tensor(
        [[[0.0, 1.0], [2.0, 1.0 + math.sqrt(2.0)]], [[0.0, 0.0], [1.0, 1.0]]],
    )
    loss = MODELS.build(dict(type='PartitionLoss', eps=0.0, loss_weight=2.0))
    terms = [math.log(1 + 2 / 2), math.log(1 + 2 / 1), math.log(1 + 2 / 0.5), math.log(1 + 2 / 0.5)]
    assert loss(heads).item() == pytest.approx(2.0 * sum(terms) / 4, rel=1e-6)


@pytest.mark.parametrize('mode', ['paper', 'public'])
def test_partition_loss_zero_for_one_head(mode):
    heads = torch.randn(3, 1, 8, requires_grad=True)
    value = MODELS.build(dict(type='PartitionLoss', mode=mode))(heads)
    assert value.item() == 0.0
    value.backward()  # still part of the graph
    assert heads.grad is not None


def test_partition_loss_errors():
    with pytest.raises(ValueError, match='mode'):
        MODELS.build(dict(type='PartitionLoss', mode='both'))
    with pytest.raises(ValueError, match=r'\(B, k, C\)'):
        MODELS.build(dict(type='PartitionLoss'))(torch.randn(2, 8))
