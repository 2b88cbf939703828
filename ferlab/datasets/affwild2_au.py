"""Aff-Wild2 action-unit annotations of the ABAW challenges (AU track)."""

from __future__ import annotations

import os
import os.path as osp

import numpy as np
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS
from ferlab.utils.errors import InputFileNotFoundError

from .affwild2 import SPLIT_FOLDERS, AffWild2, _FrameTable
from .au_vocabulary import AFFWILD2_AUS, AUConfigError, au_names
from .base_fer_dataset import BaseFERDataset, DatasetFormatError

AU_HEADER = ','.join(f'AU{a}' for a in AFFWILD2_AUS)
#: Where the editions put the AU annotation folders (relative to data_root), in search order.
AU_PARENTS = (
    'AU_Set',
    'annotations/AU_Set',
    'AU_Detection_Challenge',
    'Third ABAW Annotations/AU_Detection_Challenge',
    'annotations/AU_Detection_Challenge',
)


@DATASETS.register_module()
class AffWild2AU(BaseFERDataset, _FrameTable):
    """Aff-Wild2 frames with ABAW AU labels, read from the files as distributed.

    Layout under ``data_root``::

        cropped_aligned/<video>/00001.jpg            # 1-indexed frames
        <AU folder>/Train_Set/<video>.txt            # or Training_Set
        <AU folder>/Validation_Set/<video>.txt

    ``<AU folder>`` is found among the edition names ``AU_Set`` (ABAW 2020-21)
    and ``AU_Detection_Challenge`` (ABAW 3-6), also under ``annotations/`` or
    ``Third ABAW Annotations/``; ``ann_dir`` chooses one explicitly. Each txt
    has the header ``AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26``
    and then one line per frame of 12 comma-separated values: 0, 1, or -1
    (invalid). Line ``k+1`` ↔ frame ``k`` ↔ ``cropped_aligned/<video>/%05d.jpg``.

    ``gt_aus`` is the ``(12,)`` float 0/1 vector in the header's order
    (``metainfo['au_names']`` = ``('AU01', 'AU02', 'AU04', …, 'AU26')``) and
    ``gt_au_mask`` is 0 where the file says -1 (unknown, never a negative).
    Frames whose 12 values are all -1 and frames whose image is missing are
    skipped, counted (``num_unannotated``, ``num_missing_images``) and logged.
    No expression label (``HAS_EXPRESSION = False``). Data infos carry
    ``video_id`` and ``frame_idx`` (1-indexed), like :class:`AffWild2`; the
    frames are stored as numpy columns (about 20 bytes a frame).

    Args:
        data_root: Aff-Wild2 root.
        split: ``'train'`` or ``'val'``.
        ann_dir: Folder of the split's txt files (relative to ``data_root`` or
            absolute); ``None`` detects it.
        img_dir: Folder of the cropped-aligned frames, relative to ``data_root``.
        **kwargs: :class:`BaseFERDataset` arguments (not ``classes`` / ``label_map``).
    """

    METAINFO = dict(classes=())
    DOCS_ANCHOR = 'aff-wild2-au'
    HAS_EXPRESSION = False

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        ann_dir: str | None = None,
        img_dir: str = 'cropped_aligned',
        **kwargs,
    ):
        if split not in SPLIT_FOLDERS:
            raise AUConfigError(f"AffWild2AU split must be 'train' or 'val', got {split!r}")
        if kwargs.get('classes') is not None or kwargs.get('label_map') is not None:
            raise AUConfigError('AffWild2AU carries AU labels only; classes/label_map do not apply')
        self.split, self.ann_dir, self.img_dir = split, ann_dir, img_dir
        self.num_unannotated = self.num_missing_images = 0
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        metainfo['au_names'] = au_names(AFFWILD2_AUS)
        kwargs.setdefault('test_mode', split == 'val')
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)

    def find_ann_dir(self) -> str:
        """The split's AU annotation folder: ``ann_dir`` or the one edition folder found."""
        if self.ann_dir is not None:
            path = self.ann_dir if osp.isabs(self.ann_dir) else osp.join(self.data_root, self.ann_dir)
            if not osp.isdir(path):
                raise InputFileNotFoundError(
                    f'AffWild2AU: ann_dir {path!r} does not exist; {self.docs_hint()}.'
                )
            return path
        tried = [osp.join(self.data_root, p, c) for p in AU_PARENTS for c in SPLIT_FOLDERS[self.split]]
        found = [p for p in tried if osp.isdir(p)]
        if not found:
            raise InputFileNotFoundError(
                f'AffWild2AU: no {self.split} AU annotation folder under {self.data_root!r}; tried {tried}. '
                f'Pass ann_dir=...; {self.docs_hint()}.'
            )
        if len(found) > 1:
            raise AUConfigError(
                f'AffWild2AU: several AU annotation folders found {found}; choose one with ann_dir=...'
            )
        return found[0]

    # ------------------------------------------------------------ frame table
    def full_init(self) -> None:
        """Build the frame table: video index, frame index and ``(N, 12)`` int8 values (-1 = unknown)."""
        if self._fully_initialized:
            return
        self.check_root()
        self.num_unannotated = self.num_missing_images = 0
        self._img_root = osp.join(self.data_root, self.img_dir)
        videos, vid, frame, value = self._read_video_columns(self.find_ann_dir())
        logger = MMLogger.get_current_instance()
        if self.num_unannotated:
            logger.info(
                f'AffWild2AU ({self.split}): skipped {self.num_unannotated} frames whose 12 AUs are all -1'
            )
        if self.num_missing_images:
            logger.warning(
                f'AffWild2AU ({self.split}): skipped {self.num_missing_images} annotated frames whose image is '
                f'missing under {self._img_root}'
            )
        if not len(vid):
            raise AUConfigError(
                f'AffWild2AU: split {self.split!r} under {self.data_root!r} is empty (no usable samples); '
                f'{self.docs_hint()}.'
            )
        if self._indices is not None:
            keep = AffWild2._subset_rows(len(vid), self._indices)
            vid, frame, value = vid[keep], frame[keep], value[keep]
        self._videos, self._vid, self._frame, self._values = videos, vid, frame, value
        self._fully_initialized = True

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return len(self._vid)

    def load_annotations(self) -> list[dict]:
        """All samples as data-info dicts (for inspection; the dataset itself keeps numpy columns)."""
        self.full_init()
        return [self._row(i) for i in range(len(self))]

    def _row(self, idx: int) -> dict:
        v, frame = int(self._vid[idx]), int(self._frame[idx])
        raw = self._values[idx]
        return dict(
            img_path=osp.join(self._img_root, self._videos[v], f'{frame:05d}.jpg'),
            gt_aus=(raw == 1).astype(np.float32),
            gt_au_mask=(raw >= 0).astype(np.float32),
            video_id=self._videos[v],
            frame_idx=frame,
            sample_idx=idx,
        )

    def _load_video(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """``(frame_idx int32, values (n, 12) int8)`` of a video's annotated frames that have an image."""
        video = osp.splitext(osp.basename(path))[0]
        n = len(AFFWILD2_AUS)
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
        header = lines[0].strip().replace(' ', '') if lines else ''
        if header != AU_HEADER:
            raise DatasetFormatError(path, 1, f'the header {AU_HEADER!r}', header)
        values = np.zeros((len(lines) - 1, n), np.int8)
        for k, line in enumerate(lines[1:]):
            cells = line.split(',')
            if len(cells) != n:
                raise DatasetFormatError(
                    path, k + 2, f'{n} comma-separated values (0, 1 or -1)', line.strip()
                )
            try:
                row = [int(c) for c in cells]
            except ValueError:
                bad = next(c.strip() for c in cells if not c.strip().lstrip('-').isdigit())
                raise DatasetFormatError(path, k + 2, 'integers 0, 1 or -1', bad) from None
            for a, v in zip(AFFWILD2_AUS, row):
                if v not in (-1, 0, 1):
                    raise DatasetFormatError(path, k + 2, f'0, 1 or -1 for AU{a}', v)
            values[k] = row
        frame = np.arange(1, len(values) + 1, dtype=np.int32)  # line k + 1 <-> frame k
        annotated = (values >= 0).any(axis=1)
        self.num_unannotated += int((~annotated).sum())
        has_img = np.zeros(len(values) + 1, bool)
        frame_dir = osp.join(self._img_root, video)
        if osp.isdir(frame_dir):
            for name in os.listdir(frame_dir):  # one listdir per video
                stem = name[:-4]
                if name.endswith('.jpg') and stem.isdigit() and 0 < int(stem) <= len(values):
                    has_img[int(stem)] = f'{int(stem):05d}.jpg' == name
        has_img = has_img[1:]
        self.num_missing_images += int((annotated & ~has_img).sum())
        keep = annotated & has_img
        return frame[keep], values[keep]
