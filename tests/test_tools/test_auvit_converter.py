"""tools/model_converters/auvit_to_ferlab.py against a re-implementation of the public AU-ViT.

``tests/test_tools/auvit_public.py`` rebuilds msy1412/AU-ViT's ``IR50_ViT`` with its module names
(so its state dict has the public key layout, never-used modules included) and writes
checkpoints as the public scripts' ``save_model`` does.
"""

import argparse
import sys
from unittest import mock

import pytest
import torch
from mmengine.config import Config

from ferlab.registry import MODELS
from ferlab.utils import register_all_modules, safe_torch_load
from ferlab.utils.checkpoint import UnsafeCheckpointError
from tests.test_tools.auvit_public import IR50ViTPublic, randomise, save_public_checkpoint
from tools.model_converters.auvit_to_ferlab import (
    AUViTCheckpointError,
    PublicNamespaceStandIn,
    convert_key,
    load_public_checkpoint,
    main,
    num_regions,
)

register_all_modules()

CONFIGS = {2: 'configs/auvit/auvit_ir50-public_rafdb.py', 7: 'configs/auvit/auvit_ir50-public_affectnet7.py'}


def _never_used_tensor_count(pub):
    """Counted from the public module tree, independently of the converter's patterns."""
    unused = [pub.norm, pub.vit.pools, pub.vit.pos_block, pub.vit.output_layer]
    return sum(len(m.state_dict()) for m in unused)


@pytest.mark.slow  # builds the public IR-50 CNN-ViT (a 51 M-parameter unused Linear) and ferlab's, ~40 s each
@pytest.mark.parametrize('n_regions', [2, 7])
def test_converted_checkpoint_loads_strictly_and_gives_the_public_outputs(tmp_path, n_regions, capsys):
    torch.manual_seed(n_regions)
    public = randomise(IR50ViTPublic(num_classes=7, num_au_patch=n_regions), seed=n_regions).eval()
    src, dst = tmp_path / 'model.pth', tmp_path / 'ferlab.pth'
    save_public_checkpoint(public, src, epoch=9)
    meta = main([str(src), str(dst)])
    dropped = _never_used_tensor_count(public)
    assert dropped == 2 + 2 + 4 + 2  # norm (w, b), pools.0.conv, pos_block.{0,1}.proj.0, output_layer.2
    assert meta['epoch'] == 9 and meta['opt']['learning_rate'] == 1e-4 and meta['opt']['AU_patch'] == 2
    assert meta['dropped_tensors'] == dropped and meta['au_regions'] == n_regions and meta['num_classes'] == 7
    n_public = len(public.state_dict())
    assert (
        f'converted {n_public - dropped} tensors (7 classes, {n_regions} AU regions)'
        in capsys.readouterr().out
    )
    ckpt = safe_torch_load(dst)
    model = MODELS.build(Config.fromfile(CONFIGS[n_regions]).model).eval()
    model.load_state_dict(ckpt['state_dict'], strict=True)  # every ferlab key, buffers included
    x = torch.rand(3, 3, 112, 112) * 2 - 1  # the public inputs: mean/std 0.5 normalised
    with torch.no_grad():
        ref_expr, ref_au = public(x)
        expr, au = model(x, mode='tensor')
        expr1, au1 = model(x[2:], mode='tensor')  # a batch of one (the public squeeze() fails there)
    assert ref_expr.shape == (3, 7) and ref_au.shape == (3, 21) and ref_au.std() > 0.05
    torch.testing.assert_close(expr, ref_expr, rtol=0, atol=1e-4)
    torch.testing.assert_close(au, ref_au, rtol=0, atol=1e-4)
    torch.testing.assert_close(expr1, ref_expr[2:], rtol=0, atol=1e-4)
    torch.testing.assert_close(au1, ref_au[2:], rtol=0, atol=1e-4)


def _tiny_public_file(path, extra=None, prefix='module.'):
    """The public save_model layout with a placeholder state dict (enough for the loader tests)."""
    state = {
        'opt': argparse.Namespace(optimizer='adam', learning_rate=1e-4, AU_patch=2),
        'model': {f'{prefix}vit.head.weight': torch.zeros(7, 512)},
        'optimizer': {'state': {}, 'param_groups': [{'lr': 1e-4, 'params': [0]}]},
        'epoch': 3,
    }
    state.update(extra or {})
    torch.save(state, str(path))


def test_namespace_is_an_inert_stand_in(tmp_path):
    src = tmp_path / 'model.pth'
    _tiny_public_file(src)
    with pytest.raises(UnsafeCheckpointError, match='argparse.Namespace'):
        safe_torch_load(src)  # the shared allow-list alone refuses the pickled options
    ckpt = load_public_checkpoint(str(src))
    assert type(ckpt['opt']) is PublicNamespaceStandIn
    assert vars(ckpt['opt']) == dict(optimizer='adam', learning_rate=1e-4, AU_patch=2)
    assert list(ckpt['model']) == ['module.vit.head.weight'] and ckpt['epoch'] == 3


