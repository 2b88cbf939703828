"""AU probability columns come from a model's AU output; wrapped test datasets keep their pipeline.

Oracles: for the AU columns, ``sigmoid(model(x, mode='tensor')[1])`` on an input ``x`` prepared
here by hand from the crop (cv2 resize, BGR->RGB, ``(x - mean) / std`` of the config's data
preprocessor); for wrapped test datasets, the same config with its test split unwrapped.
"""

from __future__ import annotations

import copy
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from ferlab.apis import FERInferencer
from ferlab.inference import TorchBackend
from ferlab.inference.writers import read_rows
from ferlab.registry import MODELS
from ferlab.utils import apply_cfg_options, atomic_save, register_all_modules
from tests.test_inference.infer_utils import CLASSES7, astronaut_bgr, write_tiny_model
from tests.utils import REPO_ROOT, parse_cfg_options

AUVIT = 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer-au.py'
# the CPU AU-ViT (RAF-AU's 21 AUs) at 32 px instead of 64 for speed
AUVIT_OPTS = [
    'img_size=32',
    'model.backbone.input_size=32',
    'test_dataloader.dataset.img_size=32',
]


def _crops() -> list[np.ndarray]:
    """Astronaut face crops (BGR uint8) below, at and above 32 px."""
    img = astronaut_bgr()
    face = img[30:230, 150:320]
    return [np.ascontiguousarray(c) for c in (face, face[::6, ::6], face[40:72, 50:82], face[10:30, 20:45])]


def _wrappers(inner: dict) -> dict[str, dict]:
    """The test dataset ``inner`` inside each kind of wrapper the inferencer must see through."""
    return dict(
        condition_subset=dict(type='ConditionSubset', dataset=inner, list_file='occlusion_list.txt'),
        openface_aus=dict(type='OpenFaceAUs', dataset=inner, csv_root='openface'),
        multi_source=dict(
            type='MultiSourceDataset', sources=[dict(dataset=inner, labels=('expression',))], au_names='rafau'
        ),
        repeat=dict(type='RepeatDataset', dataset=inner, times=2),
        concat=dict(type='ConcatDataset', datasets=[inner, dict(inner)]),
        nested=dict(
            type='MultiSourceDataset',
            sources=[dict(dataset=dict(type='OpenFaceAUs', dataset=inner, csv_root='openface'))],
        ),
    )


def _auvit_cfg(opts=()) -> Config:
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO_ROOT, AUVIT))
    return apply_cfg_options(cfg, parse_cfg_options([*AUVIT_OPTS, *opts]))


def _auvit_checkpoint(cfg: Config, path: str, seed: int = 0) -> str:
    """Random AU-ViT weights (AU-branch and expression head drawn wide so the outputs vary)."""
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith('head.') or 'au_branch' in name:
                p.normal_(0, 0.3)
    meta = dict(dataset_meta=dict(classes=CLASSES7))
    atomic_save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path


def _hand_input(crop: np.ndarray, size: int, mean, std) -> torch.Tensor:
    """The model input of one crop, by hand: INTER_AREA/LINEAR to size, BGR->RGB, normalise."""
    inter = cv2.INTER_AREA if max(crop.shape[:2]) > size else cv2.INTER_LINEAR
    img = crop if crop.shape[:2] == (size, size) else cv2.resize(crop, (size, size), interpolation=inter)
    x = (img[..., ::-1].astype(np.float32) - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def _oracle(cfg: Config, ckpt: str, crops) -> tuple[np.ndarray, np.ndarray]:
    """``(softmax(expr_logits), sigmoid(au_logits))`` of ``model(x, mode='tensor')`` on hand-made inputs."""
    register_all_modules()
    model = MODELS.build(cfg.model)
    state = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    model.load_state_dict(state)
    model.eval()
    dp = cfg.model.data_preprocessor
    x = torch.stack([_hand_input(c, 32, dp.mean[0], dp.std[0]) for c in crops])
    with torch.no_grad():
        expr, au = model(x, mode='tensor')
    return expr.softmax(1).numpy(), torch.sigmoid(au).numpy()


@pytest.fixture(scope='module')
def auvit(tmp_path_factory):
    d = tmp_path_factory.mktemp('auvit')
    cfg = _auvit_cfg()
    cfg_path = str(d / 'auvit32.py')
    cfg.dump(cfg_path)
    return cfg_path, _auvit_checkpoint(cfg, str(d / 'auvit32.pth'))


@pytest.fixture(scope='module')
def crop_files(tmp_path_factory):
    d = tmp_path_factory.mktemp('crops')
    paths = []
    for i, c in enumerate(_crops()):
        paths.append(str(d / f'crop{i}.png'))
        cv2.imwrite(paths[-1], c)
    return paths


# ----------------------------------------------------------------------------- wrapped test datasets
def test_the_innermost_dataset_holds_the_pipeline_through_every_wrapper():
    from ferlab.inference.backends import config_test_pipeline, dataset_chain, model_input_size

    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(24, 20)),
        dict(type='PackFERInputs'),
    ]
    inner = dict(type='RAFDB', data_root='data/RAF-DB', pipeline=pipeline)
    for name, wrapped in _wrappers(inner).items():
        cfg = Config(dict(test_dataloader=dict(dataset=wrapped)))
        assert dataset_chain(cfg.test_dataloader.dataset)[-1]['type'] == 'RAFDB', name
        assert config_test_pipeline(cfg) == pipeline, name
        assert model_input_size(cfg) == (20, 24), name
    # SynthFER's pipeline has no Resize: the inner dataset's img_size, not the top level's
    synth = dict(type='SynthFER', img_size=40, pipeline=[dict(type='PackFERInputs')])
    cfg = Config(dict(img_size=112, test_dataloader=dict(dataset=_wrappers(synth)['condition_subset'])))
    assert model_input_size(cfg) == (40, 40)


