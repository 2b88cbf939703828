"""KeyframeDetector and FERInferencer(detect_every=K): full detection on key frames, local search between,
compared with the full Haar detector run on every frame of astronaut videos."""

from __future__ import annotations

import numpy as np
import pytest

from ferlab.apis import FERInferencer
from ferlab.inference.detectors import Face, HaarFaceDetector, build_detector
from ferlab.inference.keyframes import KeyframeDetector
from ferlab.inference.tracker import box_iou_xywh
from ferlab.utils.errors import FerlabInputError
from tests.test_inference.infer_utils import write_tiny_model
from tests.test_inference.video_utils import astronaut_frame, write_video

SIZE = (320, 240)
FIRST = 7  # frames 7-20 of the astronaut video: Haar finds the one face in each (it misses frame 6)


def _frame(i: int) -> np.ndarray:
    return astronaut_frame(FIRST + i, SIZE)


def _iou(a, b) -> float:
    return float(box_iou_xywh(np.array([a]), np.array([b]))[0, 0])


def _jump_frame(i: int) -> np.ndarray:
    """The face on the left for frames 0-5, then at once on the right (a jump no local search follows)."""
    img = _frame(i % 6)
    if i >= 6:
        img = np.ascontiguousarray(img[:, ::-1])  # the face mirrored to the other side of the frame
    return img


def _gap_frame(i: int) -> np.ndarray:
    """Frames 3-5 show the background only (the face left the picture)."""
    img = _frame(i)
    if 3 <= i <= 5:
        img = np.full_like(img, 90)
    return img


def _scheduled(flags, k: int) -> int:
    """Key frames due by the schedule alone: the first frame and every k-th frame after a key frame."""
    due, since = 0, k
    for flag in flags:
        if since >= k:
            due += 1
        since = 1 if flag else since + 1
    return due


def _check_schedule(flags, k: int) -> None:
    """The first frame is a key frame and no key frame is more than ``k`` frames after the previous one."""
    assert flags[0]
    keys = [i for i, f in enumerate(flags) if f] + [len(flags)]
    assert max(b - a for a, b in zip(keys, keys[1:])) <= k, flags


