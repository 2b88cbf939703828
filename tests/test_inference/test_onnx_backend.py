"""``OnnxBackend`` against ``TorchBackend`` on the same face crops.

The oracle is :class:`ferlab.inference.backends.TorchBackend` built from the same config and
checkpoint: the config's own test pipeline and data preprocessor in PyTorch. The ONNX file is
written by ``tools/deployment/pytorch2onnx.py`` and read without the config. Crops are real pixels
(``skimage.data.astronaut()``) at sizes below, at and above the model input.
"""

import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ferlab.registry import MODELS
from ferlab.utils import apply_cfg_options, atomic_save, register_all_modules
from ferlab.utils.errors import FerlabInputError, InputFileNotFoundError
from tests.utils import REPO_ROOT, parse_cfg_options

pytest.importorskip('onnxruntime', reason='the deploy extra (onnxruntime) is not installed')
skimage_data = pytest.importorskip('skimage.data', reason='scikit-image (test extra) is not installed')

from ferlab.inference import TorchBackend  # noqa: E402
from ferlab.inference.onnx_backend import OnnxBackend, preprocess_crop  # noqa: E402

RAFDB = 'configs/baseline/resnet18_rafdb.py'
RAFDB_OPTS = ['model.backbone.pretrained=None', 'test_dataloader.dataset.pipeline.1.scale=(32,32)']
# SynthFER's test pipeline has no Resize: crops are resized to img_size first (INTER_AREA/LINEAR)
SYNTH = 'configs/quickstart/resnet18_synthfer.py'
SYNTH_OPTS = ['test_dataloader.dataset.img_size=40']
ENSEMBLE_MEMBER = dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0,)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=64),
)


def _crops():
    """Astronaut face crops (BGR uint8) of sizes below, at and above 32/40 px, one gray."""
    img = np.ascontiguousarray(skimage_data.astronaut()[..., ::-1])  # RGB -> BGR
    face = img[30:230, 150:320]
    rng = np.random.default_rng(0)
    crops = [face, face[::7, ::7], face[40:72, 50:82], face[10:50, 20:60], img[0:25, 0:31]]
    crops.append(np.ascontiguousarray(face[::3, ::3].mean(axis=2).astype(np.uint8)))  # gray (h, w)
    crops.append(rng.integers(0, 256, (57, 33, 3), dtype=np.uint8))
    return crops


def _cfg(rel, opts):
    register_all_modules()
    return apply_cfg_options(Config.fromfile(osp.join(REPO_ROOT, rel)), parse_cfg_options(opts))


def _checkpoint(cfg, path, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    names = ['Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral']
    atomic_save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=names))), path)
    return str(path)


def _export(config, ckpt, out, opts):
    sys.path.insert(0, REPO_ROOT)
    from tools.deployment.pytorch2onnx import cli

    cli([osp.join(REPO_ROOT, config), ckpt, '--out', str(out), '--cfg-options', *opts])
    return str(out)


@pytest.mark.slow
@pytest.mark.parametrize(
    'config,opts', [(RAFDB, RAFDB_OPTS), (SYNTH, SYNTH_OPTS)], ids=['resize', 'no_resize']
)
def test_onnx_backend_matches_torch_backend(config, opts, tmp_path):
    ckpt = _checkpoint(_cfg(config, opts), tmp_path / 'model.pth')
    path = _export(config, ckpt, tmp_path / 'model.onnx', opts)
    torch_backend = TorchBackend(_cfg(config, opts), ckpt)
    onnx_backend = OnnxBackend(path)
    assert onnx_backend.meta['classes'] == torch_backend.meta['classes']
    assert tuple(onnx_backend.meta['input_size']) == tuple(torch_backend.meta['input_size'])
    assert onnx_backend.meta['au_names'] is None and torch_backend.meta['au_names'] is None
    crops = _crops()
    ref, got = torch_backend(crops), onnx_backend(crops)
    assert got['scores'].dtype == np.float32 and got['scores'].shape == (len(crops), 7)
    assert got['au_scores'] is None
    np.testing.assert_allclose(got['scores'], ref['scores'], atol=1e-5, rtol=0)
    assert np.abs(ref['scores'] - 1 / 7).max() > 1e-3  # not a uniform answer
    # the preprocessed crops equal the torch pipeline's input, pixel for pixel
    for crop in crops:
        packed = torch_backend.prepare(crop)
        data = torch_backend.model.data_preprocessor(dict(inputs=[packed['inputs']]), False)
        np.testing.assert_allclose(
            preprocess_crop(crop, onnx_backend.meta), data['inputs'][0].numpy(), atol=1e-5
        )
    # chunked runs and single crops give the same scores (no batch dependence)
    chunked = OnnxBackend(path, max_batch=2)(crops)['scores']
    np.testing.assert_allclose(chunked, got['scores'], atol=1e-6)
    np.testing.assert_allclose(onnx_backend(crops[2:3])['scores'][0], got['scores'][2], atol=1e-6)
    empty = onnx_backend([])
    assert empty['scores'].shape == (0, 7) and empty['au_scores'] is None