class Evil:
    """A foreign class under the public script's module: not on any allow-list."""


Evil.__module__ = '__main__'


def test_another_foreign_global_is_refused(tmp_path):
    src = tmp_path / 'evil.pth'
    with mock.patch.object(sys.modules['__main__'], 'Evil', Evil, create=True):
        _tiny_public_file(src, extra={'meter': Evil()})
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*__main__\.Evil'):
        main([str(src), str(tmp_path / 'out.pth')])
    assert not (tmp_path / 'out.pth').exists()


def test_not_an_auvit_checkpoint_is_one_clear_error(tmp_path):
    src = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {'module.fc.weight': torch.zeros(7, 4)}}, src)
    with pytest.raises(AUViTCheckpointError, match='expected a public AU-ViT checkpoint'):
        main([str(src), str(tmp_path / 'o.pth')])
    src2 = tmp_path / 'head_only.pth'
    _tiny_public_file(src2)
    with pytest.raises(AUViTCheckpointError, match='not an AU-ViT IR50_ViT checkpoint'):
        main([str(src2), str(tmp_path / 'o.pth')])

    from ferlab.utils.cli import run_tool

    with pytest.raises(SystemExit) as exc:
        run_tool(main, 'tools/model_converters/auvit_to_ferlab.py', [str(src2), str(tmp_path / 'o.pth')])
    assert exc.value.code == 2


def test_key_map_examples():
    off = {0: 0, 1: 4}
    assert (
        convert_key('cnn.body.20.res_layer.4.running_var', 2, off)
        == 'backbone.cnn.body.20.res_layer.4.running_var'
    )
    assert (
        convert_key('vit.transformers.1.blocks.1.attn.qkv.weight', 2, off)
        == 'backbone.blocks.5.attn.qkv.weight'
    )
    assert convert_key('vit.transformers.0.blocks.3.mlp.fc2.bias', 2, off) == 'backbone.blocks.3.mlp.fc2.bias'
    assert convert_key('vit.pos_embed', 2, off) == 'backbone.pos_embed'
    assert convert_key('vit.norm.weight', 2, off) == 'backbone.norm.weight'
    assert convert_key('vit.head.bias', 2, off) == 'head.fc.bias'
    assert convert_key('vit.lowerAU_head.weight', 2, off) == 'backbone.au_branch.fcs.1.weight'
    assert convert_key('vit.norm_AU_up.bias', 2, off) == 'backbone.au_branch.norms.0.bias'
    assert convert_key('vit.head_AU13.weight', 7, off) == 'backbone.au_branch.fcs.2.weight'
    assert convert_key('vit.norm_AU3.weight', 7, off) == 'backbone.au_branch.norms.6.weight'
    assert convert_key('vit.AU_head.weight', 1, off) == 'backbone.au_branch.fcs.0.weight'
    for unused in ('norm.weight', 'vit.pools.0.conv.weight', 'vit.pos_block.1.proj.0.bias',
                   'vit.output_layer.2.weight'):  # fmt: skip
        assert convert_key(unused, 2, off) is None
    with pytest.raises(KeyError, match='not part of the public AU-ViT'):
        convert_key('vit.blocks.0.attn.q_norm.weight', 2, off)


@pytest.mark.parametrize('n', [1, 2, 3, 5, 7])
def test_au_split_read_from_the_public_module_names(n):
    from tests.test_tools.auvit_public import PUBLIC_SPLITS

    regions = ['AU_up', 'AU_low'] if n == 2 else [name for name, *_ in PUBLIC_SPLITS[n]]
    keys = {f'vit.norm_{r}.{w}': None for r in regions for w in ('weight', 'bias')}
    keys['vit.norm.weight'] = None  # the final LN is not an AU region
    assert num_regions(keys) == n
    with pytest.raises(KeyError, match='match no public split'):
        num_regions({'vit.norm_AU11.weight': None})


@pytest.mark.slow  # five public PoolingTransformers (each with its 51 M-parameter unused Linear), ~15 s
@pytest.mark.parametrize('n', [1, 2, 3, 5, 7])
def test_every_public_au_split_equals_the_au_branch_preset(n):
    """The converted AU heads of each public split give the public AU logits (order included)."""
    from tests.test_tools.auvit_public import PoolingTransformer
    from tools.model_converters.auvit_to_ferlab import convert_key

    public = randomise(PoolingTransformer(7, n), seed=n).eval()
    ours = MODELS.build(dict(type='AUBranch', in_channels=512, regions=str(n))).eval()
    prefix = 'backbone.au_branch.'
    state = {}
    for k, v in public.state_dict().items():
        k = f'vit.{k}'
        if 'AU' in k:
            new = convert_key(k, n, {0: 0, 1: 4})
            assert new.startswith(prefix)
            state[new[len(prefix) :]] = v
    ours.load_state_dict(state, strict=True)
    x = torch.randn(4, 512, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), public.au_branch(x), rtol=0, atol=1e-5)
