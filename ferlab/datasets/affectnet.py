"""AffectNet (Mollahosseini et al., 2017), manually annotated part."""

from __future__ import annotations

import csv
import os
import os.path as osp

import numpy as np
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS
from ferlab.utils.errors import InputFileNotFoundError

from .base_fer_dataset import BaseFERDataset, DatasetFormatError
from .categories import AFFECTNET7_CLASSES, AFFECTNET8_CLASSES

AFFECTNET_HEADER = [
    'subDirectory_filePath', 'face_x', 'face_y', 'face_width', 'face_height', 'facial_landmarks',
    'expression', 'valence', 'arousal',
]  # fmt: skip
CSV_FILES = {'train': 'training.csv', 'val': 'validation.csv'}
NPY_DIRS = {'train': 'train_set', 'val': 'val_set'}
#: Codes 8, 9, 10 = None, Uncertain, No-Face: never an expression class.
NON_EXPRESSION_CODES = (8, 9, 10)


@DATASETS.register_module()
class AffectNet(BaseFERDataset):
    """AffectNet, read from the files exactly as distributed.

    Two layouts under ``data_root``:

    * ``layout='csv'`` (original release)::

        Manually_Annotated_file_lists/training.csv     # header subDirectory_filePath,face_x,...,arousal
        Manually_Annotated_file_lists/validation.csv   # the header may be missing: detected
        Manually_Annotated_Images/<subDirectory_filePath>

    * ``layout='npy'`` (newer release)::

        train_set/images/<id>.jpg
        train_set/annotations/<id>_exp.npy   # + optional <id>_val.npy, <id>_aro.npy
        val_set/...

    Class order (expression codes): Neutral, Happy, Sad, Surprise, Fear,
    Disgust, Anger, Contempt. ``num_classes=8`` keeps codes 0..7,
    ``num_classes=7`` also drops 7 (Contempt); codes 8/9/10 (None, Uncertain,
    No-Face) are always dropped. Dropped samples are counted per code in
    ``num_dropped`` and logged. Valence/arousal are kept as ``valence`` /
    ``arousal`` in the data info when present. The validation set is the
    test set of the usual protocols (train with ``ClassBalancedSampler``).

    Landmarks (``with_landmarks=True``, default): the csv's ``facial_landmarks``
    (68 ``x;y`` pairs, 136 numbers joined by ``;``) become ``landmarks`` ``(68, 2)``
    float32 pixel coordinates of the image, and ``face_x, face_y, face_width,
    face_height`` become ``face_box`` ``(4,)`` (for :class:`FaceBoxCrop`); the npy
    layout reads an optional ``<id>_lnd.npy`` (136 numbers). A malformed field raises
    one line naming the file, the line and what was expected.

    Args:
        data_root: AffectNet root.
        split: ``'train'`` or ``'val'``.
        num_classes: 7 or 8.
        layout: ``'csv'`` or ``'npy'``.
        img_dir: Image folder of the csv layout, relative to ``data_root``.
        with_landmarks: Parse and serve ``landmarks`` / ``face_box`` (see above).
        **kwargs: :class:`BaseFERDataset` arguments.
    """

    METAINFO = dict(classes=AFFECTNET8_CLASSES)
    DOCS_ANCHOR = 'affectnet'

    def __init__(
        self,
        data_root: str,
        split: str = 'train',
        num_classes: int = 7,
        layout: str = 'csv',
        img_dir: str = 'Manually_Annotated_Images',
        with_landmarks: bool = True,
        **kwargs,
    ):
        if split not in CSV_FILES:
            raise ValueError(f"AffectNet split must be 'train' or 'val', got {split!r}")
        if num_classes not in (7, 8):
            raise ValueError(f'AffectNet num_classes must be 7 or 8, got {num_classes!r}')
        if layout not in ('csv', 'npy'):
            raise ValueError(f"AffectNet layout must be 'csv' or 'npy', got {layout!r}")
        self.split, self.layout, self.img_dir = split, layout, img_dir
        self.with_landmarks = bool(with_landmarks)
        self.num_expression_codes = num_classes
        self.num_dropped: dict[int, int] = {}
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        metainfo['classes'] = AFFECTNET8_CLASSES if num_classes == 8 else AFFECTNET7_CLASSES
        ann_file = (
            osp.join('Manually_Annotated_file_lists', CSV_FILES[split])
            if layout == 'csv'
            else osp.join(NPY_DIRS[split], 'annotations')
        )
        kwargs.setdefault('test_mode', split == 'val')
        super().__init__(data_root=data_root, ann_file=ann_file, metainfo=metainfo, **kwargs)

    def load_annotations(self) -> list[dict]:
        data_list = self._load_csv() if self.layout == 'csv' else self._load_npy()
        if self.num_dropped:
            names = {7: 'Contempt', 8: 'None', 9: 'Uncertain', 10: 'No-Face'}
            detail = ', '.join(f'{names[c]}={n}' for c, n in sorted(self.num_dropped.items()))
            MMLogger.get_current_instance().info(
                f'AffectNet-{self.num_expression_codes} ({self.split}): dropped {detail}; kept {len(data_list)}'
            )
        return data_list

    def _keep(self, code: int, path: str, lineno: int | None) -> bool:
        if not 0 <= code <= 10:
            raise DatasetFormatError(path, lineno, 'an expression code in 0..10', code)
        if code in NON_EXPRESSION_CODES or code >= self.num_expression_codes:
            self.num_dropped[code] = self.num_dropped.get(code, 0) + 1
            return False
        return True

    def _load_csv(self) -> list[dict]:
        path = self.require_file(self.ann_file, 'AffectNet file list')
        img_root = osp.join(self.data_root, self.img_dir)
        expected = ','.join(AFFECTNET_HEADER)
        data_list: list[dict] = []
        with open(path, newline='', encoding='utf-8') as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if not row:
                    continue
                if lineno == 1 and not _is_data_row(row):
                    if [c.strip() for c in row] != AFFECTNET_HEADER:
                        raise DatasetFormatError(
                            path, 1, f'the header {expected!r} or a data row', ','.join(row)
                        )
                    continue
                if len(row) != len(AFFECTNET_HEADER):
                    raise DatasetFormatError(path, lineno, f'{len(AFFECTNET_HEADER)} columns {expected}', row)
                try:
                    code = int(row[6])
                    valence, arousal = float(row[7]), float(row[8])
                except ValueError:
                    raise DatasetFormatError(
                        path, lineno, 'an integer expression and float valence, arousal', row[6:]
                    ) from None
                if not self._keep(code, path, lineno):
                    continue
                info = dict(
                    img_path=osp.join(img_root, row[0]), gt_label=code, valence=valence, arousal=arousal
                )
                if self.with_landmarks:
                    info['landmarks'] = parse_landmarks(row[5], path, lineno)
                    info['face_box'] = _parse_box(row[1:5], path, lineno)
                data_list.append(info)
        return data_list

    def _load_npy(self) -> list[dict]:
        split_dir = osp.join(self.data_root, NPY_DIRS[self.split])
        img_dir, ann_dir = osp.join(split_dir, 'images'), osp.join(split_dir, 'annotations')
        for d in (img_dir, ann_dir):
            if not osp.isdir(d):
                raise InputFileNotFoundError(f'AffectNet: folder {d!r} does not exist; {self.docs_hint()}.')
        data_list: list[dict] = []
        for name in sorted(os.listdir(img_dir)):
            stem, ext = osp.splitext(name)
            if ext.lower() not in ('.jpg', '.jpeg', '.png'):
                continue
            exp_path = self.require_file(osp.join(ann_dir, f'{stem}_exp.npy'), f'annotation of {name}')
            code = _read_npy_scalar(exp_path, int)
            if not self._keep(code, exp_path, None):
                continue
            info = dict(img_path=osp.join(img_dir, name), gt_label=code)
            for key, suffix in (('valence', '_val'), ('arousal', '_aro')):
                p = osp.join(ann_dir, f'{stem}{suffix}.npy')
                if osp.isfile(p):
                    info[key] = _read_npy_scalar(p, float)
            lnd = osp.join(ann_dir, f'{stem}_lnd.npy')
            if self.with_landmarks and osp.isfile(lnd):
                try:
                    arr = np.load(lnd, allow_pickle=False)
                except (ValueError, OSError):
                    raise DatasetFormatError(
                        lnd, None, 'a .npy of 136 landmark numbers', 'an unreadable file'
                    ) from None
                info['landmarks'] = _landmark_array(
                    np.asarray(arr, np.float64).reshape(-1), lnd, None, arr.shape
                )
            data_list.append(info)
        return data_list


