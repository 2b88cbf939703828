"""IoU tracker: stable ``face_id`` for the faces of one video.

Each processed frame's detections are matched to the faces seen in the
previous frames by box overlap (intersection over union). A match keeps the
face's id; a detection without a match starts a new face with the next unused
id; a face unseen for more than ``max_age`` processed frames is forgotten. Ids
are never reused within one tracker, so a face that leaves and re-enters the
picture after ``max_age`` frames gets a new id.

This is the association step of SORT (Bewley et al., "Simple Online and
Realtime Tracking", ICIP 2016, Sec. 3.3) without the Kalman motion model: the
last seen box of each face is its prediction. Faces in FER videos move little
between frames, and with ``every_n_frames > 1`` a constant-velocity model has
few samples to learn from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ['IoUTracker', 'box_iou_xywh']


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of ``(x, y, w, h)`` boxes.

    Args:
        a: Boxes ``(N, 4)`` as top-left corner, width, height.
        b: Boxes ``(M, 4)``.

    Returns:
        IoU ``(N, M)``; 0 where the union is empty.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1 = a[:, 0:1], a[:, 1:2]
    ax2, ay2 = ax1 + a[:, 2:3], ay1 + a[:, 3:4]
    bx1, by1 = b[:, 0], b[:, 1]
    bx2, by2 = bx1 + b[:, 2], by1 + b[:, 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass
class _Track:
    face_id: int
    box: np.ndarray  # (4,) xywh of the last match
    age: int = 0  # processed frames since the last match


class IoUTracker:
    """Assign a stable ``face_id`` to each detected face, frame after frame.

    Call :meth:`update` once per processed frame, in frame order, with that
    frame's boxes (an empty array for a frame without faces: it ages every
    face). One tracker per video.

    Args:
        iou_thr: A detection continues a face when their IoU is at least this.
        max_age: A face is forgotten after this many consecutive processed
            frames without a match (0: forgotten as soon as one frame misses
            it). Counted in calls to :meth:`update`, so with
            ``every_n_frames=k`` it spans ``k * max_age`` video frames.
        match: ``'greedy'`` (default): pairs taken in decreasing IoU order;
            no dependency. ``'hungarian'``: the assignment that maximises the
            total IoU (``scipy.optimize.linear_sum_assignment``; needs SciPy).
            The two differ only when a box overlaps two faces by more than
            ``iou_thr`` each.

    Example:
        >>> tracker = IoUTracker()
        >>> tracker.update(np.array([[10, 10, 50, 50], [200, 10, 50, 50]]))
        [0, 1]
        >>> tracker.update(np.array([[205, 12, 50, 50], [12, 11, 50, 50]]))
        [1, 0]
    """

    def __init__(self, iou_thr: float = 0.3, max_age: int = 5, match: str = 'greedy'):
        if not 0.0 < iou_thr <= 1.0:
            raise ValueError(f'IoUTracker: iou_thr must be in (0, 1], got {iou_thr}')
        if max_age < 0:
            raise ValueError(f'IoUTracker: max_age must be >= 0, got {max_age}')
        if match not in ('greedy', 'hungarian'):
            raise ValueError(f"IoUTracker: match must be 'greedy' or 'hungarian', got {match!r}")
        if match == 'hungarian':
            try:
                from scipy.optimize import linear_sum_assignment  # noqa: F401
            except ImportError:
                raise ImportError(
                    "IoUTracker(match='hungarian') needs SciPy (pip install scipy); "
                    "match='greedy' needs nothing"
                ) from None
        self.iou_thr = float(iou_thr)
        self.max_age = int(max_age)
        self.match = match
        self._tracks: list[_Track] = []
        self._next_id = 0

    @property
    def num_ids(self) -> int:
        """How many face ids this tracker has handed out."""
        return self._next_id

    def reset(self) -> None:
        """Forget every face and start the ids at 0 again (a new video)."""
        self._tracks = []
        self._next_id = 0

    def _assign(self, iou: np.ndarray) -> list[tuple[int, int]]:
        """Matched ``(track, detection)`` index pairs with IoU >= ``iou_thr``."""
        if iou.size == 0:
            return []
        if self.match == 'hungarian':
            from scipy.optimize import linear_sum_assignment

            rows, cols = linear_sum_assignment(-iou)
            return [(r, c) for r, c in zip(rows.tolist(), cols.tolist()) if iou[r, c] >= self.iou_thr]
        pairs = []
        used_t, used_d = set(), set()
        # stable sort: equal IoUs are taken in (track, detection) order, so results are deterministic
        order = np.argsort(-iou, axis=None, kind='stable')
        for flat in order.tolist():
            t, d = divmod(flat, iou.shape[1])
            if iou[t, d] < self.iou_thr:
                break
            if t in used_t or d in used_d:
                continue
            pairs.append((t, d))
            used_t.add(t)
            used_d.add(d)
        return pairs

    def update(self, boxes: np.ndarray) -> list[int]:
        """Match one frame's detections to the known faces.

        Args:
            boxes: Detections ``(N, 4)`` as ``(x, y, w, h)`` in pixels (``N``
                may be 0).

        Returns:
            ``N`` face ids, in the order of ``boxes``.
        """
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(
                f'IoUTracker.update: boxes must have shape (N, 4) as x, y, w, h; got {boxes.shape}'
            )
        known = np.stack([t.box for t in self._tracks]) if self._tracks else np.zeros((0, 4))
        pairs = self._assign(box_iou_xywh(known, boxes))
        ids = [-1] * len(boxes)
        matched_tracks = set()
        for t, d in pairs:
            track = self._tracks[t]
            track.box, track.age = boxes[d].copy(), 0
            ids[d] = track.face_id
            matched_tracks.add(t)
        survivors = []
        for t, track in enumerate(self._tracks):
            if t not in matched_tracks:
                track.age += 1
            if track.age <= self.max_age:
                survivors.append(track)
        self._tracks = survivors
        for d in range(len(boxes)):
            if ids[d] < 0:
                ids[d] = self._next_id
                self._tracks.append(_Track(self._next_id, boxes[d].copy()))
                self._next_id += 1
        return ids