@pytest.mark.slow
def test_onnx_backend_keeps_probability_outputs(tmp_path):
    """A probability-output export (CFC-SP ensemble) is not softmaxed a second time."""
    from ferlab.deployment import export_onnx

    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(dict(type='EnsembleClassifier', members=[ENSEMBLE_MEMBER, ENSEMBLE_MEMBER])).eval()
    path = str(tmp_path / 'ens.onnx')
    meta = export_onnx(model, path, (32, 32), list('abcdefg'))
    assert meta['output_kind'] == 'probabilities'
    backend = OnnxBackend(path)
    crops = _crops()
    inputs = torch.from_numpy(np.stack([preprocess_crop(c, backend.meta) for c in crops]))
    with torch.no_grad():
        ref = torch.stack([s.pred_score for s in model(inputs, None, mode='predict')]).numpy()
    np.testing.assert_allclose(backend(crops)['scores'], ref, atol=1e-5)


def test_onnx_backend_input_errors(tmp_path):
    with pytest.raises(InputFileNotFoundError, match='missing.onnx does not exist'):
        OnnxBackend(str(tmp_path / 'missing.onnx'))
    meta = dict(
        preprocess=[dict(type='resize', size=[8, 8], interpolation='bilinear')], mean=[0] * 3, std=[1] * 3
    )
    with pytest.raises(FerlabInputError, match=r'BGR uint8 crops \(h, w, 3\), got float32'):
        preprocess_crop(np.zeros((8, 8, 3), np.float32), meta)
    with pytest.raises(FerlabInputError, match='got shape'):
        preprocess_crop(np.zeros((8, 8, 4), np.uint8), meta)
    out = preprocess_crop(np.full((5, 9, 3), (10, 20, 30), np.uint8), dict(meta, to_rgb=True))
    assert out.shape == (3, 8, 8)
    assert out[:, 0, 0].tolist() == [30.0, 20.0, 10.0]  # BGR -> RGB, mean 0, std 1


@pytest.mark.slow
def test_infer_tool_and_inferencer_with_onnx_match_the_checkpoint(tmp_path):
    """tools/infer.py and FERInferencer on an .onnx file (no config) give the checkpoint's rows."""
    import cv2

    from ferlab.apis import FERInferencer
    from ferlab.inference.writers import read_rows
    from tests.test_inference.infer_utils import CLASSES7, astronaut_bgr, coffee_bgr, write_tiny_model

    config, ckpt = write_tiny_model(tmp_path)
    onnx_path = str(tmp_path / 'tiny.onnx')
    sys.path.insert(0, REPO_ROOT)
    from tools.deployment.pytorch2onnx import cli as export_cli
    from tools.infer import cli as infer_cli

    export_cli([config, ckpt, '--out', onnx_path])
    photos = tmp_path / 'photos'
    photos.mkdir()
    a = astronaut_bgr()
    cv2.imwrite(str(photos / 'astronaut.jpg'), a)
    cv2.imwrite(str(photos / 'two.png'), np.concatenate([a, a], axis=1))
    cv2.imwrite(str(photos / 'coffee.png'), coffee_bgr())
    common = [str(photos), '--batch-size', '2', '--no-progress', '--no-plots']
    infer_cli([config, ckpt, *common, '--out-dir', str(tmp_path / 'torch')])
    infer_cli([onnx_path, *common, '--backend', 'onnxruntime', '--out-dir', str(tmp_path / 'onnx')])
    ref = read_rows(str(tmp_path / 'torch' / 'predictions.csv'))
    got = read_rows(str(tmp_path / 'onnx' / 'predictions.csv'))
    api = FERInferencer(onnx_path)(str(photos))
    assert len(ref) == len(got) == len(api) == 4  # astronaut, coffee (no face), two faces
    assert sum(r['face_found'] == '1' for r in got) == 3
    for r, g, p in zip(ref, got, api):
        for key in ('input', 'face_id', 'x', 'y', 'w', 'h', 'face_found', 'label'):
            assert r[key] == g[key], key
        if r['face_found'] == '1':
            ref_p = np.array([float(r[c]) for c in CLASSES7])
            np.testing.assert_allclose([float(g[c]) for c in CLASSES7], ref_p, atol=1e-5)
            np.testing.assert_allclose([float(p[c]) for c in CLASSES7], ref_p, atol=1e-5)
