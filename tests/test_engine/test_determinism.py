"""``randomness=dict(seed=..., deterministic=True)`` makes training bit-reproducible.

Augmentations are a function of ``(seed, epoch, sample)`` (``EpochSeedHook`` +
``BaseFERDataset.set_aug_seed``): the same for any ``num_workers``, fresh in every epoch.
"""

from __future__ import annotations

import itertools
import os

import pytest
import torch
from mmengine.hooks import Hook

from ferlab.registry import HOOKS
from ferlab.utils import safe_torch_load
from tests.utils import REPO_ROOT, make_fake_rafdb, tiny_train_options

CONFIG = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
_RUN_IDS = itertools.count()


@pytest.fixture(autouse=True)
def _restore_global_determinism():
    """deterministic=True flips process-wide torch flags: put them back for other tests."""
    algos = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    rng = torch.get_rng_state()
    yield
    torch.use_deterministic_algorithms(algos, warn_only=warn_only)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
    torch.set_rng_state(rng)


def _train_weights(tmp_path, data_root, name, seed):
    from tools.train import main

    work_dir = tmp_path / name
    opts = tiny_train_options(data_root, max_epochs=1, batch_size=4)
    # Shuffled sampler + RandomFlip (both in the config) make the seed matter.
    opts += [
        f'randomness.seed={seed}',
        'randomness.deterministic=True',
        f'experiment_name=det_{next(_RUN_IDS)}',
    ]
    main([CONFIG, '--work-dir', str(work_dir), '--no-validate', '--cfg-options', *opts])
    return safe_torch_load(work_dir / 'epoch_1.pth')


@pytest.mark.e2e
def test_same_seed_gives_bit_identical_weights(tmp_path):
    data_root = make_fake_rafdb(tmp_path / 'data', n_train=12, n_test=2, size=32)
    a = _train_weights(tmp_path, data_root, 'a', seed=123)
    b = _train_weights(tmp_path, data_root, 'b', seed=123)
    c = _train_weights(tmp_path, data_root, 'c', seed=7)
    assert a['meta']['seed'] == b['meta']['seed'] == 123
    assert set(a['state_dict']) == set(b['state_dict'])
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), f'{key} differs between two seed-123 runs'
    for group_a, group_b in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        assert torch.equal(group_a['momentum_buffer'], group_b['momentum_buffer'])
    # Control: another seed gives other weights, so the comparison above can fail.
    assert any(not torch.equal(v, c['state_dict'][k]) for k, v in a['state_dict'].items())


AUGMENTED: dict = {}
FLIPS: dict = {}


class AugmentationProbeHook(Hook):
    """Records the augmented input of every (epoch, sample index) the training loop sees."""

    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        seen = AUGMENTED.setdefault(runner.work_dir, {})
        for img, sample in zip(data_batch['inputs'], data_batch['data_samples']):
            key = (runner.epoch, int(sample.metainfo['sample_idx']))
            assert key not in seen, f'sample {key[1]} seen twice in epoch {key[0]}'
            seen[key] = img.clone()
            FLIPS.setdefault(runner.work_dir, {})[key] = bool(sample.metainfo['flip'])


@pytest.fixture(scope='module')
def augmentation_runs(tmp_path_factory):
    """3 epochs of the baseline config (RandomFlip) over 8 images, for several loader settings."""
    from tools.train import main

    HOOKS.register_module(module=AugmentationProbeHook, force=True)
    root = tmp_path_factory.mktemp('aug')
    data_root = make_fake_rafdb(root / 'data', n_train=8, n_test=2, size=32)
    settings = {
        'fixed_order_w0': ['train_dataloader.sampler.shuffle=False'],
        'fixed_order_w2': ['train_dataloader.sampler.shuffle=False', 'train_dataloader.num_workers=2'],
        'fixed_order_w2_persistent': [
            'train_dataloader.sampler.shuffle=False',
            'train_dataloader.num_workers=2',
            'train_dataloader.persistent_workers=True',
        ],
        'shuffled_w0': [],
        'shuffled_w2': ['train_dataloader.num_workers=2'],
    }
    runs = {}
    try:
        for name, extra in settings.items():
            work_dir = root / name
            opts = tiny_train_options(data_root, max_epochs=3, batch_size=4)
            opts += ['randomness.seed=5', 'default_hooks.probe.type=AugmentationProbeHook', *extra]
            opts += [f'experiment_name=aug_{next(_RUN_IDS)}']
            main([CONFIG, '--work-dir', str(work_dir), '--no-validate', '--cfg-options', *opts])
            runs[name] = AUGMENTED.pop(str(work_dir))
            runs[name + '/flips'] = FLIPS.pop(str(work_dir))
    finally:
        HOOKS._module_dict.pop('AugmentationProbeHook', None)
    return runs


@pytest.mark.e2e
def test_augmentation_is_independent_of_workers_and_batches(augmentation_runs):
    """The same (seed, epoch, sample) is augmented identically with 0 or 2 (persistent) workers, any order."""
    ref = augmentation_runs['fixed_order_w0']
    assert sorted(ref) == [(e, i) for e in range(3) for i in range(8)]
    for name, run in augmentation_runs.items():
        if name.endswith('/flips'):
            continue
        assert sorted(run) == sorted(ref), name
        for key, img in ref.items():
            assert torch.equal(run[key], img), (
                f'{name}: epoch {key[0]}, sample {key[1]} augmented differently'
            )


@pytest.mark.e2e
@pytest.mark.parametrize('name', ['fixed_order_w0', 'fixed_order_w2', 'fixed_order_w2_persistent'])
def test_each_epoch_draws_fresh_augmentations(augmentation_runs, name):
    """In a fixed sample order, epoch e+1 does not repeat epoch e's flips (as re-seeded workers would)."""
    run = augmentation_runs[name]
    for epoch in (0, 1):
        same = [i for i in range(8) if torch.equal(run[(epoch, i)], run[(epoch + 1, i)])]
        assert len(same) < 8, f'{name}: epoch {epoch + 1} repeats every augmentation of epoch {epoch}'
    # control: the pipeline does flip, and not always (RandomFlip prob 0.5)
    flips = augmentation_runs[name + '/flips']
    assert set(flips.values()) == {True, False}
