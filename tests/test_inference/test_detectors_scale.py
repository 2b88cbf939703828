"""HaarFaceDetector's ``max_side``: detection on a shrunk copy, boxes mapped back to the image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ferlab.registry import FACE_DETECTORS
from ferlab.utils.errors import FerlabInputError
from tests.test_inference.infer_utils import astronaut_bgr

#: Where the astronaut's face is in skimage.data.astronaut() at 512 x 512 (read off the picture by
#: hand: eyes near (205, 105) and (245, 100), chin near (225, 160)).
FACE_CENTRE_BOX = (195, 90, 260, 140)


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih / (aw * ah + bw * bh - iw * ih)


def test_shrunk_detection_maps_the_box_back_to_the_full_image():
    big = cv2.resize(astronaut_bgr(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    shrunk = FACE_DETECTORS.build(dict(type='HaarFaceDetector', max_side=512))(big)
    # oracle: the same cascade on the original 512 x 512 picture, box scaled by 2 by hand
    ref = FACE_DETECTORS.build(dict(type='HaarFaceDetector', max_side=None))(astronaut_bgr())
    assert len(shrunk) == len(ref) == 1
    ref_box = tuple(2 * v for v in ref[0].box)
    assert _iou(shrunk[0].box, ref_box) > 0.9
    x, y, w, h = shrunk[0].box
    x0, y0, x1, y1 = (2 * v for v in FACE_CENTRE_BOX)
    assert x0 <= x + w / 2 <= x1 and y0 <= y + h / 2 <= y1


def test_frames_within_max_side_are_detected_unchanged():
    img = astronaut_bgr()
    a = FACE_DETECTORS.build(dict(type='HaarFaceDetector', max_side=512))(img)
    b = FACE_DETECTORS.build(dict(type='HaarFaceDetector', max_side=None))(img)
    assert [(f.box, f.score, f.roll) for f in a] == [(f.box, f.score, f.roll) for f in b]


def test_default_is_full_resolution_and_a_shrunk_two_face_frame_keeps_both():
    assert FACE_DETECTORS.build(dict(type='HaarFaceDetector')).max_side is None
    det = FACE_DETECTORS.build(dict(type='HaarFaceDetector', max_side=640))
    two = np.concatenate([astronaut_bgr(), astronaut_bgr()], axis=1)  # 1024 x 512: shrunk to 640 x 320
    faces = det(two)
    assert len(faces) == 2 and faces[0].box[0] < 512 <= faces[1].box[0]


def test_max_side_below_the_cascade_window_is_one_clear_error():
    with pytest.raises(FerlabInputError, match='max_side must be >= 24'):
        FACE_DETECTORS.build(dict(type='HaarFaceDetector', max_side=10))
