"""DataRefinementSampler (ARBEx Sec. 4.2.2): counts, balance, determinism, ranks, real datasets, tools/train.py."""

import os.path as osp
from collections import Counter
from unittest import mock

import numpy as np
import pytest
from mmengine.logging import MMLogger

from ferlab.registry import DATA_SAMPLERS, DATASETS
from tests.test_datasets.fake_formats import make_jaffe

RANKS = 'ferlab.datasets.samplers.data_refinement.get_dist_info'


class Grouped:
    """A dataset stand-in: served labels and a group key in each data info."""

    def __init__(self, labels, groups, num_classes=None, key='video_id'):
        self.labels, self.groups, self.key = np.asarray(labels), list(groups), key
        self.classes = tuple(f'c{i}' for i in range(num_classes or int(self.labels.max()) + 1))

    def __len__(self):
        return len(self.labels)

    def get_gt_labels(self):
        return self.labels

    def get_data_info(self, i):
        return {self.key: self.groups[i], 'gt_label': int(self.labels[i])}


def single_class_groups():
    """Video A: 30 x class 0; B: 5 x class 1; C: 12 x class 2; D: 1 x class 3; class 4 has no sample."""
    labels = [0] * 30 + [1] * 5 + [2] * 12 + [3]
    groups = ['A'] * 30 + ['B'] * 5 + ['C'] * 12 + ['D']
    return Grouped(labels, groups, num_classes=5)


def build(ds, rank=0, world_size=1, **kw):
    cfg = dict(type='DataRefinementSampler', dataset=ds, num_per_group=10, num_per_class=8, seed=0)
    cfg.update(kw)
    with mock.patch(RANKS, return_value=(rank, world_size)):
        return DATA_SAMPLERS.build(cfg)


def test_exact_counts_small_groups_and_small_classes():
    ds = single_class_groups()
    s = build(ds)
    idx = [int(i) for i in s]
    # 4 classes with samples (class 4 has none) x M = 8
    assert len(idx) == len(s) == 32
    assert np.bincount(ds.labels[idx], minlength=5).tolist() == [8, 8, 8, 8, 0]
    # pool by hand: A capped to 10, B all 5 (< N), C capped to 10, D its 1
    st = s.last_stats
    assert (st['num_groups'], st['num_capped'], st['pool_size']) == (4, 2, 26)
    assert st['pool_class_counts'] == {0: 10, 1: 5, 2: 10, 3: 1}
    # classes with fewer than M pooled samples: all of them once, the rest with replacement
    assert st['with_replacement'] == {0: 0, 1: 3, 2: 0, 3: 7}
    assert len({i for i in idx if ds.labels[i] == 0}) == 8  # 8 distinct of A's 10 pooled
    assert {i for i in idx if ds.labels[i] == 1} == set(range(30, 35))  # every sample of B
    assert idx.count(47) == 8  # D's single sample, 8 copies
    assert sorted(i.draw for i in s if int(i) == 47) == list(range(8))  # each copy its own augmentation


