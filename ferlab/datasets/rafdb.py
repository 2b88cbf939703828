"""RAF-DB (Real-world Affective Faces, basic subset)."""

from __future__ import annotations

import os.path as osp

from ferlab.registry import DATASETS

from .base_fer_dataset import BaseFERDataset, DatasetFormatError
from .categories import RAFDB_CLASSES


@DATASETS.register_module()
class RAFDB(BaseFERDataset):
    """RAF-DB basic, read from the files exactly as distributed.

    Layout under ``data_root``::

        basic/EmoLabel/list_patition_label.txt   # "train_00001.jpg 5" (labels 1..7)
        basic/Image/aligned/train_00001_aligned.jpg
        basic/Image/original/train_00001.jpg

    Class order (file labels 1..7 → 0..6): Surprise, Fear, Disgust,
    Happiness, Sadness, Anger, Neutral.

    Args:
        split: ``'train'`` or ``'test'`` (by the name prefix in the list).
        ann_file: Label list relative to ``data_root``.
        img_dir: Image folder relative to ``data_root``.
        aligned: Use ``<stem>_aligned.jpg`` in ``basic/Image/aligned``
            (the 100×100 aligned faces); else the original images.
        subset_file: Optional list restricting the test split to a subset:
            the occlusion list (``test_0003_aligned 3 4``) or a pose list
            (``0/test_0004_aligned.jpg``). Labels in these lists are checked
            against the main list.
    """

    METAINFO = dict(classes=RAFDB_CLASSES)
    DOCS_ANCHOR = 'raf-db'

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        ann_file: str = 'basic/EmoLabel/list_patition_label.txt',
        img_dir: str | None = None,
        aligned: bool = True,
        subset_file: str | None = None,
        **kwargs,
    ):
        if split not in ('train', 'test'):
            raise ValueError(f"RAFDB split must be 'train' or 'test', got {split!r}")
        self.split = split
        self.aligned = aligned
        self.img_dir = img_dir or ('basic/Image/aligned' if aligned else 'basic/Image/original')
        self.subset_file = subset_file
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    def load_annotations(self) -> list[dict]:
        ann_path = self.require_file(self.ann_file, 'label list')
        img_root = osp.join(self.data_root, self.img_dir)
        n = len(RAFDB_CLASSES)
        entries: dict[str, int] = {}
        data_list = []
        with open(ann_path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != 2 or not parts[1].isdigit() or not parts[0].endswith('.jpg'):
                    raise DatasetFormatError(ann_path, lineno, '"<name>.jpg <label 1..7>"', line.rstrip())
                name, label = parts[0], int(parts[1])
                if not 1 <= label <= n:
                    raise DatasetFormatError(ann_path, lineno, f'a label in 1..{n}', label)
                if not name.startswith(('train_', 'test_')):
                    raise DatasetFormatError(ann_path, lineno, 'a name starting with train_ or test_', name)
                stem = name[: -len('.jpg')]
                entries[stem] = label - 1
                if not name.startswith(self.split + '_'):
                    continue
                img_name = f'{stem}_aligned.jpg' if self.aligned else name
                data_list.append(dict(img_path=osp.join(img_root, img_name), gt_label=label - 1))
        if self.subset_file is not None:
            data_list = self._restrict_to_subset(data_list, entries, img_root)
        return data_list

    def _restrict_to_subset(self, data_list: list[dict], entries: dict, img_root: str) -> list[dict]:
        path = self.subset_file
        if not osp.isabs(path):
            path = osp.join(self.data_root, path)
        self.require_file(path, 'subset list')
        keep: list[str] = []
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if '/' in parts[0]:  # pose lists: "0/test_0004_aligned.jpg"
                    label_str, fname = parts[0].split('/', 1)
                    stem = osp.splitext(fname)[0]
                elif len(parts) >= 2:  # occlusion list: "test_0003_aligned 3 4"
                    stem, label_str = parts[0], parts[1]
                else:
                    raise DatasetFormatError(
                        path,
                        lineno,
                        '"test_XXXX_aligned <label> <type>" or "<label>/test_XXXX_aligned.jpg"',
                        line.rstrip(),
                    )
                if not label_str.isdigit():
                    raise DatasetFormatError(path, lineno, 'a 0-based integer label', label_str)
                base = stem[: -len('_aligned')] if stem.endswith('_aligned') else stem
                if base not in entries:
                    raise DatasetFormatError(path, lineno, f'an image listed in {self.ann_file}', stem)
                if entries[base] != int(label_str):
                    raise DatasetFormatError(
                        path, lineno, f'label {entries[base]} as in {self.ann_file}', int(label_str)
                    )
                keep.append(base)
        keep_set = set(keep)
        return [
            d
            for d in data_list
            if osp.basename(d['img_path']).replace('_aligned', '').rsplit('.', 1)[0] in keep_set
        ]
