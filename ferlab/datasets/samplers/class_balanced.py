"""Class-balanced sampling with replacement."""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from ferlab.registry import DATA_SAMPLERS

from ..seeding import DrawIndex


def copy_numbers(draws: np.ndarray) -> np.ndarray:
    """``(N,)`` number of earlier occurrences of each entry of ``draws`` ``(N,)`` (0 for the first)."""
    draws = np.asarray(draws)
    order = np.argsort(draws, kind='stable')
    ordered = draws[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(draws)])
    out = np.empty(len(draws), dtype=np.int64)
    out[order] = np.arange(len(draws)) - np.repeat(starts, sizes)
    return out


@DATA_SAMPLERS.register_module()
class ClassBalancedSampler(Sampler):
    """Draw samples with probability ∝ 1 / (count of their class), with replacement.

    This is the sampler DAN, MVT and POSTER++ use on AffectNet: every class
    is drawn equally often in expectation. Each epoch draws ``num_samples``
    indices (default: the dataset length) from one seeded generator shared by
    all ranks, then rank ``r`` takes every ``world_size``-th of them, so ranks
    see disjoint slots of one global draw.

    A sample drawn ``k`` times in one epoch is yielded as
    :class:`~ferlab.datasets.seeding.DrawIndex` ``(idx, draw)`` with
    ``draw = 0 .. k-1`` (numbered over the global draw), so that with
    per-sample augmentation seeds each copy is augmented differently.

    Args:
        dataset: A dataset with ``get_gt_labels()`` (served labels).
        num_samples: Draws per epoch over all ranks.
        seed: Base seed (synchronised across ranks when ``None``).
    """

    def __init__(self, dataset, num_samples: int | None = None, seed: int | None = None):
        self.dataset = dataset
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else seed
        self.total = num_samples or len(dataset)
        self.num_samples = math.ceil(self.total / self.world_size)
        self.epoch = 0

    def weights(self) -> torch.Tensor:
        labels = np.asarray(self.dataset.get_gt_labels())
        counts = np.bincount(labels, minlength=int(labels.max()) + 1).astype(np.float64)
        return torch.from_numpy(1.0 / counts[labels])

    def __iter__(self) -> Iterator[DrawIndex]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        draws = torch.multinomial(
            self.weights(), self.num_samples * self.world_size, True, generator=g
        ).numpy()
        copies = copy_numbers(draws)
        mine = slice(self.rank, None, self.world_size)
        return iter([DrawIndex(i, c) for i, c in zip(draws[mine].tolist(), copies[mine].tolist())])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
