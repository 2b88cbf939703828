"""FERPlus: FER2013 images relabeled by 10 raters (Barsoum et al., 2016)."""

from __future__ import annotations

import csv
import os.path as osp

import numpy as np
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS

from .base_fer_dataset import BaseFERDataset, DatasetFormatError
from .categories import FERPLUS_CLASSES

FER2013_HEADER = ['emotion', 'pixels', 'Usage']
FERPLUS_HEADER = [
    'Usage', 'Image name', 'neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear',
    'contempt', 'unknown', 'NF',
]  # fmt: skip
#: ``split`` → FER2013 ``Usage`` value and generated folder name.
SPLIT_USAGE = {'train': 'Training', 'val': 'PublicTest', 'test': 'PrivateTest'}
SPLIT_FOLDER = {'train': 'FER2013Train', 'val': 'FER2013Valid', 'test': 'FER2013Test'}
NUM_VOTE_COLUMNS = 10  # 8 emotions + unknown + NF
NUM_PIXELS = 48 * 48


def ferplus_target(votes: np.ndarray, label_mode: str) -> tuple[int, np.ndarray | None] | None:
    """Turn one row of 10 vote counts into a training target.

    Args:
        votes: ``(10,)`` counts in ``fer2013new.csv`` column order (8 emotions,
            unknown, NF).
        label_mode: ``'majority'``: drop single votes, keep the image when
            the top class holds > 50 % of the remaining votes and is an
            emotion (not unknown / NF). ``'distribution'``: the 8 emotion
            votes normalised; the image is kept when it has emotion votes and
            its top vote (over all 10 columns) is an emotion.

    Returns:
        ``(gt_label, gt_score)`` (``gt_score`` ``(8,)`` float32 or ``None``), or
        ``None`` when the image is excluded by the protocol.
    """
    votes = votes.astype(np.float64)
    if label_mode == 'majority':
        kept = np.where(votes > 1, votes, 0.0)
        total = kept.sum()
        top = int(np.argmax(kept))
        if total <= 0 or kept[top] <= 0.5 * total or top >= len(FERPLUS_CLASSES):
            return None
        return top, None
    emo = votes[: len(FERPLUS_CLASSES)]
    if emo.sum() <= 0 or int(np.argmax(votes)) >= len(FERPLUS_CLASSES):
        return None
    score = (emo / emo.sum()).astype(np.float32)
    return int(np.argmax(score)), score


