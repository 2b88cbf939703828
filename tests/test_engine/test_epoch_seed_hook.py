"""EpochSeedHook: per-epoch seeding of the main process and the datasets, resume of the sampler seed."""

from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.dataset import ConcatDataset, DefaultSampler, RepeatDataset
from mmengine.logging import MMLogger
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import ConcatDataset as TorchConcatDataset
from torch.utils.data import DataLoader

from ferlab.datasets.seeding import epoch_seeds, seed_global_rngs
from ferlab.registry import DATASETS, HOOKS
from tests.utils import make_fake_rafdb


class ListDataset:
    """Not a ferlab dataset: no set_aug_seed."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return i


class FakeRunner:
    def __init__(self, dataset, seed=5, epoch=0, loop_cls=EpochBasedTrainLoop, resume=False):
        self.seed, self.epoch, self._resume = seed, epoch, resume
        self.sampler = DefaultSampler(dataset, shuffle=True, seed=seed)
        self.train_loop = object.__new__(loop_cls)  # what the hook reads: the type and the dataloader
        self.train_loop.dataloader = DataLoader(dataset, sampler=self.sampler, collate_fn=list)
        self._train_loop = self.train_loop
        self.logger = MMLogger.get_instance('epoch_seed_hook_test')
        self.warnings: list[str] = []
        self.logger.warning = self.warnings.append
        self.logger.info = lambda msg: None


def _rafdb(root):
    return DATASETS.build(dict(type='RAFDB', data_root=root, split='train', pipeline=[]))


def _hook():
    return HOOKS.build(dict(type='EpochSeedHook'))


def test_seeds_main_process_sampler_and_every_wrapped_ferlab_dataset(tmp_path):
    root = make_fake_rafdb(tmp_path, n_train=4, n_test=1, size=8)
    a, b = _rafdb(root), _rafdb(root)
    runner = FakeRunner(ConcatDataset([a, b]), seed=5, epoch=3)
    hook = _hook()
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    assert a.aug_seed == b.aug_seed == (5, 3)
    assert runner.sampler.epoch == 3  # DistSamplerSeedHook's job is kept
    draws = (np.random.rand(), random.random(), float(torch.rand(())))
    seed_global_rngs(*epoch_seeds(5, 3))
    assert draws == (np.random.rand(), random.random(), float(torch.rand(())))
    assert runner.warnings == []


def test_warns_once_for_datasets_it_cannot_seed_and_for_repeat_wrappers(tmp_path):
    root = make_fake_rafdb(tmp_path, n_train=4, n_test=1, size=8)
    ferlab_ds = _rafdb(root)
    runner = FakeRunner(TorchConcatDataset([RepeatDataset(ferlab_ds, times=2), ListDataset()]))
    hook = _hook()
    hook.before_train(runner)
    for epoch in (0, 1):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
    assert ferlab_ds.aug_seed == (5, 1)
    assert len(runner.warnings) == 2
    assert "['ListDataset'] have no set_aug_seed" in runner.warnings[0]
    assert 'RepeatDataset/ClassBalancedDataset' in runner.warnings[1]


def test_iteration_based_loop_keeps_mmengine_seeding_and_says_so(tmp_path):
    ds = _rafdb(make_fake_rafdb(tmp_path, n_train=4, n_test=1, size=8))
    runner = FakeRunner(ds, loop_cls=IterBasedTrainLoop)
    hook = _hook()
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    assert ds.aug_seed is None
    assert len(runner.warnings) == 1 and 'IterBasedTrainLoop is not epoch-based' in runner.warnings[0]


def test_resume_moves_a_default_seeded_sampler_to_the_checkpoint_seed(tmp_path):
    ds = _rafdb(make_fake_rafdb(tmp_path, n_train=4, n_test=1, size=8))
    hook = _hook()
    # resume of an unseeded run: the runner drew 77 now, the checkpoint's run used 123
    runner = FakeRunner(ds, seed=77, resume=True)
    hook.after_load_checkpoint(runner, {'meta': {'seed': 123}})
    assert runner.sampler.seed == 123
    # load_from (weights only) leaves the sampler alone
    runner = FakeRunner(ds, seed=77, resume=False)
    hook.after_load_checkpoint(runner, {'meta': {'seed': 123}})
    assert runner.sampler.seed == 77
    # a sampler given its own seed in the config keeps it
    runner = FakeRunner(ds, seed=77, resume=True)
    runner.sampler.seed = 9
    hook.after_load_checkpoint(runner, {'meta': {'seed': 123}})
    assert runner.sampler.seed == 9
