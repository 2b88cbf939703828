"""POSTER++ trunk: shapes at every level, the legacy nearest resize, window cross-attention vs
a naive loop, the relative-position index vs a direct loop, the frozen landmark stream, learned
constant queries, SE gate, batch-invariant predictions."""

import pytest
import torch
import torch.nn.functional as F

from ferlab.models.backbones.posterv2 import relative_position_index
from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


def trunk(**kw):
    cfg = dict(type='PosterV2', input_size=56, query_proj=False, residual='norm')
    cfg.update(kw)
    m = MODELS.build(cfg)
    m.init_weights()
    return m


@pytest.fixture(scope='module')
def small():
    torch.manual_seed(0)
    return trunk().eval()


def test_relative_position_index_against_a_direct_loop():
    for w in (1, 2, 3, 7):
        idx = relative_position_index(w)
        assert idx.shape == (w * w, w * w)
        for i in range(w * w):
            for j in range(w * w):
                (hi, wi), (hj, wj) = divmod(i, w), divmod(j, w)
                assert idx[i, j] == (hi - hj + w - 1) * (2 * w - 1) + (wi - wj + w - 1)
        assert idx.max() == (2 * w - 1) ** 2 - 1


def _naive_window_cross_attention(m, x, q):
    """Loop over images, windows, heads and tokens with plain softmax; Eq. 1-5 written out."""
    B, C, H, W = x.shape
    w, h, d = m.window_size, m.num_heads, C // m.num_heads
    tokens = F.layer_norm(x.permute(0, 2, 3, 1), (C,), m.norm.weight, m.norm.bias, 1e-5)
    out = torch.zeros(B, H, W, C)
    table = m.relative_position_bias_table
    for b in range(B):
        qb = q[b] if q.dim() == 3 else q
        qb = qb @ m.q.weight.T + m.q.bias if m.q is not None else qb
        for r0 in range(0, H, w):
            for c0 in range(0, W, w):
                win = tokens[b, r0 : r0 + w, c0 : c0 + w].reshape(w * w, C)
                k = win @ m.kv.weight[:C].T + m.kv.bias[:C]
                v = win @ m.kv.weight[C:].T + m.kv.bias[C:]
                o = torch.zeros(w * w, C)
                for head in range(h):
                    sl = slice(head * d, (head + 1) * d)
                    scores = torch.zeros(w * w, w * w)
                    for i in range(w * w):
                        for j in range(w * w):
                            (hi, wi), (hj, wj) = divmod(i, w), divmod(j, w)
                            bias = table[(hi - hj + w - 1) * (2 * w - 1) + (wi - wj + w - 1), head]
                            scores[i, j] = (qb[i, sl] @ k[j, sl]) / d**0.5 + bias
                    o[:, sl] = scores.softmax(-1) @ v[:, sl]
                o = o @ m.proj.weight.T + m.proj.bias
                out[b, r0 : r0 + w, c0 : c0 + w] = o.view(w, w, C)
    short = tokens if m.residual == 'norm' else x.permute(0, 2, 3, 1)
    y = short + m.gamma1 * out
    z = F.layer_norm(y, (C,), m.norm2.weight, m.norm2.bias, 1e-5)
    return (y + m.gamma2 * m.mlp.fc2(F.gelu(m.mlp.fc1(z)))).permute(0, 3, 1, 2)


@pytest.mark.parametrize('query_proj,residual', [(False, 'norm'), (True, 'input')])
@pytest.mark.parametrize('fused', [True, False])
def test_window_attention_against_a_naive_implementation(query_proj, residual, fused):
    torch.manual_seed(1)
    m = MODELS.build(
        dict(type='WindowCrossAttention', dim=8, num_heads=2, window_size=3, query_proj=query_proj,
             residual=residual, fused=fused)
    )  # fmt: skip
    m.init_weights()
    with torch.no_grad():
        m.gamma1.fill_(0.7)
        m.gamma2.fill_(1.3)
        m.relative_position_bias_table.normal_()
    x = torch.randn(2, 8, 6, 3)  # 2 x 1 windows of 3 x 3
    q = torch.randn(2, 9, 8)
    with torch.no_grad():
        torch.testing.assert_close(m(x, q), _naive_window_cross_attention(m, x, q), rtol=1e-4, atol=1e-5)
        # one (w^2, d) query shared by the batch = the same query given per sample
        torch.testing.assert_close(m(x, q[0]), m(x, q[:1].expand(2, -1, -1)), rtol=0, atol=1e-6)


