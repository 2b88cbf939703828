"""Batches mixing several sources of a :class:`~ferlab.datasets.MultiSourceDataset` in fixed ratios."""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from ferlab.registry import DATA_SAMPLERS
from ferlab.utils.errors import FerlabInputError

from ..seeding import DrawIndex


class RatioBatchSamplerError(FerlabInputError, ValueError):
    """Ratios, batch size or dataset that cannot give exact per-source counts."""


def split_batch(batch_size: int, ratios: Sequence[int]) -> tuple[int, ...]:
    """Per-source counts of one batch: ``batch_size · r_s / Σ r``, exact integers or an error."""
    ratios = tuple(int(r) for r in ratios)
    if not ratios or any(r < 1 for r in ratios):
        raise RatioBatchSamplerError(f'RatioBatchSampler ratios must be positive integers, got {ratios}')
    total = sum(ratios)
    if batch_size % total:
        raise RatioBatchSamplerError(
            f'RatioBatchSampler: batch_size {batch_size} is not divisible by the ratio sum {total} '
            f'of {ratios}; use a multiple of {total} (exact counts per batch)'
        )
    return tuple(batch_size // total * r for r in ratios)


@DATA_SAMPLERS.register_module()
class RatioBatchSampler(Sampler):
    """Every batch holds exactly ``counts[s]`` samples of source ``s``, target source first.

    AU-ViT (Mao et al., Sec. IV-A) mixes each batch of the target FER set with
    auxiliary AU images at 4:1 (3:1 on AffectNet); the public code concatenates
    each FER batch with the next batch of an AU loader that restarts when
    exhausted. Here, with ``ratios = (r_0, …, r_{S-1})`` and batch size ``b``,
    source ``s`` contributes ``c_s = b·r_s/Σr`` samples per batch per rank
    (``b`` must be a multiple of ``Σr``). Batches list source 0's samples first,
    then source 1's, … (the classifier sees one concatenated batch).

    Streams. Source ``s`` is an endless stream of permutations of its
    ``N_s`` local indices, permutation ``k`` drawn from
    ``numpy.random.default_rng([seed, s, k])``: a source restarts and
    reshuffles when exhausted, independently of the others.

    * Source 0 (the target) defines the epoch: epoch ``e`` reads permutation
      ``e`` and has ``⌊N_0 / (c_0·W)⌋`` batches per rank with ``drop_last``
      (default), ``⌈N_0 / (c_0·W)⌉`` without (the last batch is completed from
      the start of the same permutation, as ``DistributedSampler`` pads).
    * Auxiliary sources continue where the previous epoch stopped: epoch ``e``
      starts at stream position ``e·L·c_s·W`` (``L`` batches per epoch), so no
      auxiliary sample is favoured and a resumed run draws what an
      uninterrupted one would.

    Distributed: global batch ``g`` takes ``c_s·W`` consecutive stream
    entries of each source; rank ``r`` gets entries ``r·c_s … (r+1)·c_s - 1``,
    so ranks are disjoint within a permutation.

    Yields lists of dataset indices (offset into the concatenated dataset) as
    :class:`~ferlab.datasets.seeding.DrawIndex` whose ``draw`` is the
    permutation number ``k`` of an auxiliary sample and the copy number of a
    target sample (1 for a padded copy), so a sample met twice in one epoch is
    augmented differently.

    In a config (mmengine builds it with the ``sampler`` and ``batch_size`` of
    the dataloader; the sampler only supplies the dataset, seed and epoch)::

        train_dataloader = dict(batch_size=40, sampler=dict(type='DefaultSampler'),
                                batch_sampler=dict(type='RatioBatchSampler', ratios=(4, 1)),
                                dataset=dict(type='MultiSourceDataset', ...))

    Args:
        sampler: The dataloader's sampler; its ``dataset`` (a dataset with
            ``source_sizes`` and ``source_offsets``, i.e. a
            :class:`~ferlab.datasets.MultiSourceDataset`), ``seed`` and
            ``epoch`` are used, its order is not.
        batch_size: Samples per batch per rank.
        ratios: Integer ratios, one per source, target source first.
        drop_last: Drop the incomplete last batch of the target source.
        seed: Base seed; default the sampler's (the runner's, read at every
            epoch), else synchronised across ranks.
        dataset: The dataset, when no sampler is given.
    """

    def __init__(
        self,
        sampler=None,
        batch_size: int = 1,
        ratios: Sequence[int] = (4, 1),
        drop_last: bool = True,
        seed: int | None = None,
        dataset=None,
    ):
        self.sampler = sampler
        self.dataset = dataset if dataset is not None else getattr(sampler, 'dataset', None)
        if self.dataset is None or not hasattr(self.dataset, 'source_sizes'):
            raise RatioBatchSamplerError(
                'RatioBatchSampler needs a MultiSourceDataset (a dataset with source_sizes); '
                f'got {type(self.dataset).__name__}'
            )
        self.sizes = tuple(int(n) for n in self.dataset.source_sizes)
        self.offsets = tuple(int(o) for o in self.dataset.source_offsets)
        if len(ratios) != len(self.sizes):
            raise RatioBatchSamplerError(
                f'RatioBatchSampler: {len(ratios)} ratios {tuple(ratios)} for {len(self.sizes)} sources'
            )
        self.batch_size = int(batch_size)
        self.counts = split_batch(self.batch_size, ratios)
        self.drop_last = drop_last
        self.rank, self.world_size = get_dist_info()
        # Without an own seed the sampler's is read at every epoch: EpochSeedHook moves a resumed
        # run's sampler to the checkpoint's seed after the dataloader is built.
        self._seed = int(seed) if seed is not None else None
        if self._seed is None and getattr(sampler, 'seed', None) is None:
            self._seed = sync_random_seed()
        self._epoch = 0
        per_epoch = self.counts[0] * self.world_size
        n_batches = self.sizes[0] // per_epoch if drop_last else math.ceil(self.sizes[0] / per_epoch)
        if n_batches < 1:
            raise RatioBatchSamplerError(
                f'RatioBatchSampler: the target source has {self.sizes[0]} samples, fewer than one '
                f'batch share {self.counts[0]} x {self.world_size} rank(s); lower batch_size or set '
                'drop_last=False'
            )
        self.num_batches = n_batches

    @property
    def seed(self) -> int:
        """The given seed, else the sampler's (as it is now)."""
        return self._seed if self._seed is not None else int(self.sampler.seed)

    @property
    def epoch(self) -> int:
        """The sampler's epoch (set by mmengine's loop), else the one given to :meth:`set_epoch`."""
        return int(getattr(self.sampler, 'epoch', self._epoch))

    def set_epoch(self, epoch: int) -> None:
        self._epoch = int(epoch)
        if self.sampler is not None and hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def _permutation(self, source: int, k: int) -> np.ndarray:
        return np.random.default_rng([self.seed, source, k]).permutation(self.sizes[source])

    def _stream(self, source: int, start: int, length: int) -> list[DrawIndex]:
        """Entries ``start … start+length-1`` of the endless stream of source ``source``."""
        n, out = self.sizes[source], []
        pos, end = start, start + length
        while pos < end:
            k, off = divmod(pos, n)
            take = min(n - off, end - pos)
            perm = self._permutation(source, k)[off : off + take]
            out.extend(DrawIndex(self.offsets[source] + int(i), k) for i in perm)
            pos += take
        return out

    def _epoch_indices(self, source: int, epoch: int) -> list[DrawIndex]:
        """The ``L · c_s · W`` global entries of source ``source`` in epoch ``epoch``."""
        need = self.num_batches * self.counts[source] * self.world_size
        if source == 0:  # one permutation per epoch, padded from its start
            perm = self._permutation(0, epoch)
            n = len(perm)  # a padded copy (drop_last=False) is draw 1 of its sample
            return [DrawIndex(self.offsets[0] + int(perm[p % n]), p // n) for p in range(need)]
        return self._stream(source, epoch * need, need)

    def __iter__(self) -> Iterator[list[DrawIndex]]:
        epoch = self.epoch
        per_source = [self._epoch_indices(s, epoch) for s in range(len(self.sizes))]
        for g in range(self.num_batches):
            batch = []
            for s, c in enumerate(self.counts):
                start = (g * self.world_size + self.rank) * c
                batch.extend(per_source[s][start : start + c])
            yield batch

    def __len__(self) -> int:
        return self.num_batches
