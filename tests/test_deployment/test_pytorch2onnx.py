"""ONNX export of every shipped model family: onnxruntime logits against PyTorch eager.

For each family a registry-built model (from its shipped config, shrunk to tiny sizes, random
weights and random BatchNorm statistics) is exported with a dynamic batch axis, traced at batch 2,
and run by onnxruntime at batch 1, 3 and 8; the oracle is the PyTorch model's own
``forward(x, mode='tensor')`` on the same inputs (max |Δlogit| <= 1e-4). The tool runs end to end
from a config + checkpoint; ``OnnxBackend`` is compared with ``TorchBackend`` on the same crops.
"""

import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ferlab.registry import MODELS
from ferlab.utils import apply_cfg_options, atomic_save, register_all_modules
from tests.utils import REPO_ROOT, parse_cfg_options

ort = pytest.importorskip('onnxruntime', reason='the deploy extra (onnxruntime) is not installed')
onnx = pytest.importorskip('onnx', reason='the deploy extra (onnx) is not installed')

from ferlab.deployment import OnnxExportError, export_onnx, preprocess_steps, read_onnx_meta  # noqa: E402

ATOL = 1e-4
BATCHES = (1, 3, 8)
CLASSES7 = ['Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral']


def _cfg(rel: str, opts=()):
    register_all_modules()
    return apply_cfg_options(Config.fromfile(osp.join(REPO_ROOT, rel)), parse_cfg_options(list(opts)))


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights (already) and random BatchNorm statistics, so eval-mode BN is not the identity."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return model.eval()


def _build(model_cfg: dict, seed: int = 0) -> torch.nn.Module:
    register_all_modules()
    torch.manual_seed(seed)
    return _randomise(MODELS.build(model_cfg), seed)


def _torch_logits(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x), mode='tensor').numpy()


def _assert_parity(model, path, input_size, batches=BATCHES, seed=1):
    """onnxruntime vs torch at each batch size; returns the max |Δlogit| per batch."""
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    (inp,) = session.get_inputs()
    assert not isinstance(inp.shape[0], int), f'batch axis is fixed: {inp.shape}'
    rng = np.random.default_rng(seed)
    diffs = {}
    for b in batches:
        x = rng.standard_normal((b, 3, *input_size)).astype(np.float32)
        ref = _torch_logits(model, x)
        (got,) = session.run(None, {inp.name: x})
        assert got.shape == ref.shape
        diffs[b] = float(np.abs(got - ref).max())
        assert np.abs(ref).max() > 1e-3  # a model answering zeros would compare equal trivially
    assert max(diffs.values()) <= ATOL, diffs
    return diffs


def _export(model, tmp_path, input_size, classes=CLASSES7, **kwargs):
    path = str(tmp_path / 'model.onnx')
    meta = export_onnx(model, path, input_size, classes, **kwargs)
    assert os.listdir(tmp_path) == ['model.onnx']  # one self-contained file, no .data
    assert meta['external_data'] is None
    return path, meta


# ----------------------------------------------------------------------------- families
def _resnet18_model():
    cfg = _cfg('configs/baseline/resnet18_rafdb.py', ['model.backbone.pretrained=None'])
    return _build(cfg.model), (32, 32)


def _dan_model():
    cfg = _cfg('configs/dan/dan_r18-48px-cpu_synthfer.py')
    return _build(cfg.model), (48, 48)


def _iresnet_model():
    cfg = dict(
        type='FERClassifier',
        backbone=dict(type='IResNet', depth=50, num_stages=1, out_indices=(0,), input_size=32),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=7, in_channels=64),
    )
    return _build(cfg), (32, 32)


def _deit_model():
    cfg = _cfg(
        'configs/mvt/mvt_deit-s_rafdb.py',
        [
            'model.mgn=None',
            'model.backbone.pretrained=None',
            'model.backbone.depth=2',
            'model.backbone.img_size=32',
        ],
    )
    return _build(cfg.model), (32, 32)


def _repvgg_model(deploy: bool):
    cfg = _cfg('configs/_base_/models/repvgg.py', ['model.backbone.model_name=repvgg_a0'])
    model = _build(dict(cfg.model, head=dict(cfg.model.head, in_channels=1280)))
    if deploy:
        model.backbone.reparameterize()
    return model.eval(), (32, 32)


def _posterv2_model():
    cfg = _cfg(
        'configs/poster/posterv2_ir18-56px-cpu_synthfer.py', ['model.backbone.landmark.pretrained=None']
    )
    return _build(cfg.model), (56, 56)


def _small_classifier(num_classes):
    return dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=64),
    )


