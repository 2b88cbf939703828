"""CrossEntropyLoss: hand-computed hard labels, label smoothing, soft targets, class weights."""

import math

import pytest
import torch
import torch.nn.functional as F

from ferlab.registry import LOSSES, MODELS


def build(**kwargs):
    return LOSSES.build(dict(type='CrossEntropyLoss', **kwargs))


LOGITS = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]])
TARGET = torch.tensor([0, 1])


def log_softmax_hand(row):
    lse = math.log(sum(math.exp(v) for v in row))
    return [v - lse for v in row]


def test_hard_labels_hand_computed():
    l0 = -log_softmax_hand([2.0, 0.0, 0.0])[0]  # -(2 - log(e^2 + 2))
    l1 = -log_softmax_hand([0.0, 1.0, 3.0])[1]
    assert LOSSES is MODELS
    loss = build()(LOGITS, TARGET)
    assert loss.item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    assert build(reduction='sum')(LOGITS, TARGET).item() == pytest.approx(l0 + l1, rel=1e-6)
    none = build(reduction='none')(LOGITS, TARGET)
    assert none.tolist() == pytest.approx([l0, l1], rel=1e-6)
    assert build(loss_weight=0.5)(LOGITS, TARGET).item() == pytest.approx((l0 + l1) / 4, rel=1e-6)


def test_label_smoothing_matches_torch():
    torch.manual_seed(0)
    logits, target = torch.randn(6, 5), torch.randint(0, 5, (6,))
    for eps in (0.1, 0.3):
        torch.testing.assert_close(
            build(label_smoothing=eps)(logits, target), F.cross_entropy(logits, target, label_smoothing=eps)
        )
    # hand check for one row: q = (1-eps) onehot + eps / C
    eps, row = 0.1, [2.0, 0.0, 0.0]
    lp = log_softmax_hand(row)
    q = [(1 - eps) + eps / 3, eps / 3, eps / 3]
    expected = -sum(qi * li for qi, li in zip(q, lp))
    assert build(label_smoothing=eps)(LOGITS[:1], TARGET[:1]).item() == pytest.approx(expected, rel=1e-6)


def test_soft_targets():
    q = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    expected = 0.0
    for row, qrow in zip(LOGITS.tolist(), q.tolist()):
        expected += -sum(a * b for a, b in zip(qrow, log_softmax_hand(row)))
    assert build()(LOGITS, q).item() == pytest.approx(expected / 2, rel=1e-6)
    # equals torch's probability-target cross-entropy
    torch.testing.assert_close(build()(LOGITS, q), F.cross_entropy(LOGITS, q))
    # one-hot soft targets equal hard labels
    torch.testing.assert_close(build()(LOGITS, F.one_hot(TARGET, 3).float()), build()(LOGITS, TARGET))


def test_class_weights_match_torch():
    torch.manual_seed(1)
    logits, target = torch.randn(8, 4), torch.randint(0, 4, (8,))
    w = [1.0, 2.0, 0.5, 3.0]
    torch.testing.assert_close(
        build(class_weight=w)(logits, target), F.cross_entropy(logits, target, weight=torch.tensor(w))
    )
    torch.testing.assert_close(
        build(class_weight=w, reduction='sum')(logits, target),
        F.cross_entropy(logits, target, weight=torch.tensor(w), reduction='sum'),
    )
    # hand check: weighted mean normalised by the sum of the target weights
    loss = build(class_weight=[1.0, 3.0, 1.0])(LOGITS, TARGET)
    l0, l1 = -log_softmax_hand([2.0, 0.0, 0.0])[0], -log_softmax_hand([0.0, 1.0, 3.0])[1]
    assert loss.item() == pytest.approx((1 * l0 + 3 * l1) / 4, rel=1e-6)


def test_gradient_flows():
    logits = LOGITS.clone().requires_grad_(True)
    build(label_smoothing=0.1)(logits, TARGET).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(
    'kwargs', [dict(label_smoothing=1.0), dict(label_smoothing=-0.1), dict(reduction='avg')]
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        build(**kwargs)


@pytest.mark.parametrize('eps', [0.0, 0.1, 0.4])
@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
@pytest.mark.parametrize('soft', [False, True], ids=['hard', 'soft'])
def test_class_weights_with_smoothing_or_soft_targets_match_torch(eps, reduction, soft):
    """Oracle: ``F.cross_entropy`` itself (hard: / Σ w_y; probability targets: / N)."""
    torch.manual_seed(2)
    logits = torch.randn(9, 4, dtype=torch.float64)
    target = (
        torch.softmax(3 * torch.randn(9, 4, dtype=torch.float64), -1) if soft else torch.randint(0, 4, (9,))
    )
    w = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    ours = build(class_weight=w.tolist(), label_smoothing=eps, reduction=reduction)(logits, target)
    ref = F.cross_entropy(logits, target, weight=w, label_smoothing=eps, reduction=reduction)
    torch.testing.assert_close(ours, ref)


def test_soft_targets_with_class_weights_hand_computed():
    """Probability targets with class weights: Σ_i Σ_c -w_c q_ic log p_ic / N (N = 2 here)."""
    q = [[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]]
    w = [1.0, 3.0, 2.0]
    total = 0.0
    for row, qrow in zip(LOGITS.tolist(), q):
        total += -sum(wc * qc * lc for wc, qc, lc in zip(w, qrow, log_softmax_hand(row)))
    loss = build(class_weight=w)(LOGITS, torch.tensor(q))
    assert loss.item() == pytest.approx(total / 2, rel=1e-6)
