"""AU-ViT trunks: IRViTAU (CNN-ViT), ViTAU (pure ViT) and the ViTAUToken baseline."""

import pytest
import torch

from ferlab.models.backbones.auvit import ConvFFN, PatchMerging
from ferlab.registry import MODELS
from ferlab.utils import register_all_modules

register_all_modules()

TINY_IR = dict(
    type='IRViTAU',
    depth=18,
    input_size=32,
    embed_dims=(32, 64),
    depths=(2, 1),
    num_heads=(2, 2),
    flatten_dim=24,
)
TINY_VIT = dict(arch='vit_tiny_patch16_224', img_size=64, patch_size=8, embed_dim=32, depth=4, num_heads=2)


def _build(cfg, **kw):
    cfg = dict(cfg)
    cfg.update(kw)
    torch.manual_seed(0)
    m = MODELS.build(cfg)
    m.init_weights()
    return m.eval()


def test_irvitau_paper_defaults_and_shapes():
    m = _build(TINY_IR)
    assert m.multi_stage and m.head_type == 'flatten' and isinstance(m.blocks[0].mlp, ConvFFN)
    assert list(m.merges) == ['1'] and m.block_hw == [(4, 4), (4, 4), (2, 2)] and m.au_tap == 2
    feat, au = m(torch.randn(3, 3, 32, 32))
    assert feat.shape == (3, 24) and au.shape == (3, 21)


def test_irvitau_cnn_widths():
    m = _build(TINY_IR, cnn_widths=(16, 24, 40))
    assert m.cnn.out_channels == [16, 24, 40] and m.patch_embed.in_channels == 40
    feat, au = m(torch.randn(2, 3, 32, 32))
    assert feat.shape == (2, 24) and au.shape == (2, 21)


def test_irvitau_public_layout_options():
    m = _build(TINY_IR, embed_dims=(32, 32), multi_stage=False, conv_ffn=False, head='gap',
               au_branch=dict(regions='2'))  # fmt: skip
    assert len(m.merges) == 0 and not hasattr(m, 'flatten') and len(m.au_branch.fcs) == 2
    feat, au = m(torch.randn(2, 3, 32, 32))
    assert feat.shape == (2, 32) and au.shape == (2, 21)
    with pytest.raises(ValueError, match='one width'):
        _build(TINY_IR, multi_stage=False)


@pytest.mark.parametrize('tap', [1, 2, 3])
def test_au_tap_reads_the_tokens_after_block_k(tap):
    m = _build(TINY_IR, au_tap=tap, au_branch=dict(regions='2'))  # 2 regions fit the 2x2 grid of block 3
    assert m.au_branch.in_channels == (32 if tap <= 2 else 64)
    seen = {}
    m.blocks[tap - 1].register_forward_hook(lambda mod, args, out: seen.update(x=out))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feat, au = m(x)
        torch.testing.assert_close(au, m.au_branch(seen['x']))
        # Blocks after the tap change the expression feature, never the AU logits.
        for blk in m.blocks[tap:]:
            for p in blk.parameters():
                p.add_(0.5)
        feat2, au2 = m(x)
    torch.testing.assert_close(au2, au)
    if tap < len(m.blocks):
        assert not torch.allclose(feat2, feat)
    with pytest.raises(ValueError, match=r'au_tap must be a block index in 1..3'):
        _build(TINY_IR, au_tap=4)


def test_patch_merging_concatenates_2x2_neighbours():
    pm = PatchMerging(2, 3).eval()
    x = torch.randn(1, 4, 2)  # a 2x2 grid, row-major: t00, t01, t10, t11
    cat = torch.cat([x[:, 0], x[:, 2], x[:, 1], x[:, 3]], dim=-1)  # Swin order x00, x10, x01, x11
    expected = pm.reduction(torch.nn.functional.layer_norm(cat, (8,), pm.norm.weight, pm.norm.bias, 1e-6))
    torch.testing.assert_close(pm(x, (2, 2)), expected[:, None])


