"""Aff-Wild2 expression annotations of the ABAW challenges (EXPR track)."""

from __future__ import annotations

import os
import os.path as osp

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS
from ferlab.utils.errors import InputFileNotFoundError

from .base_fer_dataset import BaseFERDataset, DatasetFormatError
from .categories import AFFWILD2_CLASSES

EXPR_HEADER = ','.join(AFFWILD2_CLASSES)
#: Where the editions put the EXPR annotation folders (relative to data_root), in search order.
EXPR_PARENTS = (
    'EXPR_Set',
    'annotations/EXPR_Set',
    'EXPR_Classification_Challenge',
    'Third ABAW Annotations/EXPR_Classification_Challenge',
    'annotations/EXPR_Classification_Challenge',
    'EXPR_Recognition_Challenge',
    'annotations/EXPR_Recognition_Challenge',
)
SPLIT_FOLDERS = {'train': ('Train_Set', 'Training_Set'), 'val': ('Validation_Set',)}


def find_expr_ann_dir(data_root: str, split: str, ann_dir: str | None = None, hint: str = '') -> str:
    """The EXPR annotation folder of ``split``: ``ann_dir`` (relative to ``data_root`` or absolute)
    or the one edition folder of :data:`EXPR_PARENTS` found under ``data_root``."""
    hint = hint or 'see docs/datasets.md#aff-wild2'
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"AffWild2 split must be 'train' or 'val', got {split!r}")
    if ann_dir is not None:
        path = ann_dir if osp.isabs(ann_dir) else osp.join(data_root, ann_dir)
        if not osp.isdir(path):
            raise InputFileNotFoundError(f'AffWild2: ann_dir {path!r} does not exist; {hint}.')
        return path
    tried, found = [], []
    for parent in EXPR_PARENTS:
        for child in SPLIT_FOLDERS[split]:
            path = osp.join(data_root, parent, child)
            tried.append(path)
            if osp.isdir(path):
                found.append(path)
    if not found:
        raise InputFileNotFoundError(
            f'AffWild2: no {split} EXPR annotation folder under {data_root!r}; tried '
            f'{tried}. Pass ann_dir=...; {hint}.'
        )
    if len(found) > 1:
        raise ValueError(
            f'AffWild2: several EXPR annotation folders found {found}; choose one with ann_dir=...'
        )
    return found[0]


class _FrameTable(BaseDataset):
    """mmengine-level storage of :class:`AffWild2`: rows come from numpy columns, not a list of dicts."""

    def get_data_info(self, idx: int) -> dict:
        return self._row(int(idx))

    def get_subset_(self, indices) -> None:
        raise NotImplementedError('AffWild2 keeps numpy columns; select samples with indices=... instead')

    def get_subset(self, indices):
        raise NotImplementedError('AffWild2 keeps numpy columns; select samples with indices=... instead')

    def _read_video_columns(self, ann_dir: str) -> tuple[tuple, np.ndarray, np.ndarray, np.ndarray]:
        """Every ``<video>.txt`` of ``ann_dir`` through ``self._load_video``, concatenated.

        Returns:
            ``(video names, video index (N,) int32, frame index (N,), values (N, ...))``.
        """
        txts = sorted(f for f in os.listdir(ann_dir) if f.endswith('.txt'))
        if not txts:
            raise DatasetFormatError(ann_dir, None, 'one <video>.txt per video', 'no .txt files')
        videos, vids, frames, values = [], [], [], []
        for txt in txts:
            frame, value = self._load_video(osp.join(ann_dir, txt))
            vids.append(np.full(len(frame), len(videos), np.int32))
            videos.append(osp.splitext(txt)[0])
            frames.append(frame)
            values.append(value)
        return tuple(videos), np.concatenate(vids), np.concatenate(frames), np.concatenate(values)


