"""``FERInferencer``: expressions of every face in photos, folders and videos.

The shape of mmpretrain's ``ImageClassificationInferencer``::

    inferencer = FERInferencer('configs/dan/dan_r18_rafdb.py', 'dan_rafdb.pth')
    rows = inferencer(['photo.jpg', 'folder/', 'clip.mp4'])     # list of row dicts
    inferencer('photos/*.jpg', out_dir='out', save_annotated=True)  # + out/predictions.csv

    FERInferencer('model.onnx')(...)      # ONNX Runtime; the file's metadata replaces the config

Pipeline per frame: :func:`ferlab.inference.iter_frames` (images decoded with
EXIF orientation; videos streamed by :mod:`ferlab.inference.video`) → face
detector (:mod:`ferlab.inference.detectors`) → :func:`align_face` → backend
(:class:`~ferlab.inference.TorchBackend`: the config's test pipeline and data
preprocessor, or ``OnnxBackend``). Faces are batched across frames and inputs
(``batch_size`` crops per forward, after a ramp of 1, 2, 4, ... crops at the
start of a call); each crop's scores do not depend on its batch beyond float
rounding (ResNet-18: within 1e-6). Rows are described in :mod:`ferlab.inference.writers`.

With ``overlap=True`` (default) decoding, detection and cropping run in one
worker thread, a bounded queue of ``batch_size`` frames ahead of the model
(OpenCV releases the GIL, so the detector runs while the backend computes a
batch); tracking, scoring and the rows stay in the calling thread, in frame
order, and the rows are the same as with ``overlap=False``.

With ``detect_every=K > 1`` the detector runs on the whole frame only every
K-th processed frame of a video (and whenever a followed face is lost); in
between each face is followed by a local search around its last box
(:class:`ferlab.inference.keyframes.KeyframeDetector`; rows say ``detected=0``).

The ``label`` of a row is the model's decision (``pred_label`` of its
``predict``): the most probable class for most models, the coarse-to-fine
rule for a ``CascadeClassifier`` (which is not always the argmax of its
8 scores); smoothed rows apply the same rule (``backend.meta['decision']``)
to the smoothed probabilities.
"""

from __future__ import annotations

import collections
import os
import os.path as osp
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from ferlab.inference.backends import DECISIONS, decide
from ferlab.inference.detectors import Face, align_face, build_detector
from ferlab.inference.sources import Frame, iter_frames
from ferlab.inference.writers import FORMATS, ResultWriter, empty_row, row_fields
from ferlab.utils.errors import FerlabInputError

BACKENDS = ('auto', 'pytorch', 'onnxruntime')


