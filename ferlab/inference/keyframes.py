"""Cheaper face detection for videos: the full detector on key frames, a local search between them.

:class:`KeyframeDetector` runs the face detector on the whole frame every
``detect_every``-th processed frame of a video (a *key frame*). On the frames
in between it follows each face of the previous frame with a local search:
the detector run only in a region around the face's last box, at window sizes
near that box's size (:meth:`HaarFaceDetector.detect_near
<ferlab.inference.detectors.HaarFaceDetector.detect_near>`; other detectors
are run on the cropped region and their faces filtered by size). As soon as
one tracked face is not found again, or two tracked faces land on the same
box, that frame falls back to the full detector and counts as a key frame;
a frame after one without faces is always a key frame. Faces that enter the
picture between key frames are therefore found at the next key frame, at most
``detect_every - 1`` processed frames late.

On a key frame, a face followed in the previous frame that the full detector
does not find again (no detected box with IoU >= ``rescue_iou`` with its last
box) is searched locally as well; when the local search finds it (and it does
not overlap a detected face) it is kept, with ``detected=False``. The full
detector misses a face that is there now and then (on the 320 x 240
benchmark video it missed the pasted face in 17 of 100 frames); without this
the face would be gone until the next key frame that finds it. A face that
the full detector has missed on more than ``rescue_misses`` consecutive key
frames is dropped, so a box that only the local search sees does not live on.

This is the detect-then-track scheme of tracking-by-detection video face
pipelines (e.g. Kalal et al., "Tracking-Learning-Detection", TPAMI 2012, where
a detector re-initialises a local tracker), with the detector itself as the
local tracker. Faces from the local search have ``Face.detected=False``
(the ``detected`` column of the result rows).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ferlab.inference.detectors import Face
from ferlab.inference.tracker import box_iou_xywh

__all__ = ['KeyframeDetector', 'keep_largest']


def keep_largest(faces: list[Face], max_faces: int | None) -> list[Face]:
    """The ``max_faces`` largest faces (by box area), in their original order; all when ``None``."""
    if max_faces is None or len(faces) <= max_faces:
        return list(faces)
    keep = sorted(range(len(faces)), key=lambda i: -faces[i].box[2] * faces[i].box[3])[:max_faces]
    return [faces[i] for i in sorted(keep)]


def _near_by_crop(
    detector: Callable, image: np.ndarray, box, search: float, size_ratio: float
) -> Face | None:
    """Local search for detectors without ``detect_near``: detect in the cropped region, filter by size."""
    ih, iw = image.shape[:2]
    x, y, w, h = (int(v) for v in box)
    side = max(w, h)
    pad = int(round(search * side))
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(iw, x + w + pad), min(ih, y + h + pad)
    if x1 <= x0 or y1 <= y0:
        return None
    faces = [
        f
        for f in detector(np.ascontiguousarray(image[y0:y1, x0:x1]))
        if not f.whole and side / size_ratio <= max(f.box[2], f.box[3]) <= side * size_ratio
    ]
    if not faces:
        return None
    local = np.array([f.box for f in faces], np.float64)
    best = faces[int(np.argmax(box_iou_xywh(np.array([[x - x0, y - y0, w, h]]), local)[0]))]
    bx, by, bw, bh = best.box
    landmarks = None if best.landmarks is None else np.asarray(best.landmarks) + np.array([x0, y0])
    return Face(
        box=(bx + x0, by + y0, bw, bh), score=best.score, landmarks=landmarks, roll=best.roll, detected=False
    )


class KeyframeDetector:
    """Full face detection every ``detect_every`` frames of one video, local search in between.

    Stateful: call it once per processed frame of one video, in frame order,
    and :meth:`reset` before the next video.

    Args:
        detector: A face detector ``image -> list[Face]``; when it has a
            ``detect_near(image, box, search, size_ratio)`` method
            (:class:`~ferlab.inference.detectors.HaarFaceDetector`) that is
            the local search, else the detector runs on the cropped region.
        detect_every: Run the full detector on every ``detect_every``-th
            frame (1: on every frame, no local search).
        max_faces: Keep the largest ``max_faces`` faces of a full detection
            (only those are followed); ``None``: all.
        search: Margin of the search region around the last box, as a
            fraction of the box's longer side (1.0: the face may move by its
            own size from one frame to the next; at 0.5 the 38 px faces of the
            320 x 240 test video were lost in 2 of 13 frames).
        size_ratio: Largest accepted change of the face size between two
            consecutive frames.
        dup_iou: Two followed faces whose new boxes overlap by more than this
            IoU have merged: the frame falls back to the full detector.
        rescue_misses: On key frames, keep a followed face that the full
            detector misses (found by the local search instead) on up to this
            many consecutive key frames; ``0``: key frames return the full
            detector's faces only.
        rescue_iou: A followed face counts as found by the full detector when
            a detected box overlaps its last box by at least this IoU (the
            tracker's default matching threshold).

    Attributes:
        key_frames: Frames given to the full detector since construction.
        local_frames: Frames answered by the local search since construction.
        rescued: Faces kept on key frames by the local search since construction.
    """

    def __init__(
        self,
        detector: Callable,
        detect_every: int = 1,
        max_faces: int | None = None,
        search: float = 1.0,
        size_ratio: float = 1.25,
        dup_iou: float = 0.5,
        rescue_misses: int = 1,
        rescue_iou: float = 0.3,
    ):
        if isinstance(detect_every, bool) or int(detect_every) != detect_every or detect_every < 1:
            raise ValueError(f'detect_every must be an int >= 1, got {detect_every!r}')
        if search < 0 or size_ratio < 1:
            raise ValueError(f'search must be >= 0 and size_ratio >= 1, got {search}, {size_ratio}')
        self.detector = detector
        self.detect_every = int(detect_every)
        self.max_faces = max_faces
        if isinstance(rescue_misses, bool) or int(rescue_misses) != rescue_misses or rescue_misses < 0:
            raise ValueError(f'rescue_misses must be an int >= 0, got {rescue_misses!r}')
        self.search, self.size_ratio, self.dup_iou = float(search), float(size_ratio), float(dup_iou)
        self.rescue_misses, self.rescue_iou = int(rescue_misses), float(rescue_iou)
        self.key_frames = self.local_frames = self.rescued = 0
        self.reset()

    def reset(self) -> None:
        """Forget the followed faces (a new video): the next frame is a key frame."""
        self._faces: list[Face] = []
        self._misses: list[int] = []  # per followed face: consecutive key frames the full detector missed it
        self._since_key = 0

    def _near(self, image: np.ndarray, face: Face) -> Face | None:
        near = getattr(self.detector, 'detect_near', None)
        if near is not None:
            return near(image, face.box, self.search, self.size_ratio)
        return _near_by_crop(self.detector, image, face.box, self.search, self.size_ratio)

    def _follow(self, image: np.ndarray, searched: dict) -> list[tuple[Face, int]] | None:
        """The followed faces found again by the local search (with their miss counts), left to right;
        ``None`` when one is lost or two merged. ``searched`` gets ``{index: result}`` of each search."""
        found = []
        for k, (face, misses) in enumerate(zip(self._faces, self._misses)):
            new = searched[k] = self._near(image, face)
            if new is None:
                return None
            found.append((new, misses))
        if len(found) > 1:
            boxes = np.array([f.box for f, _ in found])
            iou = box_iou_xywh(boxes, boxes)
            np.fill_diagonal(iou, 0.0)
            if iou.max() > self.dup_iou:
                return None
        return sorted(found, key=lambda t: (t[0].box[0], t[0].box[1]))

    def _rescue(self, image: np.ndarray, faces: list[Face], searched: dict) -> list[tuple[Face, int]]:
        """The faces of a key frame: the full detector's, plus the followed faces it missed that the
        local search finds (``rescue_misses``)."""
        out = [(f, 0) for f in faces]
        if not self.rescue_misses or not self._faces:
            return out
        detected = np.array([f.box for f in faces if not f.whole], np.float64).reshape(-1, 4)
        prev = np.array([f.box for f in self._faces], np.float64)
        confirmed = (box_iou_xywh(prev, detected) >= self.rescue_iou).any(1) if len(detected) else None
        for k, (face, misses) in enumerate(zip(self._faces, self._misses)):
            if (confirmed is not None and confirmed[k]) or misses >= self.rescue_misses:
                continue
            new = searched[k] if k in searched else self._near(image, face)
            if new is None:
                continue
            boxes = np.array([f.box for f, _ in out if not f.whole], np.float64).reshape(-1, 4)
            if len(boxes) and box_iou_xywh(np.array([new.box], np.float64), boxes).max() > self.dup_iou:
                continue
            out.append((new, misses + 1))
            self.rescued += 1
        return sorted(out, key=lambda t: (t[0].box[0], t[0].box[1]))

    def _keep(self, faces: list[tuple[Face, int]]) -> list[Face]:
        self._faces = [f for f, _ in faces if not f.whole]
        self._misses = [m for f, m in faces if not f.whole]
        return [f for f, _ in faces]

    def __call__(self, image: np.ndarray) -> list[Face]:
        """The faces of the next frame ``(H, W, 3)`` BGR uint8 of the video, ordered left to right."""
        searched: dict = {}
        if self.detect_every > 1 and self._faces and self._since_key < self.detect_every:
            found = self._follow(image, searched)
            if found is not None:
                self._since_key += 1
                self.local_frames += 1
                return self._keep(found)
        faces = keep_largest(list(self.detector(image)), self.max_faces)
        if self.detect_every > 1:
            ranked = self._rescue(image, faces, searched)
            if self.max_faces is not None and len(ranked) > self.max_faces:
                keep = keep_largest([f for f, _ in ranked], self.max_faces)
                ranked = [t for t in ranked if any(t[0] is f for f in keep)]
            faces = self._keep(ranked)
        self._since_key = 1
        self.key_frames += 1
        return faces