def _ensemble_model(combine='softmax_sum'):
    cfg = dict(
        type='EnsembleClassifier',
        members=[_small_classifier(7), _small_classifier(7)],
        weights=[1.0, 2.0],
        combine=combine,
        input_sizes=[None, 24],  # the second member sees the batch resized inside the graph
    )
    return _build(cfg), (32, 32)


def _cascade_model():
    cfg = dict(type='CascadeClassifier', coarse=_small_classifier(5), negative=_small_classifier(4))
    return _build(cfg), (32, 32)


FAMILIES = {
    'posterv2': _posterv2_model,
    'ensemble_softmax_sum': _ensemble_model,
    'ensemble_logit_mean': lambda: _ensemble_model('logit_mean'),
    'resnet18': _resnet18_model,
    'dan': _dan_model,
    'iresnet': _iresnet_model,
    'deit': _deit_model,
    'repvgg_train_form': lambda: _repvgg_model(False),
    'repvgg_deploy_form': lambda: _repvgg_model(True),
}


@pytest.mark.slow
@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_family_onnxruntime_matches_torch(family, tmp_path):
    model, size = FAMILIES[family]()
    path, meta = _export(model, tmp_path, size)
    assert meta['input_size'] == list(size) and meta['classes'] == CLASSES7
    # CFC-SP's ensemble gives probabilities in 'tensor' mode, the others logits
    probs = family.startswith('ensemble')
    assert (meta['output'], meta['output_kind']) == (
        ('probs', 'probabilities') if probs else ('logits', 'logits')
    )
    _assert_parity(model, path, size)


def _mvt_model():
    cfg = _cfg('configs/mvt/mvt_r18-48px-cpu_synthfer.py', ['model.mgn_checkpoint=None'])
    return _build(cfg.model), (48, 48)


@pytest.mark.slow
def test_mvt_export_carries_the_frozen_mgn_mask(tmp_path):
    model, size = _mvt_model()
    assert model.mgn is not None
    path, _ = _export(model, tmp_path, size)
    _assert_parity(model, path, size)
    # the graph masks: the classifier alone on the unmasked input gives other logits
    x = np.random.default_rng(3).standard_normal((4, 3, *size)).astype(np.float32)
    (got,) = ort.InferenceSession(path, providers=['CPUExecutionProvider']).run(None, {'input': x})
    with torch.no_grad():
        feats = super(type(model), model).extract_feat(torch.from_numpy(x))
        unmasked = model.head(feats).numpy()
    assert np.abs(got - unmasked).max() > 1e-2


@pytest.mark.slow
def test_cascade_export(tmp_path):
    """CFC-SP's cascade: 8 probabilities from a 5-class coarse and a 4-class negative net."""
    model, size = _cascade_model()
    path, meta = _export(model, tmp_path, size, classes=[f'c{i}' for i in range(8)])
    assert (meta['output'], meta['output_kind']) == ('probs', 'probabilities')
    assert meta['model_type'] == 'CascadeClassifier'
    _assert_parity(model, path, size)


@pytest.mark.slow
def test_export_refuses_a_graph_with_a_fixed_batch(tmp_path):
    """A forward that loops over the samples in Python traces to a batch-2 graph: refused, nothing written."""
    model, size = _iresnet_model()
    full = model.forward

    def per_sample(inputs, data_samples=None, mode='tensor'):
        if mode == 'tensor':
            return torch.cat([full(x[None], mode='tensor') for x in inputs])
        return full(inputs, data_samples, mode)

    model.forward = per_sample
    path = tmp_path / 'fixed.onnx'
    with pytest.raises(OnnxExportError, match="fixed the batch size of 'input' at 2"):
        export_onnx(model, str(path), size, CLASSES7)
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- the tool
def _write_checkpoint(model, path, classes=CLASSES7):
    atomic_save(
        dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=list(classes)))), path
    )
    return str(path)


def _tool(argv):
    sys.path.insert(0, REPO_ROOT)
    from tools.deployment.pytorch2onnx import cli

    return cli(argv)


RESNET_OPTS = ['model.backbone.pretrained=None', 'test_dataloader.dataset.pipeline.1.scale=(32,32)']


