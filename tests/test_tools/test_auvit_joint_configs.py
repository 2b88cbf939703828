"""configs/auvit CPU SynthFER variants: joint FER+AU, FER+FER and target-only train through tools/train.py."""

import pytest
import torch
from mmengine.config import Config

from tests.utils import REPO_ROOT as REPO

CPU = {  # config: (sources, AU loss active)
    'auvit_ir18-tiny-64px-cpu_synthfer': (None, False),
    'auvit_ir18-tiny-64px-cpu_synthfer-au': (('expression',), ('au',)),
    'auvit_ir18-tiny-64px-cpu_synthfer-fer': (('expression',), ('expression',)),
}


def test_joint_configs_mix_4_to_1_with_the_baseline_model():
    base = Config.fromfile('configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer.py')
    for name in ('auvit_ir18-tiny-64px-cpu_synthfer-au', 'auvit_ir18-tiny-64px-cpu_synthfer-fer'):
        cfg = Config.fromfile(f'configs/auvit/{name}.py')
        assert cfg.model == base.model and cfg.optim_wrapper == base.optim_wrapper
        assert cfg.val_dataloader == base.val_dataloader and cfg.test_dataloader == base.test_dataloader
        loader = cfg.train_dataloader
        assert (
            loader.batch_sampler == dict(type='RatioBatchSampler', ratios=(4, 1)) and loader.batch_size == 40
        )
        target, aux = loader.dataset.sources
        assert (target.dataset.domain, aux.dataset.domain) == ('default', 'alt_convention')
        assert target.dataset == dict(base.train_dataloader.dataset, pipeline=target.dataset.pipeline)
        assert aux.labels == CPU[name][1]


@pytest.mark.e2e
@pytest.mark.parametrize('name', list(CPU))
def test_cpu_config_trains_through_train_py(tmp_path, name):
    from tools.train import main

    sources, au = CPU[name]
    opts = [
        'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=100',
        'default_hooks.checkpoint.save_last=False',
        'val_dataloader.batch_size=2',
        'val_dataloader.dataset.num_samples=2',
        'test_dataloader.dataset.num_samples=2',
    ]
    if sources is None:
        opts += ['train_dataloader.batch_size=2', 'train_dataloader.dataset.num_samples=4']
    else:  # 4 + 1 per batch, 8 target images: 2 iterations
        opts += [
            'train_dataloader.batch_size=5',
            'train_dataloader.dataset.sources.0.dataset.num_samples=8',
            'train_dataloader.dataset.sources.1.dataset.num_samples=3',
        ]
    runner = main([f'configs/auvit/{name}.py', '--work-dir', str(tmp_path / 'work'), '--cfg-options', *opts])
    assert runner.iter == 2
    assert type(runner.model).__name__ == 'JointFERAUClassifier'
    assert type(runner.model.backbone).__name__ == 'IRViTAU'
    hub = runner.message_hub
    assert hub.get_scalar('train/loss_fer').current() > 0
    loss_au = hub.get_scalar('train/loss_au').current()
    assert (loss_au > 0) if au == ('au',) else (loss_au == 0)
    if sources is not None:
        assert runner.train_dataloader.batch_sampler.counts == (4, 1)
        assert runner.train_dataloader.dataset.source_sizes[0] == 8
        if au == ('expression',):  # FERPlus classes mapped by name: Contempt dropped
            ds = runner.train_dataloader.dataset
            assert (ds.get_gt_labels() >= 0).all() and ds.au_names is None


def _write_rafau(root):
    from tests.test_datasets.fake_formats import write_image, write_text

    write_text(f'{root}/RAFAU_label.txt', ['0001.jpg 1+2+L12', '0002.jpg null', '0003.jpg 4+R25+27'])
    for k in range(1, 4):
        write_image(f'{root}/aligned/{k:04d}_aligned.jpg', size=24, seed=k)
    return root


@pytest.mark.parametrize(
    'name, ratios',
    [('joint_rafdb-rafau', (4, 1)), ('joint_ferplus-rafau', (4, 1)), ('joint_affectnet7-rafau', (3, 1))],
)
def test_real_joint_dataset_configs_serve_ratio_batches(tmp_path, name, ratios):
    from mmengine.runner import Runner

    from ferlab.utils import register_all_modules
    from tests.test_datasets.fake_formats import make_rafdb, write_affectnet_csv, write_ferplus_csv

    register_all_modules()
    cfg = Config.fromfile(f'configs/_base_/datasets/{name}.py')
    rafau = _write_rafau(str(tmp_path / 'rafau'))
    target = cfg.train_dataloader.dataset.sources[0].dataset
    n = 2 * ratios[0]
    if target.type == 'RAFDB':
        target.data_root = make_rafdb(str(tmp_path / 'rafdb'), train=(1, 2, 3, 4, 5, 6, 7, 1), test=(1,))
    elif target.type == 'FERPlus':
        happy = [0, 9, 1, 0, 0, 0, 0, 0, 0, 0]
        write_ferplus_csv(str(tmp_path / 'fp'), [('Training', f'f{i}.png', happy) for i in range(n)])
        target.data_root = str(tmp_path / 'fp')
    else:
        write_affectnet_csv(str(tmp_path / 'an'), 'training.csv', [(f'1/{i}.jpg', i % 7) for i in range(n)])
        target.data_root = str(tmp_path / 'an')
    cfg.train_dataloader.dataset.sources[1].dataset.data_root = rafau
    loader_cfg = dict(cfg.train_dataloader, batch_size=sum(ratios), num_workers=0)
    loader_cfg.pop('persistent_workers', None)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    batches = list(loader)
    assert len(batches) == n // ratios[0] == 2
    for b in batches:
        samples = b['data_samples']
        assert [s.source for s in samples] == [0] * ratios[0] + [1] * ratios[1]
        assert all(s.gt_label.item() >= 0 for s in samples[: ratios[0]])
        assert all(s.gt_label.item() == -1 for s in samples[ratios[0] :])
        assert all(s.gt_au_mask.sum() == 0 for s in samples[: ratios[0]])
        assert all(torch.equal(s.gt_au_mask, torch.ones(21)) for s in samples[ratios[0] :])
        assert tuple(b['inputs'][0].shape) == (3, 112, 112)


@pytest.mark.e2e
@pytest.mark.parametrize(
    'opts, message',
    [
        (['train_dataloader.batch_size=6'],
         'RatioBatchSampler: batch_size 6 is not divisible by the ratio sum 5 of (4, 1); use a multiple of 5 '
         '(exact counts per batch)'),
        (['train_dataloader.dataset.sources.1.labels=(emotion,)'],
         "MultiSourceDataset source 1: labels must be a non-empty subset of ('expression', 'au'), got ('emotion',)"),
    ],
)  # fmt: skip
def test_bad_joint_settings_end_in_one_line(tmp_path, opts, message):
    from tests.test_tools.test_cli_errors import _one_error_line, _run

    config = 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer-au.py'
    sizes = ['train_dataloader.dataset.sources.0.dataset.num_samples=8',
             'train_dataloader.dataset.sources.1.dataset.num_samples=3']  # fmt: skip
    proc = _run('tools/train.py', config, '--work-dir', tmp_path / 'w', '--cfg-options', *sizes, *opts,
                cwd=REPO)  # fmt: skip
    assert _one_error_line(proc, 'tools/train.py') == message
