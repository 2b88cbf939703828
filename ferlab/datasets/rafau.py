"""RAF-AU (Yan et al., ACCV 2020): in-the-wild faces with FACS action units."""

from __future__ import annotations

import os.path as osp
import re
from typing import Sequence

import numpy as np
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS

from .au_vocabulary import au_names
from .base_fer_dataset import BaseFERDataset, DatasetFormatError
from .categories import RAFAU_AUS

_AU_TOKEN = re.compile(r'^([LRTB]?)(\d+)$')


@DATASETS.register_module()
class RAFAU(BaseFERDataset):
    """RAF-AU, read from the label file exactly as distributed; AU labels only.

    Layout under ``data_root``::

        RAFAU_label.txt            # "0001.jpg 1+2+4+L12", "0002.jpg null"
        aligned/0001_aligned.jpg

    Each line names an image and its AUs joined by ``+``; an ``L``/``R``
    (also ``T``/``B``) prefix marks a one-sided AU, which counts as present;
    ``null`` means no AU. ``gt_aus`` is a ``(A,)`` float multi-hot vector
    over the AU list (``gt_au_mask`` all 1). The default list is
    :data:`~ferlab.datasets.categories.RAFAU_AUS`: the 21 expression-related
    AUs AU-ViT uses (AU1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 20,
    22, 23, 24, 25, 26, 27, ascending). AUs outside the list are ignored and
    counted (``num_ignored_aus``). The dataset has no expression label
    (``HAS_EXPRESSION = False``: no ``gt_label``) and no official split; use
    mmengine's ``indices=`` for subsets. ``metainfo['au_names']`` lists the
    AUs (``'AU01'`` …, :mod:`~ferlab.datasets.au_vocabulary`).

    Args:
        data_root: RAF-AU root.
        ann_file: Label file relative to ``data_root``.
        img_dir: Aligned image folder relative to ``data_root``.
        num_aus: ``n`` (the first ``n`` AUs of ``RAFAU_AUS``) or an explicit
            sequence of AU numbers, e.g. ``(1, 2, 4, 6, 12)``.
        **kwargs: :class:`BaseFERDataset` arguments (not ``classes`` /
            ``label_map``).
    """

    METAINFO = dict(classes=())
    DOCS_ANCHOR = 'raf-au'
    HAS_EXPRESSION = False

    def __init__(
        self,
        data_root: str,
        ann_file: str = 'RAFAU_label.txt',
        img_dir: str = 'aligned',
        num_aus: int | Sequence[int] = 21,
        **kwargs,
    ):
        if kwargs.get('classes') is not None or kwargs.get('label_map') is not None:
            raise ValueError('RAFAU carries AU labels only; classes/label_map do not apply')
        if isinstance(num_aus, int):
            if not 1 <= num_aus <= len(RAFAU_AUS):
                raise ValueError(f'RAFAU num_aus must be in 1..{len(RAFAU_AUS)}, got {num_aus}')
            aus = RAFAU_AUS[:num_aus]
        else:
            aus = tuple(int(a) for a in num_aus)
            if not aus or len(set(aus)) != len(aus):
                raise ValueError(f'RAFAU AU list must be non-empty without duplicates, got {num_aus}')
        self.aus = aus
        self.img_dir = img_dir
        self.num_ignored_aus = 0
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        metainfo['au_names'] = au_names(aus)
        super().__init__(data_root=data_root, ann_file=ann_file, metainfo=metainfo, **kwargs)

    def load_annotations(self) -> list[dict]:
        path = self.require_file(self.ann_file, 'RAF-AU label file')
        img_root = osp.join(self.data_root, self.img_dir)
        index = {a: i for i, a in enumerate(self.aus)}
        expected = '"<name>.jpg <AU>+<AU>…" (AU = number with optional L/R/T/B prefix) or "<name>.jpg null"'
        data_list = []
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != 2 or not parts[0].lower().endswith('.jpg'):
                    raise DatasetFormatError(path, lineno, expected, line.rstrip())
                name, spec = parts
                label = np.zeros(len(self.aus), dtype=np.float32)
                if spec.lower() != 'null':
                    for token in spec.split('+'):
                        m = _AU_TOKEN.match(token)
                        if m is None:
                            raise DatasetFormatError(path, lineno, expected, token)
                        au = int(m.group(2))
                        if au in index:
                            label[index[au]] = 1.0
                        else:
                            self.num_ignored_aus += 1
                stem = osp.splitext(name)[0]
                data_list.append(
                    dict(
                        img_path=osp.join(img_root, f'{stem.zfill(4)}_aligned.jpg'),
                        gt_aus=label,
                        gt_au_mask=np.ones(len(self.aus), dtype=np.float32),
                    )
                )
        if self.num_ignored_aus:
            MMLogger.get_current_instance().info(
                f'RAFAU: ignored {self.num_ignored_aus} AU occurrences outside the AU list {self.aus}'
            )
        return data_list
