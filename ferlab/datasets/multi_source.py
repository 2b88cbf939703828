"""A target FER set trained together with auxiliary sets, each with its own labels and pipeline."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS
from ferlab.utils.errors import FerlabInputError

from .au_vocabulary import au_names as canonical_au_names
from .au_vocabulary import map_aus
from .categories import name_label_map
from .seeding import DrawIndex

LABEL_TYPES = ('expression', 'au')


class MultiSourceError(FerlabInputError, ValueError):
    """A source entry or a source's labels cannot serve as asked (one line naming the source)."""


@DATASETS.register_module()
class MultiSourceDataset:
    """Concatenation of a target FER set and auxiliary sets with per-sample label availability.

    AU-ViT (Mao et al., Sec. III-IV) trains the target FER set jointly with
    AU-labelled sets (RAF-AU, EmotioNet, pseudo-AUs), and its Table I baseline
    trains two FER sets jointly through their expression labels. Each source
    keeps its own dataset class, pipeline and label type; every served sample
    carries the same fields, in the model's orders:

    * ``gt_label`` ``(1,)``: the expression label in :attr:`classes` order (a
      source's classes are mapped by name, 'Happy' ≡ 'Happiness'), or **-1**
      where the source gives no expression label or its class has no
      counterpart; a vote distribution ``gt_score`` of an expression source is
      served in :attr:`classes` order too (mass summed by class name,
      renormalised) and removed for AU-only sources;
    * ``gt_aus`` / ``gt_au_mask`` ``(A,)`` float32 in :attr:`au_names` order
      (:func:`~ferlab.datasets.au_vocabulary.map_aus`): AUs the source does not
      annotate, and every AU of a source used for expressions only, have mask 0;
    * metainfo ``source`` (index of the source, 0 = target) and
      ``sample_idx`` (the index in this dataset).

    Samples left with no label at all (no expression label and no known AU) are
    dropped when loading; the count per source is logged and kept in
    :attr:`num_dropped`.

    Indices ``0 … N_0-1`` are source 0, the next ``N_1`` source 1, and so on
    (:attr:`source_offsets`, :attr:`source_sizes`), which
    :class:`~ferlab.datasets.samplers.RatioBatchSampler` mixes in fixed ratios.
    Sample ``j`` of source ``s`` runs through source ``s``'s own
    ``prepare_data`` (its pipeline and per-sample augmentation seeding,
    :meth:`set_aug_seed` is forwarded); the draw number passed on is
    ``draw · S + s`` so that equal local indices of different sources are
    augmented independently.

    Args:
        sources: One entry per source, target first: ``dict(dataset=<dataset
            config or object>, labels=('expression',) | ('au',) |
            ('expression', 'au'), au_names=None, au_threshold=None)``.
            ``labels`` defaults to ``('expression',)`` for the target and
            ``('au',)`` for the others. ``au_names`` names the AUs of the
            source's AU vectors (``gt_aus`` or ``au_label`` of its data infos)
            when its ``metainfo`` has no ``au_names``. ``au_threshold``: AU
            values ``>= t`` become 1 and the others 0 (intensities → occurrence
            targets for BCE); ``None`` keeps the values, which must then lie in
            [0, 1].
        classes: Expression classes of the model; default the target's.
        au_names: AUs of the model's AU output (names, numbers or an
            :data:`~ferlab.datasets.au_vocabulary.AU_SETS` key); default the AU
            list of the first source used for AUs; ``None`` with no such source
            (no AU fields are served).
    """

    def __init__(
        self,
        sources: Sequence[dict],
        classes: Sequence[str] | None = None,
        au_names: Sequence | str | None = None,
        lazy_init: bool = False,
    ):
        if not sources:
            raise MultiSourceError('MultiSourceDataset needs at least one source (the target FER set)')
        self._specs = [self._check_spec(i, dict(s)) for i, s in enumerate(sources)]
        self.datasets = [
            DATASETS.build(s['dataset']) if isinstance(s['dataset'], dict) else s['dataset']
            for s in self._specs
        ]
        self._classes = tuple(classes) if classes is not None else None
        self._au_names = canonical_au_names(au_names) if au_names is not None else None
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @staticmethod
    def _check_spec(i: int, spec: dict) -> dict:
        if 'dataset' not in spec:
            raise MultiSourceError(
                f'MultiSourceDataset source {i}: expected dict(dataset=..., labels=...), got {spec}'
            )
        unknown = set(spec) - {'dataset', 'labels', 'au_names', 'au_threshold'}
        if unknown:
            raise MultiSourceError(f'MultiSourceDataset source {i}: unknown keys {sorted(unknown)}')
        labels = spec.get('labels', ('expression',) if i == 0 else ('au',))
        labels = (labels,) if isinstance(labels, str) else tuple(labels)
        bad = [x for x in labels if x not in LABEL_TYPES]
        if not labels or bad:
            raise MultiSourceError(
                f'MultiSourceDataset source {i}: labels must be a non-empty subset of {LABEL_TYPES}, got {labels}'
            )
        spec['labels'] = labels
        return spec

    # ------------------------------------------------------------------ loading
    def full_init(self) -> None:
        if self._fully_initialized:
            return
        for ds in self.datasets:
            if hasattr(ds, 'full_init'):
                ds.full_init()
        target = self.datasets[0]
        if self._classes is None:
            self._classes = tuple(target.metainfo.get('classes', ()))
        if self._au_names is None:
            for spec, ds in zip(self._specs, self.datasets):
                if 'au' in spec['labels']:
                    self._au_names = self._source_au_names(spec, ds, self._specs.index(spec))
                    break
        logger = MMLogger.get_current_instance()
        self._labels, self._aus, self._masks, self._keep, self.num_dropped = [], [], [], [], []
        self.num_unmapped, self._class_maps = [], []
        for s, (spec, ds) in enumerate(zip(self._specs, self.datasets)):
            labels, aus, masks, unmapped = self._load_source(s, spec, ds)
            usable = labels >= 0
            if masks is not None:
                usable |= masks.sum(1) > 0
            keep = np.flatnonzero(usable)
            self.num_unmapped.append(unmapped)
            self.num_dropped.append(int(len(labels) - len(keep)))
            if not len(keep):
                raise MultiSourceError(
                    f'MultiSourceDataset source {s} ({type(ds).__name__}) has no sample with a usable '
                    f'label of {spec["labels"]} (classes {self._classes}, AUs {self._au_names})'
                )
            if self.num_dropped[-1]:
                logger.warning(
                    f'MultiSourceDataset: dropped {self.num_dropped[-1]} of {len(labels)} samples of source '
                    f'{s} ({type(ds).__name__}) with no usable label'
                )
            self._keep.append(keep)
            self._labels.append(labels[keep])
            self._aus.append(None if aus is None else aus[keep])
            self._masks.append(None if masks is None else masks[keep])
        self.source_sizes = tuple(len(k) for k in self._keep)
        self.source_offsets = tuple(int(o) for o in np.cumsum((0,) + self.source_sizes)[:-1])
        self._ends = np.cumsum(self.source_sizes)
        self.metainfo = dict(
            classes=self._classes,
            au_names=self._au_names,
            sources=tuple(type(d).__name__ for d in self.datasets),
            source_labels=tuple(s['labels'] for s in self._specs),
        )
        self._fully_initialized = True

    def _source_au_names(self, spec: dict, ds, s: int) -> tuple[str, ...]:
        names = spec.get('au_names') or getattr(ds, 'metainfo', {}).get('au_names')
        if not names:
            raise MultiSourceError(
                f'MultiSourceDataset source {s} ({type(ds).__name__}) is used for AUs but names no AU list: '
                "its metainfo has no 'au_names'; give au_names=(...) in the source entry"
            )
        return canonical_au_names(names)

    def _load_source(self, s: int, spec: dict, ds):
        """``(labels (N,), aus (N, A) | None, masks (N, A) | None, unmapped)`` of source ``s`` in the model's orders."""
        n = len(ds)
        labels = np.full(n, -1, dtype=np.int64)
        unmapped = 0
        if 'expression' not in spec['labels']:
            self._class_maps.append(None)
        infos = None
        if 'expression' in spec['labels']:
            if not getattr(ds, 'HAS_EXPRESSION', True):
                raise MultiSourceError(
                    f'MultiSourceDataset source {s} ({type(ds).__name__}) has no expression labels; '
                    "use labels=('au',)"
                )
            src_classes = tuple(ds.metainfo.get('classes', ()))
            mapping = name_label_map(src_classes, self._classes) if src_classes != self._classes else None
            self._class_maps.append(mapping)
            native = (
                np.asarray(ds.get_gt_labels(), dtype=np.int64)
                if hasattr(ds, 'get_gt_labels')
                else np.array([int(self._info(ds, i)['gt_label']) for i in range(n)], dtype=np.int64)
            )
            if mapping is not None:
                native = np.array([mapping.get(int(v), -1) for v in native], dtype=np.int64)
            unmapped = int((native < 0).sum())
            labels = native
            if unmapped:
                MMLogger.get_current_instance().warning(
                    f'MultiSourceDataset: {unmapped} samples of source {s} ({type(ds).__name__}) have a class '
                    f'of {src_classes} with no counterpart in {self._classes}: expression label -1'
                )
        if self._au_names is None:
            return labels, None, None, unmapped
        aus = np.zeros((n, len(self._au_names)), dtype=np.float32)
        masks = np.zeros_like(aus)
        if 'au' in spec['labels']:
            src_names = self._source_au_names(spec, ds, s)
            threshold = spec.get('au_threshold')
            infos = [self._info(ds, i) for i in range(n)]
            for i, info in enumerate(infos):
                values = info.get('gt_aus', info.get('au_label'))
                mask = info.get('gt_au_mask', info.get('au_mask'))
                where = f'MultiSourceDataset source {s} ({type(ds).__name__}), sample {i} ({info.get("img_path", "")})'
                if values is None:
                    raise MultiSourceError(
                        f'{where}: expected AU labels (gt_aus) for labels=("au",), found none'
                    )
                values = np.asarray(values, dtype=np.float32)
                if values.shape != (len(src_names),):
                    raise MultiSourceError(
                        f'{where}: expected {len(src_names)} AU values for {src_names}, got shape {values.shape}'
                    )
                if threshold is not None:
                    values = (values >= threshold).astype(np.float32)
                elif ((values < 0) | (values > 1)).any():
                    raise MultiSourceError(
                        f'{where}: AU targets must lie in [0, 1] for BCE, got {values.tolist()}; '
                        'set au_threshold in the source entry'
                    )
                aus[i], masks[i] = map_aus(values, mask, src_names, self._au_names)
        return labels, aus, masks, unmapped

    @staticmethod
    def _info(ds, i: int) -> dict:
        return ds.get_data_info(i)

    # ------------------------------------------------------------------ access
    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self._classes)

    @property
    def au_names(self) -> tuple[str, ...] | None:
        return self._au_names

    def __len__(self) -> int:
        self.full_init()
        return int(self._ends[-1])

    def locate(self, idx: int) -> tuple[int, int]:
        """``(source, j)`` of dataset index ``idx``: the ``j``-th kept sample of source ``source``."""
        self.full_init()
        n = len(self)
        idx = int(idx)
        if not -n <= idx < n:
            raise IndexError(f'MultiSourceDataset: index {idx} outside -{n}..{n - 1}')
        idx = idx + n if idx < 0 else idx
        s = int(np.searchsorted(self._ends, idx, side='right'))
        return s, idx - self.source_offsets[s]

    def source_of(self, idx: int) -> int:
        return self.locate(idx)[0]

    def get_gt_labels(self) -> np.ndarray:
        """``(N,)`` int64 expression labels in :attr:`classes` order, -1 = none."""
        self.full_init()
        return np.concatenate(self._labels)

    def get_source_indices(self) -> np.ndarray:
        """``(N,)`` int64 source index of every sample."""
        self.full_init()
        return np.repeat(np.arange(len(self.source_sizes)), self.source_sizes)

    def get_data_info(self, idx: int) -> dict:
        """The source's data info of ``idx`` with the unified labels (``gt_label``, ``gt_aus``, ``gt_au_mask``)."""
        s, j = self.locate(idx)
        info = dict(self.datasets[s].get_data_info(int(self._keep[s][j])))
        info.update(self._unified(s, j, int(idx) % len(self)))
        score = self._served_score(s, info.pop('gt_score', None))
        if score is not None:
            info['gt_score'] = score
        return info

    def _served_score(self, s: int, score) -> np.ndarray | None:
        """A source's vote distribution ``(C_s,)`` in :attr:`classes` order (mass summed by class name,
        renormalised), or ``None`` when the source is not used for expressions."""
        if score is None or 'expression' not in self._specs[s]['labels']:
            return None
        score = np.asarray(score, dtype=np.float32).reshape(-1)
        mapping = self._class_maps[s]
        if mapping is None:
            return score
        out = np.zeros(len(self._classes), dtype=np.float32)
        for src, dst in mapping.items():
            if dst >= 0 and src < len(score):
                out[dst] += score[src]
        total = out.sum()
        return out / total if total > 0 else out

    def _unified(self, s: int, j: int, idx: int) -> dict:
        out = dict(gt_label=int(self._labels[s][j]), source=s, sample_idx=idx)
        if self._au_names is not None:
            out['gt_aus'] = self._aus[s][j]
            out['gt_au_mask'] = self._masks[s][j]
        return out

    def set_aug_seed(self, seed: int | None, epoch: int = 0) -> None:
        """Forward per-sample augmentation seeding to every source that supports it."""
        for ds in self.datasets:
            if hasattr(ds, 'set_aug_seed'):
                ds.set_aug_seed(seed, epoch)

    def prepare_data(self, idx) -> dict:
        s, j = self.locate(idx)
        draw = getattr(idx, 'draw', 0) * len(self.datasets) + s
        local = DrawIndex(int(self._keep[s][j]), draw)
        ds = self.datasets[s]
        packed = ds.prepare_data(local) if hasattr(ds, 'prepare_data') else ds[int(local)]
        sample = packed['data_samples']
        unified = self._unified(s, j, int(idx) % len(self))
        sample.set_gt_label(unified['gt_label'])
        if 'gt_score' in sample:
            score = self._served_score(s, sample.gt_score.numpy())
            delattr(sample, 'gt_score')
            if score is not None:
                sample.set_gt_score(torch.from_numpy(score))
        for old in ('au_label', 'au_mask', 'gt_aus', 'gt_au_mask'):
            if old in sample:
                delattr(sample, old)
        if self._au_names is not None:
            sample.set_field(torch.from_numpy(unified['gt_aus'].copy()), 'gt_aus', dtype=torch.Tensor)
            sample.set_field(torch.from_numpy(unified['gt_au_mask'].copy()), 'gt_au_mask', dtype=torch.Tensor)
        sample.set_metainfo(dict(source=s, sample_idx=unified['sample_idx']))
        return packed

    def __getitem__(self, idx) -> dict:
        return self.prepare_data(idx)

    def __repr__(self) -> str:
        parts = ', '.join(
            f'{type(d).__name__}[{n}]{"+".join(sp["labels"])}'
            for d, n, sp in zip(self.datasets, self.source_sizes, self._specs)
        )
        return f'MultiSourceDataset({parts})'
