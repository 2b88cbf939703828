"""ARBEx data refinement: a per-group cap, then a class-balanced epoch (Sec. 4.2.2)."""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import MMLogger
from torch.utils.data import Sampler

from ferlab.registry import DATA_SAMPLERS
from ferlab.utils.errors import FerlabInputError

from ..seeding import DrawIndex
from .class_balanced import copy_numbers


class SamplerConfigError(FerlabInputError, ValueError):
    """A sampler argument does not fit the dataset (e.g. a group key its data infos lack)."""


@DATA_SAMPLERS.register_module()
class DataRefinementSampler(Sampler):
    """Each epoch: up to ``N`` samples per group, pooled, then ``M`` per class.

    ARBEx (Wasi et al., Sec. 4.2.2 and 4.3) "refines" every training epoch in
    two steps:

    1. from each video / face group, ``num_per_group`` (``N``, paper 512)
       samples are drawn at random without replacement (a group with fewer
       contributes all of its samples);
    2. from the pool, ``num_per_class`` (``M``, paper 500) samples of every
       class are drawn: without replacement when the class has at least ``M``
       samples in the pool; otherwise every pooled sample of the class once
       plus ``M - n`` draws with replacement from them.

    The epoch is the shuffled concatenation: ``M · C`` indices, where ``C`` is
    the number of classes that have at least one sample in the dataset (a
    class without samples is logged at construction and left out). A class
    present in the dataset but absent from a pool (every one of its samples
    lost to the group cap) is drawn from all of its samples instead and
    logged, so the epoch length stays ``M · C``; a class left without any
    sample by relabeling after construction has its ``M`` slots drawn from the
    whole pool (logged).

    The draw uses one generator seeded by ``(seed, epoch)`` shared by all ranks
    (a different epoch every :meth:`set_epoch`, the same for the same seed).
    Like mmengine's ``DefaultSampler`` (``round_up=True``) the global draw is
    padded by repeating its head to a multiple of ``world_size`` and rank
    ``r`` takes slots ``r, r + world_size, ...``: ranks are disjoint and their
    union is the epoch. A sample that appears ``k`` times is yielded as
    :class:`~ferlab.datasets.seeding.DrawIndex` with ``draw = 0 .. k-1`` so
    each copy is augmented differently. Labels are the served ones
    (``get_gt_labels()``, relabeling included), read every epoch; the group of
    each sample is read once from its data info (``group_key``).

    Each epoch logs (MMLogger, INFO) the number of groups, how many were
    capped, the pool size and the per-class pool and drawn-with-replacement
    counts; the same figures are kept in :attr:`last_stats`.

    Args:
        dataset: A dataset with ``get_gt_labels()`` and ``get_data_info(i)``.
        group_key: Data-info key naming each sample's group: ``'video_id'``
            (Aff-Wild2, SynthFERVideo), ``'identity'`` (SynthFER),
            ``'subject'`` (JAFFE, FERG). ``None``: no per-group cap (step 2
            only).
        num_per_group: ``N``, samples drawn per group (paper: 512).
        num_per_class: ``M``, samples drawn per class (paper: 500).
        seed: Base seed (synchronised across ranks when ``None``).
        shuffle: Accepted so that a ``DefaultSampler(shuffle=True)`` config
            switches to this sampler with ``--cfg-options
            train_dataloader.sampler.type=DataRefinementSampler``; a refined
            epoch is always shuffled, ``False`` is an error.
    """

    def __init__(
        self,
        dataset,
        group_key: str | None = 'video_id',
        num_per_group: int = 512,
        num_per_class: int = 500,
        seed: int | None = None,
        shuffle: bool = True,
    ):
        if not shuffle:
            raise SamplerConfigError(
                'DataRefinementSampler: a refined epoch is always shuffled; got shuffle=False'
            )
        if num_per_group < 1 or num_per_class < 1:
            raise SamplerConfigError(
                f'DataRefinementSampler: num_per_group and num_per_class must be >= 1, '
                f'got {num_per_group} and {num_per_class}'
            )
        self.dataset = dataset
        self.group_key = group_key
        self.num_per_group = int(num_per_group)
        self.num_per_class = int(num_per_class)
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0
        self.groups = self._read_groups()
        # members of every group, ascending (one stable sort instead of a scan per group and epoch)
        order = np.argsort(self.groups, kind='stable')
        cuts = np.flatnonzero(np.diff(self.groups[order])) + 1
        self._members = np.split(order, cuts) if len(order) else []
        labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
        num_classes = len(getattr(dataset, 'classes', ())) or int(labels.max()) + 1
        counts = np.bincount(labels, minlength=num_classes)
        self.classes = np.flatnonzero(counts)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            MMLogger.get_current_instance().warning(
                f'DataRefinementSampler: classes {empty.tolist()} have no samples in '
                f'{type(dataset).__name__}; an epoch draws {self.num_per_class} of each of the other '
                f'{len(self.classes)}'
            )
        self.total = self.num_per_class * len(self.classes)
        self.num_samples = math.ceil(self.total / self.world_size)
        self.last_stats: dict = {}

    def _read_groups(self) -> np.ndarray:
        """``(len(dataset),)`` int64 group index of every sample (0 for all without a key)."""
        n = len(self.dataset)
        if self.group_key is None:
            return np.zeros(n, dtype=np.int64)
        ids: dict = {}
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            info = self.dataset.get_data_info(i)
            if self.group_key not in info:
                raise SamplerConfigError(
                    f'DataRefinementSampler: group_key={self.group_key!r} is not in the data info of '
                    f'{type(self.dataset).__name__} sample {i} (keys: {sorted(info)}); set group_key '
                    f'to one of them or to None'
                )
            out[i] = ids.setdefault(info[self.group_key], len(ids))
        return out

    def draw_epoch(self) -> np.ndarray:
        """``(M·C,)`` dataset indices of the current epoch over all ranks (before padding)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        num_groups = len(self._members)
        pool, capped = [], 0
        for members in self._members:
            if self.group_key is not None and len(members) > self.num_per_group:
                members = np.sort(rng.choice(members, self.num_per_group, replace=False))
                capped += 1
            pool.append(members)
        pool = np.concatenate(pool) if pool else np.zeros(0, dtype=np.int64)
        labels = np.asarray(self.dataset.get_gt_labels(), dtype=np.int64)
        pool_labels = labels[pool]
        picks, pool_counts, replaced, refilled, emptied = [], {}, {}, [], []
        for c in self.classes.tolist():
            members = pool[pool_labels == c]
            if len(members) == 0:  # all lost to the group cap: draw from the whole class
                members = np.flatnonzero(labels == c)
                refilled.append(c)
            if len(members) == 0:  # relabeled away since construction: M slots from the whole pool
                members = pool
                emptied.append(c)
                refilled.remove(c)
            pool_counts[c] = int(np.sum(pool_labels == c))
            m = self.num_per_class
            if len(members) >= m:
                picks.append(rng.choice(members, m, replace=False))
                replaced[c] = 0
            else:
                extra = rng.choice(members, m - len(members), replace=True)
                picks.append(np.concatenate([members, extra]))
                replaced[c] = m - len(members)
        epoch = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
        epoch = epoch[rng.permutation(len(epoch))]
        self.last_stats = dict(
            epoch=self.epoch,
            num_groups=num_groups,
            num_capped=capped,
            pool_size=len(pool),
            pool_class_counts=pool_counts,
            with_replacement=replaced,
            refilled_classes=refilled,
            empty_classes=emptied,
        )
        logger = MMLogger.get_current_instance()
        logger.info(
            f'DataRefinementSampler epoch {self.epoch}: {num_groups} groups ({self.group_key}), '
            f'{capped} capped at N={self.num_per_group}, pool {len(pool)}; pool per class {pool_counts}; '
            f'M={self.num_per_class} per class, drawn with replacement {replaced} -> {len(epoch)} samples'
        )
        if emptied:
            logger.warning(
                f'DataRefinementSampler epoch {self.epoch}: classes {emptied} have no sample now '
                f'(relabeled since the sampler was built); their {self.num_per_class} slots each are '
                f'drawn from the whole pool'
            )
        if refilled:
            logger.warning(
                f'DataRefinementSampler epoch {self.epoch}: classes {refilled} had no sample in the '
                f'pool (all lost to the cap N={self.num_per_group}); drawn from the whole class'
            )
        return epoch

    def __iter__(self) -> Iterator[DrawIndex]:
        draws = self.draw_epoch()
        padded = self.num_samples * self.world_size
        if padded > len(draws):  # DefaultSampler(round_up=True): repeat the head
            reps = math.ceil(padded / len(draws))
            draws = np.tile(draws, reps)[:padded]
        copies = copy_numbers(draws)
        mine = slice(self.rank, padded, self.world_size)
        return iter([DrawIndex(i, c) for i, c in zip(draws[mine].tolist(), copies[mine].tolist())])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
