"""configs/arbex: the paper's settings in every dataset config, the CPU pair differs only in the head,
and every config trains through tools/train.py (fake data trees, tiny overrides)."""

import os.path as osp

import pytest
from mmengine.config import Config

from tests.test_datasets.fake_formats import make_ferg, make_jaffe, make_rafdb, write_ferplus_csv
from tests.test_datasets.test_affwild2 import make_video

PAPER = {  # config stem: (classes, data-refinement group key)
    'arbex_posterv2_affwild2': (8, 'video_id'),
    'arbex_posterv2_rafdb': (7, None),
    'arbex_posterv2_ferplus': (8, None),
    'arbex_posterv2_jaffe': (7, 'subject'),
    'arbex_posterv2_ferg': (7, 'subject'),
}
CPU = ('arbex_r18-48px-cpu_synthfer', 'r18-48px-cpu_synthfer_linear')


def load(stem):
    return Config.fromfile(f'configs/arbex/{stem}.py')


@pytest.mark.parametrize('stem', sorted(PAPER))
def test_paper_settings(stem):
    classes, group = PAPER[stem]
    cfg = load(stem)
    head = cfg.model.head
    assert head.type == 'ReliabilityBalancingHead' and head.in_channels == 768 and head.num_classes == classes
    assert (head.num_anchors, head.delta, head.reduction, head.dropout) == (10, 1.0, 'paper', 0.5)
    assert (head.lambda_cls, head.lambda_anchor, head.lambda_center) == (1.0, 1.0, 1.0)
    assert cfg.model.backbone.type == 'PosterV2' and cfg.model.neck.type == 'SEGate'
    assert cfg.model.backbone.image.pretrained and cfg.model.backbone.landmark.pretrained
    assert cfg.train_dataloader.sampler == dict(
        type='DataRefinementSampler', group_key=group, num_per_group=512, num_per_class=500
    )
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=3e-4, weight_decay=0)
    assert cfg.param_scheduler == dict(type='ExponentialLR', gamma=0.995, by_epoch=True)
    assert cfg.train_cfg.max_epochs == 1000
    train = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert train == ['LoadImageFromFile', 'Resize', 'RandomCrop', 'RandomFlip', 'PackFERInputs']
    steps = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
    assert steps['Resize']['scale'] == (256, 256) and steps['RandomCrop']['size'] == 224
    assert steps['RandomFlip']['prob'] == 0.5
    test = {t['type']: t for t in cfg.test_dataloader.dataset.pipeline}
    assert test['Resize']['scale'] == (224, 224) and 'RandomCrop' not in test


def test_cpu_pair_differs_only_in_the_head():
    arbex, linear = (load(s) for s in CPU)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'optim_wrapper', 'param_scheduler',
                'train_cfg', 'randomness'):  # fmt: skip
        assert arbex[key] == linear[key], key
    assert arbex.model.backbone == linear.model.backbone and arbex.model.neck == linear.model.neck
    assert arbex.model.head.type == 'ReliabilityBalancingHead' and linear.model.head.type == 'LinearClsHead'
    assert arbex.model.head.in_channels == linear.model.head.in_channels == 256
    train = arbex.train_dataloader.dataset
    assert train.label_noise == dict(type='symmetric', rate=0.2) and train.img_size == 48
    assert 'label_noise' not in arbex.test_dataloader.dataset
    assert arbex.test_dataloader.dataset.num_samples == 2000 and arbex.test_dataloader.dataset.split == 'test'


def _tiny_loaders(opts):
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size=2', f'{loader}.num_workers=0']
    return opts


@pytest.mark.e2e
def test_cpu_configs_train_with_the_sweep_overrides(tmp_path):
    """The keys the evidence sweep sets reach the model and the data."""
    from tools.train import main

    for stem in CPU:
        opts = _tiny_loaders(['train_cfg.max_epochs=1', 'default_hooks.logger.interval=1'])
        opts += ['train_dataloader.dataset.num_samples=4', 'val_dataloader.dataset.num_samples=2',
                 'test_dataloader.dataset.num_samples=2', 'train_dataloader.dataset.label_noise.rate=0.5']  # fmt: skip
        if stem.startswith('arbex'):
            opts += ['model.head.num_anchors=2', 'model.head.lambda_anchor=100']
        work = str(tmp_path / stem)
        runner = main([f'configs/arbex/{stem}.py', '--work-dir', work, '--cfg-options', *opts])
        assert runner.iter == 2 and osp.isfile(osp.join(work, 'epoch_1.pth'))
        assert runner.train_dataloader.dataset.label_noise['rate'] == 0.5
        if stem.startswith('arbex'):
            head = runner.model.head
            assert tuple(head.anchors.shape) == (7, 2, 256) and head.lambda_anchor == 100