@DATASETS.register_module()
class AffWild2(BaseFERDataset, _FrameTable):
    """Aff-Wild2 frames with ABAW EXPR labels, read from the files as distributed.

    Layout under ``data_root``::

        cropped_aligned/<video>/00001.jpg            # 1-indexed frames
        <EXPR folder>/Train_Set/<video>.txt          # or Training_Set
        <EXPR folder>/Validation_Set/<video>.txt

    ``<EXPR folder>`` is found automatically among the edition names
    ``EXPR_Set`` (ABAW 2020-21), ``EXPR_Classification_Challenge`` (ABAW 3-5),
    ``EXPR_Recognition_Challenge`` (ABAW 6), also under ``annotations/`` or
    ``Third ABAW Annotations/``; pass ``ann_dir`` (the folder holding the
    txt files) to choose one explicitly. Each txt has the header line
    ``Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other`` and then
    one label per frame: line ``k+1`` ↔ frame ``k`` ↔
    ``cropped_aligned/<video>/%05d.jpg``. Unannotated frames (-1) and frames
    whose image is missing are skipped, counted (``num_unannotated``,
    ``num_missing_images``) and logged. Class order: the header's.

    Data infos carry ``video_id`` (the txt stem, e.g. ``10-60-1280x720_right``)
    and ``frame_idx`` (1-indexed).

    Args:
        data_root: Aff-Wild2 root.
        split: ``'train'`` or ``'val'``.
        ann_dir: Folder of the split's txt files (relative to ``data_root`` or
            absolute); ``None`` detects it.
        img_dir: Folder of the cropped-aligned frames, relative to ``data_root``.
        **kwargs: :class:`BaseFERDataset` arguments.
    """

    METAINFO = dict(classes=AFFWILD2_CLASSES)
    DOCS_ANCHOR = 'aff-wild2'

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        ann_dir: str | None = None,
        img_dir: str = 'cropped_aligned',
        **kwargs,
    ):
        if split not in SPLIT_FOLDERS:
            raise ValueError(f"AffWild2 split must be 'train' or 'val', got {split!r}")
        self.split, self.ann_dir, self.img_dir = split, ann_dir, img_dir
        self.num_unannotated = 0
        self.num_missing_images = 0
        kwargs.setdefault('test_mode', split == 'val')
        super().__init__(data_root=data_root, **kwargs)

    def find_ann_dir(self) -> str:
        """The split's annotation folder: ``ann_dir`` or the one edition folder found."""
        return find_expr_ann_dir(self.data_root, self.split, self.ann_dir, self.docs_hint())

    # ------------------------------------------------------------ frame table
    def full_init(self) -> None:
        """Build the frame table (numpy columns); replaces mmengine's list of dicts.

        The table is three ``(N,)`` arrays (video index int32, frame index int32,
        label int64) plus the video names: about 16 bytes per frame instead of a
        dict of strings, so the real EXPR train set (about 2.8 M frames) indexes in
        tens of MB. Label maps (``classes=`` / ``label_map=``) and ``indices``
        apply to the columns.
        """
        if self._fully_initialized:
            return
        self.check_root()
        self.num_unannotated = self.num_missing_images = 0
        self._img_root = osp.join(self.data_root, self.img_dir)
        videos, vid, frame, label = self._load_columns()
        mapping = self._effective_label_map()
        self.num_dropped_by_label_map = 0
        if mapping is not None:
            lut = np.full(len(self.native_classes), -1, np.int64)
            for src, dst in mapping.items():
                if 0 <= src < len(lut):
                    lut[src] = dst
            label = lut[label]
            keep = label >= 0
            dropped = int((~keep).sum())
            if dropped:
                MMLogger.get_current_instance().warning(
                    f'AffWild2: dropped {dropped} of {len(label)} samples whose class has no counterpart in '
                    f'{self._target_classes}'
                )
            self.num_dropped_by_label_map = dropped
            vid, frame, label = vid[keep], frame[keep], label[keep]
        if not len(label):
            raise ValueError(
                f'AffWild2: split {self.split!r} under {self.data_root!r} is empty (no usable samples); '
                f'{self.docs_hint()}.'
            )
        bad = (label < 0) | (label >= self.num_classes)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f'AffWild2: {self._img_path(int(vid[i]), int(frame[i]), videos)} has label {int(label[i])} '
                f'outside 0..{self.num_classes - 1} ({self.classes})'
            )
        if self._indices is not None:
            keep = self._subset_rows(len(label), self._indices)
            vid, frame, label = vid[keep], frame[keep], label[keep]
        self._videos, self._vid, self._frame, self._label = videos, vid, frame, label
        self._served_labels = label
        self._fully_initialized = True

    @staticmethod
    def _subset_rows(num: int, indices) -> np.ndarray:
        if isinstance(indices, int):  # mmengine: the first (or, negative, the last) ``indices`` samples
            return np.arange(num)[:indices] if indices >= 0 else np.arange(num)[indices:]
        return np.asarray(list(indices), dtype=np.int64)

    def _img_path(self, v: int, frame: int, videos=None) -> str:
        return osp.join(self._img_root, (videos or self._videos)[v], f'{frame:05d}.jpg')

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return len(self._label)

    def load_annotations(self) -> list[dict]:
        """All samples as data-info dicts (for inspection; the dataset itself keeps numpy columns)."""
        self.full_init()
        return [self._row(i) for i in range(len(self))]

    def _row(self, idx: int) -> dict:
        v = int(self._vid[idx])
        frame = int(self._frame[idx])
        return dict(
            img_path=self._img_path(v, frame),
            gt_label=int(self._label[idx]),
            video_id=self._videos[v],
            frame_idx=frame,
            sample_idx=idx,
        )

    def _load_columns(self):
        columns = self._read_video_columns(self.find_ann_dir())
        logger = MMLogger.get_current_instance()
        if self.num_unannotated:
            logger.info(f'AffWild2 ({self.split}): skipped {self.num_unannotated} unannotated frames (-1)')
        if self.num_missing_images:
            logger.warning(
                f'AffWild2 ({self.split}): skipped {self.num_missing_images} annotated frames whose image '
                f'is missing under {self._img_root}'
            )
        return columns

    def _load_video(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """``(frame_idx int32, label int64)`` of a video's annotated frames that have an image."""
        video = osp.splitext(osp.basename(path))[0]
        n = len(AFFWILD2_CLASSES)
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
        header = lines[0] if lines else ''
        if header.strip().replace(' ', '') != EXPR_HEADER:
            raise DatasetFormatError(path, 1, f'the header {EXPR_HEADER!r}', header.strip())
        body = lines[1:]
        try:
            label = np.array(body, dtype=np.int64) if body else np.zeros(0, np.int64)
        except ValueError:
            for lineno, line in enumerate(body, 2):
                try:
                    int(line.strip())
                except ValueError:
                    raise DatasetFormatError(
                        path, lineno, f'one integer label in -1..{n - 1}', line.strip()
                    ) from None
            raise
        bad = (label < -1) | (label >= n)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DatasetFormatError(path, i + 2, f'a label in -1..{n - 1}', int(label[i]))
        frame = np.arange(1, len(label) + 1, dtype=np.int32)  # line k + 1 <-> frame k
        annotated = label >= 0
        self.num_unannotated += int((~annotated).sum())
        has_img = np.zeros(len(label) + 1, bool)
        frame_dir = osp.join(self._img_root, video)
        if osp.isdir(frame_dir):
            for name in os.listdir(frame_dir):  # one listdir per video
                stem = name[:-4]
                if name.endswith('.jpg') and stem.isdigit():
                    k = int(stem)
                    if 0 < k <= len(label) and f'{k:05d}.jpg' == name:
                        has_img[k] = True
        has_img = has_img[1:]
        self.num_missing_images += int((annotated & ~has_img).sum())
        keep = annotated & has_img
        return frame[keep], label[keep]