class FERInferencer:
    """Facial-expression inference on images, folders, globs, videos and cameras.

    Args:
        model: A config file / :class:`~mmengine.config.Config`, or an
            ``.onnx`` file written by ``tools/deployment/pytorch2onnx.py``
            (ONNX Runtime; needs no config), or a ready backend (anything with
            the :class:`~ferlab.inference.Backend` interface).
        checkpoint: Checkpoint for a config (``None``: the model's own
            initialisation); ignored for ONNX files.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:N'``.
        detector: ``'haar'`` (default), ``'yunet'``, ``'whole'``, a
            ``FACE_DETECTORS`` config dict or a callable ``image -> list[Face]``.
        yunet_model: YuNet ONNX file for ``detector='yunet'``.
        margin: Context around each face box, as a fraction of its size
            (see :func:`~ferlab.inference.align_face`).
        batch_size: Face crops per forward pass.
        max_faces: Keep at most this many faces per frame (the largest).
        amp: Autocast the PyTorch forward (``tools/test.py --amp``).
        backend: ``'auto'`` (ONNX Runtime for ``.onnx`` files, else PyTorch),
            ``'pytorch'`` or ``'onnxruntime'``.
        tracker: ``IoUTracker`` keyword arguments for video inputs.
        overlap: Decode, detect and crop upcoming frames in a worker thread
            while the backend scores a batch (at most ``batch_size`` frames
            ahead). ``False``: everything in the calling thread. The rows
            are the same either way.
        detect_every: In videos and cameras, run the detector on the whole
            frame every ``detect_every``-th processed frame and follow the
            faces by a local search in between
            (:class:`~ferlab.inference.keyframes.KeyframeDetector`); ``1``
            (default): the full detector on every frame. Images are always
            fully detected.
        ramp: The first forward passes of a call take 1, 2, 4, ... crops, up
            to ``batch_size``, so that the model starts on the first face
            instead of idling until ``batch_size`` faces are detected (on the
            100-frame benchmark video at ``batch_size=32`` that wait was the
            detection of 32 frames). The batch sizes depend only on the
            number of faces per frame, never on timing, so the rows are the
            same with and without ``overlap``. ``False``: every batch has
            ``batch_size`` crops.

    Attributes:
        backend: The backend; ``backend.meta`` holds ``classes``,
            ``input_size`` and ``au_names``.
        fields: Column names of the rows.
        summary: Counts of the last call (``inputs``, ``frames``, ``faces``,
            ``frames_without_face``, ``errors``, ``failed_inputs``).
        decision: How scores become the ``label`` of smoothed rows
            (``backend.meta['decision']``: ``'argmax'`` or ``'cascade'``);
            unsmoothed rows carry the backend's own labels when it returns them.
        keyframes: The :class:`~ferlab.inference.keyframes.KeyframeDetector`
            of the last call (``key_frames`` / ``local_frames`` count the
            video frames given to the full detector / the local search).
        wait_s: Seconds the calling thread of the last :meth:`iter_results`
            waited for decoded, detected and cropped frames (with
            ``overlap=False``: the time it spent decoding, detecting and
            cropping).
    """

    def __init__(
        self,
        model,
        checkpoint: str | None = None,
        device: str = 'cpu',
        detector='haar',
        yunet_model: str | None = None,
        margin: float = 0.2,
        batch_size: int = 16,
        max_faces: int | None = None,
        amp: bool = False,
        backend: str = 'auto',
        tracker: dict | None = None,
        overlap: bool = True,
        detect_every: int = 1,
        ramp: bool = True,
    ):
        if backend not in BACKENDS:
            raise FerlabInputError(f'backend must be one of {BACKENDS}, got {backend!r}')
        if batch_size < 1:
            raise FerlabInputError(f'batch_size must be >= 1, got {batch_size}')
        if max_faces is not None and max_faces < 1:
            raise FerlabInputError(f'max_faces must be >= 1 or None, got {max_faces}')
        if isinstance(detect_every, bool) or not isinstance(detect_every, int) or detect_every < 1:
            raise FerlabInputError(f'detect_every must be an int >= 1, got {detect_every!r}')
        self.backend = self._build_backend(model, checkpoint, device, amp, backend)
        if detector in ('yunet', 'YuNetFaceDetector'):
            detector = dict(type='YuNetFaceDetector', model=yunet_model)
        self.detector = build_detector(detector)
        self.margin = float(margin)
        self.batch_size = int(batch_size)
        self.max_faces = max_faces
        self.tracker_cfg = dict(tracker or {})
        self.classes = list(self.backend.meta['classes'])
        self.au_names = list(self.backend.meta.get('au_names') or []) or None
        self.fields = row_fields(self.classes, self.au_names)
        self.overlap = bool(overlap)
        self.detect_every = detect_every
        self.ramp = bool(ramp)
        self.decision = self.backend.meta.get('decision', 'argmax')
        if self.decision not in DECISIONS:
            raise FerlabInputError(
                f"backend meta 'decision' must be one of {DECISIONS}, got {self.decision!r}"
            )
        self.summary: dict = {}
        self.keyframes = None
        self.wait_s = 0.0

    @staticmethod
    def _build_backend(model, checkpoint, device, amp, backend):
        if callable(model) and hasattr(model, 'meta'):
            return model
        is_onnx = isinstance(model, (str, Path)) and str(model).lower().endswith('.onnx')
        if backend == 'onnxruntime' or (backend == 'auto' and is_onnx):
            if not is_onnx:
                raise FerlabInputError(f'--backend onnxruntime needs an .onnx file, got {model}')
            from ferlab.inference.onnx_backend import OnnxBackend

            return OnnxBackend(str(model), device)
        if is_onnx:
            raise FerlabInputError(f'{model} is an ONNX file: use the onnxruntime backend')
        from ferlab.inference.backends import TorchBackend

        return TorchBackend(model, checkpoint, device=device, amp=amp)

    # ------------------------------------------------------------------ rows
    def _face_row(self, frame: Frame, face: Face, face_id: int, scores, au_scores, label=None) -> dict:
        x, y, w, h = (int(v) for v in face.box)
        if label is None:
            label = int(decide(np.asarray(scores)[None], self.decision)[0])
        row = empty_row(
            self.fields,
            input=frame.input,
            frame=int(frame.frame),
            timestamp_s=float(frame.timestamp_s),
            face_id=int(face_id),
            x=x,
            y=y,
            w=w,
            h=h,
            det_score=float(face.score),
            detected=int(bool(face.detected)),
            face_found=1,
            label=self.classes[int(label)],
        )
        row.update({c: float(p) for c, p in zip(self.classes, scores)})
        if self.au_names and au_scores is not None:
            row.update({a: float(p) for a, p in zip(self.au_names, au_scores)})
        return row

    def _empty_frame_row(self, frame: Frame) -> dict:
        return empty_row(
            self.fields,
            input=frame.input,
            frame=int(frame.frame),
            timestamp_s=float(frame.timestamp_s),
            face_found=0,
            error=frame.error,
        )

    # ------------------------------------------------------------------ streaming
    def iter_results(
        self, inputs: str | Iterable[str], every_n_frames: int = 1, strict: bool = False
    ) -> Iterator[tuple[Frame, list[dict]]]:
        """Yield ``(frame, rows)`` for every frame of ``inputs``, in input and frame order.

        Faces are detected frame by frame and scored in batches of
        ``batch_size`` crops gathered across frames; at most one batch of
        frames is held, plus (with ``overlap``) at most ``batch_size``
        prepared frames queued by the worker thread. In videos and cameras the face ids come from an
        ``IoUTracker`` per input; in images they are the face's index (faces
        ordered left to right).

        Args:
            inputs: Files, folders, globs, videos, ``'camera:N'``.
            every_n_frames: Keep one video frame in this many.
            strict: Raise :class:`FerlabInputError` at the first input that
                cannot be read instead of yielding its error row.

        Yields:
            The frame (``image`` set, for annotation) and its rows: one per
            face, or one ``face_found=0`` row (no face, or ``error``).
        """
        from ferlab.inference.tracker import IoUTracker

        pending: list[tuple[Frame, list[Face], list[int]]] = []
        crops: list[np.ndarray] = []
        tracker, tracked_input = None, None
        # crops of the next forward: 1, 2, 4, ... up to batch_size (``ramp``), then batch_size
        target = [1 if self.ramp else self.batch_size]

        def flush() -> Iterator[tuple[Frame, list[dict]]]:
            if crops:
                target[0] = min(2 * target[0], self.batch_size)
            out = {'scores': np.zeros((0, len(self.classes))), 'au_scores': None, 'labels': None}
            if crops:
                parts = [
                    self.backend(crops[i : i + self.batch_size])
                    for i in range(0, len(crops), self.batch_size)
                ]
                out['scores'] = np.concatenate([p['scores'] for p in parts])
                if all(p.get('au_scores') is not None for p in parts):
                    out['au_scores'] = np.concatenate([p['au_scores'] for p in parts])
                if all(p.get('labels') is not None for p in parts):
                    out['labels'] = np.concatenate([np.asarray(p['labels']).reshape(-1) for p in parts])
            k = 0
            for frame, faces, ids in pending:
                rows = []
                for face, fid in zip(faces, ids):
                    au = None if out['au_scores'] is None else out['au_scores'][k]
                    label = None if out['labels'] is None else out['labels'][k]
                    rows.append(self._face_row(frame, face, fid, out['scores'][k], au, label))
                    k += 1
                yield frame, rows or [self._empty_frame_row(frame)]
            pending.clear()
            crops.clear()

        prepared = self._prepared_frames(inputs, every_n_frames)
        if self.overlap:
            prepared = _in_background(prepared, maxsize=self.batch_size)
        self.wait_s = 0.0
        try:
            while True:
                start = time.perf_counter()
                item = next(prepared, None)
                self.wait_s += time.perf_counter() - start
                if item is None:
                    break
                frame, faces, frame_crops = item
                if faces is None:
                    if strict:
                        raise FerlabInputError(f'{frame.error or frame.input + ": unreadable"} (--strict)')
                    yield from flush()
                    yield frame, [self._empty_frame_row(frame)]
                    continue
                if frame.is_video:
                    if tracked_input != frame.input:
                        tracker, tracked_input = IoUTracker(**self.tracker_cfg), frame.input
                    ids = tracker.update(np.array([f.box for f in faces], np.float64).reshape(-1, 4))
                else:
                    ids = list(range(len(faces)))
                pending.append((frame, faces, ids))
                crops.extend(frame_crops)
                live = frame.input.startswith('camera:')
                if len(crops) >= target[0] or len(pending) >= self.batch_size or live:
                    yield from flush()
            yield from flush()
        finally:
            prepared.close()

    def _prepared_frames(
        self, inputs: str | Iterable[str], every_n_frames: int
    ) -> Iterator[tuple[Frame, list[Face] | None, list[np.ndarray] | None]]:
        """``(frame, faces, crops)`` in frame order; ``(frame, None, None)`` for error frames.

        The part of the pipeline that needs no model output (decoding,
        detection or the local search of ``detect_every``, ``max_faces``,
        :func:`align_face`): with ``overlap`` it runs in the worker thread.
        """
        from ferlab.inference.keyframes import KeyframeDetector, keep_largest

        keyframes = KeyframeDetector(self.detector, self.detect_every, self.max_faces)
        self.keyframes = keyframes
        video_input = None
        for frame in iter_frames(inputs, every_n_frames):
            if frame.error is not None or frame.image is None:
                yield frame, None, None
                continue
            if frame.is_video and self.detect_every > 1:
                if frame.input != video_input:
                    keyframes.reset()
                    video_input = frame.input
                faces = keyframes(frame.image)
            else:
                faces = keep_largest(list(self.detector(frame.image)), self.max_faces)
            yield frame, faces, [align_face(frame.image, f, self.margin) for f in faces]

    def iter_rows(
        self,
        inputs: str | Iterable[str],
        every_n_frames: int = 1,
        smooth: int = 0,
        strict: bool = False,
        on_frame: Callable[[Frame, list[dict]], None] | None = None,
    ) -> Iterator[dict]:
        """Yield the result rows of ``inputs`` and fill :attr:`summary`.

        Args:
            inputs: See :meth:`iter_results`.
            every_n_frames: Keep one video frame in this many.
            smooth: Window ``W`` of CFC-SP's SmoothPredicting applied per
                tracked face of each video
                (``ferlab.inference.smoothing.smooth_rows``): over the whole
                video once it ends (centred window), causally for cameras.
                ``0``: off. Images are never smoothed.
            strict: Stop at the first unreadable input.
            on_frame: Called with ``(frame, rows)`` for every frame before its
                rows are smoothed (annotated images/videos use it).
        """
        summary = dict(inputs=0, frames=0, faces=0, frames_without_face=0, errors=0, failed_inputs=[])
        self.summary = summary
        video_rows: list[dict] = []
        video_input = None
        live: collections.deque = collections.deque()

        def end_video() -> list[dict]:
            nonlocal video_input
            rows = list(video_rows)
            video_rows.clear()
            video_input = None
            if smooth and rows:
                from ferlab.inference.smoothing import smooth_rows

                rows = smooth_rows(rows, self.classes, smooth, causal=False, decision=self.decision)
            return rows

        last_input = None
        for frame, rows in self.iter_results(inputs, every_n_frames, strict):
            if frame.input != last_input:
                summary['inputs'] += 1
                last_input = frame.input
                live.clear()
            summary['frames'] += 1
            n_faces = sum(int(r['face_found']) for r in rows)
            summary['faces'] += n_faces
            if frame.error is not None:
                summary['errors'] += 1
                if frame.input not in summary['failed_inputs']:
                    summary['failed_inputs'].append(frame.input)
            elif n_faces == 0:
                summary['frames_without_face'] += 1
            if on_frame is not None:
                on_frame(frame, rows)
            frame.image = None  # the frame is done with: no video is held in memory
            if video_input is not None and frame.input != video_input:
                yield from end_video()
            if not (smooth and frame.is_video):
                yield from rows
            elif frame.input.startswith('camera:'):
                from ferlab.inference.smoothing import smooth_rows

                live.extend(rows)
                span = 2 * (smooth // 2)
                while live and live[0]['frame'] < frame.frame - span:
                    live.popleft()
                smoothed = smooth_rows(list(live), self.classes, smooth, causal=True, decision=self.decision)
                yield from smoothed[len(live) - len(rows) :]
            else:
                video_input = frame.input
                video_rows.extend(rows)
        if video_rows:
            yield from end_video()

    def __call__(
        self,
        inputs: str | Iterable[str],
        every_n_frames: int = 1,
        smooth: int = 0,
        strict: bool = False,
        out_dir: str | None = None,
        out_format: str = 'csv',
        save_annotated: bool = False,
        save_plots: bool = True,
        return_rows: bool = True,
        on_frame: Callable[[Frame, list[dict]], None] | None = None,
    ) -> list[dict]:
        """Run on ``inputs``; optionally write predictions, plots and annotated media under ``out_dir``.

        Args:
            inputs: Files, folders, globs, videos, ``'camera:N'``.
            every_n_frames, smooth, strict: See :meth:`iter_rows`.
            out_dir: Folder for ``predictions.csv`` (or ``.json``), one
                ``plots/<video>_probabilities.png`` per video
                (:class:`ferlab.inference.plots.VideoPlotWriter`, per-face
                class probabilities over time, smoothed when ``smooth``) and,
                with ``save_annotated``, ``annotated/``: one PNG per image and
                one ``<video>_annotated.mp4`` per video
                (:class:`ferlab.inference.video.AnnotatedVideoWriter`).
                ``None``: nothing is written.
            out_format: ``'csv'`` or ``'json'``.
            save_annotated: Write annotated images and videos (boxes, label, probability bars).
            save_plots: Write the per-video probability plots (with ``out_dir``).
            return_rows: Return the rows (``False`` for long videos written to ``out_dir``).
            on_frame: Extra per-frame callback ``(frame, rows)``.

        Returns:
            The rows (an empty list when ``return_rows`` is ``False``).
        """
        if out_format not in FORMATS:
            raise FerlabInputError(f'format must be one of {FORMATS}, got {out_format!r}')
        if save_annotated and out_dir is None:
            raise FerlabInputError('save_annotated needs an out_dir')
        callbacks = [on_frame] if on_frame is not None else []
        closers = []
        if save_annotated:
            from ferlab.inference.video import AnnotatedVideoWriter

            callbacks.append(AnnotatedImageWriter(osp.join(out_dir, 'annotated'), self.classes))
            video_writer = AnnotatedVideoWriter(osp.join(out_dir, 'annotated'), self.classes, every_n_frames)
            callbacks.append(video_writer)
            closers.append(video_writer.close)
        sinks = []
        if out_dir is not None and save_plots:
            from ferlab.inference.plots import VideoPlotWriter

            plots = VideoPlotWriter(osp.join(out_dir, 'plots'), self.classes, frame_step=every_n_frames)
            sinks.append(plots.write)
            closers.append(plots.close)

        def each_frame(frame, rows):
            for cb in callbacks:
                cb(frame, rows)

        if out_dir is not None:
            writer = ResultWriter(osp.join(out_dir, f'predictions.{out_format}'), self.fields, out_format)
            sinks.insert(0, writer.write)
            closers.insert(0, writer.close)
        kept = []
        try:
            for row in self.iter_rows(
                inputs, every_n_frames, smooth, strict, each_frame if callbacks else None
            ):
                for sink in sinks:
                    sink(row)
                if return_rows:
                    kept.append(row)
        finally:
            for close in closers:
                close()
        return kept


def _in_background(items: Iterator, maxsize: int) -> Iterator:
    """Run the generator ``items`` in a worker thread; yield its items in order.

    At most ``maxsize`` items wait in the queue (the worker blocks when it is
    full), so memory stays bounded. An exception raised by ``items`` is raised
    again in the consuming thread, at the position it occurred. Closing the
    returned generator (or leaving it unfinished and garbage-collected) stops
    the worker and closes ``items`` in the worker thread.
    """
    done = object()
    q: queue.Queue = queue.Queue(maxsize=max(1, int(maxsize)))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:  # handed to the consumer, raised there
            put((done, err))
        finally:
            items.close()

    worker = threading.Thread(target=work, name='ferlab-detect', daemon=True)
    worker.start()
    try:
        while True:
            item, err = q.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()


class AnnotatedImageWriter:
    """``(frame, rows)`` callback writing an annotated PNG per image input.

    The file is ``<out_dir>/<input file name without extension>.png``; inputs
    with the same file name in different folders get ``_1``, ``_2`` ... added.
    Video frames are left to the annotated-video writer of
    :mod:`ferlab.inference.video`; error frames have no picture.
    """

    def __init__(self, out_dir: str, classes: Sequence[str]):
        self.out_dir = out_dir
        self.classes = list(classes)
        self.written: dict[str, str] = {}

    def path_for(self, name: str) -> str:
        if name in self.written:
            return self.written[name]
        stem = osp.splitext(osp.basename(name))[0] or 'image'
        taken = set(self.written.values())
        path, k = osp.join(self.out_dir, f'{stem}.png'), 0
        while path in taken:
            k += 1
            path = osp.join(self.out_dir, f'{stem}_{k}.png')
        self.written[name] = path
        return path

    def __call__(self, frame: Frame, rows: list[dict]) -> None:
        if frame.is_video or frame.image is None:
            return
        from ferlab.inference.annotate import draw_results

        os.makedirs(self.out_dir, exist_ok=True)
        path = self.path_for(frame.input)
        if not cv2.imwrite(path, draw_results(frame.image, rows, self.classes)):
            raise OSError(f'could not write the annotated image {path}')
