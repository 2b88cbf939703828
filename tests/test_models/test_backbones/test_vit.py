"""ViTBackbone (timm ViT / DeiT): output types and architecture errors."""

import pytest
import torch

from ferlab.registry import MODELS


def test_vit_backbone_out_types():
    cfg = dict(type='ViTBackbone', img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2)
    x = torch.randn(2, 3, 32, 32)
    assert MODELS.build(cfg)(x)[0].shape == (2, 32)
    assert MODELS.build(dict(cfg, out_type='tokens'))(x)[0].shape == (2, 17, 32)
    assert MODELS.build(dict(cfg, out_type='avg'))(x)[0].shape == (2, 32)
    with pytest.raises(ValueError, match='out_type'):
        MODELS.build(dict(cfg, out_type='pool'))
    with pytest.raises(ValueError, match='timm has no model'):
        MODELS.build(dict(cfg, arch='deit_smol'))
