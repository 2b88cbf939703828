"""ClsHead / LinearClsHead: logits, targets, loss and predictions."""

import pytest
import torch
import torch.nn.functional as F

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


def head(**kwargs):
    cfg = dict(type='LinearClsHead', num_classes=4, in_channels=5)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_linear_head_forward_shape_and_layer():
    h = head()
    feats = (torch.randn(3, 5),)
    torch.testing.assert_close(h(feats), h.fc(feats[0]))
    assert h(feats).shape == (3, 4)


def test_loss_with_hard_labels_matches_cross_entropy():
    h = head()
    feats = (torch.randn(3, 5),)
    samples = [FERDataSample().set_gt_label(y) for y in (0, 3, 1)]
    loss = h.loss(feats, samples)['loss_cls']
    torch.testing.assert_close(loss, F.cross_entropy(h(feats), torch.tensor([0, 3, 1])))


def test_loss_uses_soft_labels_when_every_sample_has_them():
    h = head()
    feats = (torch.randn(2, 5),)
    scores = [torch.tensor([0.5, 0.5, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.25, 0.75])]
    samples = [FERDataSample().set_gt_label(0).set_gt_score(s) for s in scores]
    expected = -(torch.stack(scores) * F.log_softmax(h(feats), 1)).sum(1).mean()
    torch.testing.assert_close(h.loss(feats, samples)['loss_cls'], expected)
    # one sample without gt_score -> hard labels
    samples[1] = FERDataSample().set_gt_label(3)
    assert h.get_targets(samples).tolist() == [0, 3]
    # use_soft_labels=False always uses hard labels
    h2 = head(use_soft_labels=False)
    samples = [FERDataSample().set_gt_label(0).set_gt_score(s) for s in scores]
    assert h2.get_targets(samples).dtype == torch.long


def test_missing_gt_label_is_an_error():
    with pytest.raises(ValueError, match='no gt_label'):
        head().loss((torch.randn(2, 5),), [FERDataSample().set_gt_label(1), FERDataSample()])


def test_predict_writes_scores_and_labels():
    h = head()
    feats = (torch.randn(3, 5),)
    logits = h(feats)
    out = h.predict(feats)
    assert len(out) == 3
    for s, z in zip(out, logits):
        torch.testing.assert_close(s.pred_score, F.softmax(z, 0).detach())
        assert s.pred_label.tolist() == [int(z.argmax())]
    given = [FERDataSample().set_gt_label(2) for _ in range(3)]
    assert h.predict(feats, given) is given and 'pred_score' in given[0]


def test_custom_loss_config_and_dropout():
    h = head(loss=dict(type='CrossEntropyLoss', loss_weight=2.0), dropout=0.5)
    h.eval()
    feats = (torch.randn(2, 5),)
    samples = [FERDataSample().set_gt_label(1), FERDataSample().set_gt_label(2)]
    expected = 2 * F.cross_entropy(h(feats), torch.tensor([1, 2]))
    torch.testing.assert_close(h.loss(feats, samples)['loss_cls'], expected)


def test_bad_num_classes():
    with pytest.raises(ValueError, match='num_classes'):
        head(num_classes=0)


def _documented_args(cls) -> list[str]:
    """Names listed under ``Args:`` in the class docstring (Google style, one ``name:`` per entry)."""
    import inspect
    import re

    doc = inspect.getdoc(cls) or ''
    if 'Args:' not in doc:
        return []
    section = doc.split('Args:', 1)[1]
    names = []
    for line in section.splitlines()[1:]:
        if line and not line.startswith(' '):  # the next section (Inputs:, Shapes: ...) ends Args
            break
        m = re.match(r'^ {4}(\w+)(?:, \w+)*:', line)
        if m:
            names += [n.strip() for n in line.split(':', 1)[0].split(',')]
    return names


@pytest.mark.parametrize('name', ['ClsHead', 'LinearClsHead', 'AttentionFusionHead'])
def test_documented_arguments_exist(name):
    import inspect

    cls = MODELS.get(name)
    params = set()
    for klass in cls.__mro__:  # **kwargs forwards to the base classes
        if '__init__' in vars(klass):
            params |= set(inspect.signature(klass.__init__).parameters)
    documented = _documented_args(cls)
    assert documented, f'{name} documents no Args'
    assert set(documented) <= params, (
        f'{name} documents arguments it does not take: {set(documented) - params}'
    )