def _landmark_array(values: np.ndarray, path: str, lineno: int | None, got) -> np.ndarray:
    if values.size != 136:
        raise DatasetFormatError(
            path, lineno, 'facial_landmarks of 136 numbers (68 x;y pairs)', f'{values.size} numbers'
        )
    if not np.isfinite(values).all():
        raise DatasetFormatError(path, lineno, 'finite facial_landmarks numbers', got)
    return values.reshape(68, 2).astype(np.float32)


def parse_landmarks(field: str, path: str = '<csv>', lineno: int | None = None) -> np.ndarray:
    """AffectNet ``facial_landmarks`` (``'x0;y0;x1;y1;...'``, 136 numbers) -> ``(68, 2)`` float32.

    Raises :class:`DatasetFormatError` naming ``path`` and ``lineno`` for a wrong count or a
    non-number.
    """
    parts = [p.strip() for p in field.strip().strip(';').split(';')] if field.strip() else []
    try:
        values = np.array([float(p) for p in parts], np.float64)
    except ValueError:
        bad = next(p for p in parts if not _is_float(p))
        raise DatasetFormatError(
            path,
            lineno,
            "facial_landmarks of 136 numbers (68 x;y pairs) joined by ';'",
            f'non-number {bad!r}',
        ) from None
    return _landmark_array(values, path, lineno, field[:60])


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_box(cells: list[str], path: str, lineno: int) -> np.ndarray:
    try:
        box = np.array([float(c) for c in cells], np.float32)
    except ValueError:
        raise DatasetFormatError(
            path, lineno, 'numeric face_x, face_y, face_width, face_height', cells
        ) from None
    return box


def _is_data_row(row: list[str]) -> bool:
    """A header-less validation.csv starts directly with a data row."""
    if len(row) != len(AFFECTNET_HEADER):
        return False
    try:
        int(row[6])
        float(row[7])
    except ValueError:
        return False
    return True


def _read_npy_scalar(path: str, cast):
    """Read a one-value ``.npy`` (AffectNet stores e.g. ``'3'`` as a string)."""
    expected = f'a .npy holding one {cast.__name__} value'
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError):
        raise DatasetFormatError(path, None, expected, 'an unreadable file') from None
    if arr.size != 1:
        raise DatasetFormatError(path, None, expected, f'shape {arr.shape}')
    try:
        return cast(arr.reshape(-1)[0])
    except ValueError:
        raise DatasetFormatError(path, None, expected, arr.reshape(-1)[0]) from None