def test_conv_ffn_mixes_only_the_3x3_neighbourhood():
    ffn = ConvFFN(4, 8).eval()
    x = torch.randn(1, 25, 4)  # 5x5 grid
    base = ffn(x, (5, 5))
    near, far = x.clone(), x.clone()
    near[0, 1] += 1.0  # (0, 1): neighbour of token (0, 0)
    far[0, 12] += 1.0  # (2, 2): two steps away
    assert not torch.allclose(ffn(near, (5, 5))[0, 0], base[0, 0])
    torch.testing.assert_close(ffn(far, (5, 5))[0, 0], base[0, 0])
    bn = ConvFFN(4, 8, with_bn=True).eval()
    assert bn(x, (5, 5)).shape == (1, 25, 4)


def test_batch_of_one_and_batch_invariance():
    for cfg in (TINY_IR, dict(TINY_IR, head='gap'), dict(TINY_VIT, type='ViTAU', au_tap=3),
                dict(TINY_VIT, type='ViTAUToken')):  # fmt: skip
        m = _build(cfg)
        size = 32 if cfg['type'] == 'IRViTAU' else 64
        x = torch.randn(5, 3, size, size)
        with torch.no_grad():
            feat, au = m(x)
            for i in (0, 4):
                f1, a1 = m(x[i : i + 1])
                torch.testing.assert_close(f1, feat[i : i + 1], rtol=0, atol=1e-5)
                torch.testing.assert_close(a1, au[i : i + 1], rtol=0, atol=1e-5)
            f3, a3 = m(x[1:4])
        torch.testing.assert_close(f3, feat[1:4], rtol=0, atol=1e-5)
        torch.testing.assert_close(a3, au[1:4], rtol=0, atol=1e-5)


def test_vitau_branch_on_patch_tokens_after_block_k():
    m = _build(dict(TINY_VIT, type='ViTAU', au_tap=3))
    assert m.grid == 8 and m.au_branch.grid_size == 8
    seen = {}
    m.vit.blocks[2].register_forward_hook(lambda mod, args, out: seen.update(x=out))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feat, au = m(x)
        ref = m.vit.forward_features(x)[:, 0]  # timm's own forward: the CLS feature is unchanged
    torch.testing.assert_close(feat, ref)
    torch.testing.assert_close(au, m.au_branch(seen['x'][:, 1:]))


def test_au_token_baseline():
    m = _build(dict(TINY_VIT, type='ViTAUToken', au_names=['AU1', 'AU12']))
    x = torch.randn(2, 3, 64, 64)
    seen = {}
    m.vit.blocks[0].register_forward_hook(lambda mod, args, out: seen.update(n=out.shape[1]))
    with torch.no_grad():
        feat, au = m(x)
    assert seen['n'] == 1 + 1 + 64  # CLS + AU token + 8x8 patches
    assert feat.shape == (2, 32) and au.shape == (2, 2)
    # The AU token changes the CLS feature (it takes part in attention).
    with torch.no_grad():
        m.au_token.add_(1.0)
        assert not torch.allclose(m(x)[0], feat)


def test_conv_ffn_leading_tokens_skip_the_convolution():
    ffn = ConvFFN(4, 8).eval()
    grid = torch.randn(2, 9, 4)
    tok = torch.randn(2, 1, 4)
    with torch.no_grad():
        out = ffn(torch.cat([tok, grid], dim=1), (3, 3))
        # the leading token: fc2(GELU(fc1(t))), by hand
        by_hand = torch.nn.functional.linear(
            torch.nn.functional.gelu(torch.nn.functional.linear(tok, ffn.fc1.weight, ffn.fc1.bias)),
            ffn.fc2.weight,
            ffn.fc2.bias,
        )
    torch.testing.assert_close(out[:, :1], by_hand)
    torch.testing.assert_close(out[:, 1:], ffn(grid, (3, 3)))  # the lattice is unchanged by the token
    with pytest.raises(ValueError, match='tokens for a 4x4 lattice'):
        ffn(grid, (4, 4))


