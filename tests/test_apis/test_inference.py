"""``ferlab.apis.init_model`` + ``inference_model`` on checkpoints written by ``tools/train.py``.

The oracle is :func:`tests.utils.recompute_test_scores`: the checkpoint's state dict loaded with
``load_state_dict(strict=True)`` into a registry-built model and run over the dataset's test
samples one by one, without the API or the Runner.
"""

import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from ferlab.apis import inference_model, init_model
from ferlab.datasets import RAFDB_CLASSES
from ferlab.registry import MODELS
from ferlab.utils import apply_cfg_options, atomic_save
from tests.utils import (
    REPO_ROOT,
    make_fake_rafdb,
    parse_cfg_options,
    recompute_test_scores,
    tiny_train_options,
)

CONFIG = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
DAN_CONFIG = osp.join(REPO_ROOT, 'configs/dan/dan_r18_rafdb.py')


def _cfg(config, opts):
    return apply_cfg_options(Config.fromfile(config), parse_cfg_options(opts))


def _scores(samples):
    return np.stack([s.pred_score.double().numpy() for s in samples])


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    from tools.train import main

    root = tmp_path_factory.mktemp('apis')
    data_root = make_fake_rafdb(root / 'data', n_train=8, n_test=7, size=32)
    opts = tiny_train_options(data_root, max_epochs=2, batch_size=4)
    main([CONFIG, '--work-dir', str(root / 'work'), '--no-validate', '--cfg-options', *opts])
    return dict(opts=opts, ckpts=[str(root / 'work' / f'epoch_{e}.pth') for e in (1, 2)])


@pytest.mark.e2e
def test_inference_matches_recomputation_from_the_checkpoint(trained):
    opts, (ckpt1, ckpt2) = trained['opts'], trained['ckpts']
    ref = recompute_test_scores(CONFIG, ckpt2, opts)
    model = init_model(_cfg(CONFIG, opts), ckpt2)
    assert not model.training
    assert tuple(model.dataset_meta['classes']) == RAFDB_CLASSES  # recorded in the checkpoint
    preds = inference_model(model, ref['img_paths'])
    assert len(preds) == 7
    np.testing.assert_allclose(_scores(preds), ref['scores'], atol=1e-5)
    assert [int(s.pred_label) for s in preds] == ref['scores'].argmax(1).tolist()
    # BGR arrays and a single path go through the same test pipeline
    arrays = inference_model(model, [cv2.imread(p) for p in ref['img_paths'][:2]])
    np.testing.assert_allclose(_scores(arrays), ref['scores'][:2], atol=1e-5)
    one = inference_model(model, ref['img_paths'][3])
    assert len(one) == 1
    np.testing.assert_allclose(_scores(one)[0], ref['scores'][3], atol=1e-5)

    # another checkpoint, and no checkpoint, give other predictions
    ref1 = recompute_test_scores(CONFIG, ckpt1, opts)
    assert np.abs(ref1['scores'] - ref['scores']).max() > 1e-4
    np.testing.assert_allclose(
        _scores(inference_model(init_model(_cfg(CONFIG, opts), ckpt1), ref['img_paths'])),
        ref1['scores'],
        atol=1e-5,
    )
    torch.manual_seed(0)
    fresh = _scores(inference_model(init_model(_cfg(CONFIG, opts)), ref['img_paths']))
    assert np.abs(fresh - ref['scores']).max() > 1e-4


@pytest.mark.e2e
def test_wrapped_test_split_uses_the_inner_pipeline(trained):
    """A test split wrapped by a dataset wrapper keeps its pipeline one level down."""
    opts, ckpt = trained['opts'], trained['ckpts'][1]
    ref = recompute_test_scores(CONFIG, ckpt, opts)
    cfg = _cfg(CONFIG, opts)
    cfg.test_dataloader.dataset = dict(type='RepeatDataset', times=1, dataset=cfg.test_dataloader.dataset)
    preds = inference_model(init_model(cfg, ckpt), ref['img_paths'])
    np.testing.assert_allclose(_scores(preds), ref['scores'], atol=1e-5)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'checkpoint file .*nope\.pth does not exist'):
        init_model(CONFIG, str(tmp_path / 'nope.pth'))


def _tiny_cfg(config, **head):
    """The config's model on a one-stage ResNet-18 trunk (64 channels): same structure, ~1 % of the weights."""
    cfg = Config.fromfile(config)
    cfg.model.backbone = dict(type='ResNet', depth=18, num_stages=1, out_indices=(0,))
    if cfg.model.get('neck', {}).get('in_channels'):
        cfg.model.neck.in_channels = 64
    cfg.model.head.update(in_channels=64, **head)
    return cfg


def test_checkpoint_of_another_model_is_refused(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(_tiny_cfg(CONFIG).model)
    state = model.state_dict()
    path = str(tmp_path / 'r18.pth')
    atomic_save(dict(state_dict=state), path)
    # shape mismatch: a 4-class head
    with pytest.raises(RuntimeError, match='r18.pth does not match the model of the config.*head.fc'):
        init_model(_tiny_cfg(CONFIG, num_classes=4), path)
    # a weight missing from the file, a foreign one in it
    partial = {k: v for k, v in state.items() if k != 'backbone.layer1.0.conv1.weight'}
    atomic_save(dict(state_dict=partial), str(tmp_path / 'partial.pth'))
    with pytest.raises(RuntimeError, match=r"1 missing keys \['backbone.layer1.0.conv1.weight'\]"):
        init_model(_tiny_cfg(CONFIG), str(tmp_path / 'partial.pth'))
    atomic_save(dict(state_dict=dict(state, extra=torch.zeros(1))), str(tmp_path / 'extra.pth'))
    with pytest.raises(RuntimeError, match=r"1 unexpected keys \['extra'\]"):
        init_model(_tiny_cfg(CONFIG), str(tmp_path / 'extra.pth'))
    # strict=False loads what matches
    loose = init_model(_tiny_cfg(CONFIG), str(tmp_path / 'partial.pth'), strict=False)
    torch.testing.assert_close(loose.head.fc.weight, state['head.fc.weight'])


def test_training_criteria_state_may_be_absent(tmp_path):
    """DAN's affinity-loss centres are training state: checkpoints converted from public DAN lack them."""
    torch.manual_seed(0)
    model = MODELS.build(_tiny_cfg(DAN_CONFIG).model)
    state = model.state_dict()
    assert 'head.affinity_loss.centers' in state
    path = str(tmp_path / 'dan.pth')
    atomic_save(dict(state_dict={k: v for k, v in state.items() if k != 'head.affinity_loss.centers'}), path)
    loaded = init_model(_tiny_cfg(DAN_CONFIG), path)
    torch.testing.assert_close(loaded.head.fc.weight, state['head.fc.weight'])
    atomic_save(dict(state_dict={k: v for k, v in state.items() if k != 'head.fc.bias'}), path)
    with pytest.raises(RuntimeError, match=r"missing keys \['head.fc.bias'\]"):
        init_model(_tiny_cfg(DAN_CONFIG), path)