def _fake(stem, root):
    if stem.endswith('affwild2'):
        for split, folder in (('t', 'Train_Set'), ('v', 'Validation_Set')):
            make_video(root, f'EXPR_Set/{folder}', f'{split}0', list(range(8)), frames=range(1, 9))
    elif stem.endswith('rafdb'):
        make_rafdb(root, train=(1, 2, 3, 4, 5, 6, 7), test=(5, 6))
    elif stem.endswith('ferplus'):
        rows = []
        for c in range(8):
            votes = [0] * 10
            votes[c] = 9
            rows.append(('Training', f'fer{c}.png', votes))
        happy = [0, 9, 1, 0, 0, 0, 0, 0, 0, 0]
        write_ferplus_csv(root, rows + [('PublicTest', 'v.png', happy), ('PrivateTest', 't.png', happy)])
    elif stem.endswith('jaffe'):
        make_jaffe(root)
    elif stem.endswith('ferg'):
        make_ferg(root)
    return str(root)


@pytest.mark.e2e
@pytest.mark.parametrize('stem', sorted(PAPER) + ['arbex_r18_synthfer'])
def test_config_trains_through_train_py(tmp_path, stem):
    from tools.train import main

    opts = _tiny_loaders([
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1', 'default_hooks.checkpoint.save_best=None',
        'default_hooks.checkpoint.interval=100', 'default_hooks.checkpoint.save_last=False',
        'train_dataloader.sampler.num_per_class=1',
    ])  # fmt: skip
    if stem in PAPER:
        root = _fake(stem, tmp_path / 'data')
        # small images; the trunk at 56 px (the in-model nearest resize halves 112 px inputs as 224 -> 112)
        opts += [f'data_root={root}', 'model.backbone.input_size=56', 'model.backbone.image.pretrained=None',
                 'model.backbone.landmark.pretrained=None', 'train_dataloader.dataset.pipeline.1.scale=(128,128)',
                 'train_dataloader.dataset.pipeline.2.size=112']  # fmt: skip
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            opts.append(f'{loader}.dataset.data_root={root}')
        for loader in ('val_dataloader', 'test_dataloader'):
            opts.append(f'{loader}.dataset.pipeline.1.scale=(112,112)')
        if stem.endswith('affwild2'):
            opts.append('train_dataloader.persistent_workers=False')
        if stem.endswith('ferg'):  # 2 images per (character, expression): one of each in the test split
            opts += [
                f'{x}.dataset.test_ratio=0.5'
                for x in ('train_dataloader', 'val_dataloader', 'test_dataloader')
            ]
        if stem.endswith('jaffe'):
            opts += [
                f'{x}.dataset.num_folds=3' for x in ('train_dataloader', 'val_dataloader', 'test_dataloader')
            ]
    else:
        opts += ['train_dataloader.dataset.num_samples=14', 'val_dataloader.dataset.num_samples=2',
                 'test_dataloader.dataset.num_samples=2', 'train_dataloader.dataset.img_size=32',
                 'val_dataloader.dataset.img_size=32', 'test_dataloader.dataset.img_size=32',
                 'train_dataloader.dataset.pipeline.1.scale=(36,36)', 'train_dataloader.dataset.pipeline.2.size=32']  # fmt: skip
    classes = PAPER.get(stem, (7,))[0]
    opts.append(f'train_dataloader.batch_size={classes}')  # one batch (the MLP's BatchNorm needs >= 2)
    runner = main([f'configs/arbex/{stem}.py', '--work-dir', str(tmp_path / 'w'), '--cfg-options', *opts])
    # data refinement with M = 1: one sample per class, one batch
    assert runner.iter == 1
    assert type(runner.train_dataloader.sampler).__name__ == 'DataRefinementSampler'
    head = runner.model.head
    assert type(head).__name__ == 'ReliabilityBalancingHead' and head.num_classes == classes


@pytest.mark.e2e
def test_cpu_config_test_py_equals_a_recomputation_from_the_checkpoint(tmp_path):
    """tools/test.py (batches of 4) scores L_final; the Runner-free one-sample-at-a-time recomputation
    from the saved checkpoint gives the same scores: the checkpoint is self-contained and eval is
    batch-invariant end to end."""
    import numpy as np

    from tests.utils import read_prediction_dump, recompute_test_scores
    from tools.test import main as test_main
    from tools.train import main as train_main

    config = 'configs/arbex/arbex_r18-48px-cpu_synthfer.py'
    opts = ['train_cfg.max_epochs=1', 'train_dataloader.dataset.num_samples=8', 'train_dataloader.batch_size=4',
            'val_dataloader.dataset.num_samples=2', 'test_dataloader.dataset.num_samples=6',
            'test_dataloader.batch_size=4', 'model.head.num_anchors=3']  # fmt: skip
    work = str(tmp_path / 'w')
    train_main([config, '--work-dir', work, '--cfg-options', *opts])
    ckpt = osp.join(work, 'epoch_1.pth')
    out = str(tmp_path / 'preds.pkl')
    metrics = test_main(
        [config, ckpt, '--work-dir', str(tmp_path / 't'), '--out', out, '--cfg-options', *opts]
    )
    ref = recompute_test_scores(config, ckpt, opts)
    dump = read_prediction_dump(out)
    np.testing.assert_allclose(dump['scores'], ref['scores'], atol=1e-5)
    np.testing.assert_allclose(dump['scores'].sum(1), 1.0, atol=1e-5)
    assert float(metrics['accuracy']) == pytest.approx(ref['accuracy'], abs=1e-6)
