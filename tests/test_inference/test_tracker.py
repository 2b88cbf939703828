"""IoUTracker on constructed boxes: ids hand-derived from the geometry."""

import numpy as np
import pytest

from ferlab.inference.tracker import IoUTracker, box_iou_xywh


def test_box_iou_hand_computed():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [20, 20, 5, 5], [0, 0, 0, 0]])
    # overlap 5x10 = 50, union 100 + 100 - 50 = 150
    np.testing.assert_allclose(box_iou_xywh(a, b), [[50 / 150, 1.0, 0.0, 0.0]])
    assert box_iou_xywh(np.zeros((0, 4)), b).shape == (0, 4)


def test_ids_stable_while_faces_move_and_swap_order():
    tracker = IoUTracker(iou_thr=0.3, max_age=2)
    left, right = np.array([10.0, 10, 50, 50]), np.array([200.0, 10, 50, 50])
    assert tracker.update(np.stack([left, right])) == [0, 1]
    for step in range(1, 20):
        shift = np.array([3.0 * step, 1.0 * step, 0, 0])
        boxes = (
            np.stack([right + shift, left + shift]) if step % 2 else np.stack([left + shift, right + shift])
        )
        expected = [1, 0] if step % 2 else [0, 1]
        assert tracker.update(boxes) == expected, step
    assert tracker.num_ids == 2


def test_new_face_gets_new_id_and_ids_are_never_reused():
    tracker = IoUTracker(iou_thr=0.3, max_age=1)
    a, b, c = [0, 0, 20, 20], [100, 0, 20, 20], [0, 100, 20, 20]
    assert tracker.update(np.array([a])) == [0]
    assert tracker.update(np.array([a, b])) == [0, 1]
    # b missing for 1 frame (age 1 <= max_age): still known
    assert tracker.update(np.array([a])) == [0]
    assert tracker.update(np.array([b, a])) == [1, 0]
    # b missing for 2 frames: forgotten; when it comes back it is a new face
    assert tracker.update(np.array([a])) == [0]
    assert tracker.update(np.zeros((0, 4))) == []  # a frame without faces ages everybody
    assert tracker.update(np.array([b, c])) == [2, 3]
    # a was last seen 2 frames ago -> forgotten too; new id, old ids not reused
    assert tracker.update(np.array([a, b, c])) == [4, 2, 3]
    tracker.reset()
    assert tracker.update(np.array([c])) == [0]


def test_iou_threshold_decides_continuation():
    # IoU of a 10x10 box shifted by 4 px: overlap 60, union 140 -> 0.4286
    for thr, expected in ((0.42, [0]), (0.44, [1])):
        tracker = IoUTracker(iou_thr=thr)
        tracker.update(np.array([[0, 0, 10, 10]]))
        assert tracker.update(np.array([[4, 0, 10, 10]])) == expected


def test_greedy_and_hungarian_differ_where_one_box_overlaps_two_faces():
    # IoU matrix (faces x detections): greedy takes 0.9 first and leaves face 1 without a match;
    # the optimal assignment takes 0.8 + 0.85 = 1.65 > 0.9
    iou = np.array([[0.9, 0.8], [0.85, 0.0]])
    assert IoUTracker(match='greedy')._assign(iou) == [(0, 0)]
    pytest.importorskip('scipy')
    assert sorted(IoUTracker(match='hungarian')._assign(iou)) == [(0, 1), (1, 0)]


def test_hungarian_tracks_like_greedy_on_separated_faces():
    pytest.importorskip('scipy')
    rng = np.random.default_rng(0)
    base = np.array([[10.0, 10, 40, 40], [120, 10, 40, 40], [10, 120, 40, 40]])
    trackers = [IoUTracker(match='greedy'), IoUTracker(match='hungarian')]
    assert [t.update(base) for t in trackers] == [[0, 1, 2], [0, 1, 2]]
    for _ in range(30):
        boxes = base + rng.normal(0, 2, size=base.shape) * [1, 1, 0, 0]
        order = rng.permutation(3)
        ids = [t.update(boxes[order]) for t in trackers]
        assert ids[0] == ids[1] == order.tolist()


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match=r'shape \(N, 4\)'):
        IoUTracker().update(np.zeros((2, 5)))
    with pytest.raises(ValueError, match='iou_thr'):
        IoUTracker(iou_thr=0)
    with pytest.raises(ValueError, match='match must be'):
        IoUTracker(match='kalman')