def test_the_cap_holds_per_group_and_is_redrawn_every_epoch():
    # two videos of 100 frames, classes alternating: N = 20 per video, M = 15 per class
    ds = Grouped([i % 2 for i in range(200)], ['v0'] * 100 + ['v1'] * 100)
    s = build(ds, num_per_group=20, num_per_class=15)
    seen = {0: set(), 1: set()}
    for epoch in range(4):
        s.set_epoch(epoch)
        idx = [int(i) for i in s]
        assert np.bincount(ds.labels[idx]).tolist() == [15, 15]
        for v in (0, 1):
            mine = {i for i in idx if i // 100 == v}
            assert len(mine) <= 20  # at most N distinct frames of each video in an epoch
            seen[v] |= mine
        assert s.last_stats['pool_size'] == 40 and s.last_stats['num_capped'] == 2
    assert min(len(x) for x in seen.values()) > 20  # other frames in other epochs


def test_deterministic_per_seed_new_every_epoch():
    ds = single_class_groups()
    a, b = build(ds, seed=3), build(ds, seed=3)
    first = list(a)
    assert first == list(b) and [i.draw for i in first] == [i.draw for i in b]
    assert list(a) == first  # iterating again without set_epoch: the same epoch
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(build(ds, seed=4)) != first


def test_two_ranks_are_disjoint_slots_whose_union_is_the_epoch():
    ds = Grouped([0] * 9 + [1] * 4 + [2] * 20, ['a'] * 13 + ['b'] * 20)
    kw = dict(num_per_group=15, num_per_class=7, seed=5)  # 21 per epoch: odd, padded to 22
    single = build(ds, **kw)
    single.set_epoch(2)
    full = [(int(i), i.draw) for i in single]
    assert len(full) == 21
    per_rank = []
    for rank in (0, 1):
        s = build(ds, rank=rank, world_size=2, **kw)
        s.set_epoch(2)
        per_rank.append([(int(i), i.draw) for i in s])
        assert len(s) == len(per_rank[-1]) == 11
    padded_idx = [i for i, _ in full] + [full[0][0]]  # DefaultSampler round_up: repeat the head
    assert [i for i, _ in per_rank[0]] == padded_idx[0::2]
    assert [i for i, _ in per_rank[1]] == padded_idx[1::2]
    pairs = per_rank[0] + per_rank[1]
    assert len(set(pairs)) == 22  # no (index, copy) slot on both ranks
    assert Counter(i for i, _ in pairs) == Counter(padded_idx)
    assert set(full) <= set(pairs)


def test_logs_group_and_class_counts_every_epoch():
    ds = single_class_groups()
    logger = MMLogger.get_current_instance()
    with mock.patch.object(logger, 'warning') as warn:
        s = build(ds)
    assert 'classes [4] have no samples' in warn.call_args[0][0]
    with mock.patch.object(logger, 'info') as info:
        s.set_epoch(3)
        list(s)
    msg = info.call_args[0][0]
    assert msg.startswith('DataRefinementSampler epoch 3: 4 groups (video_id), 2 capped at N=10, pool 26')
    assert 'pool per class {0: 10, 1: 5, 2: 10, 3: 1}' in msg and '{0: 0, 1: 3, 2: 0, 3: 7}' in msg


def test_class_lost_to_the_cap_is_drawn_from_the_whole_class():
    # one video: 50 x class 0 and 1 x class 1; N = 5 may leave class 1 out of the pool
    ds = Grouped([0] * 50 + [1], ['v'] * 51)
    lost = []
    for seed in range(20):
        s = build(ds, num_per_group=5, num_per_class=4, seed=seed)
        idx = [int(i) for i in s]
        assert np.bincount(ds.labels[idx], minlength=2).tolist() == [4, 4]
        lost.append(bool(s.last_stats['refilled_classes']))
    assert any(lost)  # P(class 1 kept) = 5/51 per seed


def test_group_key_missing_and_bad_arguments():
    ds = single_class_groups()
    with pytest.raises(
        ValueError,
        match=r"group_key='subject' is not in the data info of Grouped sample 0 \(keys: \['gt_label', 'video_id'\]",
    ):
        build(ds, group_key='subject')
    with pytest.raises(ValueError, match='num_per_group and num_per_class must be >= 1'):
        build(ds, num_per_class=0)
    with pytest.raises(ValueError, match='always shuffled'):
        build(ds, shuffle=False)
    s = build(ds, group_key=None, num_per_class=3)  # no grouping: one pool of everything
    assert len(list(s)) == 12 and s.last_stats['num_groups'] == 1 and s.last_stats['pool_size'] == 48


def test_real_datasets_groups_from_data_infos(tmp_path):
    synth = DATASETS.build(dict(type='SynthFER', split='train', num_samples=60, img_size=16, seed=0))
    identities = [synth.get_data_info(i)['identity'] for i in range(len(synth))]
    s = build(synth, group_key='identity', num_per_group=3, num_per_class=4)
    idx = [int(i) for i in s]
    assert s.last_stats['num_groups'] == len(set(identities))
    assert s.last_stats['pool_size'] == sum(min(3, n) for n in Counter(identities).values())
    present = np.flatnonzero(np.bincount(synth.get_gt_labels(), minlength=7))
    assert np.bincount(synth.get_gt_labels()[idx], minlength=7)[present].tolist() == [4] * len(present)
    jaffe = DATASETS.build(dict(type='JAFFE', data_root=make_jaffe(tmp_path), split='all', num_folds=3))
    s = build(jaffe, group_key='subject', num_per_group=5, num_per_class=2)
    assert len(list(s)) == 14 and s.last_stats['num_groups'] == 3 and s.last_stats['pool_size'] == 15
    with pytest.raises(ValueError, match="group_key='video_id'"):
        build(jaffe)


@pytest.mark.e2e
def test_trains_through_tools_train_with_cfg_options(tmp_path, repo_root):
    """A SynthFER config switched to the sampler by --cfg-options, two epochs through tools/train.py."""
    from tools.train import main

    cfg = tmp_path / 'r18_synthfer.py'
    base = osp.join(repo_root, 'configs', '_base_')
    cfg.write_text(
        f"_base_ = ['{base}/models/resnet18.py', '{base}/datasets/synthfer.py', "
        f"'{base}/schedules/sgd_40e.py', '{base}/default_runtime.py']\n"
        'model = dict(backbone=dict(pretrained=None))\n'
    )
    opts = [
        'train_cfg.max_epochs=2',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.save_best=None',
    ]
    opts += ['train_dataloader.sampler.type=DataRefinementSampler', 'train_dataloader.sampler.group_key=identity',
             'train_dataloader.sampler.num_per_group=2', 'train_dataloader.sampler.num_per_class=4']  # fmt: skip
    for loader, n in (('train_dataloader', 40), ('val_dataloader', 8), ('test_dataloader', 8)):
        opts += [
            f'{loader}.batch_size=4',
            f'{loader}.dataset.num_samples={n}',
            f'{loader}.dataset.img_size=32',
        ]
    runner = main([str(cfg), '--work-dir', str(tmp_path / 'work'), '--cfg-options', *opts])
    sampler = runner.train_dataloader.sampler
    assert type(sampler).__name__ == 'DataRefinementSampler' and sampler.seed == runner.seed
    per_epoch = len(sampler)
    assert per_epoch == 4 * len(sampler.classes) and runner.iter == 2 * -(-per_epoch // 4)
    assert sampler.last_stats['epoch'] == 1  # EpochSeedHook called set_epoch
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log'), encoding='utf-8').read()
    assert 'DataRefinementSampler epoch 0: ' in log and 'DataRefinementSampler epoch 1: ' in log


def test_class_emptied_by_relabeling_keeps_the_epoch_length():
    """Relabeling can move every sample out of a class after construction: its M slots come from the pool."""
    ds = Grouped([0] * 6 + [1] * 3 + [2] * 5, ['v'] * 14)
    s = build(ds, num_per_group=20, num_per_class=4)
    assert len(s) == 12
    ds.labels = np.array([0] * 6 + [0] * 3 + [2] * 5)  # class 1 relabeled to 0 (served labels)
    logger = MMLogger.get_current_instance()
    with mock.patch.object(logger, 'warning') as warn:
        idx = [int(i) for i in s]
    assert len(idx) == 12 and s.last_stats['empty_classes'] == [1]
    assert 'classes [1] have no sample now' in warn.call_args[0][0]
    counts = np.bincount(ds.labels[idx], minlength=3)
    assert counts[2] >= 4 and counts[0] >= 4 and counts[1] == 0  # 4 slots of class 1 from the whole pool
