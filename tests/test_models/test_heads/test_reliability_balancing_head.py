"""ReliabilityBalancingHead (ARBEx Eq. 9-19): each equation on hand-computed tensors, the analysis
fields, batch invariance in eval (and a cross-batch attention that the check catches)."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from ferlab.models.heads.reliability_balancing_head import confidence, confidence_mix
from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


def build(**kw):
    cfg = dict(type='ReliabilityBalancingHead', num_classes=4, in_channels=16, num_anchors=3, attn_tokens=4,
               attn_heads=2)  # fmt: skip
    cfg.update(kw)
    return MODELS.build(cfg)


def samples(labels):
    return [FERDataSample().set_gt_label(torch.tensor([int(y)])) for y in labels]


def np_conf(p):
    """Independent oracle: 1 - entropy / log N with 0 log 0 = 0."""
    p = np.asarray(p, np.float64)
    h = -sum(x * math.log(x) for x in p if x > 0) / math.log(len(p))
    return 1.0 - h


# ---------------------------------------------------------------- Eq. 10-11
def test_confidence_bounds_and_a_hand_value():
    one_hot = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    uniform = torch.full((1, 4), 0.25)
    half = torch.tensor([[0.5, 0.5, 0.0, 0.0]])  # H = log 2 / log 4 = 1/2
    assert confidence(one_hot).item() == pytest.approx(1.0)
    assert confidence(uniform).item() == pytest.approx(0.0, abs=1e-7)
    assert confidence(half).item() == pytest.approx(0.5)
    p = torch.tensor([[0.7, 0.2, 0.1]])
    assert confidence(p).item() == pytest.approx(np_conf([0.7, 0.2, 0.1]), abs=1e-6)


# ---------------------------------------------------------------- Eq. 12-14
def test_anchor_distance_similarity_and_t_g_by_hand():
    head = build(num_classes=2, in_channels=2, num_anchors=1, attn_tokens=1, attn_heads=1, delta=2.0)
    with torch.no_grad():
        head.anchors.copy_(torch.tensor([[[0.0, 0.0]], [[3.0, 4.0]]]))  # (N=2, K=1, D=2)
    e = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    d = head.anchor_distances(e)
    torch.testing.assert_close(d[:, :, 0], torch.tensor([[0.0, 5.0], [3.0, 4.0]]), atol=1e-5, rtol=0)
    t_g = head.anchor_correction(e)
    # softmax(-d / delta) over the N*K anchors, delta = 2
    r0 = [1.0, math.exp(-2.5)]
    r1 = [math.exp(-1.5), math.exp(-2.0)]
    expected = torch.tensor([[x / sum(r) for x in r] for r in (r0, r1)])
    torch.testing.assert_close(t_g, expected, atol=1e-6, rtol=0)


def test_similarity_sums_to_one_and_sums_anchor_slots_per_class():
    head = build(num_anchors=5)
    e = torch.randn(6, 16)
    d = head.anchor_distances(e)
    s = torch.softmax(-d.flatten(1), 1)
    assert s.sum(1).sub(1).abs().max() < 1e-6
    t_g = head.anchor_correction(e)
    torch.testing.assert_close(t_g, s.view(6, 4, 5).sum(-1))
    torch.testing.assert_close(t_g.sum(1), torch.ones(6))


# ---------------------------------------------------------------- Eq. 18-19
def test_combination_weights_by_hand():
    p = torch.tensor([[0.5, 0.5, 0.0, 0.0]])  # C = 0.5
    q = torch.tensor([[0.0, 0.0, 1.0, 0.0]])  # C = 1
    mix, cp, cq = confidence_mix(p, q)
    torch.testing.assert_close(mix, torch.tensor([[1 / 6, 1 / 6, 2 / 3, 0.0]]), atol=1e-6, rtol=0)
    assert (cp.item(), cq.item()) == pytest.approx((0.5, 1.0))
    # a uniform partner (C = 0) leaves the other distribution unchanged
    mix, _, _ = confidence_mix(q, torch.full((1, 4), 0.25))
    torch.testing.assert_close(mix, q, atol=1e-5, rtol=0)
    # two uniform inputs: their mean, not 0/0
    u = torch.full((1, 4), 0.25)
    torch.testing.assert_close(confidence_mix(u, u)[0], u)


def test_head_final_distribution_is_eq_18_19_of_its_parts():
    head = build().eval()
    with torch.no_grad():
        out = head.distributions((torch.randn(5, 16),))
    for i in range(5):
        l_, g, a = (out[k][i].double().numpy() for k in ('primary', 'anchor', 'attn'))
        cg, ca = np_conf(g), np_conf(a)
        t = (cg * g + ca * a) / (cg + ca)
        cl, ct = np_conf(l_), np_conf(t)
        final = (cl * l_ + ct * t) / (cl + ct)
        np.testing.assert_allclose(out['final'][i].numpy(), final, atol=1e-5)
        np.testing.assert_allclose(out['confidences'][i].numpy(), [cl, cg, ca, np_conf(final)], atol=1e-5)


def test_no_anchors_means_uniform_t_g_and_correction_is_attention():
    head = build(num_anchors=0).eval()
    assert head.anchors is None and head.anchor_loss is None
    out = head.distributions((torch.randn(3, 16),))
    torch.testing.assert_close(out['anchor'], torch.full((3, 4), 0.25))
    torch.testing.assert_close(out['correction'], out['attn'], atol=1e-5, rtol=0)
    head.train()
    losses = head.loss((torch.randn(3, 16),), samples([0, 1, 2]))
    assert set(losses) == {'loss_cls'}


# ---------------------------------------------------------------- Eq. 9 (MLP forms)
def test_primary_mlp_forms():
    paper = build(in_channels=768, num_classes=8, attn_tokens=8, attn_heads=4).primary
    lin = [m for m in paper if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in lin] == [(768, 128), (128, 64), (64, 64), (64, 8)]
    kinds = [type(m).__name__ for m in paper]
    assert kinds == ['Linear'] + ['Linear', 'ReLU', 'Dropout', 'BatchNorm1d'] * 2 + ['Linear']
    assert all(m.p == 0.5 for m in paper if isinstance(m, nn.Dropout))
    public = build(in_channels=768, num_classes=8, reduction='public', attn_tokens=8, attn_heads=4).primary
    lin = [m for m in public if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in lin] == [(768, 384), (384, 192), (192, 96), (96, 8)]


# ---------------------------------------------------------------- batch invariance
def batch_invariant(fn, x, atol=1e-6):
    """True when every row of fn(x) equals fn of the row alone and of a shuffled batch."""
    with torch.no_grad():
        full = fn(x)
        alone = torch.cat([fn(x[i : i + 1]) for i in range(len(x))])
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        shuffled = torch.empty_like(full)
        shuffled[perm] = fn(x[perm])
    return bool(torch.allclose(full, alone, atol=atol) and torch.allclose(full, shuffled, atol=atol))


class CrossBatchAttention(nn.Module):
    """The public code's attentive correction: nn.MultiheadAttention fed a (B, D) tensor, which it
    reads as one unbatched sequence of B tokens, so every sample attends to its batch-mates."""

    def __init__(self, dim=16, num_classes=4):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(dim, num_classes) for _ in range(3))
        self.attn = nn.MultiheadAttention(num_classes, num_heads=1)

    def forward(self, e):
        out, _ = self.attn(self.q(e), self.k(e), self.v(e))
        return torch.softmax(out, -1)


def test_eval_predictions_are_batch_invariant():
    torch.manual_seed(0)
    head = build()
    head.train()
    for _ in range(3):  # move the BatchNorm running statistics away from their initial values
        head.loss((torch.randn(8, 16),), samples([0, 1, 2, 3] * 2))
    head.eval()
    x = torch.randn(7, 16)
    assert batch_invariant(lambda e: head((e,)), x)
    assert batch_invariant(lambda e: torch.stack([s.pred_score for s in head.predict((e,))]), x)


def test_batch_invariance_check_catches_cross_batch_attention():
    torch.manual_seed(0)
    public = CrossBatchAttention().eval()
    x = torch.randn(7, 16)
    assert not batch_invariant(public, x)
    head = build().eval()
    head.attention.forward = public.forward  # the head with the public attention swapped in
    assert not batch_invariant(lambda e: head((e,)), x)


# ---------------------------------------------------------------- loss, gradients, predict
def test_loss_terms_and_gradients_reach_the_anchors():
    torch.manual_seed(0)
    head = build().train()
    e = torch.randn(6, 16, requires_grad=True)
    losses = head.loss((e,), samples([0, 1, 2, 3, 0, 1]))
    assert set(losses) == {'loss_cls', 'loss_anchor', 'loss_center'}
    (losses['loss_anchor'] + losses['loss_center']).backward()
    assert head.anchors.grad is not None and head.anchors.grad.abs().sum() > 0
    head.zero_grad()
    losses = head.loss((e,), samples([0, 1, 2, 3, 0, 1]))
    losses['loss_cls'].backward()  # the NLL on L_final reaches the anchors through t_g
    assert head.anchors.grad.abs().sum() > 0


def test_lambdas_scale_the_terms():
    torch.manual_seed(0)
    e = torch.randn(6, 16)
    base = build().eval()
    scaled = build(lambda_cls=2.0, lambda_anchor=100.0, lambda_center=0.5).eval()
    scaled.load_state_dict(base.state_dict())
    a = base.loss((e,), samples([0, 1, 2, 3, 0, 1]))
    b = scaled.loss((e,), samples([0, 1, 2, 3, 0, 1]))
    for key, w in (('loss_cls', 2.0), ('loss_anchor', 100.0), ('loss_center', 0.5)):
        assert b[key].item() == pytest.approx(w * a[key].item(), rel=1e-5)


def test_loss_cls_is_nll_of_the_final_distribution():
    torch.manual_seed(0)
    head = build().eval()
    e = torch.randn(5, 16)
    labels = [3, 0, 1, 2, 2]
    with torch.no_grad():
        final = head.distributions((e,))['final']
    expected = -np.mean([math.log(final[i, y].item()) for i, y in enumerate(labels)])
    assert head.loss((e,), samples(labels))['loss_cls'].item() == pytest.approx(expected, rel=1e-5)


def test_predict_fields_and_forward_is_log_final():
    torch.manual_seed(0)
    head = build().eval()
    e = torch.randn(3, 16)
    out = head.distributions((e,))
    preds = head.predict((e,), samples([0, 1, 2]))
    for i, s in enumerate(preds):
        torch.testing.assert_close(s.pred_score, out['final'][i])
        assert int(s.pred_label) == int(out['final'][i].argmax())
        torch.testing.assert_close(s.primary_score, out['primary'][i])
        torch.testing.assert_close(s.anchor_score, out['anchor'][i])
        torch.testing.assert_close(s.attn_score, out['attn'][i])
        assert s.confidences.shape == (4,)
        assert 'gt_label' in s
    torch.testing.assert_close(torch.softmax(head((e,)), 1), out['final'], atol=1e-6, rtol=0)


def test_public_ramp_option():
    torch.manual_seed(0)
    head = build(correction_ramp_iters=4)
    assert head.ramp == 0.0
    e = torch.randn(4, 16)
    head.train()
    head.loss((e,), samples([0, 1, 2, 3]))
    head.loss((e,), samples([0, 1, 2, 3]))
    assert head.ramp == 0.5 and int(head.ramp_step) == 2
    head.eval()
    out = head.distributions((e,))
    full = confidence_mix(out['primary'], out['correction'])[0]
    torch.testing.assert_close(out['final'], 0.5 * out['primary'] + 0.5 * full)
    # the counter is saved with the model
    other = build(correction_ramp_iters=4)
    other.load_state_dict(head.state_dict())
    assert other.ramp == 0.5
    assert build().ramp == 1.0  # off by default (the paper)


def test_state_dict_round_trip_gives_the_same_predictions():
    torch.manual_seed(0)
    head = build().eval()
    copy = build().eval()
    copy.load_state_dict(head.state_dict())
    e = torch.randn(3, 16)
    torch.testing.assert_close(head((e,)), copy((e,)))


@pytest.mark.parametrize(
    'kw, match',
    [
        (dict(num_anchors=-1), 'num_anchors'),
        (dict(delta=0.0), 'delta'),
        (dict(attn_tokens=5), 'attn_tokens=5 must divide'),
        (dict(attn_heads=3), 'attn_heads=3'),
        (dict(reduction='wide'), 'reduction'),
        (dict(correction_ramp_iters=0), 'correction_ramp_iters'),
    ],
)
def test_bad_arguments_are_one_clear_error(kw, match):
    with pytest.raises(ValueError, match=match):
        build(**kw)


def test_bad_inputs_are_one_clear_error():
    head = build().train()
    with pytest.raises(ValueError, match=r'expects a \(B, 16\) embedding'):
        head((torch.randn(2, 16, 3, 3),))
    with pytest.raises(ValueError, match=r'labels must lie in 0\.\.3'):
        head.loss((torch.randn(2, 16),), samples([0, 4]))


def test_public_loss_forms_through_the_head_config():
    """center_loss normalize='public': unsquared closest distance / sqrt(D), weighted by the detached C(l)."""
    torch.manual_seed(0)
    head = build(center_loss=dict(type='AnchorCenterLoss', normalize='public'),
                 anchor_loss=dict(type='AnchorLoss', normalize='public')).eval()  # fmt: skip
    e = torch.randn(4, 16)
    labels = [0, 1, 2, 3]
    losses = head.loss((e,), samples(labels))
    with torch.no_grad():
        out = head.distributions((e,))
        a = head.anchors
    expected = 0.0
    for i, y in enumerate(labels):
        d = min(math.sqrt(((e[i] - a[y, k]) ** 2).sum().item()) for k in range(a.size(1)))
        expected += out['confidences'][i, 0].item() * d / math.sqrt(16)
    assert losses['loss_center'].item() == pytest.approx(expected / 4, rel=1e-5)
    flat = a.reshape(4, -1)
    pub = -sum(((flat[i] - flat[j]) ** 2).sum().item() for i in range(4) for j in range(4)) / 4 / 9
    assert losses['loss_anchor'].item() == pytest.approx(pub, rel=1e-5)
    # the confidence weight is detached: the center term sends no gradient into the primary MLP
    head.zero_grad()
    head.loss((e,), samples(labels))['loss_center'].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in head.primary.parameters())


def test_label_smoothing_through_the_head_config():
    torch.manual_seed(0)
    head = build(loss=dict(type='DistributionNLLLoss', label_smoothing=0.11)).eval()
    e = torch.randn(4, 16)
    with torch.no_grad():
        final = head.distributions((e,))['final']
    labels = torch.tensor([0, 1, 2, 3])
    expected = torch.nn.functional.cross_entropy(final.log(), labels, label_smoothing=0.11).item()
    assert head.loss((e,), samples(labels.tolist()))['loss_cls'].item() == pytest.approx(expected, rel=1e-5)


def test_attentive_correction_is_eq_15_17_within_the_sample():
    """t_a recomputed by hand: per-head scaled dot-product attention over the sample's own tokens."""
    torch.manual_seed(0)
    head = build(in_channels=8, attn_tokens=2, attn_heads=2).eval()  # 2 tokens of 4, 2 heads of 2
    att = head.attention
    e = torch.randn(3, 8)
    with torch.no_grad():
        t_a = att(e)
        w, b = att.attn.in_proj_weight, att.attn.in_proj_bias
        for i in range(3):
            x = e[i].reshape(2, 4) + att.pos_embed[0]  # (tokens, channels)
            q, k, v = (x @ w[j * 4 : (j + 1) * 4].T + b[j * 4 : (j + 1) * 4] for j in range(3))
            heads = []
            for h in range(2):  # Eq. 15: one attention pooling per head
                sl = slice(2 * h, 2 * h + 2)
                scores = torch.softmax(q[:, sl] @ k[:, sl].T / math.sqrt(2), dim=-1)
                heads.append(scores @ v[:, sl])
            mixed = torch.cat(heads, 1) @ att.attn.out_proj.weight.T + att.attn.out_proj.bias  # Eq. 16
            expected = torch.softmax(att.out(mixed.reshape(-1)), 0)  # W_out, Eq. 17
            torch.testing.assert_close(t_a[i], expected, atol=1e-6, rtol=0)
