"""OpenFace 2 pseudo-AUs attached to any FER dataset (AU-ViT Sec. IV-C: OpenFace predicts AUs
for FER sets that have no AU annotation)."""

from __future__ import annotations

import os.path as osp
import re
from typing import Sequence

import numpy as np
from mmengine.logging import MMLogger
from torch.utils.data import get_worker_info

from ferlab.registry import DATASETS
from ferlab.utils.errors import InputFileNotFoundError

from .au_vocabulary import OPENFACE_C_AUS, OPENFACE_R_AUS, AUConfigError, au_id, au_names
from .base_fer_dataset import DatasetFormatError
from .seeding import sample_seeds, seeded_global_rngs

_AU_COLUMN = re.compile(r'^AU(\d+)_([rc])$')
#: AU columns OpenFace 2 writes, per kind (``_r`` intensity 0-5, ``_c`` presence 0/1).
OPENFACE_AUS = {'r': OPENFACE_R_AUS, 'c': OPENFACE_C_AUS}


class OpenFaceCSV:
    """One OpenFace 2 output CSV (``FeatureExtraction`` / ``FaceLandmarkImg``), parsed.

    Column names are stripped (OpenFace 2 writes ``"frame, face_id, …"``: every
    name after the first has a leading space). Only the requested AU columns and
    ``frame`` / ``face`` / ``face_id`` / ``confidence`` / ``success`` are read.

    Attributes:
        frames: ``(R,)`` int64, the ``frame`` column (``1..R`` when absent).
        values: ``(R, A)`` float32, the requested AU columns in the requested order.
        confidence: ``(R,)`` float32 (1 when absent).
        success: ``(R,)`` bool (true when absent).

    Raises:
        DatasetFormatError: naming the file and line, for a header without a
            requested AU column, with an AU column OpenFace does not produce
            (``AU99_r``) or a repeated column, a row whose column count differs
            from the header's, a non-numeric value, or an AU value outside 0-5
            (``_r``) / not 0 or 1 (``_c``).
    """

    def __init__(self, path: str, aus: Sequence[int], kind: str, need_frame: bool = False):
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
        if not lines or not lines[0].strip():
            raise DatasetFormatError(
                path, 1, 'an OpenFace 2 CSV header (frame, face_id, ..., AU01_r, ...)', ''
            )
        header = [c.strip() for c in lines[0].split(',')]
        col = {}
        for k, name in enumerate(header):
            if name in col:
                raise DatasetFormatError(path, 1, 'each column once', name)
            m = _AU_COLUMN.match(name)
            if m is not None and int(m.group(1)) not in OPENFACE_AUS[m.group(2)]:
                raise DatasetFormatError(
                    path, 1, f'OpenFace 2 AU columns only (_{m.group(2)}: {OPENFACE_AUS[m.group(2)]})', name
                )
            col[name] = k
        wanted = [f'AU{a:02d}_{kind}' for a in aus]
        missing = [w for w in wanted if w not in col]
        if missing:
            raise DatasetFormatError(path, 1, f'the AU columns {wanted}', f'a header without {missing}')
        if need_frame and 'frame' not in col:
            raise DatasetFormatError(path, 1, "a 'frame' column (per='video': one CSV per video)", lines[0])
        au_cols = [col[w] for w in wanted]
        frames, values, conf, success = [], [], [], []
        for lineno, line in enumerate(lines[1:], 2):
            if not line.strip():
                continue
            cells = line.split(',')
            if len(cells) != len(header):
                raise DatasetFormatError(path, lineno, f'{len(header)} columns as in the header', len(cells))
            try:
                row = [float(cells[c]) for c in au_cols]
                frame = int(float(cells[col['frame']])) if 'frame' in col else len(frames) + 1
                conf.append(float(cells[col['confidence']]) if 'confidence' in col else 1.0)
                success.append(float(cells[col['success']]) != 0 if 'success' in col else True)
            except ValueError:
                read = au_cols + [col[c] for c in ('frame', 'confidence', 'success') if c in col]
                bad = next(cells[c].strip() for c in read if not _is_number(cells[c]))
                raise DatasetFormatError(path, lineno, 'numbers', bad) from None
            lo, hi = (0.0, 5.0) if kind == 'r' else (0.0, 1.0)
            for a, v in zip(aus, row):
                if not lo <= v <= hi or (kind == 'c' and v not in (0.0, 1.0)):
                    want = 'an intensity in 0..5' if kind == 'r' else '0 or 1'
                    raise DatasetFormatError(path, lineno, f'{want} for AU{a:02d}_{kind}', v)
            frames.append(frame)
            values.append(row)
        self.frames = np.array(frames, dtype=np.int64)
        self.values = np.array(values, dtype=np.float32).reshape(len(frames), len(aus))
        self.confidence = np.array(conf, dtype=np.float32)
        self.success = np.array(success, dtype=bool)
        self._by_frame: dict[int, int] | None = None

    def best_row(self, frame: int | None = None) -> int | None:
        """Index of the most confident row (of ``frame`` if given; several faces), or ``None``."""
        if frame is None:
            return int(np.argmax(self.confidence)) if len(self.frames) else None
        if self._by_frame is None:  # one pass: frame -> its most confident row (first on ties)
            order = np.lexsort((np.arange(len(self.frames)), -self.confidence, self.frames))
            first = np.ones(len(order), bool)
            first[1:] = self.frames[order][1:] != self.frames[order][:-1]
            self._by_frame = {int(self.frames[i]): int(i) for i in order[first]}
        return self._by_frame.get(int(frame))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@DATASETS.register_module()