@pytest.mark.parametrize('wrapper', ['condition_subset', 'multi_source', 'nested'])
def test_wrapped_test_split_scores_as_the_unwrapped_config(tmp_path, wrapper):
    cfg_path, ckpt = write_tiny_model(tmp_path)  # a Resize(32) pipeline, RAF-DB classes
    cfg = Config.fromfile(cfg_path)
    plain = TorchBackend(cfg, ckpt)
    wrapped_cfg = copy.deepcopy(cfg)
    wrapped_cfg.test_dataloader.dataset = _wrappers(cfg.test_dataloader.dataset.to_dict())[wrapper]
    wrapped = TorchBackend(wrapped_cfg, ckpt)
    assert wrapped.meta == plain.meta
    crops = _crops()
    np.testing.assert_array_equal(wrapped(crops)['scores'], plain(crops)['scores'])


def test_wrapped_auvit_test_split_scores_as_the_unwrapped_config(auvit):
    """AU-ViT's SynthFER test split (no Resize: img_size of the inner dataset) inside a MultiSourceDataset."""
    cfg = Config.fromfile(auvit[0])
    wrapped_cfg = copy.deepcopy(cfg)
    wrapped_cfg.test_dataloader.dataset = _wrappers(cfg.test_dataloader.dataset.to_dict())['multi_source']
    wrapped_cfg.img_size = 64  # must not be used: the inner dataset says 32
    plain, wrapped = TorchBackend(cfg, auvit[1]), TorchBackend(wrapped_cfg, auvit[1])
    assert wrapped.meta == plain.meta and wrapped.meta['input_size'] == (32, 32)
    a, b = plain(_crops()), wrapped(_crops())
    np.testing.assert_array_equal(a['scores'], b['scores'])
    np.testing.assert_array_equal(a['au_scores'], b['au_scores'])


# ----------------------------------------------------------------------------- AU columns
def test_auvit_au_columns_are_the_sigmoid_of_its_au_logits(auvit, crop_files, tmp_path):
    cfg_path, ckpt = auvit
    cfg = Config.fromfile(cfg_path)
    register_all_modules()
    au_names = list(MODELS.build(cfg.model).backbone.au_branch.au_names)
    assert len(au_names) == 21 and au_names[0] == 'AU1'  # RAF-AU's 21 AUs, the config's au_names
    inf = FERInferencer(cfg_path, ckpt, detector='whole', batch_size=3)
    rows = inf(crop_files, out_dir=str(tmp_path / 'api'))
    assert inf.fields[inf.fields.index('label') + 1 : -1] == au_names
    want_scores, want_aus = _oracle(cfg, ckpt, [cv2.imread(p) for p in crop_files])
    got_aus = np.array([[r[a] for a in au_names] for r in rows])
    np.testing.assert_allclose(got_aus, want_aus, atol=1e-5)
    np.testing.assert_allclose(np.array([[r[c] for c in CLASSES7] for r in rows]), want_scores, atol=1e-5)
    assert want_aus.std() > 0.05  # the columns differ between AUs and crops
    # tools/infer.py writes the same CSV (same batch size: float32 sums move by ~6e-7 across batch sizes)
    sys.path.insert(0, REPO_ROOT)
    from tools.infer import cli

    cli(
        [
            cfg_path,
            ckpt,
            *crop_files,
            '--detector',
            'whole',
            '--out-dir',
            str(tmp_path / 'cli'),
            '--no-progress',
            '--batch-size',
            '3',
        ]
    )
    with (
        open(tmp_path / 'cli' / 'predictions.csv', 'rb') as f,
        open(tmp_path / 'api' / 'predictions.csv', 'rb') as g,
    ):
        assert f.read() == g.read()
    csv_aus = np.array(
        [[float(r[a]) for a in au_names] for r in read_rows(str(tmp_path / 'cli' / 'predictions.csv'))]
    )
    np.testing.assert_allclose(csv_aus, want_aus, atol=1e-5)


