"""JointFERAUClassifier: masked CE/BCE on mixed batches, α/β, predict fields, tensor mode."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


@MODELS.register_module(force=True)
class TinyAUTrunkStandIn(nn.Module):
    """Per-sample trunk returning ``(expr_feat (B, D), au_logits (B, A))`` like the AU-ViT trunks."""

    def __init__(self, num_aus=5, dim=8):
        super().__init__()
        self.conv = nn.Conv2d(3, dim, 3, padding=1)
        self.au = nn.Linear(dim, num_aus)

    def forward(self, x):
        feat = F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1)
        return feat, self.au(feat)


def build(**kw):
    cfg = dict(
        type='JointFERAUClassifier',
        backbone=dict(type='TinyAUTrunkStandIn', num_aus=5, dim=8),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=8, init_cfg=dict(type='Normal', std=0.5)),
        data_preprocessor=dict(type='FERDataPreprocessor', mean=[0.0] * 3, std=[1.0] * 3),
    )
    cfg.update(kw)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def samples(labels, aus):
    """``labels``: class or -1; ``aus``: ``(values, mask)`` or ``None`` (no AU fields)."""
    out = []
    for y, au in zip(labels, aus):
        s = FERDataSample().set_gt_label(y)
        if au is not None:
            s.set_field(torch.tensor(au[0], dtype=torch.float32), 'gt_aus', dtype=torch.Tensor)
            s.set_field(torch.tensor(au[1], dtype=torch.float32), 'gt_au_mask', dtype=torch.Tensor)
        out.append(s)
    return out


LABELS = [0, 2, -1, -1]
AUS = [None, ([1, 0, 1, 0, 0], [0] * 5), ([1, 1, 0, 0, 1], [1] * 5), ([0, 1, 0, 0, 0], [1, 1, 0, 0, 1])]


def test_loss_values_against_torch_on_the_labelled_entries():
    model = build(w_fer=2.0, w_au=0.5)
    x = torch.randn(4, 3, 8, 8)
    expr, au = model(x, mode='tensor')
    assert expr.shape == (4, 3) and au.shape == (4, 5)
    losses = model(x, samples(LABELS, AUS), mode='loss')
    ce = F.cross_entropy(expr[:2], torch.tensor([0, 2]))
    known = torch.tensor([[0] * 5, [0] * 5, [1] * 5, [1, 1, 0, 0, 1]]).bool()
    target = torch.tensor([[0] * 5, [1, 0, 1, 0, 0], [1, 1, 0, 0, 1], [0, 1, 0, 0, 0]]).float()
    bce = F.binary_cross_entropy_with_logits(au[known], target[known])
    assert torch.allclose(losses['loss_fer'], 2.0 * ce, atol=1e-6)
    assert torch.allclose(losses['loss_au'], 0.5 * bce, atol=1e-6)
    assert len(losses['data_samples']) == 4 and 'train_score' in losses['data_samples'][0]


def test_unlabelled_samples_get_no_gradient():
    model = build()
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    losses = model(x, samples(LABELS, AUS), mode='loss')
    (g_fer,) = torch.autograd.grad(losses['loss_fer'], x, retain_graph=True)
    (g_au,) = torch.autograd.grad(losses['loss_au'], x)
    norms_fer = g_fer.flatten(1).abs().sum(1)
    norms_au = g_au.flatten(1).abs().sum(1)
    assert (norms_fer[:2] > 0).all() and torch.equal(norms_fer[2:], torch.zeros(2))  # no expression label
    assert norms_au[0] == 0 and norms_au[1] == 0 and (norms_au[2:] > 0).all()  # no AU fields / mask 0


def test_batch_without_one_label_type_trains_the_other_only():
    model = build()
    x = torch.randn(2, 3, 8, 8)
    au_only = model(x, samples([-1, -1], AUS[2:]), mode='loss')
    assert au_only['loss_fer'].item() == 0.0 and au_only['loss_au'].item() > 0
    fer_only = model(x, samples([1, 0], [None, None]), mode='loss')
    assert fer_only['loss_au'].item() == 0.0 and fer_only['loss_fer'].item() > 0
    loss, log_vars = model.parse_losses(au_only)
    loss.backward()
    assert model.head.fc.weight.grad.abs().sum() == 0 and model.backbone.au.weight.grad.abs().sum() > 0


def test_pos_weight_option_reaches_the_au_loss():
    model = build(au_loss=dict(type='MaskedBCEWithLogitsLoss', pos_weight=[1, 2, 3, 4, 5]))
    x = torch.randn(4, 3, 8, 8)
    _, au = model(x, mode='tensor')
    got = model(x, samples(LABELS, AUS), mode='loss')['loss_au']
    known = torch.tensor([[0] * 5, [0] * 5, [1] * 5, [1, 1, 0, 0, 1]]).bool()
    target = torch.tensor([[0] * 5, [1, 0, 1, 0, 0], [1, 1, 0, 0, 1], [0, 1, 0, 0, 0]]).float()
    per = F.binary_cross_entropy_with_logits(au, target, pos_weight=torch.arange(1.0, 6.0), reduction='none')
    assert torch.allclose(got, per[known].mean(), atol=1e-6)


def test_predict_fields_and_batch_of_one():
    model = build().eval()
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        expr, au = model(x, mode='tensor')
        preds = model(x, None, mode='predict')
        single = model(x[1:2], None, mode='predict')[0]
    for i, p in enumerate(preds):
        assert torch.allclose(p.pred_score, expr[i].softmax(0), atol=1e-6)
        assert p.pred_label.item() == expr[i].argmax().item()
        assert torch.allclose(p.pred_au_score, torch.sigmoid(au[i]), atol=1e-6)
        assert torch.equal(p.pred_au, p.pred_au_score)
    assert torch.allclose(single.pred_au_score, preds[1].pred_au_score, atol=1e-6)


def test_fer_plus_fer_without_au_output():
    model = build(backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0,)), with_au=False,
                  neck=dict(type='GlobalAveragePooling'),
                  head=dict(type='LinearClsHead', num_classes=3, in_channels=64))  # fmt: skip
    x = torch.randn(4, 3, 16, 16)
    out = model(x, mode='tensor')
    assert isinstance(out, torch.Tensor) and out.shape == (4, 3)
    losses = model(x, samples([1, -1, 2, 0], [None] * 4), mode='loss')
    assert set(losses) == {'loss_fer', 'data_samples'}
    model.eval()
    ref = F.cross_entropy(model(x, mode='tensor')[[0, 2, 3]], torch.tensor([1, 2, 0]))
    assert torch.allclose(
        model(x, samples([1, -1, 2, 0], [None] * 4), mode='loss')['loss_fer'], ref, atol=1e-6
    )


def test_wrong_au_length_and_wrong_backbone_are_clear_errors():
    model = build()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match='3 AU targets, the model outputs 5 AUs'):
        model(x, samples([0], [([1, 0, 1], [1, 1, 1])]), mode='loss')
    bad = build(backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0,)),
                head=dict(type='LinearClsHead', num_classes=3, in_channels=64))  # fmt: skip
    with pytest.raises(TypeError, match=r'must return \(expr_feat, au_logits\)'):
        bad(torch.randn(1, 3, 16, 16), mode='tensor')
