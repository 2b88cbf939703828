"""tools/model_converters/poster_to_ferlab.py against a re-implementation of the public POSTER++.

``tests/test_tools/poster_public.py`` rebuilds Talented-Q/POSTER_V2's ``pyramid_trans_expr2``
with its module names (so its state dict has the public layout, never-used modules included)
and writes checkpoints as the public ``main.py`` does.
"""

import sys
import zipfile
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ferlab.registry import MODELS
from ferlab.utils import safe_torch_load
from ferlab.utils.checkpoint import UnsafeCheckpointError
from tests.test_tools.poster_public import pyramid_trans_expr2, randomise, save_public_checkpoint
from tools.model_converters.poster_to_ferlab import (
    PosterCheckpointError,
    convert_key,
    load_public_checkpoint,
    main,
)

RAFDB = 'configs/poster/posterv2_ir50_rafdb.py'


@pytest.fixture(scope='module', params=[7, 8])
def public(request):
    torch.manual_seed(request.param)
    return randomise(pyramid_trans_expr2(request.param), seed=request.param).eval()


@pytest.fixture(scope='module')
def public7():
    torch.manual_seed(0)
    return randomise(pyramid_trans_expr2(7)).eval()


def _ferlab_model(num_classes):
    cfg = Config.fromfile(RAFDB)
    cfg.model.head.num_classes = num_classes
    return MODELS.build(cfg.model).eval()


def _never_used_tensor_count(pub):
    """Counted from the public module tree, independently of the converter's patterns."""
    unused = [pub.face_landback.output_layer, pub.ir_back.output_layer, pub.VIT.patch_embed, pub.VIT.CON1,
              pub.VIT.IRLinear1, pub.VIT.IRLinear2, pub.VIT.eca_block] + [b.conv for b in pub.VIT.blocks]  # fmt: skip
    return sum(len(m.state_dict()) for m in unused)


@pytest.mark.slow  # builds two IR-50 networks per class count, ~20 s
def test_converted_checkpoint_loads_strictly_and_gives_the_public_logits(tmp_path, public, capsys):
    num_classes = public.VIT.head.linear.out_features
    src, dst = tmp_path / 'model.pth', tmp_path / 'ferlab.pth'
    save_public_checkpoint(public, src, epoch=12)
    meta = main([str(src), str(dst)])
    dropped = _never_used_tensor_count(public)
    assert meta == dict(
        epoch=12,
        best_acc=88.5,
        num_classes=num_classes,
        converted_from='Talented-Q/POSTER_V2',
        dropped_tensors=dropped,
    )
    n_public = len(public.state_dict())
    assert f'converted {n_public - dropped} tensors ({num_classes} classes)' in capsys.readouterr().out
    ckpt = safe_torch_load(dst)
    model = _ferlab_model(num_classes)
    model.load_state_dict(ckpt['state_dict'], strict=True)  # every ferlab key, buffers included
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ref = public(x)
        got = model(x, mode='tensor')  # the backbone resizes 224 -> 112 as the public forward
    assert ref.shape == (2, num_classes) and ref.std() > 0.05
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-4)


def test_public_file_layout_and_recorder_stand_ins(tmp_path, public7):
    src = tmp_path / 'model.pth'
    save_public_checkpoint(public7, src)
    with zipfile.ZipFile(src) as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith('data.pkl')))
    assert b'cuda:0' in pkl and b'__main__' in pkl and b'RecorderMeter1' in pkl
    with pytest.raises(UnsafeCheckpointError, match='RecorderMeter'):
        safe_torch_load(src)  # the shared allow-list alone refuses the recorders
    ckpt = load_public_checkpoint(str(src))
    assert all(k.startswith('module.') for k in ckpt['state_dict'])
    assert ckpt['best_acc'].device.type == 'cpu' and float(ckpt['best_acc']) == 88.5
    rec1, rec = ckpt['recorder1'], ckpt['recorder']
    assert type(rec1).__name__ == type(rec).__name__ == 'PublicRecorderStandIn'
    np.testing.assert_array_equal(rec.epoch_accuracy, np.full((200, 2), 50.0, dtype=np.float32))
    np.testing.assert_array_equal(rec1.y_pred, [0, 3, 1])
    assert ckpt['optimizer']['param_groups'][0]['rho'] == 0.05


class Evil:
    """A foreign class under the public script's module: not on any allow-list."""


Evil.__module__ = '__main__'


def test_another_foreign_global_is_refused(tmp_path, public7):
    src = tmp_path / 'evil.pth'
    with mock.patch.object(sys.modules['__main__'], 'Evil', Evil, create=True):
        save_public_checkpoint(public7, src, extra={'meter': Evil()})
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*__main__\.Evil'):
        main([str(src), str(tmp_path / 'out.pth')])
    assert not (tmp_path / 'out.pth').exists()


def test_model_best_holding_only_the_optimizer_is_one_clear_error(tmp_path, public7):
    src = tmp_path / 'model_best.pth'
    save_public_checkpoint(public7, src, best=True)
    with pytest.raises(
        PosterCheckpointError, match="only an optimizer state.*state.pop\\('optimizer'\\).*model.pth"
    ):
        main([str(src), str(tmp_path / 'out.pth')])


def test_cli_errors_end_in_one_line(tmp_path, public7):
    from ferlab.utils.cli import run_tool

    src = tmp_path / 'model_best.pth'
    save_public_checkpoint(public7, src, best=True)
    with pytest.raises(SystemExit) as exc:
        run_tool(main, 'tools/model_converters/poster_to_ferlab.py', [str(src), str(tmp_path / 'o.pth')])
    assert exc.value.code == 2


def test_keys_outside_the_public_layout_are_refused(tmp_path):
    with pytest.raises(KeyError, match='not part of the public POSTER'):
        convert_key('VIT.blocks.0.attn.q_norm.weight')
    src = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {'module.fc.weight': torch.zeros(7, 4)}}, src)
    with pytest.raises(PosterCheckpointError, match='not a POSTER'):
        main([str(src), str(tmp_path / 'o.pth')])


def test_key_map_examples():
    assert convert_key('ir_back.body2.1.res_layer.1.weight') == 'backbone.image.body.4.res_layer.1.weight'
    assert (
        convert_key('ir_back.body3.13.res_layer.4.running_var')
        == 'backbone.image.body.20.res_layer.4.running_var'
    )
    assert convert_key('attn2.qkv.weight') == 'backbone.cross_attn.1.kv.weight'
    assert convert_key('ffn3.norm.bias') == 'backbone.cross_attn.2.norm2.bias'
    assert convert_key('window1.norm.weight') == 'backbone.cross_attn.0.norm.weight'
    assert convert_key('embed_v.proj.weight') == 'backbone.token_embed.levels.2.0.weight'
    assert convert_key('VIT.se_block.linear2.bias') == 'neck.fc2.bias'
    assert convert_key('VIT.head.linear.weight') == 'head.fc.weight'
    assert convert_key('VIT.blocks.1.conv.weight') is None
    assert convert_key('face_landback.output_layer.linear.weight') is None
