"""Per-sample augmentation seeds: output is a function of (seed, epoch, idx, draw) only."""

from __future__ import annotations

import functools
import pickle
import random

import numpy as np
import pytest
import torch
from mmcv.transforms import BaseTransform
from mmengine.dataset import DefaultSampler, pseudo_collate, worker_init_fn
from torch.utils.data import DataLoader

from ferlab.datasets.seeding import DrawIndex, derive_seeds, epoch_seeds, sample_seeds
from ferlab.registry import DATA_SAMPLERS, DATASETS, TRANSFORMS
from tests.utils import make_fake_rafdb

N_TRAIN = 10


class DrawFromAllRNGs(BaseTransform):
    """Records one draw of numpy's, Python's and torch's global RNGs (all three must be seeded)."""

    def transform(self, results):
        results['rng_draws'] = (float(np.random.rand()), random.random(), float(torch.rand(())))
        return results


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_fake_rafdb(tmp_path_factory.mktemp('seeding'), n_train=N_TRAIN, n_test=2, size=24)


@pytest.fixture(scope='module', autouse=True)
def _probe_transform():
    TRANSFORMS.register_module(module=DrawFromAllRNGs, force=True)
    yield
    TRANSFORMS._module_dict.pop('DrawFromAllRNGs', None)


PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', size=20, padding=2),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, hue=0.1),
    dict(type='RandomErasing', prob=0.5, value='random'),
    dict(type='DrawFromAllRNGs'),
    dict(type='PackFERInputs', meta_keys=('sample_idx', 'rng_draws')),
]


def _dataset(data_root):
    return DATASETS.build(dict(type='RAFDB', data_root=data_root, split='train', pipeline=PIPELINE))


def _sample(item):
    return item['inputs'].clone(), tuple(item['data_samples'].metainfo['rng_draws'])


def _epochs(dataset, num_workers, persistent=False, shuffle_seed=None, epochs=(0, 1), seed=11):
    """Iterate a mmengine-style loader for ``epochs``; ``{(epoch, idx): (img, rng_draws)}``."""
    sampler = DefaultSampler(dataset, shuffle=shuffle_seed is not None, seed=shuffle_seed)
    init = (
        functools.partial(worker_init_fn, num_workers=num_workers, rank=0, seed=seed) if num_workers else None
    )
    loader = DataLoader(
        dataset,
        batch_size=3,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=persistent,
        collate_fn=pseudo_collate,
        worker_init_fn=init,
    )
    out = {}
    for epoch in epochs:
        sampler.set_epoch(epoch)
        dataset.set_aug_seed(seed, epoch)
        for batch in loader:
            for img, sample in zip(batch['inputs'], batch['data_samples']):
                out[(epoch, sample.metainfo['sample_idx'])] = (
                    img.clone(),
                    tuple(sample.metainfo['rng_draws']),
                )
    return out


def _assert_same(a, b, what):
    assert sorted(a) == sorted(b), what
    for key in a:
        assert torch.equal(a[key][0], b[key][0]) and a[key][1] == b[key][1], f'{what}: {key} differs'


def test_derived_seeds_are_fixed_functions_of_the_key():
    assert derive_seeds('sample', 1, 2, 3, 0) == derive_seeds('sample', 1, 2, 3, 0)
    seeds = {sample_seeds(0, e, i, d) for e in range(3) for i in range(50) for d in range(2)}
    assert len(seeds) == 300  # no collisions among 300 keys
    assert sample_seeds(0, 1, 2) != epoch_seeds(0, 1)  # separate streams
    np_seed, py_seed, torch_seed = sample_seeds(2**70, -3, 5)
    assert 0 <= np_seed < 2**32 and 0 <= py_seed < 2**64 and 0 <= torch_seed < 2**63


def test_draw_index_is_an_int_that_survives_pickling():
    i = DrawIndex(7, draw=2)
    assert i == 7 and int(i) + 1 == 8 and [10, 20, 30, 40, 50, 60, 70, 80][i] == 80
    j = pickle.loads(pickle.dumps(i))
    assert type(j) is DrawIndex and (int(j), j.draw) == (7, 2)


