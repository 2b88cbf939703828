"""Synthetic test videos with a real face: crops of ``skimage.data.astronaut()`` moving over a background."""

from __future__ import annotations

import functools

import cv2
import numpy as np


@functools.lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    from skimage import data

    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    img.flags.writeable = False
    return img


def astronaut_bgr() -> np.ndarray:
    """The public-domain portrait shipped with scikit-image, BGR uint8 ``(512, 512, 3)``."""
    return _astronaut().copy()


@functools.lru_cache(maxsize=4)
def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return yy, xx


def _bounce(i: int, span: int) -> int:
    """Triangle wave 0, 1, ..., span, span - 1, ..., 0, 1, ..."""
    k = i % (2 * span)
    return k if k <= span else 2 * span - k


def astronaut_frame(
    i: int, size: tuple[int, int] = (320, 240), faces: int = 1, face_px: int = 120
) -> np.ndarray:
    """Frame ``i`` of the synthetic video, BGR uint8 ``(H, W, 3)`` for ``size = (W, H)``.

    A ``face_px`` square crop of the astronaut's head and shoulders (the crop
    window itself pans back and forth by 2 px a frame) is pasted at a position
    that moves 1 px a frame, back and forth (no jumps), over a background whose
    gradient drifts with ``i``. ``faces=2`` pastes a second copy in the right
    half of the frame.
    """
    w, h = size
    astro = _astronaut()
    yy, xx = _grid(w, h)
    bg = np.stack([(xx + 3 * i) % 256, (yy + 2 * i) % 256, np.full_like(xx, 96)], axis=-1).astype(np.uint8)
    lanes = [0] if faces == 1 else [0, w // 2]
    face_px = min(face_px, h - 8, w // len(lanes) - 24)  # the face fits its lane
    pan = 2 * _bounce(i, 30)
    crop = cv2.resize(astro[pan // 2 : pan // 2 + 320, pan : pan + 320], (face_px, face_px))
    for lane in lanes:
        x = lane + 8 + _bounce(i, max(1, (w // len(lanes)) - face_px - 16))
        y = (h - face_px) // 2
        bg[y : y + face_px, x : x + face_px] = crop
    return bg


def write_video(
    path: str,
    num_frames: int,
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
    fourcc: str = 'FFV1',
    faces: int = 1,
    frame_fn=None,
) -> str:
    """Write ``num_frames`` frames (``frame_fn(i)`` or :func:`astronaut_frame`) with OpenCV; FFV1 is lossless."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f'OpenCV cannot write {fourcc} to {path}'
    for i in range(num_frames):
        writer.write(frame_fn(i) if frame_fn is not None else astronaut_frame(i, size, faces))
    writer.release()
    return str(path)
