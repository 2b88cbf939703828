"""Occlusion and pose test subsets of Wang et al. (RAN, TIP 2020) as filters of any FER test split."""

from __future__ import annotations

import os.path as osp
import re
from typing import Sequence

import numpy as np
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS
from ferlab.utils.errors import FerlabInputError, InputFileNotFoundError

from .base_fer_dataset import DatasetFormatError
from .categories import AFFECTNET8_CLASSES, FERPLUS_CLASSES, RAFDB_CLASSES, name_label_map
from .seeding import DrawIndex

#: Class orders of the released lists' labels, by dataset (``list_classes='affectnet'``).
LIST_CLASSES = dict(rafdb=RAFDB_CLASSES, ferplus=FERPLUS_CLASSES, affectnet=AFFECTNET8_CLASSES)


class SubsetListError(FerlabInputError, ValueError):
    """A condition list cannot be applied to the configured split (one-line message)."""


# The line formats of kaiwang960112/Challenge-condition-FER-dataset (one regex each; CRLF allowed):
_FORMATS = (
    # FERplus_dir/jianfei_occlusion_list.txt: "1_fer0034656.png 8 0" (label prefix; two integers; tried first)
    ('ferplus_occlusion', re.compile(r'^(?P<label>\d+)_(?P<key>[^\s/]+\.\w+)\s+\d+\s+(?P<tag>\d+)$')),
    # RAF_DB_dir/rafdb_occlusion_list.txt: "test_0003_aligned 3 4" (0-based label, occlusion type)
    ('rafdb_occlusion', re.compile(r'^(?P<key>[^\s/]+)\s+(?P<label>\d+)\s+(?P<tag>\d+)$')),
    # AffectNet_dir/occlusion_affectnet_list.txt: "val/0/bc9ad4...b79/" (folder = expression code)
    ('affectnet_occlusion', re.compile(r'^val/(?P<label>\d+)/(?P<key>[^\s/]+)/?$')),
    # AffectNet_dir/pose_45_affectnet_list.txt: "7/3c0282...203/8.jpg" (label, image-name folder, crop file)
    ('affectnet_pose45', re.compile(r'^(?P<label>\d+)/(?P<key>[^\s/]+)/[^\s/]+\.\w+$')),
    # the other pose lists: "0/test_0004_aligned.jpg", "0/fer0032226.jpg", "0/83dac9....jpg"
    ('pose', re.compile(r'^(?P<label>\d+)/(?P<key>[^\s/]+)$')),
)
EXPECTED = (
    '"<name> <label> <type>" (RAF-DB occlusion), "<label>_<name>.png <n> <type>" (FERPlus occlusion), '
    '"val/<label>/<name>/" (AffectNet occlusion), "<label>/<name>/<crop>.jpg" (AffectNet pose-45) or '
    '"<label>/<name>.jpg" (pose lists)'
)


def sample_key(name: str) -> str:
    """The name both lists and datasets agree on: file stem without ``_aligned``."""
    stem = osp.splitext(osp.basename(name.rstrip('/')))[0]
    return stem[: -len('_aligned')] if stem.endswith('_aligned') else stem


def read_condition_list(path: str) -> list[tuple[int, str, int, int | None]]:
    """Parse a list of the release: ``[(line, key, label, tag)]`` in file order.

    ``label`` is the 0-based class in the list's dataset's own order; ``tag``
    the occlusion type of the occlusion lists (``None`` for pose lists).

    Raises:
        DatasetFormatError: a line matches none of the formats (file and line named).
    """
    entries = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            for _, regex in _FORMATS:
                m = regex.match(line)
                if m is not None:
                    tag = m.groupdict().get('tag')
                    entries.append(
                        (lineno, sample_key(m.group('key')), int(m.group('label')), tag and int(tag))
                    )
                    break
            else:
                raise DatasetFormatError(path, lineno, EXPECTED, line)
    if not entries:
        raise DatasetFormatError(path, None, EXPECTED, 'an empty file')
    return entries