class OpenFaceAUs:
    """A FER dataset whose samples also carry OpenFace 2 pseudo-AU labels.

    Wraps any ferlab dataset (config dict or object): every sample keeps its
    fields and pipeline and gains ``gt_aus`` / ``gt_au_mask`` ``(A,)`` float32
    in the order of ``metainfo['au_names']``, read from OpenFace 2 CSVs:

    * ``per='image'``: one CSV per image, ``<csv_root>/<image stem>.csv``
      (OpenFace names its output after the input; ``csv_key='relpath'`` uses
      the image path relative to ``img_root`` instead, for datasets whose
      sub-folders repeat file names). When a CSV has several faces, the row
      with the highest ``confidence`` is used.
    * ``per='video'``: one CSV per video, ``<csv_root>/<video_id>.csv``, the
      row whose ``frame`` equals the sample's ``frame_idx`` (both 1-indexed).

    ``kind='c'`` reads the presence columns ``AUxx_c`` (0/1), ``kind='r'`` the
    intensities ``AUxx_r`` (0-5); with ``threshold`` an intensity ``>=
    threshold`` becomes 1 and a lower one 0. Column names are stripped of
    OpenFace's leading spaces. A sample whose CSV (or frame row) is missing, or
    whose row has ``success`` 0 (OpenFace lost the face), keeps its expression
    label with every AU **masked** (mask 0: unknown, never "absent"); these are
    counted (:attr:`num_missing`, :attr:`num_failed`) and logged.

    Args:
        dataset: The FER dataset (config dict or dataset object).
        csv_root: Folder of the OpenFace CSVs.
        per: ``'image'`` or ``'video'``.
        kind: ``'c'`` (presence) or ``'r'`` (intensity).
        threshold: Binarise intensities at this value (``kind='r'`` only).
        aus: The AUs to read, in output order; default all OpenFace 2 AUs of
            ``kind`` (:data:`~ferlab.datasets.au_vocabulary.OPENFACE_C_AUS` /
            ``OPENFACE_R_AUS``).
        csv_key: ``'stem'`` or ``'relpath'`` (``per='image'`` only).
        img_root: Root for ``csv_key='relpath'`` (default: the dataset's ``data_root``).
    """

    def __init__(
        self,
        dataset,
        csv_root: str,
        per: str = 'image',
        kind: str = 'c',
        threshold: float | None = None,
        aus: Sequence | None = None,
        csv_key: str = 'stem',
        img_root: str | None = None,
    ):
        if per not in ('image', 'video'):
            raise AUConfigError(f"OpenFaceAUs per must be 'image' or 'video', got {per!r}")
        if kind not in OPENFACE_AUS:
            raise AUConfigError(f"OpenFaceAUs kind must be 'c' (presence) or 'r' (intensity), got {kind!r}")
        if threshold is not None and kind != 'r':
            raise AUConfigError("OpenFaceAUs threshold binarises intensities: it needs kind='r'")
        if csv_key not in ('stem', 'relpath'):
            raise AUConfigError(f"OpenFaceAUs csv_key must be 'stem' or 'relpath', got {csv_key!r}")
        aus = OPENFACE_AUS[kind] if aus is None else tuple(au_id(a) for a in aus)
        outside = [a for a in aus if a not in OPENFACE_AUS[kind]]
        if outside:
            raise AUConfigError(f'OpenFaceAUs: OpenFace 2 writes no AUxx_{kind} column for AUs {outside}')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.csv_root, self.per, self.kind, self.threshold = csv_root, per, kind, threshold
        self.csv_key, self.img_root = csv_key, img_root
        self.aus = tuple(aus)
        self.metainfo = dict(getattr(self.dataset, 'metainfo', {}), au_names=au_names(self.aus))
        self.num_missing = self.num_failed = 0
        self._fully_initialized = False
        self.full_init()

    # ------------------------------------------------------------------ loading
    def _csv_path(self, info: dict) -> tuple[str, int | None]:
        if self.per == 'video':
            if info.get('video_id') is None or info.get('frame_idx') is None:
                raise AUConfigError(
                    f"OpenFaceAUs per='video' needs video_id and frame_idx in the data infos of "
                    f'{type(self.dataset).__name__}; {info.get("img_path", "a sample")} has none'
                )
            return osp.join(self.csv_root, f'{info["video_id"]}.csv'), int(info['frame_idx'])
        img_path = info.get('img_path')
        if img_path is None:
            raise AUConfigError(f'OpenFaceAUs: {type(self.dataset).__name__} samples have no img_path')
        if self.csv_key == 'stem':
            name = osp.splitext(osp.basename(img_path))[0]
        else:
            root = self.img_root or getattr(self.dataset, 'data_root', '')
            name = osp.splitext(osp.relpath(img_path, root))[0]
        return osp.join(self.csv_root, f'{name}.csv'), None

    def full_init(self) -> None:
        """Read every sample's CSV row into ``(N, A)`` value and mask arrays."""
        if self._fully_initialized:
            return
        if not osp.isdir(self.csv_root):
            raise InputFileNotFoundError(
                f'OpenFaceAUs: csv_root {osp.abspath(self.csv_root)!r} does not exist; '
                'see docs/datasets.md#openface-pseudo-aus.'
            )
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        n, a = len(self.dataset), len(self.aus)
        values = np.zeros((n, a), np.float32)
        mask = np.zeros((n, a), np.float32)
        cache: dict[str, OpenFaceCSV | None] = {}
        missing = failed = 0
        for i in range(n):
            path, frame = self._csv_path(self.dataset.get_data_info(i))
            if path not in cache:
                cache[path] = (
                    OpenFaceCSV(path, self.aus, self.kind, need_frame=self.per == 'video')
                    if osp.isfile(path)
                    else None
                )
                if self.per == 'image':  # one image per CSV: no need to keep it
                    table, cache[path] = cache[path], None
                else:
                    table = cache[path]
            else:
                table = cache[path]
            row = None if table is None else table.best_row(frame)
            if row is None:
                missing += 1
                continue
            if not table.success[row]:
                failed += 1
                continue
            v = table.values[row]
            values[i] = (v >= self.threshold).astype(np.float32) if self.threshold is not None else v
            mask[i] = 1.0
        self._values, self._mask = values, mask
        self.num_missing, self.num_failed = missing, failed
        logger = MMLogger.get_current_instance()
        what = 'frame rows' if self.per == 'video' else 'CSVs'
        if missing:
            logger.warning(
                f'OpenFaceAUs: {missing} of {n} samples of {type(self.dataset).__name__} have no OpenFace '
                f'{what} under {self.csv_root}; their AUs are masked'
            )
        if failed:
            logger.warning(
                f'OpenFaceAUs: {failed} of {n} samples have success = 0 rows; their AUs are masked'
            )
        self._fully_initialized = True

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.dataset)

    def get_data_info(self, idx: int) -> dict:
        """The wrapped dataset's data info of ``idx`` plus ``gt_aus`` / ``gt_au_mask`` ``(A,)``."""
        n, i = len(self), int(idx)
        if not -n <= i < n:
            raise IndexError(f'OpenFaceAUs: sample index {idx} outside -{n}..{n - 1}')
        i = i + n if i < 0 else i  # this dataset's index: the wrapped one may report another sample_idx
        info = dict(self.dataset.get_data_info(i))
        info['gt_aus'] = self._values[i].copy()
        info['gt_au_mask'] = self._mask[i].copy()
        return info

    def prepare_data(self, idx):
        """Run the wrapped dataset's pipeline on :meth:`get_data_info`, seeded per sample as it would."""
        draw = getattr(idx, 'draw', 0)
        idx = int(idx)
        info = self.get_data_info(idx)
        key = getattr(self.dataset, '_aug_key', None)
        enabled, seed, epoch = (0, 0, 0) if key is None else key.tolist()
        if not enabled:
            return self.dataset.pipeline(info)
        with seeded_global_rngs(*sample_seeds(seed, epoch, idx, draw), restore=get_worker_info() is None):
            return self.dataset.pipeline(info)

    def __getitem__(self, idx):
        return self.prepare_data(idx)

    def __getattr__(self, name):
        # Everything else (classes, get_gt_labels, set_aug_seed, test_mode, ...) is the wrapped dataset's.
        if name == 'dataset' or name.startswith('__'):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}({type(self.dataset).__name__}, per={self.per!r}, kind={self.kind!r}, '
            f'{len(self)} samples, {len(self.aus)} AUs, {self.num_missing} missing)'
        )
