"""MVT mask generator: shapes, patch geometry, random masks, pretrained loading."""

import pytest
import torch

from ferlab.models.generators import apply_keep_mask, patch_values_to_image
from ferlab.registry import MODELS
from ferlab.utils import atomic_save

TINY_GEN = dict(
    type='MaskGenerator', arch='deit_small_patch16_224', num_blocks=2, img_size=32, patch_size=8, embed_dim=32,
    num_heads=2,
)  # fmt: skip


def test_generator_shapes_and_range():
    torch.manual_seed(0)
    gen = MODELS.build(TINY_GEN)
    assert gen.grid_size == (4, 4) and gen.num_patches == 16 and len(gen.vit.blocks) == 2
    mp = gen(torch.randn(3, 3, 32, 32))
    assert mp.shape == (3, 16)
    assert torch.all((mp > 0) & (mp < 1))
    keep = gen.keep_mask(mp)
    assert keep.shape == (3, 1, 32, 32)
    torch.testing.assert_close(keep[:, 0, ::8, ::8].reshape(3, 16), 1 - mp)
    with pytest.raises(ValueError, match='built for 32x32'):
        gen(torch.randn(1, 3, 48, 48))


def test_patch_geometry_covers_pixels():
    values = torch.zeros(1, 12)
    gh, gw, p = 3, 4, 5
    i, j = 2, 1
    values[0, i * gw + j] = 1.0
    img = patch_values_to_image(values, (gh, gw), p)
    assert img.shape == (1, 1, gh * p, gw * p)
    expected = torch.zeros(gh * p, gw * p)
    expected[i * p : (i + 1) * p, j * p : (j + 1) * p] = 1
    assert torch.equal(img[0, 0], expected)
    with pytest.raises(ValueError, match='do not fill'):
        patch_values_to_image(torch.zeros(1, 5), (3, 4), 5)


def test_generator_patch_order_matches_timm_patch_embedding():
    """M_p[k] must belong to the patch the ViT embedded at token k: perturb one patch only."""
    torch.manual_seed(0)
    gen = MODELS.build(dict(TINY_GEN, num_blocks=1)).eval()
    # With the blocks bypassed, token k depends only on pixels of patch k.
    gen.vit.blocks = torch.nn.Sequential()
    x = torch.randn(1, 3, 32, 32)
    base = gen(x)
    x2 = x.clone()
    x2[:, :, 16:24, 8:16] += 5.0  # patch (2, 1)
    changed = (gen(x2) - base).abs() > 1e-7
    assert changed[0].nonzero().flatten().tolist() == [2 * 4 + 1]


def test_apply_keep_mask_black_and_mean():
    mean = torch.tensor([123.675, 116.28, 103.53])
    std = torch.tensor([58.395, 57.12, 57.375])
    pix = torch.rand(2, 3, 8, 8) * 255
    x = (pix - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    keep = torch.ones(2, 1, 8, 8)
    keep[:, :, :4] = 0
    out = apply_keep_mask(x, keep, mean, std, 'black')
    back = out * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)
    torch.testing.assert_close(back[:, :, :4], torch.zeros(2, 3, 4, 8), atol=1e-4, rtol=0)
    torch.testing.assert_close(back[:, :, 4:], pix[:, :, 4:], atol=1e-3, rtol=0)
    assert torch.all(apply_keep_mask(x, keep, mean, std, 'mean')[:, :, :4] == 0)
    with pytest.raises(ValueError, match='does not match'):
        apply_keep_mask(x, torch.ones(2, 1, 4, 4), mean, std)
    with pytest.raises(ValueError, match='fill'):
        apply_keep_mask(x, keep, mean, std, 'white')


@pytest.mark.parametrize('ratio', [0.0, 0.15, 0.5, 1.0])
def test_random_patch_mask_area(ratio):
    sampler = MODELS.build(dict(type='RandomPatchMask'))
    mp = sampler(64, 49, ratio=ratio, generator=torch.Generator().manual_seed(0))
    assert mp.shape == (64, 49)
    assert set(mp.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(mp.sum(1) == round(ratio * 49))
    if 0 < ratio < 1:  # different samples get different patches
        assert not torch.all(mp == mp[0])
    with pytest.raises(ValueError, match='ratio'):
        MODELS.build(dict(type='RandomPatchMask', ratio=1.5))


def test_generator_loads_first_blocks_of_local_deit_weights(tmp_path):
    """The generator takes patch embed, pos embed (resampled, CLS slot dropped) and the first blocks."""
    import timm

    torch.manual_seed(1)
    full = timm.create_model('deit_small_patch16_224', pretrained=False, img_size=64, patch_size=8, embed_dim=32,
                             depth=4, num_heads=2)  # fmt: skip
    path = str(tmp_path / 'deit_tiny_layout.pth')
    atomic_save(full.state_dict(), path)
    gen = MODELS.build(dict(TINY_GEN, pretrained=path))
    gen.init_weights()
    sd = full.state_dict()
    torch.testing.assert_close(gen.vit.blocks[1].mlp.fc1.weight, sd['blocks.1.mlp.fc1.weight'])
    torch.testing.assert_close(gen.vit.patch_embed.proj.weight, sd['patch_embed.proj.weight'])
    assert gen.vit.pos_embed.shape == (1, 17, 32)  # resampled from the 8x8 grid to 4x4
    assert not torch.allclose(gen.vit.pos_embed[:, 1:], torch.zeros_like(gen.vit.pos_embed[:, 1:]))

    missing = str(tmp_path / 'nope.pth')
    gen = MODELS.build(dict(TINY_GEN, pretrained=missing))
    with pytest.raises(FileNotFoundError, match='nope.pth.*deit_small_patch16_224'):
        gen.init_weights()
    bb = MODELS.build(dict(type='ViTBackbone', img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                           pretrained=missing))  # fmt: skip
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        bb.init_weights()
