"""Streamed video/camera frames: indices, timestamps, pixels, errors, threads, memory."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import time
import weakref

import numpy as np
import pytest

from ferlab.inference import video as video_mod
from ferlab.inference.video import iter_camera_frames, iter_video_frames, video_info
from tests.test_inference.video_utils import astronaut_frame, write_video
from tests.utils import REPO_ROOT


@pytest.fixture(scope='module')
def short_video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp('video') / 'astro.avi', 12, fps=12.5)


def test_every_frame_with_container_timestamps_and_exact_pixels(short_video):
    assert video_info(short_video) == dict(fps=12.5, frames=12, width=320, height=240)
    frames = list(iter_video_frames(short_video))
    assert [f.frame for f in frames] == list(range(12))
    np.testing.assert_allclose([f.timestamp_s for f in frames], np.arange(12) / 12.5)
    for f in frames:
        assert f.is_video and f.error is None and f.input == short_video
        # FFV1 is lossless: the decoded frame is the written one
        np.testing.assert_array_equal(f.image, astronaut_frame(f.frame))


def test_every_n_frames_keeps_video_indices(short_video):
    frames = list(iter_video_frames(short_video, every_n_frames=5, queue_size=1))
    assert [f.frame for f in frames] == [0, 5, 10]
    np.testing.assert_allclose([f.timestamp_s for f in frames], [0.0, 0.4, 0.8])
    np.testing.assert_array_equal(frames[2].image, astronaut_frame(10))
    with pytest.raises(ValueError, match='every_n_frames'):
        next(iter_video_frames(short_video, every_n_frames=0))


@pytest.mark.parametrize('content', [b'', b'this is a text file, not a video\n'])
def test_unreadable_video_is_one_error_frame(tmp_path, content):
    path = tmp_path / 'broken.mp4'
    path.write_bytes(content)
    frames = list(iter_video_frames(str(path)))
    assert len(frames) == 1
    assert frames[0].image is None and frames[0].is_video
    assert str(path) in frames[0].error and '\n' not in frames[0].error


def test_iterator_holds_no_yielded_frame(short_video):
    it = iter_video_frames(short_video, queue_size=2)
    first = next(it)
    ref = weakref.ref(first.image)
    del first
    second = next(it)
    gc.collect()
    assert second.frame == 1
    assert ref() is None, 'the iterator still references a frame it has yielded'
    it.close()


def test_leaving_early_stops_the_reader_thread(tmp_path):
    path = write_video(tmp_path / 'long.avi', 60, fourcc='MJPG')
    before = set(threading.enumerate())
    it = iter_video_frames(path, queue_size=2)
    assert next(it).frame == 0
    time.sleep(0.2)  # the reader fills the queue and blocks on it
    it.close()
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]


class _FakeCamera:
    """Stands in for ``cv2.VideoCapture(index)``: frames whose pixels are their index."""

    opened = True
    limit = 1000

    def __init__(self, index):
        self.index, self.count = index, 0

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return self.opened

    def read(self):
        if self.count >= self.limit:
            return False, None
        self.count += 1
        return True, np.full((4, 6, 3), (self.count - 1) % 256, np.uint8)

    def release(self):
        pass


def test_camera_frames_every_n_and_max_frames(monkeypatch):
    monkeypatch.setattr(video_mod.cv2, 'VideoCapture', _FakeCamera)
    frames = list(iter_camera_frames(3, every_n_frames=2, max_frames=4, queue_size=8))
    assert [f.input for f in frames] == ['camera:3'] * 4
    # with a queue larger than what is consumed nothing is dropped: frames 0, 2, 4, 6
    assert [f.frame for f in frames] == [0, 2, 4, 6]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 2, 4, 6]
    assert all(f.is_video and f.error is None for f in frames)
    stamps = [f.timestamp_s for f in frames]
    assert stamps == sorted(stamps) and stamps[0] >= 0


def test_camera_stop_event_and_errors(monkeypatch):
    monkeypatch.setattr(video_mod.cv2, 'VideoCapture', _FakeCamera)
    stop = threading.Event()
    got = []
    for f in iter_camera_frames(0, stop=stop):
        got.append(f.frame)
        if len(got) == 3:
            stop.set()  # what a preview window does when q is pressed
    assert len(got) == 3
    monkeypatch.setattr(_FakeCamera, 'opened', False)
    (err,) = list(iter_camera_frames(7))
    assert err.image is None and 'camera 7' in err.error and err.input == 'camera:7'
    monkeypatch.setattr(_FakeCamera, 'opened', True)
    monkeypatch.setattr(_FakeCamera, 'limit', 0)
    (err,) = list(iter_camera_frames(1))
    assert err.image is None and 'no frames' in err.error


def test_slow_consumer_gets_live_camera_frames(monkeypatch):
    monkeypatch.setattr(video_mod.cv2, 'VideoCapture', _FakeCamera)
    frames = []
    for f in iter_camera_frames(0, max_frames=3, queue_size=1):
        frames.append(f.frame)
        time.sleep(0.1)  # the fake camera delivers thousands of frames meanwhile
    # the oldest waiting frames are dropped: consecutive frames are far apart, not 0, 1, 2
    assert frames[0] == 0 and frames[2] - frames[1] > 1


_RSS_SCRIPT = r"""
import json, resource, sys
import cv2
from ferlab.inference.video import iter_video_frames
n = 0
for f in iter_video_frames(sys.argv[1]):
    small = cv2.resize(f.image, (32, 32))  # per-frame work; the frame itself is dropped
    n += 1
