"""Randomness as a function of ``(seed, epoch, sample)``: per-sample augmentation seeds.

ferlab's transforms (and mmcv's) draw from the global RNGs of numpy,
``random`` and torch. Where those RNGs stand when a sample is augmented
depends on the process that runs the pipeline (the main process or one of the
``num_workers`` workers), on how many samples that process augmented before,
and, with mmengine's worker seeding, on the position of the sample in the
worker's share of the epoch. None of that is in a checkpoint, so a resumed
run would augment differently from an uninterrupted one.

Instead, :class:`~ferlab.datasets.BaseFERDataset` seeds the three global RNGs
for each sample from

    ``BLAKE2b('sample', seed, epoch, idx, draw)``

right before running the pipeline (and, in the main process, restores them
afterwards): ``seed`` is the runner's seed (``randomness.seed``, or the one
mmengine drew and stored in the checkpoint meta), ``epoch`` the training
epoch, ``idx`` the dataset index and ``draw`` the number of earlier copies of
the same index in this epoch's draw (non-zero only for samplers that draw
with replacement, see :class:`DrawIndex`). The
:class:`~ferlab.engine.hooks.EpochSeedHook` sets ``(seed, epoch)`` on the
dataset before every epoch and reseeds the main process from
``BLAKE2b('main', seed, epoch)`` (dropout, batch augmentations).
"""

from __future__ import annotations

import hashlib
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

#: BLAKE2b personalisation of every ferlab seed derivation.
_PERSON = b'ferlab-seed'


class DrawIndex(int):
    """A dataset index that also says which copy of the sample it is in this epoch.

    Samplers that draw with replacement (:class:`ClassBalancedSampler`) yield
    the same index several times per epoch; ``draw`` = 0, 1, 2 ... numbers
    those copies (over the global draw of all ranks) so that each copy gets
    its own augmentation. Behaves as the plain ``int`` everywhere else.

    Args:
        idx: Dataset index.
        draw: Number of earlier copies of ``idx`` in this epoch's draw.
    """

    def __new__(cls, idx: int, draw: int = 0):
        obj = super().__new__(cls, idx)
        obj.draw = int(draw)
        return obj

    def __reduce__(self):  # keeps ``draw`` through the DataLoader's index queue
        return (DrawIndex, (int(self), self.draw))

    def __repr__(self) -> str:
        return f'DrawIndex({int(self)}, draw={self.draw})'


def derive_seeds(tag: str, *key: int) -> tuple[int, int, int]:
    """Seeds for numpy, ``random`` and torch from ``BLAKE2b(tag, *key)``.

    Args:
        tag: Stream name (``'sample'``, ``'main'``).
        *key: Integers (any size, any sign).

    Returns:
        ``(numpy_seed, python_seed, torch_seed)``: a 32-bit, a 64-bit and a
        63-bit non-negative int.
    """
    text = ':'.join([tag, *(str(int(k)) for k in key)]).encode()
    digest = hashlib.blake2b(text, digest_size=20, person=_PERSON).digest()
    np_seed = int.from_bytes(digest[:4], 'little')
    py_seed = int.from_bytes(digest[4:12], 'little')
    torch_seed = int.from_bytes(digest[12:20], 'little') >> 1
    return np_seed, py_seed, torch_seed


def sample_seeds(seed: int, epoch: int, idx: int, draw: int = 0) -> tuple[int, int, int]:
    """Seeds of one sample's augmentation in one epoch (see :func:`derive_seeds`)."""
    return derive_seeds('sample', seed, epoch, idx, draw)


def epoch_seeds(seed: int, epoch: int) -> tuple[int, int, int]:
    """Seeds of the main process at the start of ``epoch`` (see :func:`derive_seeds`)."""
    return derive_seeds('main', seed, epoch)


def seed_global_rngs(np_seed: int, py_seed: int, torch_seed: int, cuda: bool = True) -> None:
    """Seed numpy's, Python's and torch's global RNGs (torch: CPU, and every CUDA device if ``cuda``)."""
    np.random.seed(np_seed)
    random.seed(py_seed)
    if cuda:
        torch.manual_seed(torch_seed)
    else:
        torch.default_generator.manual_seed(torch_seed)


@contextmanager
def seeded_global_rngs(np_seed: int, py_seed: int, torch_seed: int, restore: bool = True) -> Iterator[None]:
    """Run a block with numpy's, Python's and torch's CPU global RNGs seeded.

    CUDA generators are left alone (pipelines run on the CPU).

    Args:
        np_seed / py_seed / torch_seed: See :func:`derive_seeds`.
        restore: Put the three RNG states back afterwards, so that the
            caller's own random stream does not depend on how many samples
            were augmented in this process (set in the main process; worker
            processes only augment, so they skip the cost).
    """
    saved = (
        (np.random.get_state(), random.getstate(), torch.default_generator.get_state()) if restore else None
    )
    seed_global_rngs(np_seed, py_seed, torch_seed, cuda=False)
    try:
        yield
    finally:
        if saved is not None:
            np.random.set_state(saved[0])
            random.setstate(saved[1])
            torch.default_generator.set_state(saved[2])
