"""EmotioNet (Benitez-Quiroz et al., CVPR 2016): in-the-wild faces with 16 annotated AUs."""

from __future__ import annotations

import os.path as osp

import numpy as np
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS

from .au_vocabulary import EMOTIONET_AUS, AUConfigError, au_names
from .base_fer_dataset import BaseFERDataset, DatasetFormatError

#: The value EmotioNet's label files use for an AU that was not annotated.
EMOTIONET_UNKNOWN = 999


@DATASETS.register_module()
class EmotioNet(BaseFERDataset):
    """EmotioNet AU labels, read from label lists in the layout public loaders use.

    Layout under ``data_root``::

        label/train.txt          # "N_0000000001_00001.jpg 0 1 0 0 1 0 0 1 0 0 0 0 0 1 0 999"
        images/N_0000000001_00001.jpg

    Each line is an image name (relative to ``img_dir``; sub-folders allowed)
    followed by 16 AU values separated by white space, in the order of
    :data:`~ferlab.datasets.au_vocabulary.EMOTIONET_AUS` (AU1, 2, 4, 5, 6, 9, 10,
    12, 15, 17, 18, 20, 24, 25, 26, 28: the first 16 of EmotioNet's AUs, as in
    AU-ViT Sec. IV-A). Values are ``0`` (absent), ``1`` (present) or ``999``
    (not annotated). ``gt_aus`` is the ``(16,)`` float 0/1 vector and
    ``gt_au_mask`` ``(16,)`` float is 0 where the file says 999 (such an AU is
    unknown, never a negative). Images whose 16 values are all 999 carry no
    label; they are skipped, counted (``num_unlabeled``) and logged. The dataset
    has no expression label (``HAS_EXPRESSION = False``). ``metainfo['au_names']``
    is ``('AU01', 'AU02', …, 'AU28')``.

    Args:
        data_root: EmotioNet root.
        ann_file: Label list relative to ``data_root`` (one per split; EmotioNet
            ships no fixed split).
        img_dir: Image folder relative to ``data_root``.
        **kwargs: :class:`BaseFERDataset` arguments (not ``classes`` /
            ``label_map``).
    """

    METAINFO = dict(classes=())
    DOCS_ANCHOR = 'emotionet'
    HAS_EXPRESSION = False
    AUS = EMOTIONET_AUS

    def __init__(self, data_root: str, ann_file: str = 'label/train.txt', img_dir: str = 'images', **kwargs):
        if kwargs.get('classes') is not None or kwargs.get('label_map') is not None:
            raise AUConfigError('EmotioNet carries AU labels only; classes/label_map do not apply')
        self.img_dir = img_dir
        self.num_unlabeled = 0
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        metainfo['au_names'] = au_names(self.AUS)
        super().__init__(data_root=data_root, ann_file=ann_file, metainfo=metainfo, **kwargs)

    def load_annotations(self) -> list[dict]:
        path = self.require_file(self.ann_file, 'EmotioNet label list')
        img_root = osp.join(self.data_root, self.img_dir)
        n = len(self.AUS)
        expected = f'"<image name> a1 ... a{n}" ({n} AU values, each 0, 1 or {EMOTIONET_UNKNOWN})'
        data_list = []
        self.num_unlabeled = 0
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != n + 1:
                    raise DatasetFormatError(
                        path, lineno, f'{expected}: {n + 1} fields', f'{len(parts)} fields'
                    )
                name, values = parts[0], parts[1:]
                if not osp.splitext(name)[1]:
                    raise DatasetFormatError(path, lineno, f'{expected}: an image file name first', name)
                try:
                    raw = np.array([int(v) for v in values], dtype=np.int64)
                except ValueError:
                    bad = next(v for v in values if not v.lstrip('-').isdigit())
                    raise DatasetFormatError(path, lineno, f'{expected}: integers', bad) from None
                invalid = ~np.isin(raw, (0, 1, EMOTIONET_UNKNOWN))
                if invalid.any():
                    k = int(np.flatnonzero(invalid)[0])
                    raise DatasetFormatError(
                        path,
                        lineno,
                        f'0, 1 or {EMOTIONET_UNKNOWN} for AU{self.AUS[k]} (value {k + 1})',
                        int(raw[k]),
                    )
                known = raw != EMOTIONET_UNKNOWN
                if not known.any():
                    self.num_unlabeled += 1
                    continue
                data_list.append(
                    dict(
                        img_path=osp.join(img_root, name),
                        gt_aus=np.where(known, raw, 0).astype(np.float32),
                        gt_au_mask=known.astype(np.float32),
                    )
                )
        if self.num_unlabeled:
            MMLogger.get_current_instance().info(
                f'EmotioNet: skipped {self.num_unlabeled} images of {path} whose 16 AUs are all '
                f'{EMOTIONET_UNKNOWN} (not annotated)'
            )
        return data_list
