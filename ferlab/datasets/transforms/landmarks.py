"""Landmark-aware geometric transforms for 68-point iBUG 300-W faces.

Landmarks travel in ``results['landmarks']`` as a ``(68, 2)`` float array of ``(x, y)``
pixel coordinates of the current image, with pixel centres at integer coordinates (the
OpenCV convention, which SynthFER's renderer draws with). :class:`RandomFlip` and
:class:`Resize` are mmcv's transforms that also move these points; ferlab registers them
under mmcv's names, so ``dict(type='RandomFlip')`` in a ferlab config is landmark-aware.
:class:`FaceBoxCrop` crops an image to its annotated face box (AffectNet's ``face_x``,
``face_y``, ``face_width``, ``face_height``) and shifts the points.
"""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import RandomFlip as _MMCVRandomFlip
from mmcv.transforms import Resize as _MMCVResize

from ferlab.registry import TRANSFORMS

#: Number of iBUG 300-W landmarks.
NUM_IBUG_LANDMARKS = 68


def _mirror_pairs() -> list[tuple[int, int]]:
    """Left/right point pairs of the iBUG 300-W 68-point markup (0-based)."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # lower nose
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (59, 55), (58, 56)]  # outer lips
    pairs += [(60, 64), (61, 63), (67, 65)]  # inner lips
    return pairs


def _flip_index() -> tuple[int, ...]:
    idx = list(range(NUM_IBUG_LANDMARKS))
    for a, b in _mirror_pairs():
        idx[a], idx[b] = b, a
    return tuple(idx)


#: ``flipped[i] = original[IBUG68_FLIP_INDEX[i]]`` after a horizontal image flip: the point that
#: becomes the new (image-left) jaw start is the old image-right jaw end, and so on. The midline
#: points (8, 27-30, 33, 51, 57, 62, 66) map to themselves.
IBUG68_FLIP_INDEX: tuple[int, ...] = _flip_index()


def check_landmarks(landmarks, where: str = 'landmarks') -> np.ndarray:
    """``(68, 2)`` float32 copy of ``landmarks``; one-line ``ValueError`` naming ``where`` otherwise."""
    arr = np.asarray(landmarks, dtype=np.float32)
    if arr.shape != (NUM_IBUG_LANDMARKS, 2):
        raise ValueError(
            f'{where}: expected ({NUM_IBUG_LANDMARKS}, 2) landmark coordinates, got shape {arr.shape}'
        )
    if not np.isfinite(arr).all():
        raise ValueError(f'{where}: landmark coordinates must be finite numbers')
    return arr.copy()


def hflip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally flipped image: ``x -> width - 1 - x`` and iBUG reordering.

    Args:
        landmarks: ``(68, 2)`` pixel coordinates (pixel centres at integers).
        width: Image width in pixels.

    Returns:
        ``(68, 2)`` float32 landmarks of the flipped image, in iBUG order.
    """
    out = check_landmarks(landmarks)
    out[:, 0] = (width - 1) - out[:, 0]
    return out[list(IBUG68_FLIP_INDEX)]


class RandomFlip(_MMCVRandomFlip):
    """mmcv ``RandomFlip`` that also flips ``results['landmarks']`` (68 iBUG points).

    A horizontal flip mirrors every x (``x -> W - 1 - x``) and reorders the points with
    :data:`IBUG68_FLIP_INDEX`, so point 36 stays the image-left outer eye corner. Vertical and
    diagonal flips of a face have no iBUG meaning: with landmarks present they raise.
    Arguments as mmcv's (``prob``, ``direction``).
    """

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        if results.get('landmarks') is None:
            return
        direction = results['flip_direction']
        if direction != 'horizontal':
            raise ValueError(f"RandomFlip: landmarks support direction='horizontal' only, got {direction!r}")
        results['landmarks'] = hflip_landmarks(results['landmarks'], results['img'].shape[1])


class Resize(_MMCVResize):
    """mmcv ``Resize`` that also scales ``results['landmarks']``.

    With pixel centres at integers, a point maps as ``x' = (x + 0.5) * s_x - 0.5`` (the
    sampling grid of ``cv2.resize``), likewise ``y``. Arguments as mmcv's.
    """

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        if results.get('landmarks') is not None:
            sx, sy = results['scale_factor']
            lm = check_landmarks(results['landmarks'])
            lm[:, 0] = (lm[:, 0] + 0.5) * sx - 0.5
            lm[:, 1] = (lm[:, 1] + 0.5) * sy - 0.5
            results['landmarks'] = lm
        return results


@TRANSFORMS.register_module()
class FaceBoxCrop(BaseTransform):
    """Crop the image to ``results['face_box']`` ``(x, y, w, h)`` enlarged by ``margin``.

    The box is enlarged by ``margin`` of its size on every side, then clipped to the image;
    ``results['landmarks']`` (if present) are shifted into the crop. A sample without a
    ``face_box`` raises (one line naming ``img_path``): a silently uncropped face would be a
    different input distribution.

    Args:
        margin: Fraction of the box width/height added on each side.
    """

    def __init__(self, margin: float = 0.0):
        if margin < 0:
            raise ValueError(f'FaceBoxCrop margin must be >= 0, got {margin}')
        self.margin = float(margin)

    def transform(self, results: dict) -> dict:
        box = results.get('face_box')
        where = results.get('img_path', '<sample>')
        if box is None:
            raise KeyError(f'FaceBoxCrop: {where} has no face_box (x, y, w, h)')
        x, y, w, h = (float(v) for v in box)
        if w <= 0 or h <= 0:
            raise ValueError(f'FaceBoxCrop: {where}: face_box needs a positive width and height, got {box}')
        img = results['img']
        ih, iw = img.shape[:2]
        x0 = int(max(0, np.floor(x - self.margin * w)))
        y0 = int(max(0, np.floor(y - self.margin * h)))
        x1 = int(min(iw, np.ceil(x + w + self.margin * w)))
        y1 = int(min(ih, np.ceil(y + h + self.margin * h)))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f'FaceBoxCrop: {where}: face_box {box} lies outside the {iw}x{ih} image')
        results['img'] = img[y0:y1, x0:x1]
        results['img_shape'] = results['img'].shape[:2]
        if results.get('landmarks') is not None:
            lm = check_landmarks(results['landmarks'], where)
            lm -= np.array([x0, y0], np.float32)
            results['landmarks'] = lm
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(margin={self.margin})'
