"""Landmark configs train through tools/train.py; tools/test.py's NME equals a checkpoint recomputation;
poster_sweeps.py runs, records and resumes."""

import json
import os.path as osp

import numpy as np
import pytest

from tests.utils import parse_cfg_options

pytestmark = pytest.mark.e2e


def _nme_from_checkpoint(config, ckpt, opts):
    """Runner-free: registry model + strict state dict, one sample at a time, NME in numpy."""
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from ferlab.registry import DATASETS, MODELS
    from ferlab.utils import apply_cfg_options, safe_torch_load

    cfg = apply_cfg_options(Config.fromfile(config), parse_cfg_options(opts))
    model = MODELS.build(cfg.model)
    model.load_state_dict(safe_torch_load(ckpt)['state_dict'], strict=True)
    model.eval()
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    errs = []
    with torch.no_grad():
        for i in range(len(ds)):
            item = ds[i]
            batch = model.data_preprocessor(pseudo_collate([item]), False)
            x = batch['inputs']
            pred = model(x, mode='tensor')[0].numpy().reshape(68, 2) * [x.shape[-1], x.shape[-2]]
            gt = item['data_samples'].gt_landmarks.numpy()
            errs.append(np.linalg.norm(pred - gt, axis=1).mean() / np.linalg.norm(gt[36] - gt[45]))
    return 100 * float(np.mean(errs))


def _run(tmp_path, config, opts):
    from tools.test import main as test_main
    from tools.train import main as train_main

    work = str(tmp_path / 'work')
    runner = train_main([config, '--work-dir', work, '--cfg-options', *opts])
    ckpt = osp.join(work, 'epoch_1.pth')
    metrics = test_main([config, ckpt, '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts])
    return runner, ckpt, metrics


def test_synthfer_landmark_config_trains_and_tests(tmp_path):
    config = 'configs/poster/mobilefacenet_landmarks_synthfer.py'
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=4', 'train_dataloader.dataset.num_samples=8',
            'val_dataloader.dataset.num_samples=4', 'test_dataloader.dataset.num_samples=6',
            'test_dataloader.batch_size=4', 'default_hooks.checkpoint.interval=1']  # fmt: skip
    runner, ckpt, metrics = _run(tmp_path, config, opts)
    assert runner.iter == 2
    assert type(runner.model).__name__ == 'LandmarkRegressor'
    assert float(metrics['nme']) == pytest.approx(_nme_from_checkpoint(config, ckpt, opts), rel=1e-4)


def test_affectnet_landmark_config_trains_on_an_exported_csv(tmp_path):
    from tools.dataset_converters.make_synthfer import export_affectnet

    root = tmp_path / 'affectnet'
    export_affectnet(str(root), num_train=6, num_val=4, seed=0)
    config = 'configs/poster/mobilefacenet_landmarks_affectnet.py'
    opts = [f'data_root={root}', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.save_best=None']  # fmt: skip
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size=3', f'{loader}.num_workers=0', f'{loader}.persistent_workers=False',
                 f'{loader}.dataset.data_root={root}']  # fmt: skip
    runner, ckpt, metrics = _run(tmp_path, config, opts)
    assert runner.iter == 2  # 6 training faces (codes 8/10 dropped), batch 3
    assert float(metrics['nme']) == pytest.approx(_nme_from_checkpoint(config, ckpt, opts), rel=1e-4)


@pytest.mark.slow
def test_poster_sweeps_runs_and_resumes(tmp_path):
    from tools.analysis_tools.poster_sweeps import main

    out = str(tmp_path / 'sweep')
    lm = ['train_dataloader.dataset.num_samples=4', 'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1',
          'test_dataloader.dataset.num_samples=4', 'default_hooks.checkpoint.interval=1']  # fmt: skip
    poster = ['train_dataloader.dataset.num_samples=4', 'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1',
              'test_dataloader.dataset.num_samples=5', 'test_dataloader.batch_size=5']  # fmt: skip
    argv = ['--out', out, '--seeds', '0', '--variants', 'landmark', 'resnet18', '--cfg-options', *poster,
            '--landmark-cfg-options', *lm]  # fmt: skip
    runs = main(argv)
    assert [(r['variant'], r['seed']) for r in runs] == [('landmark', 0), ('resnet18', 0)]
    state = json.load(open(osp.join(out, 'results.json')))
    assert 'nme' in state['landmark']['metrics']
    # the landmark run's checkpoint is the POSTER++ run's landmark stream
    assert (
        f'model.backbone.landmark.pretrained={state["landmark"]["checkpoint"]}'
        in runs[0]['settings']['options']
    )
    from tests.utils import recompute_test_scores
    from tools.analysis_tools.poster_sweeps import CONFIGS

    for r in runs:
        # the recorded accuracy is the checkpoint's, recomputed without the Runner, one sample at a time
        again = recompute_test_scores(CONFIGS[r['variant']], r['checkpoint'], r['settings']['options'])
        assert r['accuracy'] == pytest.approx(again['accuracy'], abs=1e-6)
        assert r['metrics']['accuracy'] == r['accuracy']
        assert r['commands']['train'].startswith('python tools/train.py configs/poster/')
    # resume: nothing retrained, same records
    mtime = osp.getmtime(runs[0]['checkpoint'])
    again = main(argv)
    assert [r['accuracy'] for r in again] == [r['accuracy'] for r in runs]
    assert osp.getmtime(runs[0]['checkpoint']) == mtime
