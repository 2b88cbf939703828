"""CFC-SP backbones by config: IR-152, Swin-S, HRNet, RepVGG (+ RepVGG re-parameterisation)."""

from __future__ import annotations

import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from ferlab.registry import MODELS
from ferlab.utils import register_all_modules, safe_torch_load
from tests.utils import REPO_ROOT

BASES = osp.join(REPO_ROOT, 'configs/_base_/models')
REPARAM_TOOL = osp.join(REPO_ROOT, 'tools/model_converters/reparameterize.py')


def model_cfg(name: str, **backbone) -> dict:
    register_all_modules()
    cfg = copy.deepcopy(Config.fromfile(osp.join(BASES, f'{name}.py')).model.to_dict())
    cfg['backbone'].update(backbone)
    return cfg


def build(cfg: dict):
    torch.manual_seed(0)
    return MODELS.build(cfg)


# Backbone output of one face at the paper's input size, computed by hand:
# IR-152: 4 stride-2 stages 112 -> 7; Swin-S: pooled C = 96 * 8; HRNet-W18: 2048-d
# incre/final layer at 128 / 32 = 4; RepVGG-B0: 1280 channels at ceil(112 / 32) = 4.
PAPER_SIZES = [
    pytest.param('iresnet152', 112, (1, 512, 7, 7), marks=pytest.mark.slow),
    pytest.param('swin-s', 224, (1, 768), marks=pytest.mark.slow),
    pytest.param('hrnet', 112, (1, 2048, 4, 4)),
    pytest.param('repvgg', 112, (1, 1280, 4, 4)),
]


@pytest.mark.parametrize('name,size,feat_shape', PAPER_SIZES)
def test_base_config_builds_at_paper_size(name, size, feat_shape):
    model = build(model_cfg(name)).eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        feats = model.backbone(x)
        logits = model(x)
    assert tuple(feats[-1].shape) == feat_shape
    assert tuple(logits.shape) == (1, 7)
    assert model.head.fc.in_features == feat_shape[1]


@pytest.mark.slow
def test_iresnet152_unit_counts():
    """IR-152 = (3, 8, 36, 3) bottleneck units (face.evoLVe / ArcFace)."""
    model = build(model_cfg('iresnet152'))
    assert model.backbone.stage_ends == [3, 11, 47, 50]


def test_swin_s_is_timm_swin_small():
    cfg = model_cfg('swin-s')
    assert cfg['backbone']['model_name'] == 'swin_small_patch4_window7_224'
    # Shrunk through the same config keys (img_size/window/depths are timm kwargs) for speed.
    tiny = model_cfg(
        'swin-s', img_size=64, window_size=2, embed_dim=32, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1)
    )
    tiny['head']['in_channels'] = 256
    model = build(tiny).eval()
    with torch.no_grad():
        assert tuple(model(torch.randn(2, 3, 64, 64)).shape) == (2, 7)


def test_hrnet_resize_input_equals_timm_on_resized_batch():
    backbone = build(model_cfg('hrnet', model_name='hrnet_w18_small')).backbone.eval()
    x = torch.randn(2, 3, 112, 112)
    ref_in = F.interpolate(x, size=(128, 128), mode='bilinear', align_corners=False)
    with torch.no_grad():
        out = backbone(x)[0]
        ref = backbone.timm_model.forward_features(ref_in)
        torch.testing.assert_close(out, ref, rtol=0, atol=0)
        with pytest.raises(RuntimeError, match='must match the size'):  # why the resize exists
            backbone.timm_model.forward_features(x)


def test_timm_backbone_resize_input_rejects_bad_value():
    with pytest.raises(ValueError, match='resize_input must be a positive int'):
        MODELS.build(dict(type='TimmBackbone', model_name='repvgg_a0', resize_input=0))


def test_repvgg_loads_local_pretrained_file(tmp_path):
    import timm

    torch.manual_seed(7)
    ref = timm.create_model('repvgg_a0', pretrained=False, num_classes=0).state_dict()
    path = tmp_path / 'repvgg_a0.pth'
    torch.save(ref, path)
    model = build(model_cfg('repvgg', model_name='repvgg_a0', pretrained=str(path)))
    model.init_weights()
    got = model.backbone.timm_model.state_dict()
    assert set(got) == set(ref)
    for key, value in ref.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0)


