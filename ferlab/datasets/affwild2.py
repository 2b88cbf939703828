"""Aff-Wild2 expression annotations of the ABAW challenges (EXPR track)."""

from __future__ import annotations

import os
import os.path as osp

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


@DATASETS.register_module()
class AffWild2(BaseFERDataset):
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
        if self.ann_dir is not None:
            path = self.ann_dir if osp.isabs(self.ann_dir) else osp.join(self.data_root, self.ann_dir)
            if not osp.isdir(path):
                raise InputFileNotFoundError(
                    f'AffWild2: ann_dir {path!r} does not exist; {self.docs_hint()}.'
                )
            return path
        tried, found = [], []
        for parent in EXPR_PARENTS:
            for child in SPLIT_FOLDERS[self.split]:
                path = osp.join(self.data_root, parent, child)
                tried.append(path)
                if osp.isdir(path):
                    found.append(path)
        if not found:
            raise InputFileNotFoundError(
                f'AffWild2: no {self.split} EXPR annotation folder under {self.data_root!r}; tried '
                f'{tried}. Pass ann_dir=...; {self.docs_hint()}.'
            )
        if len(found) > 1:
            raise ValueError(
                f'AffWild2: several EXPR annotation folders found {found}; choose one with ann_dir=...'
            )
        return found[0]

    def load_annotations(self) -> list[dict]:
        ann_dir = self.find_ann_dir()
        img_root = osp.join(self.data_root, self.img_dir)
        txts = sorted(f for f in os.listdir(ann_dir) if f.endswith('.txt'))
        if not txts:
            raise DatasetFormatError(ann_dir, None, 'one <video>.txt per video', 'no .txt files')
        data_list: list[dict] = []
        for txt in txts:
            data_list.extend(self._load_video(osp.join(ann_dir, txt), img_root))
        logger = MMLogger.get_current_instance()
        if self.num_unannotated:
            logger.info(f'AffWild2 ({self.split}): skipped {self.num_unannotated} unannotated frames (-1)')
        if self.num_missing_images:
            logger.warning(
                f'AffWild2 ({self.split}): skipped {self.num_missing_images} annotated frames whose image '
                f'is missing under {img_root}'
            )
        return data_list

    def _load_video(self, path: str, img_root: str) -> list[dict]:
        video = osp.splitext(osp.basename(path))[0]
        frame_dir = osp.join(img_root, video)
        present = set(os.listdir(frame_dir)) if osp.isdir(frame_dir) else set()
        n = len(AFFWILD2_CLASSES)
        out = []
        with open(path, encoding='utf-8') as f:
            header = f.readline()
            if header.strip().replace(' ', '') != EXPR_HEADER:
                raise DatasetFormatError(path, 1, f'the header {EXPR_HEADER!r}', header.strip())
            for lineno, line in enumerate(f, 2):
                text = line.strip()
                try:
                    label = int(text)
                except ValueError:
                    raise DatasetFormatError(
                        path, lineno, f'one integer label in -1..{n - 1}', text
                    ) from None
                if not -1 <= label < n:
                    raise DatasetFormatError(path, lineno, f'a label in -1..{n - 1}', label)
                if label == -1:
                    self.num_unannotated += 1
                    continue
                frame = lineno - 1
                name = f'{frame:05d}.jpg'
                if name not in present:
                    self.num_missing_images += 1
                    continue
                out.append(
                    dict(img_path=osp.join(frame_dir, name), gt_label=label, video_id=video, frame_idx=frame)
                )
        return out
