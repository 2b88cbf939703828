"""RatioBatchSampler: exact per-batch source counts, independent cycling, seeds, ranks."""

from collections import Counter

import numpy as np
import pytest

from ferlab.datasets.samplers import ratio_batch_sampler as rbs
from ferlab.registry import DATA_SAMPLERS


class FakeMulti:
    """Stand-in with the attributes RatioBatchSampler reads from a MultiSourceDataset."""

    def __init__(self, sizes):
        self.source_sizes = tuple(sizes)
        self.source_offsets = tuple(int(o) for o in np.cumsum((0,) + tuple(sizes))[:-1])

    def __len__(self):
        return sum(self.source_sizes)

    def source_of(self, idx):
        return int(np.searchsorted(np.cumsum(self.source_sizes), idx, side='right'))


def build(sizes, batch_size=10, ratios=(4, 1), **kw):
    return DATA_SAMPLERS.build(
        dict(type='RatioBatchSampler', ratios=ratios, seed=kw.pop('seed', 0), **kw),
        default_args=dict(dataset=FakeMulti(sizes), batch_size=batch_size),
    )


def test_exact_counts_and_order_per_batch():
    ds = FakeMulti((40, 7))
    s = build((40, 7), batch_size=10, ratios=(4, 1))
    batches = list(s)
    assert len(batches) == len(s) == 40 // 8 == 5
    for b in batches:
        assert [ds.source_of(i) for i in b] == [0] * 8 + [1] * 2
    # the target source: each sample once per epoch
    target = [int(i) for b in batches for i in b[:8]]
    assert sorted(target) == list(range(40))


def test_three_sources_and_bad_ratio():
    ds = FakeMulti((30, 5, 9))
    s = build((30, 5, 9), batch_size=12, ratios=(2, 1, 3))
    for b in s:
        assert Counter(ds.source_of(i) for i in b) == {0: 4, 1: 2, 2: 6}
    with pytest.raises(ValueError, match='not divisible by the ratio sum 5'):
        build((40, 7), batch_size=12, ratios=(4, 1))
    with pytest.raises(ValueError, match='2 ratios'):
        build((40, 7, 3), batch_size=10, ratios=(4, 1))


