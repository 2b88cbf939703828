"""The SynthFER quick-start configs train and test end to end through the tools (tiny settings)."""

import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.utils import read_prediction_dump, recompute_test_scores, write_forced_class_checkpoint


def _tiny(n_train=32, n_eval=14, size=32):
    opts = [f'{d}.dataset.img_size={size}' for d in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    opts += [f'train_dataloader.dataset.num_samples={n_train}', f'val_dataloader.dataset.num_samples={n_eval}',
             f'test_dataloader.dataset.num_samples={n_eval}', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
             'train_dataloader.batch_size=8', 'val_dataloader.batch_size=8', 'test_dataloader.batch_size=8',
             'default_hooks.checkpoint.interval=1']  # fmt: skip
    return opts


@pytest.mark.e2e
def test_quickstart_trains_then_tests(tmp_path, repo_root):
    from tools.test import main as test_main
    from tools.train import main as train_main

    torch.set_num_threads(1)
    config = osp.join(repo_root, 'configs', 'quickstart', 'resnet18_synthfer.py')
    opts = _tiny()
    runner = train_main([config, '--work-dir', str(tmp_path / 'train'), '--cfg-options', *opts])
    ds = runner.train_dataloader.dataset
    assert type(ds).__name__ == 'SynthFER' and len(ds) == 32 and ds.generator.img_size == 32
    ckpt = osp.join(str(tmp_path / 'train'), 'epoch_1.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'preds.pkl')
    metrics = test_main(
        [config, ckpt, '--work-dir', str(tmp_path / 'test'), '--out', out, '--cfg-options', *opts]
    )
    ref = recompute_test_scores(config, ckpt, opts)  # the checkpoint on the test split, without the Runner
    dump = read_prediction_dump(out)
    assert dump['idx'].tolist() == list(range(14)) and dump['gt'].tolist() == ref['gt'].tolist()
    np.testing.assert_allclose(dump['scores'], ref['scores'], atol=1e-5)
    assert float(metrics['accuracy']) == pytest.approx(ref['accuracy'], abs=1e-6)
    # a copy that always answers class c scores c's share of the test labels (by hand); c is
    # chosen so that this differs from the trained checkpoint's accuracy
    counts = np.bincount(ref['gt'], minlength=7)
    cls = next(c for c in range(7) if abs(100.0 * counts[c] / 14 - ref['accuracy']) > 1e-6)
    forced = write_forced_class_checkpoint(ckpt, tmp_path / 'forced.pth', cls)
    forced_metrics = test_main(
        [config, forced, '--work-dir', str(tmp_path / 'forced'), '--cfg-options', *opts]
    )
    assert float(forced_metrics['accuracy']) == pytest.approx(100.0 * counts[cls] / 14)
    with open(osp.join(str(tmp_path / 'test'), 'metrics.json')) as f:
        assert json.load(f)['accuracy'] == metrics['accuracy']
    with open(osp.join(str(tmp_path / 'test'), 'confusion_matrix.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


@pytest.mark.parametrize('name', ['resnet18_synthfer.py', 'resnet18_synthfer_noisy.py'])
def test_quickstart_configs_parse(repo_root, name):
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'quickstart', name))
    train = cfg.train_dataloader.dataset
    assert cfg.test_dataloader.dataset.split == 'test' and 'label_noise' not in cfg.test_dataloader.dataset
    assert ('label_noise' in train) == ('noisy' in name)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.update(num_samples=4, img_size=24)
    from ferlab.registry import DATASETS

    ds = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(ds) == 4 and tuple(ds[0]['inputs'].shape) == (3, 24, 24)
    assert len(ds.metainfo['classes']) == cfg.model.head.num_classes