@pytest.mark.slow
def test_same_seed_epoch_idx_gives_identical_output_for_any_workers_and_order(data_root):
    ds = _dataset(data_root)
    ref = _epochs(ds, num_workers=0)
    assert len(ref) == 2 * N_TRAIN
    _assert_same(ref, _epochs(_dataset(data_root), num_workers=2), '2 workers')
    _assert_same(ref, _epochs(_dataset(data_root), num_workers=2, persistent=True), '2 persistent workers')
    _assert_same(ref, _epochs(_dataset(data_root), num_workers=0, shuffle_seed=3), 'shuffled order')
    _assert_same(ref, _epochs(_dataset(data_root), num_workers=2, shuffle_seed=4), 'shuffled, 2 workers')
    # random access in the main process, any order, gives the same sample
    ds.set_aug_seed(11, 1)
    for idx in (7, 0, 7, 3):
        img, draws = _sample(ds[idx])
        assert torch.equal(img, ref[(1, idx)][0]) and draws == ref[(1, idx)][1]


def test_each_epoch_draws_fresh_augmentations(data_root):
    out = _epochs(_dataset(data_root), num_workers=2, epochs=(0, 1, 2))
    for e in (0, 1):
        for idx in range(N_TRAIN):
            assert out[(e, idx)][1] != out[(e + 1, idx)][1], f'sample {idx}: epoch {e + 1} repeats epoch {e}'
        assert any(not torch.equal(out[(e, i)][0], out[(e + 1, i)][0]) for i in range(N_TRAIN))
    # and another base seed gives other augmentations
    other = _epochs(_dataset(data_root), num_workers=0, epochs=(0,), seed=12)
    assert all(other[(0, i)][1] != out[(0, i)][1] for i in range(N_TRAIN))


def test_main_process_rngs_are_restored(data_root):
    ds = _dataset(data_root)
    ds.set_aug_seed(3, 0)
    np.random.seed(1), random.seed(1), torch.manual_seed(1)
    expected = (np.random.rand(), random.random(), float(torch.rand(())))
    np.random.seed(1), random.seed(1), torch.manual_seed(1)
    for idx in range(4):
        ds[idx]
    assert (np.random.rand(), random.random(), float(torch.rand(()))) == expected


def test_without_a_seed_the_pipeline_draws_from_the_global_rngs(data_root):
    ds = _dataset(data_root)
    assert ds.aug_seed is None
    np.random.seed(5), random.seed(5), torch.manual_seed(5)
    a = _sample(ds[0])[1]
    np.random.seed(5), random.seed(5), torch.manual_seed(5)
    assert _sample(ds[0])[1] == a
    assert _sample(ds[0])[1] != a  # the global stream moved on
    ds.set_aug_seed(4, 2)
    assert ds.aug_seed == (4, 2)
    ds.set_aug_seed(None)
    assert ds.aug_seed is None


def test_copies_of_one_sample_in_an_epoch_get_their_own_augmentation(data_root):
    ds = _dataset(data_root)
    ds.set_aug_seed(9, 0)
    first, second = _sample(ds[DrawIndex(4, 0)]), _sample(ds[DrawIndex(4, 1)])
    assert first[1] != second[1]
    assert _sample(ds[4])[1] == first[1]  # a plain index is draw 0


@pytest.mark.parametrize('num_workers', [0, 2])
def test_class_balanced_copies_reach_the_dataset_through_the_loader(data_root, num_workers):
    """ClassBalancedSampler's DrawIndex survives batching and the worker index queue."""
    ds = _dataset(data_root)
    ds.set_aug_seed(2, 0)
    sampler = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=ds, num_samples=30, seed=0))
    loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=num_workers, collate_fn=pseudo_collate)
    order = list(sampler)
    got = [
        (s.metainfo['sample_idx'], tuple(s.metainfo['rng_draws'])) for b in loader for s in b['data_samples']
    ]
    assert [i for i, _ in got] == [int(i) for i in order]
    # each copy is augmented as its (idx, draw) says, so copies of one sample differ
    for (_, draws), index in zip(got, order):
        assert draws == _sample(ds[index])[1]
    repeated = [i for i in set(order) if order.count(i) > 1]
    assert repeated
    for i in repeated:
        copies = [d for j, d in got if j == i]
        assert len(set(copies)) == len(copies), f'copies of sample {i} share an augmentation'