def _trained_repvgg(size: int = 32):
    """A RepVGG-A0 classifier after two SGD steps (BN statistics and weights away from init)."""
    model = build(model_cfg('repvgg', model_name='repvgg_a0'))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(2):
        x = torch.randn(4, 3, size, size, generator=gen) * 2 + 0.5
        loss = model(x).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_repvgg_reparameterize_keeps_eval_logits():
    model = _trained_repvgg()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = model(x)
        n_before = len(model.state_dict())
        converted = model.backbone.reparameterize()
        after = model(x)
    keys = list(model.state_dict())
    assert converted == 22  # RepVGG-A0: stages (1, 2, 4, 14, 1) blocks + the stem block
    assert model.backbone.deploy
    assert not any('conv_kxk' in k or 'conv_1x1' in k or 'identity' in k for k in keys)
    assert len(keys) < n_before
    torch.testing.assert_close(after, before, rtol=0, atol=1e-4)


def test_deploy_true_builds_the_fused_structure():
    fused = build(model_cfg('repvgg', model_name='repvgg_a0', deploy=True))
    trained = _trained_repvgg()
    trained.backbone.reparameterize()
    assert set(fused.state_dict()) == set(trained.state_dict())


def test_deploy_refuses_pretrained_and_plain_models():
    with pytest.raises(ValueError, match='deploy=True.*cannot load pretrained'):
        MODELS.build(dict(type='TimmBackbone', model_name='repvgg_a0', deploy=True, pretrained='w.pth'))
    with pytest.raises(ValueError, match="'resnet18' has no blocks to re-parameterise"):
        MODELS.build(dict(type='TimmBackbone', model_name='resnet18', deploy=True))


def _run_tool(argv):
    import importlib.util

    spec = importlib.util.spec_from_file_location('reparameterize_tool', REPARAM_TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main(argv)


@pytest.mark.e2e
def test_reparameterize_tool_checkpoint_tests_with_deploy_config(tmp_path):
    model = _trained_repvgg()
    src, dst = tmp_path / 'epoch_1.pth', tmp_path / 'deploy.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1), optimizer={}), src)
    options = ['--cfg-options', 'model.backbone.model_name=repvgg_a0']
    meta = _run_tool([osp.join(BASES, 'repvgg.py'), str(src), str(dst), *options])
    assert meta['reparameterized'] == ['backbone']
    ckpt = safe_torch_load(dst)
    assert set(ckpt) == {'state_dict', 'meta'}

    deploy = build(model_cfg('repvgg', model_name='repvgg_a0', deploy=True)).eval()
    deploy.load_state_dict(ckpt['state_dict'], strict=True)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(deploy(x), model(x), rtol=0, atol=1e-4)

    # The deploy checkpoint does not match the training structure: one clear error.
    from ferlab.utils.errors import CliUsageError

    with pytest.raises(CliUsageError, match='already re-parameterised'):
        _run_tool([osp.join(BASES, 'repvgg.py'), str(dst), str(tmp_path / 'again.pth'), *options])


def test_reparameterize_tool_refuses_model_without_timm_backbone(tmp_path):
    from ferlab.utils.errors import CliUsageError

    cfg = osp.join(BASES, 'resnet18.py')
    model = build(Config.fromfile(cfg).model.to_dict())
    src = tmp_path / 'r18.pth'
    torch.save(dict(state_dict=model.state_dict()), src)
    with pytest.raises(CliUsageError, match='no TimmBackbone'):
        _run_tool([cfg, str(src), str(tmp_path / 'out.pth')])


@pytest.mark.e2e
def test_reparameterized_repvgg_exports_to_onnx_with_training_logits(tmp_path):
    """Train-structure checkpoint -> reparameterize.py -> pytorch2onnx.py (deploy=True) -> onnxruntime."""
    pytest.importorskip('onnxruntime')
    import numpy as np
    import onnxruntime as ort

    from tools.deployment.pytorch2onnx import main as export_main

    base = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
    config = tmp_path / 'repvgg_rafdb.py'
    model = model_cfg('repvgg', model_name='repvgg_a0')
    config.write_text(f'_base_ = [{base!r}]\nmodel = {dict(model, _delete_=True)!r}\n')
    trained = _trained_repvgg()
    src, deploy_ckpt, onnx_file = tmp_path / 'epoch_1.pth', tmp_path / 'deploy.pth', tmp_path / 'repvgg.onnx'
    torch.save(dict(state_dict=trained.state_dict(), meta=dict(epoch=1)), src)
    _run_tool([str(config), str(src), str(deploy_ckpt)])
    meta = export_main(
        [
            str(config),
            str(deploy_ckpt),
            '--out',
            str(onnx_file),
            '--cfg-options',
            'model.backbone.deploy=True',
        ]
        + ['test_dataloader.dataset.pipeline.1.scale=(32,32)']
    )
    assert max(meta['parity'].values()) <= 1e-4
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    session = ort.InferenceSession(str(onnx_file), providers=['CPUExecutionProvider'])
    (logits,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = trained(x).numpy()  # the multi-branch training structure
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4)