def test_irvitau_token_baseline_reads_the_token_after_block_k():
    m = _build(dict(TINY_IR, type='IRViTAUToken', au_tap=2, au_names=['AU1', 'AU12', 'AU25']))
    assert not hasattr(m, 'au_branch') and m.au_names == ('AU1', 'AU12', 'AU25')
    seen = {}
    m.blocks[0].register_forward_hook(lambda mod, args, out: seen.update(n0=out.shape[1]))
    m.blocks[1].register_forward_hook(lambda mod, args, out: seen.update(x1=out))
    m.blocks[2].register_forward_hook(lambda mod, args, out: seen.update(n2=out.shape[1]))
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        feat, au = m(x)
        assert seen['n0'] == 1 + 16 and seen['n2'] == 4  # token + 4x4 patches; after merging 2x2, no token
        t = seen['x1'][:, 0]
        ln = torch.nn.functional.layer_norm(t, (32,), m.au_norm.weight, m.au_norm.bias, 1e-6)
        torch.testing.assert_close(au, m.au_head(ln))
        assert feat.shape == (3, 24) and au.shape == (3, 3)
        # the token takes part in the attention before the tap: it changes the expression feature
        m.au_token.add_(torch.randn_like(m.au_token))  # not a constant: LN would remove it
        feat2, _ = m(x)
        assert not torch.allclose(feat2, feat)
        # blocks after the tap do not change the AU logits
        for p in m.blocks[2].parameters():
            p.add_(0.5)
        _, au3 = m(x)
        _, au2 = m(x)
    torch.testing.assert_close(au3, au2)
    for i in (0, 2):
        with torch.no_grad():
            f1, a1 = m(x[i : i + 1])
            fb, ab = m(x)
        torch.testing.assert_close(a1, ab[i : i + 1], rtol=0, atol=1e-5)
        torch.testing.assert_close(f1, fb[i : i + 1], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match='first stage'):
        _build(dict(TINY_IR, type='IRViTAUToken', au_tap=3, au_branch=dict(regions='2')))


def test_pretrained_ir50_ms1m_layout_loads_stage_1_to_3(tmp_path):
    torch.manual_seed(3)
    full = MODELS.build(dict(type='IResNet', depth=18, num_stages=4, input_size=32, with_output_layer=True))
    path = tmp_path / 'backbone_ir18_ms1m.pth'
    torch.save(full.state_dict(), path)  # face.evoLVe layout: output_layer + stage 4 units present
    m = _build(TINY_IR, pretrained=str(path))
    own, ref = m.cnn.state_dict(), full.state_dict()
    assert own.keys() <= ref.keys()
    for k, v in own.items():
        torch.testing.assert_close(v, ref[k])
    missing = tmp_path / 'none.pth'
    with pytest.raises(FileNotFoundError, match=r'none\.pth.*backbone_ir50_ms1m_epoch63\.pth'):
        _build(TINY_IR, pretrained=str(missing))


def test_pretrained_vit_local_file(tmp_path):
    src = _build(dict(TINY_VIT, type='ViTAU', au_tap=3))
    path = tmp_path / 'vit.pth'
    torch.save(src.vit.state_dict(), path)
    torch.manual_seed(9)
    m = _build(dict(TINY_VIT, type='ViTAUToken', pretrained=str(path)))
    for k, v in src.vit.state_dict().items():
        torch.testing.assert_close(m.vit.state_dict()[k], v)
    with pytest.raises(FileNotFoundError, match='no_vit.pth'):
        _build(dict(TINY_VIT, type='ViTAU', au_tap=3, pretrained=str(tmp_path / 'no_vit.pth')))


def test_bad_input_size_is_one_clear_error():
    m = _build(TINY_IR)
    with pytest.raises(ValueError, match=r'built for 32px inputs'):
        m(torch.randn(1, 3, 64, 64))
