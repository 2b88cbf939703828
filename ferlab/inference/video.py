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

__all__ = ['DEFAULT_QUEUE_SIZE', 'iter_camera_frames', 'iter_video_frames', 'video_info']

#: Decoded frames a reader thread may hold ahead of the consumer.
DEFAULT_QUEUE_SIZE = 32
_END = object()


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
        stop: Set it (e.g. when ``q`` is pressed in a preview window, see
            :class:`CameraPreview`) to end the stream.
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

    def produce(put) -> None:
        cap = cv2.VideoCapture(int(index))
        try:
            if not cap.isOpened():
                put(Frame(name, 0, 0.0, None, f'{name}: OpenCV cannot open camera {index}', True))
                return
            start = time.monotonic()
            count = 0
            while not stop.is_set():
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
            if stop.is_set() or (max_frames is not None and yielded >= max_frames):
                return
    except KeyboardInterrupt:  # Ctrl-C while waiting for the camera ends the stream, not the run
        return
    finally:
        stop.set()
        if reader.dropped:
            from mmengine.logging import print_log

            print_log(f'{name}: {reader.dropped} frames dropped while the model was busy', logger='current')
