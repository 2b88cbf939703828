"""Per-face result rows and their CSV / JSON files.

One row per face per frame, columns (:func:`row_fields`)::

    input, frame, timestamp_s, face_id, x, y, w, h, det_score, detected, face_found,
    <one probability column per class>, label, [<one probability column per AU>], error

* a face: ``face_found=1``, box, detector score, ``detected`` (1: the box is
  from the detector run on the whole frame; 0: from the local search around
  the face's box in the previous frame, ``--detect-every K > 1``), class
  probabilities, label (the model's decision: the most probable class, or
  the cascade rule of a ``CascadeClassifier``; after smoothing, the same
  rule applied to the smoothed probabilities);
* a frame without a face: one row with ``face_found=0`` and the face columns empty;
* an input that could not be read: one row with ``face_found=0`` and ``error``
  set to a one-line reason naming the file.

Empty cells are ``''`` in CSV and ``null`` in JSON. Both writers stream: rows
go to disk as they come, so memory does not grow with the length of a video.
"""

from __future__ import annotations

import csv
import json
import math
import os
import os.path as osp
from typing import Iterable, Sequence

FIXED_BEFORE = (
    'input',
    'frame',
    'timestamp_s',
    'face_id',
    'x',
    'y',
    'w',
    'h',
    'det_score',
    'detected',
    'face_found',
)
FORMATS = ('csv', 'json')


def row_fields(classes: Sequence[str], au_names: Sequence[str] | None = None) -> list[str]:
    """The column names, in order, for a model with ``classes`` (and AU outputs ``au_names``).

    Raises:
        ValueError: A class or AU name repeats a fixed column or another name.
    """
    fields = [*FIXED_BEFORE, *classes, 'label', *(au_names or ()), 'error']
    dup = sorted({f for f in fields if fields.count(f) > 1})
    if dup:
        raise ValueError(f'class/AU names {dup} collide with other result columns {fields}')
    return fields


def empty_row(fields: Sequence[str], **values) -> dict:
    """A row with every column ``None`` except ``values``."""
    row = dict.fromkeys(fields)
    row.update(values)
    return row


def _cell(value) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ''
    return str(value)


class ResultWriter:
    """Stream rows to ``path`` as CSV or JSON (a list of row objects).

    Args:
        path: Output file; its folder is created.
        fields: Column names (:func:`row_fields`).
        fmt: ``'csv'`` or ``'json'``.
    """

    def __init__(self, path: str, fields: Sequence[str], fmt: str = 'csv'):
        if fmt not in FORMATS:
            raise ValueError(f'format must be one of {FORMATS}, got {fmt!r}')
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.path, self.fields, self.fmt = path, list(fields), fmt
        self.count = 0
        self._f = open(path, 'w', newline='' if fmt == 'csv' else None, encoding='utf-8')
        if fmt == 'csv':
            self._csv = csv.writer(self._f)
            self._csv.writerow(self.fields)
        else:
            self._f.write('[')

    def write(self, row: dict) -> None:
        """Append one row (keys outside ``fields`` are an error)."""
        extra = set(row) - set(self.fields)
        if extra:
            raise ValueError(f'row has columns {sorted(extra)} that are not in {self.fields}')
        if self.fmt == 'csv':
            self._csv.writerow([_cell(row.get(k)) for k in self.fields])
        else:
            obj = {k: row.get(k) for k in self.fields}
            obj = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in obj.items()}
            self._f.write((',\n' if self.count else '\n') + json.dumps(obj))
        self.count += 1

    def write_all(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.write(row)

    def close(self) -> None:
        if self._f.closed:
            return
        if self.fmt == 'json':
            self._f.write('\n]\n' if self.count else ']\n')
        self._f.close()

    def __enter__(self) -> 'ResultWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_rows(path: str, rows: Iterable[dict], fields: Sequence[str], fmt: str = 'csv') -> int:
    """Write ``rows`` to ``path``; returns the number of rows."""
    with ResultWriter(path, fields, fmt) as writer:
        writer.write_all(rows)
        return writer.count


def read_rows(path: str) -> list[dict]:
    """Rows of a CSV (values as strings, ``''`` for empty) or JSON file written by :class:`ResultWriter`."""
    if path.endswith('.json'):
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f))