def test_window_attention_rejects_mismatched_inputs():
    m = MODELS.build(dict(type='WindowCrossAttention', dim=8, num_heads=2, window_size=3))
    with pytest.raises(ValueError, match='divisible by 3'):
        m(torch.randn(1, 8, 4, 4), torch.randn(1, 9, 8))
    with pytest.raises(ValueError, match=r'query must be \(B, 9, 8\)'):
        m(torch.randn(1, 8, 3, 3), torch.randn(1, 4, 8))


def test_shapes_at_every_level_at_112():
    torch.manual_seed(0)
    m = trunk(input_size=112).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        xr = m._resize(x)
        lm = m.landmark(xr)
        img = m.image(xr)
        levels = m.forward_levels(x)
        tokens = m.token_embed(levels)
        fused = m.fusion(tokens)
        cls = m(x)
    assert [tuple(t.shape) for t in lm] == [(1, 64, 28, 28), (1, 128, 14, 14), (1, 512, 7, 7)]
    assert [tuple(t.shape) for t in img] == [(1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14)]
    assert [tuple(t.shape) for t in levels] == [(1, 64, 28, 28), (1, 128, 14, 14), (1, 256, 7, 7)]
    assert m.window_sizes == [28, 14, 7]
    assert [c.relative_position_bias_table.shape for c in m.cross_attn] == [
        (55**2, 2),
        (27**2, 4),
        (13**2, 8),
    ]
    assert tokens.shape == (1, 147, 768) and fused.shape == (1, 148, 768)
    assert len(cls) == 1 and cls[0].shape == (1, 768)
    torch.testing.assert_close(cls[0], fused[:, 0])


def test_input_is_resized_with_legacy_nearest(small):
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        out = small(x)[0]
        torch.testing.assert_close(out, small(x[..., ::2, ::2].contiguous())[0], rtol=0, atol=0)
        bilinear = F.interpolate(x, size=56, mode='bilinear', align_corners=False)
        assert (out - small(bilinear)[0]).abs().max() > 1e-3


def test_frozen_landmark_stream_gets_no_gradient_and_keeps_bn_stats():
    torch.manual_seed(0)
    m = trunk().train()
    before = {k: v.clone() for k, v in m.landmark.state_dict().items()}
    with torch.no_grad():  # layer scale 1e-5 leaves the query path's gradient at ~1e-8
        for c in m.cross_attn:
            c.gamma1.fill_(1.0)
    m(torch.randn(2, 3, 56, 56))[0].pow(2).sum().backward()
    assert all(not p.requires_grad and p.grad is None for p in m.landmark.parameters())
    assert not m.landmark.training and m.image.training
    for name in ('landmark_conv.2.weight', 'image.body.0.res_layer.1.weight', 'cross_attn.0.kv.weight',
                 'token_embed.levels.0.1.weight', 'fusion.pos_embed'):  # fmt: skip
        assert m.get_parameter(name).grad is not None and m.get_parameter(name).grad.abs().sum() > 0, name
    for k, v in m.landmark.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_landmark_bn_train_mode_drifts_statistics_only():
    torch.manual_seed(0)
    m = trunk(landmark_bn='train').train()
    assert m.landmark.training
    w = m.landmark.conv1.conv.weight.clone()
    mean = m.landmark.conv1.bn.running_mean.clone()
    m(torch.randn(2, 3, 56, 56))[0].sum().backward()
    assert not torch.equal(mean, m.landmark.conv1.bn.running_mean)  # the public drift
    assert torch.equal(w, m.landmark.conv1.conv.weight) and m.landmark.conv1.conv.weight.grad is None


