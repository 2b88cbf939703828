from unittest import mock

import numpy as np
import pytest

from ferlab.registry import DATA_SAMPLERS, DATASETS
from tests.test_datasets.fake_formats import make_rafdb


class LabelsOnly:
    """A dataset stand-in exposing served labels (what the sampler reads)."""

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def __len__(self):
        return len(self.labels)

    def get_gt_labels(self):
        return self.labels


# 90 / 9 / 1 samples: strongly imbalanced
IMBALANCED = [0] * 90 + [1] * 9 + [2] * 1


def test_class_frequencies_are_uniform_with_replacement():
    ds = LabelsOnly(IMBALANCED)
    sampler = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=ds, num_samples=6000, seed=0))
    idx = np.array(list(sampler))
    assert len(idx) == len(sampler) == 6000
    freq = np.bincount(ds.labels[idx], minlength=3) / len(idx)
    np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.03)
    assert np.sum(idx == 99) > 1500  # the single class-2 sample is drawn again and again
    w = sampler.weights().numpy()
    assert w[0] == pytest.approx(1 / 90) and w[95] == pytest.approx(1 / 9) and w[99] == 1.0


def test_epochs_and_seed_change_the_draw_deterministically():
    ds = LabelsOnly(IMBALANCED)
    a = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=ds, seed=3))
    b = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=ds, seed=3))
    assert list(a) == list(b) and len(a) == len(ds)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first


def test_ranks_take_disjoint_slots_of_one_draw():
    ds = LabelsOnly(IMBALANCED)
    target = 'ferlab.datasets.samplers.class_balanced.get_dist_info'
    per_rank = []
    for rank in (0, 1):
        with mock.patch(target, return_value=(rank, 2)):
            s = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=ds, num_samples=101, seed=7))
        s.set_epoch(2)
        per_rank.append(list(s))
        assert len(s) == 51
    with mock.patch(target, return_value=(0, 1)):
        single = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=ds, num_samples=102, seed=7))
    single.set_epoch(2)
    full = list(single)
    # rank r holds slots r, r+2, ... of the global draw: interleaving them rebuilds it
    assert per_rank[0] == full[0::2] and per_rank[1] == full[1::2]


def test_served_labels_are_used(tmp_path):
    """Relabeling (set_gt_label) changes the class counts the sampler balances."""
    ds = DATASETS.build(
        dict(type='RAFDB', data_root=make_rafdb(tmp_path, train=(1, 1, 1, 2), write_images=False))
    )
    s = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=ds, seed=0))
    assert s.weights().tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1.0])
    ds.set_gt_label(3, 0)
    assert s.weights().tolist() == pytest.approx([0.25] * 4)


def test_copies_of_a_sample_are_numbered_over_the_global_draw():
    """Each copy of a sample drawn k times in an epoch carries draw = 0..k-1 (for its own augmentation)."""
    from collections import Counter

    from ferlab.datasets.seeding import DrawIndex

    ds = LabelsOnly(IMBALANCED)
    target = 'ferlab.datasets.samplers.class_balanced.get_dist_info'
    with mock.patch(target, return_value=(0, 1)):
        single = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=ds, num_samples=300, seed=1))
    full = list(single)
    assert all(type(i) is DrawIndex for i in full)
    # hand count: the k-th occurrence of an index (in draw order) is draw k-1
    seen = Counter()
    for i in full:
        assert i.draw == seen[int(i)]
        seen[int(i)] += 1
    assert seen[99] > 50  # the single class-2 sample: many copies, draws 0..seen[99]-1
    # split over 2 ranks, the (index, draw) pairs are the global ones, none repeated
    pairs = []
    for rank in (0, 1):
        with mock.patch(target, return_value=(rank, 2)):
            s = DATA_SAMPLERS.build(dict(type='ClassBalancedSampler', dataset=ds, num_samples=300, seed=1))
        pairs += [(int(i), i.draw) for i in s]
    assert sorted(pairs) == sorted((int(i), i.draw) for i in full)