@DATASETS.register_module()
class FERPlus(BaseFERDataset):
    """FERPlus, read from Microsoft's files exactly as distributed.

    Two layouts under ``data_root``:

    * ``layout='csv'``: Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``;
      2,304 space-separated ints = 48×48 gray) row-aligned with FERPlus'
      ``fer2013new.csv`` (``Usage,Image name,neutral,…,contempt,unknown,NF``,
      10-rater vote counts). Rows with an empty image name are skipped
      (counted in ``num_skipped_no_name`` and logged). The decoded image is
      put into the data info as ``img`` (``(48, 48)`` uint8).
    * ``layout='folders'``: the output of FERPlus' ``generate_training_data.py``:
      ``FER2013Train|FER2013Valid|FER2013Test/label.csv`` with header-less rows
      ``fer0000000.png,"(0, 0, 48, 48)",<10 counts>`` and the PNGs beside it.

    ``split`` ``'train'|'val'|'test'`` = Usage ``Training|PublicTest|PrivateTest``.
    Class order (the vote columns): Neutral, Happiness, Surprise, Sadness,
    Anger, Disgust, Fear, Contempt. The FER2013 ``emotion`` column is not used.

    Label modes: ``'majority'`` (the FERPlus majority protocol: drop single
    votes, keep the image if its top class has > 50 % of the remaining votes
    and is not unknown / NF) and ``'distribution'`` (``gt_score`` = emotion
    votes normalised, ``gt_label`` = its argmax). Images excluded by the
    protocol are counted in ``num_excluded`` and logged. A training sample
    relabeled with ``set_gt_label`` serves the one-hot of its new label as
    ``gt_score`` (the votes stay in ``ori_score``), so the soft-label loss
    follows relabeling.

    Args:
        data_root: Folder holding the csv files or the ``FER2013*`` folders.
        split: ``'train'``, ``'val'`` or ``'test'``.
        layout: ``'csv'`` or ``'folders'``.
        label_mode: ``'majority'`` or ``'distribution'``.
        fer2013_csv: Kaggle csv, relative to ``data_root``.
        ferplus_csv: FERPlus vote csv, relative to ``data_root``.
        **kwargs: :class:`BaseFERDataset` arguments (``pipeline``,
            ``classes``, ``label_map`` …).
    """

    METAINFO = dict(classes=FERPLUS_CLASSES)
    DOCS_ANCHOR = 'ferplus'

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        layout: str = 'csv',
        label_mode: str = 'majority',
        fer2013_csv: str = 'fer2013.csv',
        ferplus_csv: str = 'fer2013new.csv',
        **kwargs,
    ):
        if split not in SPLIT_USAGE:
            raise ValueError(f'FERPlus split must be one of {tuple(SPLIT_USAGE)}, got {split!r}')
        if layout not in ('csv', 'folders'):
            raise ValueError(f"FERPlus layout must be 'csv' or 'folders', got {layout!r}")
        if label_mode not in ('majority', 'distribution'):
            raise ValueError(f"FERPlus label_mode must be 'majority' or 'distribution', got {label_mode!r}")
        self.split, self.layout, self.label_mode = split, layout, label_mode
        self.fer2013_csv = fer2013_csv
        self.num_skipped_no_name = 0
        self.num_excluded = 0
        ann_file = ferplus_csv if layout == 'csv' else osp.join(SPLIT_FOLDER[split], 'label.csv')
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    def load_annotations(self) -> list[dict]:
        if self.layout == 'csv':
            data_list = self._load_csv()
        else:
            data_list = self._load_folders()
        logger = MMLogger.get_current_instance()
        if self.num_skipped_no_name:
            logger.info(f'FERPlus: skipped {self.num_skipped_no_name} rows with an empty image name')
        if self.num_excluded:
            logger.info(
                f'FERPlus ({self.split}, {self.label_mode}): excluded {self.num_excluded} images by the '
                f'protocol (no clear majority or top vote unknown/NF); kept {len(data_list)}'
            )
        return data_list

    def _votes(self, cells: list[str], path: str, lineno: int) -> np.ndarray:
        try:
            votes = np.array([int(c) for c in cells], dtype=np.int64)
        except ValueError:
            raise DatasetFormatError(path, lineno, f'{NUM_VOTE_COLUMNS} integer vote counts', cells) from None
        if len(votes) != NUM_VOTE_COLUMNS or (votes < 0).any():
            raise DatasetFormatError(path, lineno, f'{NUM_VOTE_COLUMNS} non-negative vote counts', cells)
        return votes

    def _add(self, data_list: list[dict], votes: np.ndarray, **info) -> None:
        target = ferplus_target(votes, self.label_mode)
        if target is None:
            self.num_excluded += 1
            return
        label, score = target
        info['gt_label'] = label
        if score is not None:
            info['gt_score'] = score
        data_list.append(info)

    def _load_csv(self) -> list[dict]:
        fer_path = self.require_file(osp.join(self.data_root, self.fer2013_csv), 'FER2013 csv')
        new_path = self.require_file(self.ann_file, 'FERPlus vote csv')
        usage = SPLIT_USAGE[self.split]
        data_list: list[dict] = []
        with (
            open(fer_path, newline='', encoding='utf-8') as f_old,
            open(new_path, newline='', encoding='utf-8') as f_new,
        ):
            old_rows, new_rows = csv.reader(f_old), csv.reader(f_new)
            _check_header(next(old_rows, None), FER2013_HEADER, fer_path)
            _check_header(next(new_rows, None), FERPLUS_HEADER, new_path)
            lineno = 1
            for old, new in _zip_aligned(old_rows, new_rows, fer_path, new_path):
                lineno += 1
                if len(old) != 3:
                    raise DatasetFormatError(fer_path, lineno, '3 columns emotion,pixels,Usage', old)
                if len(new) != len(FERPLUS_HEADER):
                    raise DatasetFormatError(
                        new_path, lineno, f'{len(FERPLUS_HEADER)} columns {",".join(FERPLUS_HEADER)}', new
                    )
                if old[2] != new[0]:
                    raise DatasetFormatError(
                        new_path, lineno, f'Usage {old[2]!r} as in {fer_path} (files not row-aligned)', new[0]
                    )
                if new[0] not in SPLIT_USAGE.values():
                    raise DatasetFormatError(
                        new_path, lineno, f'Usage in {tuple(SPLIT_USAGE.values())}', new[0]
                    )
                if new[0] != usage:
                    continue
                name = new[1].strip()
                if not name:
                    self.num_skipped_no_name += 1
                    continue
                votes = self._votes(new[2:], new_path, lineno)
                self._add(data_list, votes, img=_decode_pixels(old[1], fer_path, lineno), img_path=name)
        return data_list

    def _load_folders(self) -> list[dict]:
        path = self.require_file(self.ann_file, 'FERPlus label.csv')
        folder = osp.dirname(path)
        data_list: list[dict] = []
        with open(path, newline='', encoding='utf-8') as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if not row:
                    continue
                if len(row) != 2 + NUM_VOTE_COLUMNS or not row[0].endswith('.png'):
                    raise DatasetFormatError(
                        path,
                        lineno,
                        'header-less rows "fer0000000.png,\\"(0, 0, 48, 48)\\",<10 vote counts>"',
                        ','.join(row),
                    )
                votes = self._votes(row[2:], path, lineno)
                self._add(data_list, votes, img_path=osp.join(folder, row[0]))
        return data_list


def _check_header(row: list[str] | None, expected: list[str], path: str) -> None:
    if row is None:
        raise DatasetFormatError(path, 1, f'the header {",".join(expected)!r}', 'an empty file')
    if [c.strip() for c in row] != expected:
        raise DatasetFormatError(path, 1, f'the header {",".join(expected)!r}', ','.join(row))


def _zip_aligned(a, b, path_a: str, path_b: str):
    """Zip two csv readers, raising if they have different lengths."""
    lineno = 1
    while True:
        ra, rb = next(a, None), next(b, None)
        lineno += 1
        if ra is None and rb is None:
            return
        if ra is None or rb is None:
            short = path_a if ra is None else path_b
            raise DatasetFormatError(
                short,
                lineno,
                f'as many rows as {path_b if ra is None else path_a} (row-aligned files)',
                'EOF',
            )
        yield ra, rb


def _decode_pixels(pixels: str, path: str, lineno: int) -> np.ndarray:
    """``'70 80 …'`` (2,304 ints) → ``(48, 48)`` uint8 gray image."""
    try:
        values = np.array(pixels.split(), dtype=np.int64)
    except ValueError:
        raise DatasetFormatError(
            path, lineno, f'{NUM_PIXELS} space-separated integers', pixels[:40]
        ) from None
    if values.size != NUM_PIXELS or (values < 0).any() or (values > 255).any():
        raise DatasetFormatError(
            path, lineno, f'{NUM_PIXELS} space-separated integers in 0..255', f'{values.size} values'
        )
    return values.astype(np.uint8).reshape(48, 48)