@DATASETS.register_module()
class ConditionSubset:
    """The samples of a FER split named by an occlusion or pose list, in the split's order.

    Wang et al. (Region Attention Networks, TIP 2020) released hand-picked
    test subsets (github.com/kaiwang960112/Challenge-condition-FER-dataset):
    Occlusion-RAF-DB (``rafdb_occlusion_list.txt``, 735 lines), Occlusion-FERPlus
    (``jianfei_occlusion_list.txt``, 605), Occlusion-AffectNet
    (``occlusion_affectnet_list.txt``, 683 lines of the validation set) and the
    Pose-30/45 lists of the three (``val_raf_db_list{,_45}.txt``,
    ``pose_{30,45}_ferplus_list.txt``, ``pose_{30,45}_affectnet_list.txt``). AU-ViT
    reports accuracy on the three occlusion sets. The line formats, detected
    per line:

    ================================ =========================================
    ``test_0003_aligned 3 4``        RAF-DB occlusion: name, label, type
    ``1_fer0034656.png 8 0``         FERPlus occlusion: label prefix, name, two ints
    ``val/0/bc9ad4…9/``              AffectNet occlusion: code folder, name
    ``0/fer0032226.jpg``             pose lists: label folder, name
    ``7/3c0282…203/8.jpg``           AffectNet pose-45: label, name folder, crop file
    ================================ =========================================

    Images are matched by file stem (``_aligned`` and the extension dropped, as
    the lists use ``.jpg`` for FERPlus' ``.png`` faces). Labels are 0-based in
    the list's dataset's own order (RAF-DB 1..7 minus 1, FERPlus vote columns,
    AffectNet codes); ``list_classes`` names that order (default: the wrapped
    dataset's native order), and every listed label is checked against the
    split's. A listed image whose class the split does not use (AffectNet
    Contempt under AffectNet-7) is skipped and counted (``num_outside``);
    repeated lines (the released RAF-DB occlusion list repeats one) are counted
    once (``num_duplicates``). With ``strict`` a listed image missing from the
    split or labelled differently is an error naming the list's line; without
    it such lines are skipped and counted (``num_missing``, ``num_mismatched``).
    All counts are logged. The occlusion type is kept per sample as
    ``condition_tag`` (``None`` for pose lists).

    Args:
        dataset: The test split (config dict or dataset object), any ferlab FER dataset.
        list_file: The list (absolute, or relative to the dataset's ``data_root``).
        list_classes: Class order of the list's labels: names, or ``'rafdb'`` / ``'ferplus'`` /
            ``'affectnet'`` (the 8 codes; needed for AffectNet-7, whose native order lacks
            Contempt); ``None``: the dataset's native order.
        strict: Raise on a missing image or a different label (else skip and count).
    """

    def __init__(
        self, dataset, list_file: str, list_classes: Sequence[str] | None = None, strict: bool = True
    ):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        root = getattr(self.dataset, 'data_root', '') or ''
        path = list_file if osp.isabs(list_file) or not root else osp.join(root, list_file)
        if not osp.isfile(path):
            raise InputFileNotFoundError(
                f'ConditionSubset: list {path!r} does not exist; see docs/datasets.md#occlusion-and-pose-subsets.'
            )
        self.list_file = path
        classes = tuple(self.dataset.metainfo.get('classes', ()))
        native = tuple(getattr(self.dataset, 'native_classes', classes))
        if isinstance(list_classes, str):
            if list_classes not in LIST_CLASSES:
                raise SubsetListError(
                    f'ConditionSubset list_classes must be names or one of {sorted(LIST_CLASSES)}'
                )
            list_classes = LIST_CLASSES[list_classes]
        list_classes = tuple(list_classes) if list_classes is not None else native
        to_split = name_label_map(list_classes, classes)
        labels = self.dataset.get_gt_labels()
        index: dict[str, int] = {}
        for i in range(len(self.dataset)):
            key = sample_key(str(self.dataset.get_data_info(i).get('img_path', '')))
            if key in index:
                raise SubsetListError(
                    f'ConditionSubset: two samples of the split are named {key!r}; cannot match lists'
                )
            index[key] = i
        keep, tags = {}, {}
        self.num_outside = self.num_duplicates = self.num_missing = self.num_mismatched = 0
        for lineno, key, label, tag in read_condition_list(path):
            if not 0 <= label < len(list_classes):
                raise DatasetFormatError(
                    path, lineno, f'a label in 0..{len(list_classes) - 1} ({list_classes})', label
                )
            target = to_split[label]
            if target < 0:
                self.num_outside += 1
                continue
            i = index.get(key)
            if i is None or int(labels[i]) != target:
                if strict:
                    want = (
                        f'an image of the split named {key!r}'
                        if i is None
                        else (
                            f'label {list_classes[label]!r} as the split has ({classes[int(labels[i])]!r} there)'
                        )
                    )
                    raise DatasetFormatError(path, lineno, want + ' (strict=False skips such lines)', key)
                if i is None:
                    self.num_missing += 1
                else:
                    self.num_mismatched += 1
                continue
            if i in keep:
                self.num_duplicates += 1
                continue
            keep[i], tags[i] = lineno, tag
        if not keep:
            raise SubsetListError(f'ConditionSubset: no sample of the split is listed in {path}')
        self._indices = np.array(sorted(keep), dtype=np.int64)
        self._tags = [tags[i] for i in self._indices]
        self.metainfo = dict(self.dataset.metainfo)
        counts = dict(outside=self.num_outside, duplicates=self.num_duplicates, missing=self.num_missing,
                      mismatched=self.num_mismatched)  # fmt: skip
        skipped = ', '.join(f'{v} {k}' for k, v in counts.items() if v)
        MMLogger.get_current_instance().info(
            f'ConditionSubset: {len(self._indices)} of {len(self.dataset)} samples listed in {osp.basename(path)}'
            + (f' (lines skipped: {skipped})' if skipped else '')
        )

    def __len__(self) -> int:
        return len(self._indices)

    def _inner(self, idx: int) -> int:
        return int(self._indices[int(idx)])

    def get_data_info(self, idx: int) -> dict:
        """The split's data info of the ``idx``-th listed sample, with ``condition_tag``."""
        info = dict(self.dataset.get_data_info(self._inner(idx)))
        info['condition_tag'] = self._tags[int(idx)]
        return info

    def prepare_data(self, idx):
        """The split's pipeline on the ``idx``-th listed sample (a :class:`DrawIndex` keeps its draw)."""
        return self.dataset.prepare_data(DrawIndex(self._inner(idx), getattr(idx, 'draw', 0)))

    def __getitem__(self, idx):
        return self.prepare_data(idx)

    def get_gt_labels(self) -> np.ndarray:
        return self.dataset.get_gt_labels()[self._indices]

    def get_cat_ids(self, idx: int) -> list[int]:
        return self.dataset.get_cat_ids(self._inner(idx))

    def __getattr__(self, name):
        # classes, num_classes, test_mode, set_aug_seed, ... are the wrapped split's
        if name == 'dataset' or name.startswith('__'):
            raise AttributeError(name)
        return getattr(self.dataset, name)
