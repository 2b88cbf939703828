"""Base class of every ferlab dataset: class orders, label maps, mutable labels."""

from __future__ import annotations

import copy
import os.path as osp
from typing import Any, Sequence

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger
from torch.utils.data import get_worker_info

from ferlab.utils.errors import FerlabInputError, InputFileNotFoundError

from .categories import name_label_map, resolve_label_group
from .seeding import sample_seeds, seeded_global_rngs


class DatasetFormatError(FerlabInputError, ValueError):
    """An annotation file does not have the format its owners ship."""

    def __init__(self, path: str, line: int | None, expected: str, got: Any = None):
        where = f'{path}, line {line}' if line is not None else path
        msg = f'{where}: expected {expected}'
        if got is not None:
            msg += f', got {got!r}'
        super().__init__(msg)
        self.path, self.line = path, line


class BaseFERDataset(BaseDataset):
    """Common behaviour of ferlab's FER datasets.

    Subclasses set ``METAINFO = dict(classes=(...))`` in the order the files
    use, a ``DOCS_ANCHOR`` (section of docs/datasets.md) and implement
    :meth:`load_annotations`, returning dicts with at least ``gt_label``
    (native 0-based index) and ``img_path`` or ``img``; optional keys:
    ``gt_score`` (``(C,)`` vote distribution in native order), ``au_label``,
    ``au_mask``, ``video_id``, ``frame_idx``, ``domain``, ``clean_label``,
    ``frame_labels`` (``(T,)`` per-frame labels of a clip, -1 = unlabeled).

    Label orders. ``classes=`` re-orders labels to another class order by
    name ('Happy' ≡ 'Happiness'); ``label_map={native: target}`` gives the map
    explicitly (with ``classes`` naming the target order). Samples whose class
    maps to -1 are dropped; the count is logged. Per-frame ``frame_labels`` of a
    clip are mapped the same way; a frame whose class has no counterpart becomes
    unlabeled (-1).

    Mutable labels. :meth:`set_gt_label` overwrites the label served for a
    stored sample (relabeling); a sample with a soft target (``gt_score``) then
    serves the one-hot of its new label, so a loss that trains on ``gt_score``
    sees the relabel too (see :meth:`get_data_info`). :meth:`label_state_dict` /
    :meth:`load_label_state_dict` save and restore the overrides (a hook puts
    them into checkpoints). Test-mode datasets refuse to be relabeled.

    Augmentation randomness. After :meth:`set_aug_seed` (the
    ``EpochSeedHook`` calls it every epoch) sample ``idx`` of epoch ``e`` is
    augmented from RNGs seeded by ``(seed, e, idx)``: the same for any
    ``num_workers``, batch or resume point, fresh in every epoch (see
    :mod:`ferlab.datasets.seeding`).

    Args:
        data_root: Dataset root directory; a missing root raises
            ``FileNotFoundError`` naming it and the docs section.
        ann_file: Annotation file relative to ``data_root``.
        pipeline: Transform configs.
        test_mode: Evaluation split (labels are immutable).
        classes: Target class order (names).
        label_map: Explicit ``{native_index: target_index}``; -1 drops. Or the
            name of a label group of :data:`ferlab.datasets.categories.LABEL_GROUPS`
            (``'affwild2_coarse'``, ``'affwild2_negative'``: the CFC-SP coarse and
            negative classes), which also sets ``classes``.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO: dict = dict(classes=())
    DOCS_ANCHOR: str = ''
    #: False for datasets that carry AU labels only (no ``gt_label``), e.g. RAF-AU.
    HAS_EXPRESSION: bool = True

    def __init__(
        self,
        data_root: str = '',
        ann_file: str = '',
        pipeline: Sequence = (),
        test_mode: bool = False,
        classes: Sequence[str] | None = None,
        label_map: dict[int, int] | str | None = None,
        metainfo: dict | None = None,
        **kwargs,
    ):
        # A subclass whose class order depends on its arguments (AffectNet-7/8,
        # ImageFolderFER) passes it as ``metainfo['classes']``.
        self.native_classes = tuple((metainfo or {}).get('classes', self.METAINFO['classes']))
        if isinstance(label_map, str):  # a named label group of ferlab.datasets.categories
            group_classes, label_map = resolve_label_group(label_map, self.native_classes)
            if classes is not None and tuple(classes) != group_classes:
                raise ValueError(
                    f'{type(self).__name__}: classes={tuple(classes)} contradict the label group '
                    f'{group_classes}; leave classes unset with a named label_map'
                )
            classes = group_classes
        self._target_classes = tuple(classes) if classes is not None else None
        if label_map is not None and classes is None:
            raise ValueError('label_map needs classes=(...) naming the target class order')
        self._label_map = dict(label_map) if label_map is not None else None
        self._label_overrides: dict[int, int] = {}
        self._served_labels: np.ndarray | None = None
        metainfo = dict(metainfo or {})
        if self._target_classes is not None:
            metainfo['classes'] = self._target_classes
        kwargs.setdefault('max_refetch', 0)
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            pipeline=pipeline,
            test_mode=test_mode,
            **kwargs,
        )

    # ------------------------------------------------------------------ loading
    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.metainfo['classes'])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def docs_hint(self) -> str:
        return f'see docs/datasets.md#{self.DOCS_ANCHOR}' if self.DOCS_ANCHOR else 'see docs/datasets.md'

    def check_root(self) -> None:
        """Raise ``FileNotFoundError`` if ``data_root`` is set but missing."""
        if self.data_root and not osp.isdir(self.data_root):
            raise InputFileNotFoundError(
                f'{type(self).__name__}: data root {osp.abspath(self.data_root)!r} does not exist. '
                f'Set data_root in the dataset config or with --cfg-options; {self.docs_hint()}.'
            )

    def require_file(self, path: str, what: str) -> str:
        """Return ``path`` or raise ``FileNotFoundError`` naming it."""
        if not osp.isfile(path):
            raise InputFileNotFoundError(
                f'{type(self).__name__}: {what} {path!r} does not exist; {self.docs_hint()}.'
            )
        return path

    def load_annotations(self) -> list[dict]:
        """Read the owners' files; labels in native order. Implemented by subclasses."""
        raise NotImplementedError(f'{type(self).__name__} must implement load_annotations()')

    def load_data_list(self) -> list[dict]:
        self.check_root()
        data_list = self.load_annotations()
        if self.HAS_EXPRESSION:
            # Native labels are checked before any re-ordering: an out-of-range
            # label must be an error, not a sample silently dropped by the map.
            self._check_labels(data_list, self.native_classes)
            mapping = self._effective_label_map()
            if mapping is not None:
                data_list = self._apply_label_map(data_list, mapping)
        if not data_list:
            raise ValueError(
                f'{type(self).__name__}: split {self.ann_file or self.data_root!r} is empty '
                f'(no usable samples); {self.docs_hint()}.'
            )
        if self.HAS_EXPRESSION:
            self._check_labels(data_list, self.classes)
        return data_list

    def _check_labels(self, data_list: list[dict], classes: Sequence[str]) -> None:
        n = len(classes)
        for info in data_list:
            label = info['gt_label']
            if not 0 <= label < n:
                raise ValueError(
                    f'{type(self).__name__}: {info.get("img_path", "sample")} has label {label} '
                    f'outside 0..{n - 1} ({tuple(classes)})'
                )

    def _effective_label_map(self) -> dict[int, int] | None:
        if self._label_map is not None:
            return self._label_map
        if self._target_classes is not None and self._target_classes != self.native_classes:
            return name_label_map(self.native_classes, self._target_classes)
        return None

    def _apply_label_map(self, data_list: list[dict], mapping: dict[int, int]) -> list[dict]:
        n_dst = len(self._target_classes)
        out, dropped = [], 0
        for info in data_list:
            dst = mapping.get(info['gt_label'], -1)
            if dst < 0:
                dropped += 1
                continue
            info = dict(info, gt_label=dst)
            for key in ('clean_label',):
                if key in info and info[key] is not None and info[key] >= 0:
                    info[key] = mapping.get(info[key], -1)
            if info.get('frame_labels') is not None:  # per-frame labels of a clip; -1 = unlabeled
                frames = np.asarray(info['frame_labels'], dtype=np.int64)
                info['frame_labels'] = np.array(
                    [mapping.get(int(v), -1) if v >= 0 else -1 for v in frames], dtype=np.int64
                )
            if info.get('gt_score') is not None:
                src = np.asarray(info['gt_score'], dtype=np.float32)
                score = np.zeros(n_dst, dtype=np.float32)
                for s, d in mapping.items():
                    if d >= 0 and s < len(src):
                        score[d] += src[s]
                total = score.sum()
                info['gt_score'] = score / total if total > 0 else score
            out.append(info)
        if dropped:
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: dropped {dropped} of {len(data_list)} samples whose class '
                f'has no counterpart in {self._target_classes}'
            )
        self.num_dropped_by_label_map = dropped
        return out

    # --------------------------------------------------- augmentation randomness
    #: ``(3,)`` int64 ``[enabled, seed, epoch]`` in shared memory once set (persistent workers see updates).
    _aug_key: torch.Tensor | None = None

    def set_aug_seed(self, seed: int | None, epoch: int = 0) -> None:
        """Make the pipeline's randomness a function of ``(seed, epoch, idx, draw)``.

        From now on, sample ``idx`` is augmented with numpy's, Python's and
        torch's global RNGs seeded from
        :func:`~ferlab.datasets.seeding.sample_seeds` ``(seed, epoch, idx,
        draw)`` (``draw``: see :class:`~ferlab.datasets.seeding.DrawIndex`),
        whichever process, worker or batch loads it; in the main process the
        caller's RNG states are restored afterwards. The
        :class:`~ferlab.engine.hooks.EpochSeedHook` calls this before every
        epoch with the runner's seed. The values live in a shared-memory
        tensor, so persistent dataloader workers started earlier see the new
        epoch too. Until it is called (or with ``seed=None``) the pipeline
        draws from whatever state the global RNGs are in.

        Args:
            seed: Base seed (the runner's); ``None`` switches per-sample seeding off.
            epoch: Training epoch (0 for evaluation splits).
        """
        if self._aug_key is None:
            self._aug_key = torch.zeros(3, dtype=torch.int64)
        if not self._aug_key.is_shared():
            self._aug_key.share_memory_()
        if seed is None:
            self._aug_key[0] = 0
            return
        self._aug_key[1] = int(seed) % (1 << 63)
        self._aug_key[2] = int(epoch)
        self._aug_key[0] = 1

    @property
    def aug_seed(self) -> tuple[int, int] | None:
        """``(seed, epoch)`` set by :meth:`set_aug_seed`, or ``None``."""
        if self._aug_key is None or not int(self._aug_key[0]):
            return None
        return int(self._aug_key[1]), int(self._aug_key[2])

    def prepare_data(self, idx) -> Any:
        """Run the pipeline on sample ``idx`` (an ``int`` or a :class:`DrawIndex`), seeded per sample."""
        draw = getattr(idx, 'draw', 0)
        idx = int(idx)
        data_info = self.get_data_info(idx)
        enabled, seed, epoch = (0, 0, 0) if self._aug_key is None else self._aug_key.tolist()
        if not enabled:
            return self.pipeline(data_info)
        in_main_process = get_worker_info() is None
        with seeded_global_rngs(*sample_seeds(seed, epoch, idx, draw), restore=in_main_process):
            return self.pipeline(data_info)

    # ----------------------------------------------------------- mutable labels
    def _stored_index(self, idx: int) -> int:
        """``idx`` in ``-N..N-1`` → the stored sample's index ``0..N-1`` (``IndexError`` outside)."""
        n = len(self)
        idx = int(idx)
        if not -n <= idx < n:
            raise IndexError(f'{type(self).__name__}: sample index {idx} outside -{n}..{n - 1}')
        return idx + n if idx < 0 else idx

    def get_data_info(self, idx: int) -> dict:
        """The data info of sample ``idx`` (negative counts from the end) as served now.

        ``sample_idx`` is the stored index ``0..N-1``. For a relabeled sample
        ``gt_label`` is the new label and ``ori_label`` the annotated one; if the
        sample has a soft target, ``gt_score`` becomes the one-hot ``(C,)`` of the
        new label and ``ori_score`` keeps the annotated distribution. (The relabel
        rule, SCN/MVT Eq. 5/6, decides that the annotation is wrong; its vote
        distribution is then no target either.)
        """
        idx = self._stored_index(idx)
        info = super().get_data_info(idx)
        info['sample_idx'] = idx
        if idx in self._label_overrides:
            label = self._label_overrides[idx]
            info['ori_label'] = info['gt_label']
            info['gt_label'] = label
            if info.get('gt_score') is not None:
                info['ori_score'] = info['gt_score']
                one_hot = np.zeros(len(info['gt_score']), dtype=np.float32)
                one_hot[label] = 1.0
                info['gt_score'] = one_hot
        return info

    def get_gt_labels(self) -> np.ndarray:
        """``(N,)`` int64 labels as currently served (overrides applied)."""
        if not self.HAS_EXPRESSION:
            raise RuntimeError(f'{type(self).__name__} carries AU labels only; it has no gt_label')
        if self._served_labels is None:
            self.full_init()
            self._served_labels = np.array(
                [super(BaseFERDataset, self).get_data_info(i)['gt_label'] for i in range(len(self))],
                dtype=np.int64,
            )
        labels = self._served_labels.copy()
        for idx, label in self._label_overrides.items():
            labels[idx] = label
        return labels

    def get_cat_ids(self, idx: int) -> list[int]:
        if not self.HAS_EXPRESSION:
            raise RuntimeError(f'{type(self).__name__} carries AU labels only; it has no gt_label')
        return [int(self.get_data_info(idx)['gt_label'])]

    def set_gt_label(self, idx: int, label: int) -> None:
        """Serve ``label`` for stored sample ``idx`` (negative counts from the end) from now on.

        A soft target of the sample is replaced by the one-hot of ``label``
        (:meth:`get_data_info`).
        """
        if not self.HAS_EXPRESSION:
            raise RuntimeError(f'{type(self).__name__} carries AU labels only; it has no gt_label')
        if self.test_mode:
            raise RuntimeError(f'{type(self).__name__} is a test-mode split; its labels are immutable')
        if not 0 <= label < self.num_classes:
            raise ValueError(f'label {label} outside 0..{self.num_classes - 1}')
        self._label_overrides[self._stored_index(idx)] = int(label)

    def reset_labels(self) -> None:
        self._label_overrides.clear()

    def label_state_dict(self) -> dict:
        """``dict(overrides={stored_idx: label}, length=N)``: all that relabeling changed.

        Soft targets are derived from the overrides when served, so this state
        restores them too.
        """
        return dict(overrides=copy.deepcopy(self._label_overrides), length=len(self))

    def load_label_state_dict(self, state: dict) -> None:
        """Replace the overrides with those of :meth:`label_state_dict` (same dataset length)."""
        if state.get('length', len(self)) != len(self):
            raise ValueError(
                f'label state is for a dataset of {state["length"]} samples, this one has {len(self)}'
            )
        overrides = {}
        for k, v in state.get('overrides', {}).items():
            if not 0 <= int(v) < self.num_classes:
                raise ValueError(f'label state: sample {k} has label {v} outside 0..{self.num_classes - 1}')
            overrides[self._stored_index(k)] = int(v)
        self._label_overrides = overrides
