"""DAN's MultiHeadCrossAttention neck (MAN)."""

import pytest
import torch

from ferlab.registry import MODELS


def _man(**kw):
    cfg = dict(type='MultiHeadCrossAttention', in_channels=16, num_heads=3, hidden_channels=8)
    cfg.update(kw)
    return MODELS.build(cfg)


def test_man_shapes_and_passthrough():
    torch.manual_seed(0)
    neck = _man()
    x = torch.randn(2, 16, 5, 4)
    out, heads, maps = neck((torch.randn(2, 8, 10, 8), x))
    assert out is x  # the backbone map is passed through for the affinity loss
    assert heads.shape == (2, 3, 16)
    assert maps.shape == (2, 3, 5, 4)
    assert (maps >= 0).all()  # ReLU then channel sum


@pytest.mark.parametrize('k', [1, 2, 8])
def test_man_num_heads_configurable(k):
    neck = _man(num_heads=k)
    assert len(neck.heads) == k
    _, heads, maps = neck((torch.randn(2, 16, 3, 3),))
    assert heads.shape == (2, k, 16) and maps.shape == (2, k, 3, 3)


def test_man_structure_follows_paper():
    neck = _man(num_heads=1)
    sa, ca = neck.heads[0].sa, neck.heads[0].ca
    assert sa.conv1x1[0].kernel_size == (1, 1) and sa.conv1x1[0].out_channels == 8
    assert sa.conv_3x3[0].kernel_size == (3, 3)
    assert sa.conv_1x3[0].kernel_size == (1, 3)
    assert sa.conv_3x1[0].kernel_size == (3, 1)
    linears = [m for m in ca.attention if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 8), (8, 16)]


def test_man_heads_are_independent():
    torch.manual_seed(0)
    neck = _man(num_heads=2)
    p0 = dict(neck.heads[0].named_parameters())
    p1 = dict(neck.heads[1].named_parameters())
    assert not torch.equal(p0['sa.conv1x1.0.weight'], p1['sa.conv1x1.0.weight'])
    x = torch.randn(4, 16, 3, 3)
    _, heads, _ = neck((x,))
    heads[:, 0].sum().backward()
    g1 = neck.heads[1].sa.conv1x1[0].weight.grad
    assert g1 is None or g1.abs().sum() == 0
    assert neck.heads[0].sa.conv1x1[0].weight.grad.abs().sum() > 0


def test_man_eval_is_batch_invariant():
    torch.manual_seed(0)
    neck = _man()
    for _ in range(3):  # populate running stats
        neck((torch.randn(8, 16, 4, 4),))
    neck.eval()
    x = torch.randn(6, 16, 4, 4)
    _, full, maps = neck((x,))
    _, single, single_maps = neck((x[2:3],))
    _, mixed, _ = neck((torch.cat([x[2:3], torch.randn(3, 16, 4, 4) * 5]),))
    torch.testing.assert_close(single[0], full[2], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(mixed[0], full[2], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(single_maps[0], maps[2], atol=1e-6, rtol=1e-5)


def test_man_errors():
    with pytest.raises(ValueError, match='num_heads'):
        _man(num_heads=0)
    with pytest.raises(ValueError, match='in_channels'):
        _man()((torch.randn(2, 12, 3, 3),))