@pytest.mark.slow
def test_tool_exports_config_and_checkpoint_end_to_end(tmp_path):
    config = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
    model = _build(_cfg('configs/baseline/resnet18_rafdb.py', RESNET_OPTS).model, seed=5)
    names = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
    ckpt = _write_checkpoint(model, tmp_path / 'epoch_1.pth', names)
    out = tmp_path / 'export' / 'model.onnx'
    meta = _tool([config, ckpt, '--out', str(out), '--cfg-options', *RESNET_OPTS])
    assert sorted(os.listdir(out.parent)) == ['model.onnx']
    stored = read_onnx_meta(str(out))
    assert stored['classes'] == names  # from the checkpoint's dataset_meta
    assert stored['input_size'] == [32, 32]
    assert stored['preprocess'] == [dict(type='resize', size=[32, 32], interpolation='bilinear')]
    assert stored['mean'] == [123.675, 116.28, 103.53] and stored['std'] == [58.395, 57.12, 57.375]
    assert stored['to_rgb'] is True and stored['output'] == 'logits' and stored['opset'] == 18
    assert stored['source_config'] == 'resnet18_rafdb.py' and meta['parity'][3] <= ATOL
    proto = onnx.load(str(out))
    assert {o.domain: o.version for o in proto.opset_import}[''] == 18
    # the file holds the checkpoint's weights: parity against the model that wrote it
    _assert_parity(model, str(out), (32, 32))


@pytest.mark.slow
def test_tool_opset_17_uses_the_torchscript_exporter(tmp_path):
    config = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
    model = _build(_cfg('configs/baseline/resnet18_rafdb.py', RESNET_OPTS).model)
    ckpt = _write_checkpoint(model, tmp_path / 'c.pth')
    out = tmp_path / 'm17.onnx'
    meta = _tool([config, ckpt, '--out', str(out), '--opset', '17', '--cfg-options', *RESNET_OPTS])
    assert meta['exporter'] == 'torchscript'
    assert {o.domain: o.version for o in onnx.load(str(out)).opset_import}[''] == 17
    _assert_parity(model, str(out), (32, 32))


def test_tool_without_deploy_packages_says_which_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'onnxscript', None)  # import onnxscript -> ImportError
    config = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
    with pytest.raises(SystemExit) as exc:
        _tool([config, str(tmp_path / 'none.pth'), '--out', str(tmp_path / 'm.onnx')])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert 'missing: onnxscript' in err[0] and 'pip install -e ".[deploy]"' in err[0]
    assert err[0].startswith('tools/deployment/pytorch2onnx.py: error:')


def test_tool_unknown_class_count_is_one_line(tmp_path, capsys):
    config = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
    model = _build(_cfg('configs/baseline/resnet18_rafdb.py', RESNET_OPTS).model)
    ckpt = _write_checkpoint(model, tmp_path / 'c.pth')
    with pytest.raises(SystemExit) as exc:
        _tool(
            [
                config,
                ckpt,
                '--out',
                str(tmp_path / 'm.onnx'),
                '--classes',
                'x,y',
                '--cfg-options',
                *RESNET_OPTS,
            ]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 class names ['x', 'y'] for a model with 7 logits" in err[0]
    assert not (tmp_path / 'm.onnx').exists()


# ----------------------------------------------------------------------------- preprocessing metadata
def test_preprocess_steps_of_pipelines():
    load, pack = dict(type='LoadImageFromFile'), dict(type='PackFERInputs')
    resize = dict(type='Resize', scale=(40, 30))  # mmcv: (w, h)
    got = preprocess_steps([load, resize, dict(type='CenterCrop', crop_size=(24, 20)), pack])
    assert got == dict(
        input_size=[20, 24],
        preprocess=[
            dict(type='resize', size=[30, 40], interpolation='bilinear'),
            dict(type='center_crop', size=[20, 24]),
        ],
    )
    # no Resize (SynthFER renders at the model size): the crop is resized to the given size first
    got = preprocess_steps([load, pack], (48, 48))
    assert got['preprocess'] == [dict(type='resize', size=[48, 48], interpolation='area_or_linear')]
    with pytest.raises(OnnxExportError, match='no Resize'):
        preprocess_steps([load, pack])
    with pytest.raises(OnnxExportError, match=r'step 1 \(RandomFlip\).*cannot be replayed'):
        preprocess_steps([load, dict(type='RandomFlip', prob=0.5), pack], (32, 32))
    with pytest.raises(OnnxExportError, match='keep_ratio=True'):
        preprocess_steps([load, dict(type='Resize', scale=(32, 32), keep_ratio=True), pack])


def test_metadata_round_trip_and_plain_onnx_rejected(tmp_path):
    model, size = _iresnet_model()
    path, meta = _export(model, tmp_path, size, classes=list('abcdefg'))
    raw = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(raw['classes']) == list('abcdefg') and json.loads(raw['input_size']) == [32, 32]
    assert meta['au_names'] is None
    # a file without ferlab metadata is refused by name
    proto = onnx.load(path)
    del proto.metadata_props[:]
    plain = str(tmp_path / 'plain.onnx')
    onnx.save(proto, plain)
    with pytest.raises(OnnxExportError, match=r'plain\.onnx lacks the ferlab metadata'):
        read_onnx_meta(plain)