print(json.dumps(dict(frames=n, peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
"""


_RSS_INFERENCER = r"""
import json, resource, sys
from ferlab.apis.inferencer import FERInferencer
inferencer = FERInferencer(sys.argv[2], sys.argv[3], detector='whole', batch_size=64)
inferencer(sys.argv[1], out_dir=sys.argv[4], return_rows=False)  # CSV + probability plot written
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(frames=inferencer.summary['frames'], peak_rss_kb=rss)))
"""


@pytest.mark.slow
def test_peak_memory_flat_with_video_length_through_the_inferencer(tmp_path, tiny_model):
    """FERInferencer on a 3-minute video peaks at the RSS of a 10-second one (160x120, 25 fps)."""
    results = {}
    for seconds in (10, 180):
        path = write_video(tmp_path / f'v{seconds}.mp4', 25 * seconds, size=(160, 120), fourcc='mp4v')
        out = subprocess.run(
            [sys.executable, '-c', _RSS_INFERENCER, path, *tiny_model, str(tmp_path / f'out{seconds}')],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=True,
        )
        results[seconds] = json.loads(out.stdout.strip().splitlines()[-1])
    assert results[10]['frames'] == 250 and results[180]['frames'] == 4500
    grown_mb = (results[180]['peak_rss_kb'] - results[10]['peak_rss_kb']) / 1024
    # 4250 more frames of 57.6 KB would be 245 MB; rows and plot series of 4250 frames are < 1 MB
    assert grown_mb < 16, results


@pytest.mark.slow
def test_peak_memory_flat_with_video_length(tmp_path):
    """Peak RSS reading a 3-minute video equals that of a 10-second one (25 fps, 160x120)."""
    results = {}
    for seconds in (10, 180):
        path = write_video(tmp_path / f'v{seconds}.mp4', 25 * seconds, size=(160, 120), fourcc='mp4v')
        out = subprocess.run(
            [sys.executable, '-c', _RSS_SCRIPT, path],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=True,
        )
        results[seconds] = json.loads(out.stdout.strip().splitlines()[-1])
    assert results[10]['frames'] == 250 and results[180]['frames'] == 4500
    grown_mb = (results[180]['peak_rss_kb'] - results[10]['peak_rss_kb']) / 1024
    # holding the frames would cost 4250 x 57.6 KB = 245 MB more; the bounded queue costs nothing extra
    assert grown_mb < 16, results


# ---------------------------------------------------------------- end to end through FERInferencer
@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    from tests.test_inference.infer_utils import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp('model'))


def _face_rows(rows):
    return [r for r in rows if int(r['face_found']) == 1]


def test_video_rows_one_per_frame_stable_id_equal_to_the_frames_as_images(tmp_path, tiny_model):
    import cv2

    from ferlab.apis.inferencer import FERInferencer

    path = write_video(tmp_path / 'astro.avi', 16, fps=8.0)
    inferencer = FERInferencer(*tiny_model, batch_size=5)
    rows = inferencer(path)
    assert [r['frame'] for r in rows] == list(range(16)), 'one row per frame, in frame order'
    faces = _face_rows(rows)
    assert len(faces) >= 14 and {r['face_id'] for r in faces} == {0}
    np.testing.assert_allclose([r['timestamp_s'] for r in rows], np.arange(16) / 8.0)
    # the same pixels given as image files give the same boxes and probabilities
    stills = []
    for i in range(16):
        cv2.imwrite(str(tmp_path / f'f{i:02d}.png'), astronaut_frame(i))
        stills.append(str(tmp_path / f'f{i:02d}.png'))
    by_image = inferencer(stills)
    for v, s in zip(rows, by_image):
        assert v['face_found'] == s['face_found']
        if v['face_found']:
            assert [v[k] for k in 'xywh'] == [s[k] for k in 'xywh']
            np.testing.assert_allclose(
                [v[c] for c in inferencer.classes], [s[c] for c in inferencer.classes], atol=1e-6
            )
            assert v['label'] == s['label']


def test_two_faces_keep_distinct_ids_left_and_right(tmp_path, tiny_model):
    from ferlab.apis.inferencer import FERInferencer

    path = write_video(tmp_path / 'two.avi', 20, faces=2)
    rows = _face_rows(FERInferencer(*tiny_model, batch_size=8)(path, every_n_frames=2))
    assert {r['frame'] for r in rows} <= set(range(0, 20, 2))
    side = {}
    for r in rows:
        side.setdefault(r['face_id'], set()).add(r['x'] + r['w'] / 2 < 160)
    # two tracks, each always on its own half of the frame
    assert len(side) == 2 and sorted(side.values(), key=sorted) == [{False}, {True}]


def test_smooth_option_equals_smooth_predicting_of_the_raw_rows(tmp_path, tiny_model):
    from ferlab.apis.inferencer import FERInferencer
    from tests.test_inference.test_smoothing import _direct

    path = write_video(tmp_path / 'astro.avi', 16)
    inferencer = FERInferencer(*tiny_model, batch_size=4)
    raw = _face_rows(inferencer(path))
    smoothed = _face_rows(inferencer(path, smooth=6))
    frames = [r['frame'] for r in raw]
    want = _direct(frames, np.array([[r[c] for c in inferencer.classes] for r in raw]), 6, causal=False)
    assert [r['frame'] for r in smoothed] == frames
    np.testing.assert_allclose([[r[c] for c in inferencer.classes] for r in smoothed], want, atol=1e-6)
    assert [r['label'] for r in smoothed] == [inferencer.classes[int(k)] for k in want.argmax(1)]


def test_annotated_video_and_probability_plot(tmp_path, tiny_model):
    import cv2

    from ferlab.apis.inferencer import FERInferencer
    from ferlab.inference.annotate import draw_results
    from ferlab.inference.plots import VideoPlotWriter
    from ferlab.inference.video import AnnotatedVideoWriter

    path = write_video(tmp_path / 'astro.avi', 10, fps=10.0)
    inferencer = FERInferencer(*tiny_model, batch_size=4)
    annotated = AnnotatedVideoWriter(
        str(tmp_path / 'out'), inferencer.classes, every_n_frames=2, fourcc='FFV1'
    )
    rows = inferencer(path, every_n_frames=2, on_frame=annotated)
    annotated.close()
    out = annotated.written[path]
    assert video_info(out) == dict(fps=5.0, frames=5, width=320, height=240)
    got = list(iter_video_frames(out))
    for k, f in enumerate(got):  # lossless: exactly the drawing of the source frame and its rows
        frame_rows = [r for r in rows if r['frame'] == 2 * k]
        np.testing.assert_array_equal(
            f.image, draw_results(astronaut_frame(2 * k), frame_rows, inferencer.classes)
        )
    with VideoPlotWriter(str(tmp_path / 'out'), inferencer.classes, frame_step=2) as plots:
        for r in rows:
            plots.write(r)
    png = cv2.imread(plots.written[path])
    assert png is not None and png.shape[1] == 800