class _Counting(HaarFaceDetector):
    """Haar with counters of full-frame calls and local searches."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.full = self.near = 0

    def __call__(self, image):
        self.full += 1
        return super().__call__(image)

    def detect_near(self, *args, **kw):
        self.near += 1
        return super().detect_near(*args, **kw)


def test_key_frames_every_k_and_local_boxes_close_to_the_full_detector():
    frames = [_frame(i) for i in range(14)]
    full = HaarFaceDetector()
    reference = [full(f) for f in frames]
    assert all(len(r) == 1 for r in reference)  # the oracle: one face in every frame
    det = _Counting()
    kf = KeyframeDetector(det, detect_every=5)
    out = [kf(f) for f in frames]
    assert [len(o) for o in out] == [1] * 14
    flags = [o[0].detected for o in out]
    _check_schedule(flags, 5)
    # each local search that misses is followed by the full detector on the same frame
    assert det.full == kf.key_frames == sum(flags) and kf.local_frames == 14 - sum(flags) >= 9
    assert det.near == kf.local_frames + (kf.key_frames - _scheduled(flags, 5))
    for i, (o, r) in enumerate(zip(out, reference)):
        if flags[i]:  # key frames: exactly the full detector's face
            assert o[0].box == r[0].box and o[0].score == r[0].score
        else:
            assert _iou(o[0].box, r[0].box) >= 0.7, (i, o[0].box, r[0].box)


def test_a_lost_face_makes_the_frame_a_key_frame():
    frames = [_jump_frame(i) for i in range(9)]
    full = HaarFaceDetector()
    kf = KeyframeDetector(HaarFaceDetector(), detect_every=100)
    out = [kf(f) for f in frames]
    # frame 6: the local search around the old box finds nothing -> the full detector, at the new place
    assert [o[0].detected for o in out] == [True] + [False] * 5 + [True, False, False]
    expected = full(frames[6])
    assert [f.box for f in out[6]] == [f.box for f in expected] and expected[0].box[0] > SIZE[0] // 2


def test_frames_without_a_face_are_all_key_frames_until_one_is_found():
    frames = [_gap_frame(i) for i in range(9)]
    det = _Counting()
    kf = KeyframeDetector(det, detect_every=100)
    out = [kf(f) for f in frames]
    assert [len(o) for o in out] == [1, 1, 1, 0, 0, 0, 1, 1, 1]
    # frame 3 is searched locally first (nothing) then fully; 4 and 5 have nothing to follow
    assert [o[0].detected for o in out if o] == [True, False, False, True, False, False]
    assert det.full == 1 + 3 + 1 and kf.key_frames == 5


def test_detectors_without_detect_near_search_the_cropped_region():
    haar = HaarFaceDetector()
    frames = [_frame(i) for i in range(6)]
    kf = KeyframeDetector(lambda image: haar(image), detect_every=3)  # a plain callable
    out = [kf(f) for f in frames]
    assert [o[0].detected for o in out] == [True, False, False, True, False, False]
    for o, f in zip(out, frames):
        assert _iou(o[0].box, haar(f)[0].box) >= 0.7  # boxes offset back to frame coordinates


def test_whole_image_faces_are_not_followed():
    kf = KeyframeDetector(build_detector('whole'), detect_every=4)
    out = [kf(np.zeros((20, 30, 3), np.uint8)) for _ in range(3)]
    assert all(o[0].whole and o[0].detected for o in out) and kf.key_frames == 3


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp('model'))


def test_inferencer_detect_every_rows(tiny, tmp_path):
    video = write_video(str(tmp_path / 'one.avi'), 12, size=SIZE, frame_fn=_frame)
    every = FERInferencer(*tiny, batch_size=4)(video)
    sparse = FERInferencer(*tiny, batch_size=4, detect_every=4)(video)
    serial = FERInferencer(*tiny, batch_size=4, detect_every=4, overlap=False)(video)
    assert sparse == serial  # the worker thread changes nothing
    assert [r['frame'] for r in sparse] == list(range(12)) and {r['face_id'] for r in sparse} == {0}
    assert [r['detected'] for r in every] == [1] * 12
    flags = [r['detected'] for r in sparse]
    _check_schedule(flags, 4)
    assert sum(flags) <= 5  # 3 due by the schedule (0, 4, 8) + at most 2 lost faces
    for a, b in zip(every, sparse):
        box_a, box_b = (a['x'], a['y'], a['w'], a['h']), (b['x'], b['y'], b['w'], b['h'])
        if b['detected']:
            assert a == b  # key frames: the row of the every-frame run, every field
        else:
            assert _iou(box_a, box_b) >= 0.7
    # images are always fully detected
    photo = tmp_path / 'frame.png'
    import cv2

    cv2.imwrite(str(photo), _frame(0))
    assert FERInferencer(*tiny, detect_every=4)(str(photo))[0]['detected'] == 1


def test_detect_every_must_be_a_positive_int(tiny):
    for bad in (0, -1, 2.5, True):
        with pytest.raises(FerlabInputError, match='detect_every must be an int >= 1'):
            FERInferencer(*tiny, detect_every=bad)
    with pytest.raises(ValueError, match='detect_every must be an int >= 1'):
        KeyframeDetector(HaarFaceDetector(), detect_every=0)


def test_a_face_the_full_detector_misses_on_a_key_frame_is_kept_by_the_local_search():
    """Astronaut frame 6: Haar misses the face; on that key frame the face of frame 5 is searched locally."""
    full = HaarFaceDetector()
    frames = [astronaut_frame(i, SIZE) for i in range(4, 11)]  # frames 4-10; key frames 4, 6, 8, 10
    assert full(frames[2]) == [] and all(len(full(f)) == 1 for i, f in enumerate(frames) if i != 2)
    kf = KeyframeDetector(HaarFaceDetector(), detect_every=2)
    out = [kf(f) for f in frames]
    assert [len(o) for o in out] == [1] * 7
    assert [o[0].detected for o in out] == [True, False, False, False, True, False, True]
    for neighbour in (1, 3):  # the kept box is where the full detector finds the face one frame before/after
        assert _iou(out[2][0].box, full(frames[neighbour])[0].box) >= 0.7
    assert kf.key_frames == 4 and kf.local_frames == 3
    # rescue_misses=0: the face of a key frame is the full detector's only
    kf0 = KeyframeDetector(HaarFaceDetector(), detect_every=2, rescue_misses=0)
    assert [len(kf0(f)) for f in frames[:3]] == [1, 1, 0]


class _Stub:
    """Full detection finds the face on the first frame only; the local search always finds it."""

    def __init__(self):
        self.calls = 0

    def __call__(self, image):
        self.calls += 1
        return [Face(box=(10, 10, 40, 40), score=1.0)] if self.calls == 1 else []

    def detect_near(self, image, box, search, size_ratio):
        return Face(box=tuple(box), score=0.5, detected=False)


def test_a_face_missed_on_more_key_frames_than_rescue_misses_is_dropped():
    image = np.zeros((100, 100, 3), np.uint8)
    for misses, kept in ((1, 4), (2, 6)):
        kf = KeyframeDetector(_Stub(), detect_every=2, rescue_misses=misses)
        out = [kf(image) for _ in range(8)]
        # key frames 0, 2, 4, ...: the full detector finds the face at frame 0 only
        assert [len(o) for o in out] == [1] * kept + [0] * (8 - kept), misses
        assert [o[0].detected for o in out if o] == [True] + [False] * (kept - 1)
    with pytest.raises(ValueError, match='rescue_misses'):
        KeyframeDetector(_Stub(), detect_every=2, rescue_misses=-1)