def test_plain_classifier_on_au_labelled_data_gets_no_au_columns(tmp_path, crop_files):
    cfg_path, _ = write_tiny_model(tmp_path)
    register_all_modules()
    model = MODELS.build(Config.fromfile(cfg_path).model)
    ckpt = str(tmp_path / 'trained_on_openface_aus.pth')
    meta = dict(dataset_meta=dict(classes=CLASSES7, au_names=['AU1', 'AU2', 'AU4']))  # as OpenFaceAUs carries
    atomic_save(dict(state_dict=model.state_dict(), meta=meta), ckpt)
    assert TorchBackend(cfg_path, ckpt).meta['au_names'] is None
    inf = FERInferencer(cfg_path, ckpt, detector='whole')
    inf(crop_files, out_dir=str(tmp_path / 'o'))
    assert not any(f.startswith('AU') for f in inf.fields)
    with open(tmp_path / 'o' / 'predictions.csv', encoding='utf-8') as f:
        assert 'AU1' not in f.readline()


def test_auvit_without_its_au_output_gets_no_au_columns(tmp_path):
    """``JointFERAUClassifier(with_au=False)``: the Table I baseline, an expression output only."""
    cfg = _auvit_cfg(['model.with_au=False'])
    cfg.model.neck = dict(type='GlobalAveragePooling')
    cfg.model.backbone = dict(type='IResNet', depth=18, num_stages=2, out_indices=(1,), input_size=32)
    cfg.model.head.in_channels = 128
    backend = TorchBackend(cfg)
    assert backend.meta['au_names'] is None and backend(_crops())['au_scores'] is None


# ----------------------------------------------------------------------------- ONNX
@pytest.mark.slow
def test_auvit_onnx_export_gives_the_same_au_columns(auvit, crop_files, tmp_path):
    pytest.importorskip('onnxruntime', reason='the deploy extra (onnxruntime) is not installed')
    from ferlab.apis import init_model
    from ferlab.deployment.onnx import onnx_parity, read_onnx_meta
    from ferlab.inference.onnx_backend import OnnxBackend

    cfg_path, ckpt = auvit
    sys.path.insert(0, REPO_ROOT)
    from tools.deployment.pytorch2onnx import main as export

    out = str(tmp_path / 'auvit.onnx')
    meta = export([cfg_path, ckpt, '--out', out])
    assert max(meta['parity'].values()) <= 1e-4  # class and AU logits, batch 1 and 3
    model = init_model(cfg_path, ckpt)
    parity = onnx_parity(model, out, (1, 3, 8))  # max |d| over both outputs
    print('AU-ViT onnx parity', parity)
    assert max(parity.values()) <= 1e-4
    torch_backend = TorchBackend(cfg_path, ckpt)
    au_names = torch_backend.meta['au_names']
    assert read_onnx_meta(out)['au_names'] == au_names and meta['au_output'] == 'au_logits'
    onnx_backend = OnnxBackend(out)
    assert onnx_backend.meta['au_names'] == au_names
    crops = _crops()
    for n in (1, 3, len(crops)):
        a, b = torch_backend(crops[:n]), onnx_backend(crops[:n])
        np.testing.assert_allclose(b['au_scores'], a['au_scores'], atol=1e-5)
        np.testing.assert_allclose(b['scores'], a['scores'], atol=1e-5)
    _, want_aus = _oracle(Config.fromfile(cfg_path), ckpt, [cv2.imread(p) for p in crop_files])
    rows = FERInferencer(out, detector='whole')(crop_files)
    np.testing.assert_allclose(np.array([[r[a] for a in au_names] for r in rows]), want_aus, atol=1e-5)
