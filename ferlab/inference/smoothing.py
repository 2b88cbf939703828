"""Per-face temporal smoothing of inference rows with CFC-SP's SmoothPredicting.

:func:`smooth_rows` applies Eq. 1 of CFC-SP (Xue et al.),
``f'_i = f_i + mean(f_{i-w/2} ... f_{i+w/2})``, to the class probabilities of
each tracked face of each video separately, using
:func:`ferlab.models.utils.smooth_predicting.smooth_predicting` (the same code
as the registered ``SmoothPredicting`` module and ``VideoMetric``): windows on
the frame index (so ``every_n_frames`` and frames where a face was not
detected are gaps, not neighbours), truncated at the ends of the video, and a
causal (past-only) form for live cameras.

Eq. 1 adds two probability vectors, so the smoothed vector sums to 2; the rows
hold ``f'_i / 2``, which sums to 1 again and has the same argmax (the
``label``) as Eq. 1. Only the class probability columns and ``label``
change; AU columns, boxes and scores are left as detected. With
``decision='cascade'`` (a ``CascadeClassifier``) the label is the
coarse-to-fine rule applied to the smoothed vector ("SP, then CFC", as
``VideoMetric(decision='cascade')``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from ferlab.inference.backends import DECISIONS, decide
from ferlab.models.utils.smooth_predicting import smooth_predicting

__all__ = ['smooth_rows']


def smooth_rows(
    rows: Sequence[dict],
    classes: Sequence[str],
    window: int,
    causal: bool = False,
    decision: str = 'argmax',
) -> list[dict]:
    """Smooth the class probabilities of every tracked face over time.

    Args:
        rows: Result rows of one or several videos (see
            :mod:`ferlab.inference.writers`), in any order. Rows with
            ``face_found=1`` are grouped by ``(input, face_id)`` and ordered
            by ``frame``; other rows (no face, errors) pass unchanged.
        classes: The class probability columns, in order.
        window: SmoothPredicting window ``w`` in video frames (0: off). The
            centred window spans ``frame ± w // 2``; the causal one
            ``[frame - 2 (w // 2), frame]``.
        causal: Use past frames only (live streams, where the future is
            unknown).
        decision: How the smoothed vector becomes the ``label``:
            ``'argmax'`` or ``'cascade'``
            (:func:`ferlab.inference.backends.decide`).

    Returns:
        New row dicts, one per input row and in the input order, with the
        probability columns replaced by ``f'/2`` of Eq. 1 and ``label`` by its
        argmax (or the cascade rule). The input rows are not modified.

    Raises:
        ValueError: ``window`` is not an int >= 0, a class column is missing,
            or one face has two rows for the same frame (the message names the
            input, face and frame).
    """
    out = [dict(r) for r in rows]
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise ValueError(f'smooth_rows: window must be an int >= 0 (0 = off), got {window!r}')
    if decision not in DECISIONS:
        raise ValueError(f'smooth_rows: decision must be one of {DECISIONS}, got {decision!r}')
    if window == 0 or not out:
        return out
    classes = list(classes)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(out):
        if int(r.get('face_found') or 0) == 1:
            groups[(r['input'], r['face_id'])].append(i)
    for (name, face_id), idx in groups.items():
        missing = [c for c in classes if c not in out[idx[0]]]
        if missing:
            raise ValueError(f'smooth_rows: {name} face {face_id}: rows lack the class columns {missing}')
        probs = np.array([[float(out[i][c]) for c in classes] for i in idx], dtype=np.float64)
        frames = np.array([int(out[i]['frame']) for i in idx], dtype=np.int64)
        try:
            smoothed = smooth_predicting(probs, window, frame_idx=frames, causal=causal) / 2.0
        except ValueError as err:
            raise ValueError(f'smooth_rows: {name} face {face_id}: {err}') from None
        labels = decide(smoothed, decision)
        for k, i in enumerate(idx):
            out[i].update(zip(classes, smoothed[k].tolist()))
            out[i]['label'] = classes[int(labels[k])]
    return out
