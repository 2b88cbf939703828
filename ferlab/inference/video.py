"""Streamed video and camera input: frames decoded in a background thread.

:func:`iter_video_frames` and :func:`iter_camera_frames` yield
:class:`~ferlab.inference.sources.Frame` records one at a time while a reader
thread decodes ahead into a bounded queue, so decoding overlaps detection and
the model, and memory does not grow with the length of the video: at most
``queue_size`` decoded frames exist besides the one the caller holds (a
3-minute video and a 10-second one reach the same peak RSS; measured in
``tests/test_inference/test_video.py``). Neither iterator keeps a reference to
a frame it has yielded.

Frames skipped by ``every_n_frames`` are only demuxed (``VideoCapture.grab``),
not converted to BGR. Timestamps come from the container's frame rate
(``frame / fps``); a container that reports none falls back to the decoder's
position (``CAP_PROP_POS_MSEC``).

A file that OpenCV cannot open, or that opens but yields no frame, gives one
:class:`Frame` with ``image=None`` and an ``error`` naming the file; nothing
raises. A camera that cannot be opened does the same.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from typing import Callable, Iterator

import cv2
import numpy as np

from ferlab.inference.sources import Frame

__all__ = [
    'AnnotatedVideoWriter',
    'CameraPreview',
    'DEFAULT_QUEUE_SIZE',
    'iter_camera_frames',
    'iter_video_frames',
    'stop_cameras',
    'video_info',
]

#: Decoded frames a reader thread may hold ahead of the consumer.
DEFAULT_QUEUE_SIZE = 32
_END = object()
#: Set by :func:`stop_cameras` (the ``q`` key of a :class:`CameraPreview`): every camera stream ends.
_STOP_CAMERAS = threading.Event()


def stop_cameras() -> None:
    """End every running :func:`iter_camera_frames` stream after its current frame."""
    _STOP_CAMERAS.set()


def video_info(path: str) -> dict:
    """Frame rate, frame count and size reported by a video's container.

    Args:
        path: A video file.

    Returns:
        ``dict(fps=float, frames=int, width=int, height=int)``; ``fps`` and
        ``frames`` are 0 when the container does not say (``frames`` is the
        container's estimate, not a decoded count).

    Raises:
        OSError: OpenCV cannot open ``path``.
    """
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise OSError(f'{path}: OpenCV cannot open this file as a video')
        fps = cap.get(cv2.CAP_PROP_FPS)
        return dict(
            fps=float(fps) if math.isfinite(fps) and fps > 0 else 0.0,
            frames=max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0),
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        cap.release()


class _Reader(threading.Thread):
    """Daemon thread: ``produce(put)`` fills a bounded queue until it returns or ``stop`` is set."""

    def __init__(self, produce: Callable, queue_size: int, latest_only: bool = False):
        super().__init__(daemon=True)
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.produce = produce
        self.latest_only = latest_only
        self.dropped = 0

    def put(self, item) -> bool:
        """Queue ``item``; ``False`` once the consumer has gone (stop the production)."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                if self.latest_only:  # a live source: the oldest waiting frame is stale, drop it
                    try:
                        self.queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
        return False

    def run(self) -> None:
        try:
            self.produce(self.put)
        except Exception as err:  # noqa: BLE001 - reported to the consumer as an error frame
            self.put(err)
        finally:
            self.put(_END)

    def items(self) -> Iterator:
        """Consume the queue until the producer ends; stops the thread when the consumer leaves early."""
        self.start()
        try:
            while True:
                item = self.queue.get()
                if item is _END:
                    return
                yield item
                del item  # hold no frame while the caller works on the next
        finally:
            self.stop.set()
            while True:  # unblock a put() waiting on a full queue
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    break
            self.join(timeout=5)


def _check_every(every_n_frames: int) -> int:
    if isinstance(every_n_frames, bool) or int(every_n_frames) != every_n_frames or every_n_frames < 1:
        raise ValueError(f'every_n_frames must be an int >= 1, got {every_n_frames!r}')
    return int(every_n_frames)


def iter_video_frames(
    path: str, every_n_frames: int = 1, queue_size: int = DEFAULT_QUEUE_SIZE
) -> Iterator[Frame]:
    """Yield the frames of a video file, decoded in a background thread.

    Args:
        path: Any file OpenCV's FFmpeg backend decodes.
        every_n_frames: Keep frames ``0, n, 2n, ...`` (frame indices stay
            those of the video).
        queue_size: Decoded frames held ahead of the consumer (memory bound:
            ``queue_size`` frames of ``H x W x 3`` bytes).

    Yields:
        :class:`Frame` with ``is_video=True``, ``frame`` the index in the
        video, ``timestamp_s = frame / fps``. An unreadable file gives one
        frame with ``image=None`` and ``error`` set; a read failure after
        some frames gives an error frame after them.
    """
    every = _check_every(every_n_frames)
    if queue_size < 1:
        raise ValueError(f'queue_size must be >= 1, got {queue_size}')
    path = str(path)

    def produce(put) -> None:
        cap = cv2.VideoCapture(path)
        try:
            if not cap.isOpened():
                put(Frame(path, 0, 0.0, None, f'{path}: OpenCV cannot open this file as a video', True))
                return
            fps = cap.get(cv2.CAP_PROP_FPS)
            fps = float(fps) if math.isfinite(fps) and fps > 0 else 0.0
            index = 0
            while True:
                if not cap.grab():
                    break
                if index % every == 0:
                    ok, image = cap.retrieve()
                    if not ok or image is None:
                        put(Frame(path, index, 0.0, None, f'{path}: frame {index} cannot be decoded', True))
                        return
                    stamp = index / fps if fps else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    if not put(Frame(path, index, float(stamp), _bgr(image), None, True)):
                        return
                    del image
                index += 1
            if index == 0:
                put(Frame(path, 0, 0.0, None, f'{path}: the file holds no decodable video frame', True))
        finally:
            cap.release()

    for item in _Reader(produce, queue_size).items():
        if isinstance(item, Exception):
            yield Frame(path, 0, 0.0, None, f'{path}: video reading failed: {item}', True)
            return
        yield item


def _bgr(image: np.ndarray) -> np.ndarray:
    """3-channel BGR uint8 (grey and BGRA streams converted)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def iter_camera_frames(
    index: int,
    every_n_frames: int = 1,
    stop: threading.Event | None = None,
    max_frames: int | None = None,
    queue_size: int = 2,
) -> Iterator[Frame]:
    """Yield live frames from camera ``index`` until it stops, ``stop`` is set or Ctrl-C.

    The reader keeps only the newest ``queue_size`` frames: when the model is
    slower than the camera, older waiting frames are dropped (counted in the
    log line at the end), so results stay live instead of lagging further and
    further behind.

    Args:
        index: OpenCV device index (``0`` = the first webcam).
        every_n_frames: Keep frames ``0, n, 2n, ...`` of the camera's stream.
        stop: Set it to end the stream; :func:`stop_cameras` (called by
            :class:`CameraPreview` when ``q`` is pressed) ends it too.
        max_frames: End after this many yielded frames (``None``: no limit).
        queue_size: Frames held ahead of the consumer.

    Yields:
        :class:`Frame` with ``input='camera:N'``, ``is_video=True``,
        ``frame`` counting the camera's frames and ``timestamp_s`` the
        seconds since the stream started (wall clock). A camera that cannot be
        opened gives one frame with ``image=None`` and ``error`` set.
    """
    every = _check_every(every_n_frames)
    name = f'camera:{index}'
    stop = stop if stop is not None else threading.Event()
    _STOP_CAMERAS.clear()

    def stopped() -> bool:
        return stop.is_set() or _STOP_CAMERAS.is_set()

    def produce(put) -> None:
        cap = cv2.VideoCapture(int(index))
        try:
            if not cap.isOpened():
                put(Frame(name, 0, 0.0, None, f'{name}: OpenCV cannot open camera {index}', True))
                return
            start = time.monotonic()
            count = 0
            while not stopped():
                ok, image = cap.read()
                now = time.monotonic() - start
                if not ok or image is None:
                    if count == 0:
                        put(Frame(name, 0, 0.0, None, f'{name}: camera {index} delivers no frames', True))
                    return
                if count % every == 0 and not put(Frame(name, count, now, _bgr(image), None, True)):
                    return
                count += 1
        finally:
            cap.release()

    reader = _Reader(produce, queue_size, latest_only=True)
    yielded = 0
    try:
        for item in reader.items():
            if isinstance(item, Exception):
                yield Frame(name, 0, 0.0, None, f'{name}: camera reading failed: {item}', True)
                return
            yield item
            yielded += 1
            if stopped() or (max_frames is not None and yielded >= max_frames):
                return
    except KeyboardInterrupt:  # Ctrl-C while waiting for the camera ends the stream, not the run
        return
    finally:
        stop.set()
        if reader.dropped:
            from mmengine.logging import print_log

            print_log(f'{name}: {reader.dropped} frames dropped while the model was busy', logger='current')


def _annotate(image: np.ndarray, rows: list[dict], classes) -> np.ndarray:
    from ferlab.inference.annotate import draw_results

    return draw_results(image, rows, classes)


class AnnotatedVideoWriter:
    """``(frame, rows)`` callback that writes an annotated copy of each video.

    Each frame of a video (or camera) input is drawn with
    :func:`ferlab.inference.annotate.draw_results` (boxes, ``face_id``,
    label, probability bars) and appended to
    ``<out_dir>/<video stem>_annotated.mp4`` (``.avi`` for codecs other
    than ``mp4v``), at the source's frame rate
    divided by ``every_n_frames`` (cameras: ``camera_fps``). Frames are
    written as they come, nothing is held. The rows drawn are the per-frame
    predictions: ``--smooth`` over a whole video needs the video's end, so
    smoothed labels are in the CSV and the plot, not in this video. Image
    inputs and error frames are skipped.

    Args:
        out_dir: Folder for the videos.
        classes: Class names (the rows' probability columns).
        every_n_frames: The run's ``every_n_frames`` (sets the output frame rate).
        fourcc: OpenCV codec (``'mp4v'``: MPEG-4 Part 2 in ``.mp4``, in every
            opencv-python wheel).
        camera_fps: Frame rate written for camera streams.

    Attributes:
        written: ``{input: video path}``.
    """

    def __init__(
        self, out_dir: str, classes, every_n_frames: int = 1, fourcc: str = 'mp4v', camera_fps: float = 15.0
    ):
        self.out_dir = out_dir
        self.classes = list(classes)
        self.every = _check_every(every_n_frames)
        self.fourcc = fourcc
        self.camera_fps = float(camera_fps)
        self.written: dict[str, str] = {}
        self._input: str | None = None
        self._writer = None

    def _path_for(self, name: str) -> str:
        import os.path as osp

        stem = osp.splitext(osp.basename(name))[0].replace(':', '') or 'video'
        ext = '.mp4' if self.fourcc == 'mp4v' else '.avi'
        taken = set(self.written.values())
        path, k = osp.join(self.out_dir, f'{stem}_annotated{ext}'), 0
        while path in taken:
            k += 1
            path = osp.join(self.out_dir, f'{stem}_{k}_annotated{ext}')
        return path

    def _open(self, frame: Frame) -> None:
        import os

        from ferlab.inference.sources import is_camera

        self.close()
        if is_camera(frame.input):
            fps = self.camera_fps
        else:
            fps = (video_info(frame.input)['fps'] or 25.0) / self.every
        os.makedirs(self.out_dir, exist_ok=True)
        path = self._path_for(frame.input)
        h, w = frame.image.shape[:2]
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*self.fourcc), fps, (w, h))
        if not writer.isOpened():
            raise OSError(f'OpenCV cannot write a {self.fourcc!r} video to {path}')
        self._writer, self._input = writer, frame.input
        self.written[frame.input] = path

    def __call__(self, frame: Frame, rows: list[dict]) -> None:
        if not frame.is_video or frame.image is None:
            return
        if frame.input != self._input:
            self._open(frame)
        self._writer.write(_annotate(frame.image, rows, self.classes))

    def close(self) -> None:
        """Finish the current video file."""
        if self._writer is not None:
            self._writer.release()
        self._writer, self._input = None, None


class CameraPreview:
    """``(frame, rows)`` callback showing annotated camera frames in a window; ``q`` ends the run.

    Needs an OpenCV build with a GUI backend (the ``opencv-python`` wheel has
    one; ``opencv-python-headless`` has not: the first frame then raises an
    error saying so). ``q`` or ``Esc`` calls :func:`stop_cameras`.

    Args:
        classes: Class names (the rows' probability columns).
        window: Window title.
    """

    def __init__(self, classes, window: str = 'ferlab'):
        self.classes = list(classes)
        self.window = window
        self.opened = False

    def __call__(self, frame: Frame, rows: list[dict]) -> None:
        from ferlab.inference.sources import is_camera

        if frame.image is None or not is_camera(frame.input):
            return
        try:
            cv2.imshow(self.window, _annotate(frame.image, rows, self.classes))
            self.opened = True
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as err:
            raise RuntimeError(
                f'the camera preview needs OpenCV with a GUI (pip install opencv-python, not '
                f'opencv-python-headless): {str(err).strip().splitlines()[-1]}'
            ) from None
        if key in (ord('q'), 27):
            stop_cameras()

    def close(self) -> None:
        if self.opened:
            cv2.destroyWindow(self.window)
            self.opened = False