def test_auxiliary_cycles_independently_and_reshuffles():
    # aux of 7 samples, 2 per batch, 5 batches per epoch: 10 draws per epoch
    s = build((40, 7), batch_size=10, ratios=(4, 1))
    stream = []
    for epoch in range(3):
        s.set_epoch(epoch)
        stream += [int(i) - 40 for b in s for i in b[8:]]
    assert len(stream) == 30
    # every consecutive block of 7 stream entries is one permutation of the aux set
    perms = [stream[k * 7 : (k + 1) * 7] for k in range(4)]
    for p in perms:
        assert sorted(p) == list(range(7))
    assert len({tuple(p) for p in perms}) > 1  # reshuffled on restart
    # draw numbers = permutation numbers of the stream
    s.set_epoch(1)
    draws = [i.draw for b in s for i in b[8:]]
    assert draws == [k // 7 for k in range(10, 20)]


def test_epoch_reshuffles_target_and_seed_determinism():
    a = build((40, 7), seed=3)
    b = build((40, 7), seed=3)
    c = build((40, 7), seed=4)
    assert [list(map(int, x)) for x in a] == [list(map(int, x)) for x in b]
    assert [list(map(int, x)) for x in a] != [list(map(int, x)) for x in c]
    e0 = [list(map(int, x)) for x in a]
    a.set_epoch(1)
    e1 = [list(map(int, x)) for x in a]
    assert e0 != e1
    assert sorted(i for x in e1 for i in x[:8]) == list(range(40))


def test_drop_last_false_pads_target():
    ds = FakeMulti((42, 7))
    s = build((42, 7), batch_size=10, drop_last=False)
    batches = list(s)
    assert len(batches) == 6  # ceil(42 / 8)
    target = [int(i) for b in batches for i in b[:8]]
    assert set(target) == set(range(42)) and len(target) == 48
    assert all(Counter(ds.source_of(i) for i in b) == {0: 8, 1: 2} for b in batches)
    with pytest.raises(ValueError, match='fewer than one batch'):
        build((5, 7), batch_size=10)


@pytest.mark.parametrize('world', [2, 3])
def test_ranks_disjoint_and_cover(monkeypatch, world):
    sizes = (48, 30)
    per_rank = []
    for rank in range(world):
        monkeypatch.setattr(rbs, 'get_dist_info', lambda r=rank: (r, world))
        s = build(sizes, batch_size=5, ratios=(4, 1), seed=7)
        s.set_epoch(2)
        per_rank.append([list(map(int, b)) for b in s])
    assert len({len(p) for p in per_rank}) == 1 and len(per_rank[0]) == 48 // (4 * world)
    targets = [{i for b in p for i in b[:4]} for p in per_rank]
    for i in range(world):
        for j in range(i + 1, world):
            assert not targets[i] & targets[j]
    assert set().union(*targets) == set(range(48 // (4 * world) * 4 * world))
    # auxiliary: within one global batch the ranks' shares are disjoint
    for g in range(len(per_rank[0])):
        aux = [per_rank[r][g][4] for r in range(world)]
        assert len(set(aux)) == world


def test_reads_epoch_and_seed_from_the_dataloader_sampler():
    class Sampler:
        def __init__(self):
            self.dataset, self.seed, self.epoch = FakeMulti((40, 7)), 11, 0

        def set_epoch(self, e):
            self.epoch = e

    inner = Sampler()
    s = DATA_SAMPLERS.build(
        dict(type='RatioBatchSampler', ratios=(4, 1)), default_args=dict(sampler=inner, batch_size=10)
    )
    ref = build((40, 7), seed=11)
    inner.set_epoch(3)  # what mmengine's loop does through batch_sampler.sampler
    ref.set_epoch(3)
    assert [list(map(int, b)) for b in s] == [list(map(int, b)) for b in ref]


def test_needs_multi_source_dataset():
    with pytest.raises(rbs.RatioBatchSamplerError, match='MultiSourceDataset'):
        DATA_SAMPLERS.build(
            dict(type='RatioBatchSampler'), default_args=dict(dataset=list(range(5)), batch_size=5)
        )


def test_follows_the_sampler_seed_set_after_construction():
    """EpochSeedHook moves a resumed run's sampler to the checkpoint's seed after the loader is built."""

    class Sampler:
        def __init__(self):
            self.dataset, self.seed, self.epoch = FakeMulti((40, 7)), 5, 0

    inner = Sampler()
    s = DATA_SAMPLERS.build(
        dict(type='RatioBatchSampler', ratios=(4, 1)), default_args=dict(sampler=inner, batch_size=10)
    )
    inner.seed = 9  # what EpochSeedHook.after_load_checkpoint does on resume
    assert s.seed == 9
    assert [list(map(int, b)) for b in s] == [list(map(int, b)) for b in build((40, 7), seed=9)]


def test_padded_target_copies_get_their_own_draw():
    s = build((42, 7), batch_size=10, drop_last=False)
    target = [i for b in s for i in b[:8]]
    firsts = {}
    for i in target:
        firsts.setdefault(int(i), []).append(i.draw)
    assert sorted(len(v) for v in firsts.values())[-6:] == [2] * 6  # 48 - 42 padded copies
    assert all(v == list(range(len(v))) for v in firsts.values())


def _dist_worker(rank, world, port, out):
    import torch.distributed as dist

    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    try:
        s = rbs.RatioBatchSampler(dataset=FakeMulti((48, 30)), batch_size=5, ratios=(4, 1))  # seed synced
        s.set_epoch(1)
        with open(f'{out}/rank{rank}.txt', 'w') as f:
            f.write(f'{s.seed}\n' + '\n'.join(' '.join(str(int(i)) for i in b) for b in s))
    finally:
        dist.destroy_process_group()


@pytest.mark.dist
def test_two_gloo_ranks_share_the_seed_and_split_the_batches(tmp_path):
    import torch.multiprocessing as mp

    from tests.utils import free_port

    mp.spawn(_dist_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [open(tmp_path / f'rank{r}.txt').read().split('\n') for r in range(2)]
    assert ranks[0][0] == ranks[1][0]  # one seed, synchronised from rank 0
    batches = [[list(map(int, line.split())) for line in r[1:]] for r in ranks]
    assert len(batches[0]) == len(batches[1]) == 48 // 8
    targets = [{i for b in bs for i in b[:4]} for bs in batches]
    assert not targets[0] & targets[1] and len(targets[0] | targets[1]) == 48
    assert all(b0[4] != b1[4] for b0, b1 in zip(*batches))  # the auxiliary slots of one global batch
