"""JAFFE (the Japanese Female Facial Expression database, Lyons et al.)."""

from __future__ import annotations

import os
import os.path as osp
import re

from mmengine.logging import MMLogger

from ferlab.registry import DATASETS
from ferlab.utils.errors import FerlabInputError

from .base_fer_dataset import BaseFERDataset, DatasetFormatError
from .categories import RAFDB_CLASSES, canonical

#: The two-letter expression codes of JAFFE file names.
JAFFE_CODES = ('NE', 'AN', 'DI', 'FE', 'HA', 'SA', 'SU')
#: ``<subject>.<code><n>.<number>.tiff``, e.g. ``KA.AN1.39.tiff``.
JAFFE_NAME = re.compile(r'^(?P<subject>[A-Z]{2})\.(?P<code>[A-Z]{2})(?P<n>\d+)\.(?P<num>\d+)\.tiff?$')
JAFFE_EXTENSIONS = ('.tiff', '.tif')


class SplitArgumentError(FerlabInputError, ValueError):
    """A split argument (split name, fold, ratio) that the dataset cannot serve."""


def subject_folds(subjects, num_folds: int) -> dict[str, int]:
    """``{subject: fold}``: the sorted subjects dealt round-robin into ``num_folds`` folds."""
    return {s: i % num_folds for i, s in enumerate(sorted(set(subjects)))}


@DATASETS.register_module()
class JAFFE(BaseFERDataset):
    """JAFFE: 213 grayscale 256×256 TIFFs of 10 subjects, read as distributed.

    Layout: the TIFFs directly under ``data_root`` (the ``jaffedbase`` folder
    of the distribution)::

        <data_root>/KA.AN1.39.tiff      # <subject>.<code><n>.<image number>.tiff

    The expression is the two-letter code (NE, AN, DI, FE, HA, SA, SU), the
    subject the two letters before the first dot; data infos carry
    ``subject``. Labels are in the RAF-DB order (Surprise, Fear, Disgust,
    Happiness, Sadness, Anger, Neutral), the codes matched to it by name
    (:func:`~ferlab.datasets.categories.canonical`); ``classes=`` gives
    another order. A ``.tiff`` whose name does not follow the pattern or has
    another code is an error naming the file; other files (the README, ``.DS_Store``)
    are skipped, counted in ``num_skipped`` and logged. The grayscale images
    are read as 3-channel BGR (equal channels) by ``LoadImageFromFile``.

    Split. JAFFE has no official protocol; ferlab uses subject-independent
    folds: the sorted subjects are dealt round-robin into ``num_folds``
    folds (10 = leave one subject out, the default); ``split='test'`` is the
    subjects of fold ``fold``, ``'train'`` all others, ``'all'`` everything.

    Args:
        data_root: Folder holding the TIFFs.
        split: ``'train'``, ``'test'`` or ``'all'``.
        fold: Held-out fold, ``0 .. num_folds-1``.
        num_folds: Number of subject folds (2 .. number of subjects).
        **kwargs: :class:`BaseFERDataset` arguments.
    """

    METAINFO = dict(classes=RAFDB_CLASSES)
    DOCS_ANCHOR = 'jaffe'

    def __init__(self, data_root: str, split: str = 'train', fold: int = 0, num_folds: int = 10, **kwargs):
        if split not in ('train', 'test', 'all'):
            raise SplitArgumentError(f"JAFFE split must be 'train', 'test' or 'all', got {split!r}")
        if num_folds < 2 or not 0 <= fold < num_folds:
            raise SplitArgumentError(f'JAFFE: need num_folds >= 2 and 0 <= fold < num_folds, got fold={fold}, '
                             f'num_folds={num_folds}')  # fmt: skip
        self.split, self.fold, self.num_folds = split, int(fold), int(num_folds)
        self.num_skipped = 0
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(data_root=data_root, **kwargs)

    def load_annotations(self) -> list[dict]:
        root = self.data_root
        target = {canonical(c): i for i, c in enumerate(RAFDB_CLASSES)}
        code_label = {code: target[canonical(code)] for code in JAFFE_CODES}
        infos, skipped = [], 0
        for name in sorted(os.listdir(root)):
            path = osp.join(root, name)
            if osp.splitext(name)[1].lower() not in JAFFE_EXTENSIONS or not osp.isfile(path):
                skipped += 1
                continue
            m = JAFFE_NAME.match(name)
            if m is None or m['code'] not in code_label:
                raise DatasetFormatError(
                    path, None,
                    f'a JAFFE name <subject>.<code><n>.<number>.tiff with code one of {JAFFE_CODES} '
                    f'(e.g. KA.AN1.39.tiff)', name,
                )  # fmt: skip
            infos.append(dict(img_path=path, gt_label=code_label[m['code']], subject=m['subject']))
        if not infos:
            raise DatasetFormatError(root, None, 'the 213 JAFFE .tiff images (e.g. KA.AN1.39.tiff)', 'none')
        self.num_skipped = skipped
        folds = subject_folds([d['subject'] for d in infos], self.num_folds)
        if len(folds) < self.num_folds:
            raise SplitArgumentError(
                f'JAFFE: {len(folds)} subjects under {root} cannot fill num_folds={self.num_folds} folds'
            )
        self.test_subjects = tuple(s for s, f in sorted(folds.items()) if f == self.fold)
        logger = MMLogger.get_current_instance()
        logger.info(
            f'JAFFE: {len(infos)} images of {len(folds)} subjects under {root} (the database has 213 of 10)'
        )
        if skipped:
            logger.info(f'JAFFE: skipped {skipped} files under {root} that are not .tiff images')
        if self.split == 'all':
            return infos
        held_out = set(self.test_subjects)
        return [d for d in infos if (d['subject'] in held_out) == (self.split == 'test')]