def test_the_landmark_queries_matter(small):
    x = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        out = small(x)[0]
        gamma = [c.gamma1.clone() for c in small.cross_attn]
        for c in small.cross_attn:
            c.gamma1.fill_(1.0)
        with_attn = small(x)[0]
        small.landmark.conv1.conv.weight.mul_(2)
        changed = small(x)[0]
        small.landmark.conv1.conv.weight.div_(2)
        for c, g in zip(small.cross_attn, gamma):
            c.gamma1.copy_(g)
    assert (with_attn - out).abs().max() > 0
    assert (changed - with_attn).abs().max() > 1e-4


def test_constant_queries_build_no_landmark_stream():
    torch.manual_seed(0)
    m = trunk(landmark_queries='constant', landmark=None)
    assert m.landmark is None and m.landmark_conv is None
    assert [tuple(q.shape) for q in m.query_tokens] == [(196, 64), (49, 128), (16, 256)]
    assert all(q.abs().sum() > 0 for q in m.query_tokens)  # trunc-normal init
    assert not any(k.startswith('landmark') for k in m.state_dict())
    m(torch.randn(2, 3, 56, 56))[0].sum().backward()
    assert all(q.grad is not None and q.grad.abs().sum() > 0 for q in m.query_tokens)


def test_init_weights_randomises_the_bias_tables_and_keeps_layer_scale(small):
    for c in small.cross_attn:
        assert c.relative_position_bias_table.std().item() == pytest.approx(0.02, rel=0.3)
        assert torch.all(c.gamma1 == 1e-5) and torch.all(c.gamma2 == 1e-5)


def test_se_gate_by_hand():
    m = MODELS.build(dict(type='SEGate', in_channels=2))
    with torch.no_grad():
        m.fc1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        m.fc1.bias.zero_()
        m.fc2.weight.copy_(torch.eye(2))
        m.fc2.bias.copy_(torch.tensor([0.0, 1.0]))
    x = torch.tensor([[2.0, 3.0]])
    # fc1 -> [2, -3] -> relu [2, 0] -> fc2 [2, 1] -> sigmoid
    expected = torch.tensor(
        [[2.0 / (1 + torch.exp(torch.tensor(-2.0))), 3.0 / (1 + torch.exp(torch.tensor(-1.0)))]]
    )
    torch.testing.assert_close(m((x,))[0], expected)
    with pytest.raises(ValueError, match=r'\(B, 2\)'):
        m((torch.randn(1, 3),))


def test_eval_predictions_are_batch_invariant():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='FERClassifier',
            data_preprocessor=dict(type='FERDataPreprocessor'),
            backbone=dict(type='PosterV2', input_size=56, query_proj=False, residual='norm'),
            neck=dict(type='SEGate', in_channels=768),
            head=dict(type='LinearClsHead', num_classes=7, in_channels=768),
        )
    )
    model.init_weights()
    model.eval()
    x = torch.randint(0, 256, (3, 3, 56, 56), dtype=torch.uint8)
    batch = model.data_preprocessor({'inputs': list(x), 'data_samples': [FERDataSample() for _ in range(3)]})
    with torch.no_grad():
        together = torch.stack(
            [s.pred_score for s in model(batch['inputs'], batch['data_samples'], 'predict')]
        )
        alone = [
            model(batch['inputs'][i : i + 1], [FERDataSample()], 'predict')[0].pred_score for i in range(3)
        ]
    torch.testing.assert_close(together, torch.stack(alone), rtol=0, atol=1e-6)


def test_bad_options_are_one_clear_error():
    with pytest.raises(ValueError, match="landmark_bn must be 'eval' or 'train'"):
        MODELS.build(dict(type='PosterV2', landmark_bn='frozen'))
    with pytest.raises(ValueError, match="landmark_queries must be 'landmark' or 'constant'"):
        MODELS.build(dict(type='PosterV2', landmark_queries='none'))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        MODELS.build(dict(type='PosterV2', input_size=56))(torch.randn(1, 56, 56))
