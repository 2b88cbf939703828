"""Video inference speed: ``tools/infer.py``'s pipeline against a naive frame-by-frame loop.

``python tools/analysis_tools/infer_benchmark.py [--config CFG] [--checkpoint CKPT]
[--frames 200] [--size 640x480] [--faces 1] [--batch-size 32] [--repeats 3] [--threads T]
[--detect-max-side N] [--detect-every K] [--seed S] [--no-serial] [--out results.json]``; ``--video-only PATH`` only
writes the synthetic video.

A synthetic video is written first (OpenCV, ``mp4v``): a real face
(``skimage.data.astronaut()``'s head, about 45 % of the frame height) moving
on a Lissajous path over a panning background of smooth random blobs (``--seed``: the blobs'
random grid). Both contenders then read
that file, with the same model object and the same face detector object
(``FERInferencer``'s, Haar by default):

* **pipeline**: ``FERInferencer(...)(video, out_dir=...)`` exactly as
  ``tools/infer.py`` calls it: frames decoded in a background thread
  (:mod:`ferlab.inference.video`), detection and :func:`align_face` crop in
  the inferencer's worker thread (``overlap=True``) while the model scores
  the previous batch, IoU tracking, crops batched across frames
  (``--batch-size``) through the config's test pipeline and data
  preprocessor, rows streamed to a CSV.
* **serial** (unless ``--no-serial``): the same call with ``overlap=False``
  (detection and crop in the calling thread), to show what the overlap adds.
* **every_frame** (with ``--detect-every K > 1``): the pipeline with
  ``detect_every=1``. The pipeline and serial runs use ``detect_every=K``
  (the full detector on every K-th frame, a local search around the tracked
  boxes in between, :class:`ferlab.inference.keyframes.KeyframeDetector`);
  the naive loop always detects every frame. The accuracy cost of K is the
  comparison of the pipeline's rows with the every_frame run's: the faces of
  each frame matched greedily by IoU >= 0.5, the share of every-frame faces
  matched, the label agreement and the IoU of the matched boxes.
* **no_ramp** (with ``--compare-ramp``): the pipeline with ``ramp=False``
  (every forward pass ``--batch-size`` crops, none of the 1, 2, 4, ... ramp
  at the start), in the same repetitions.
* **naive**: ``cv2.VideoCapture.read`` → the same detector → the same crop
  box → PIL image → ``torchvision.transforms`` (``Resize``, ``ToTensor``,
  ``Normalize`` with the preprocessor's mean/std) → ``model(x, mode='tensor')``
  on one face at a time → softmax → ``csv.writer`` row.

Repetitions alternate the order (naive first, then pipeline first, ...);
the speed-up is the median of the paired ratios (pipeline frames/s over the
naive loop's in the same repetition), the other figures are medians. The
process CPU time of each contender (all threads) is recorded too: on a shared
machine it moves less with the load than the wall time. For the pipeline the wall time is split by timing its
detector calls, its backend calls (test pipeline + preprocessor + forward) and
the model's ``test_step`` (forward); "own time" is the wall time the calling
thread does not spend in the backend (waiting for decoded, detected and
cropped frames, tracking, writing the CSV and the video's probability plot),
i.e. the time the model is idle; "wait" is the part of it spent waiting for
frames (``FERInferencer.wait_s``), "plot" the part spent drawing the probability plot. With the overlap, detection runs in the
worker thread during the backend calls, so the detector's own seconds are
reported separately and are not part of the own time unless the calling
thread waits for them. The two contenders' predictions are compared (labels, max |Δp|):
they differ only by the resize interpolation (PIL bilinear vs OpenCV area).

Speed does not depend on the weights: without ``--checkpoint`` the model keeps
its initialisation. The load average is printed before and after (the machine
may be shared).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import os.path as osp
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

DEFAULT_CONFIG = 'configs/quickstart/resnet18_synthfer.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help=f'model config (default {DEFAULT_CONFIG})')
    parser.add_argument('--checkpoint', default=None, help='checkpoint (default: the initialisation)')
    parser.add_argument('--frames', type=int, default=200, help='frames of the synthetic video (default 200)')
    parser.add_argument('--size', default='640x480', help='video size WxH (default 640x480)')
    parser.add_argument('--fps', type=float, default=25.0)
    parser.add_argument('--batch-size', type=int, default=32, help="the pipeline's --batch-size (default 32)")
    parser.add_argument(
        '--repeats', type=int, default=3, help='timed repetitions of each contender (default 3)'
    )
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    parser.add_argument('--detector', default='haar', help='haar (default) or whole')
    parser.add_argument(
        '--detect-max-side',
        type=int,
        default=0,
        help="Haar: detect on a copy shrunk to this longer side; 0 (default, the detector's default): "
        'full resolution',
    )
    parser.add_argument(
        '--detect-every',
        type=int,
        default=1,
        help='the pipeline runs the full detector on every K-th frame and follows the faces by a local '
        'search in between (default 1: every frame); K > 1 adds an every-frame pipeline run as reference',
    )
    parser.add_argument('--seed', type=int, default=0, help="seed of the video's background (default 0)")
    parser.add_argument('--no-serial', action='store_true', help='skip the overlap=False pipeline run')
    parser.add_argument(
        '--no-ramp',
        action='store_true',
        help='pipeline batches of --batch-size from the start (FERInferencer(ramp=False))',
    )
    parser.add_argument(
        '--compare-ramp',
        action='store_true',
        help='also run the pipeline with ramp=False in every repetition (paired ratio ramp / no ramp)',
    )
    parser.add_argument('--work-dir', default=None, help='where the video and CSVs go (default: a temp dir)')
    parser.add_argument('--out', default=None, help='also write the results as JSON here')
    parser.add_argument('--faces', type=int, default=1, choices=(1, 2), help='faces in the video (default 1)')
    parser.add_argument(
        '--video-only', metavar='PATH', default=None, help='only write the synthetic video to PATH and exit'
    )
    args = parser.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split('x'))
    except ValueError:
        parser.error(f'--size must be WxH, e.g. 640x480; got {args.size!r}')
    args.size = (w, h)
    if args.frames < 1 or args.repeats < 1 or args.batch_size < 1 or args.detect_every < 1:
        parser.error('--frames, --repeats, --batch-size and --detect-every must be >= 1')
    return args


# ---------------------------------------------------------------- synthetic video
def pasted_head_boxes(frame: int, size: tuple[int, int], faces: int = 1) -> list[tuple[int, int, int, int]]:
    """``(x, y, side, side)`` of each pasted head square in frame ``frame`` of :func:`write_synthetic_video`."""
    w, h = size
    side = max(32, int((0.45 if faces == 1 else 0.36) * min(w, h)))
    lane_w = w // faces
    out = []
    for k in range(faces):
        fx = k * lane_w + int((lane_w - side) * (0.5 + 0.45 * np.sin(frame / 23.0 + 2 * k)))
        fy = int((h - side) * (0.5 + 0.4 * np.cos(frame / 31.0 + k)))
        out.append((fx, fy, side, side))
    return out


def write_synthetic_video(
    path: str, frames: int, size: tuple[int, int], fps: float = 25.0, seed: int = 0, faces: int = 1
) -> str:
    """A face (``faces=2``: and its mirror image) moving over a panning background; ``size = (W, H)``."""
    from skimage import data

    w, h = size
    astro = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    head = astro[20:260, 120:360]  # the astronaut's head with some context, 240 x 240
    side = pasted_head_boxes(0, size, faces)[0][2]
    face = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    # smooth blobs (a 6 x 8 random grid, bicubic): structure to decode, few false faces for Haar
    grid = rng.integers(40, 216, (6, 8, 3), dtype=np.uint8)
    texture = cv2.resize(grid, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f'OpenCV cannot write an mp4v video to {path}')
    for i in range(frames):
        ox = int((w / 2) * (1 + np.sin(i / 37.0)))
        oy = int((h / 2) * (1 + np.sin(i / 53.0)))
        img = texture[oy : oy + h, ox : ox + w].copy()
        for k, (fx, fy, _, _) in enumerate(pasted_head_boxes(i, size, faces)):
            img[fy : fy + side, fx : fx + side] = face if k == 0 else face[:, ::-1]
        writer.write(img)
    writer.release()
    return path


# ---------------------------------------------------------------- timing helpers
class _Timer:
    """Wrap a callable; accumulate its wall time in ``self.seconds``."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


class _TimedDetector:
    """A face detector proxy timing its full-frame calls and its local searches (``detect_near``) apart."""

    def __init__(self, detector):
        self.inner, self.full, self.near = detector, _Timer(detector), None
        if hasattr(detector, 'detect_near'):
            self.near = _Timer(detector.detect_near)
            self.detect_near = self.near

    def __call__(self, image):
        return self.full(image)


class _TimedBackend:
    """A backend proxy timing its calls (keeps ``meta``)."""

    def __init__(self, backend):
        self.inner, self.meta, self.timer = backend, backend.meta, _Timer(backend)

    def __call__(self, crops):
        return self.timer(crops)


# ---------------------------------------------------------------- contenders
def run_pipeline(inferencer, video: str, out_dir: str, overlap: bool = True, detect_every: int = 1) -> dict:
    """``tools/infer.py``'s call on the video, with the calling thread's time split."""
    inferencer.overlap = overlap
    inferencer.detect_every = detect_every
    backend, detector, model = inferencer.backend, inferencer.detector, inferencer.backend.model
    timed_backend, timed_det = _TimedBackend(backend), _TimedDetector(detector)
    timed_fwd = _Timer(model.test_step)
    from ferlab.inference.plots import VideoPlotWriter

    flush = VideoPlotWriter._flush
    timed_plot = _Timer(flush)
    inferencer.backend, inferencer.detector, model.test_step = timed_backend, timed_det, timed_fwd
    VideoPlotWriter._flush = lambda self: timed_plot(self)
    try:
        start, cpu_start = time.perf_counter(), time.process_time()
        inferencer(video, out_dir=out_dir, return_rows=False)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        inferencer.backend, inferencer.detector = backend, detector
        VideoPlotWriter._flush = flush
        del model.test_step
    frames = inferencer.summary['frames']
    keyframes = inferencer.keyframes
    return dict(
        seconds=total,
        cpu_s=cpu,
        frames=frames,
        faces=inferencer.summary['faces'],
        fps=frames / total,
        detect_s=timed_det.full.seconds + (timed_det.near.seconds if timed_det.near else 0.0),
        detector_calls=timed_det.full.calls,
        local_search_s=timed_det.near.seconds if timed_det.near else 0.0,
        local_searches=timed_det.near.calls if timed_det.near else 0,
        key_frames=keyframes.key_frames if detect_every > 1 else frames,
        local_frames=keyframes.local_frames if detect_every > 1 else 0,
        rescued=keyframes.rescued if detect_every > 1 else 0,
        backend_s=timed_backend.timer.seconds,
        forward_s=timed_fwd.seconds,
        own_s=total - timed_backend.timer.seconds,
        plot_s=timed_plot.seconds,
        own_share=(total - timed_backend.timer.seconds) / total,
        wait_s=inferencer.wait_s,
        wait_share=inferencer.wait_s / total,
        csv=osp.join(out_dir, 'predictions.csv'),
    )


def naive_transform(model):
    """PIL → Resize → ToTensor → Normalize with the model's preprocessor statistics."""
    from torchvision import transforms

    from ferlab.inference.backends import model_input_size

    pre = model.data_preprocessor
    mean = (pre.mean / 255.0).flatten().tolist()
    std = (pre.std / 255.0).flatten().tolist()
    return transforms.Compose(
        [
            transforms.Resize(tuple(model_input_size(model.cfg))),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )


@torch.no_grad()
def run_naive(model, detector, classes, video: str, out_csv: str, margin: float) -> dict:
    """Decode → detect → crop → one-face forward → CSV row, all in one thread."""
    from PIL import Image

    from ferlab.inference.detectors import align_face

    transform = naive_transform(model)
    t = dict(decode=0.0, detect=0.0, crop=0.0, model=0.0, write=0.0)
    start, cpu_start = time.perf_counter(), time.process_time()
    cap = cv2.VideoCapture(video)
    frames = faces = 0
    with open(out_csv, 'w', newline='', encoding='utf-8') as f:
        out = csv.writer(f)
        out.writerow(['frame', 'x', 'y', 'w', 'h', *classes, 'label'])
        while True:
            t0 = time.perf_counter()
            ok, img = cap.read()
            t1 = time.perf_counter()
            t['decode'] += t1 - t0
            if not ok:
                break
            dets = detector(img)
            t2 = time.perf_counter()
            t['detect'] += t2 - t1
            for face in dets:
                t2 = time.perf_counter()
                crop = align_face(img, face, margin)
                x = transform(Image.fromarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)))[None]
                t3 = time.perf_counter()
                p = torch.softmax(model(x, mode='tensor'), dim=1)[0].numpy()
                t4 = time.perf_counter()
                out.writerow([frames, *face.box, *p.tolist(), classes[int(p.argmax())]])
                t['write'] += time.perf_counter() - t4
                t['crop'] += t3 - t2
                t['model'] += t4 - t3
                faces += 1
            frames += 1
    cap.release()
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return dict(
        seconds=total,
        cpu_s=cpu,
        frames=frames,
        faces=faces,
        fps=frames / total,
        **{f'{k}_s': v for k, v in t.items()},
    )


def compare_predictions(pipeline_csv: str, naive_csv: str, classes) -> dict:
    """Label agreement and max |Δp| of the faces both contenders found at the same box."""
    from ferlab.inference.writers import read_rows

    ours = {
        (int(r['frame']), int(r['x']), int(r['y'])): r
        for r in read_rows(pipeline_csv)
        if int(r['face_found']) == 1
    }
    theirs = {}
    with open(naive_csv, encoding='utf-8') as f:
        for r in csv.DictReader(f):
            theirs[(int(r['frame']), int(r['x']), int(r['y']))] = r
    common = sorted(set(ours) & set(theirs))
    if not common:
        return dict(common_faces=0)
    a = np.array([[float(ours[k][c]) for c in classes] for k in common])
    b = np.array([[float(theirs[k][c]) for c in classes] for k in common])
    return dict(
        common_faces=len(common),
        label_agreement=float(np.mean(a.argmax(1) == b.argmax(1))),
        max_abs_dp=float(np.abs(a - b).max()),
    )


def compare_to_every_frame(sparse_csv: str, every_csv: str, classes) -> dict:
    """Accuracy cost of ``detect_every``: the sparse run's faces against the every-frame run's, frame by frame.

    In each frame the faces are matched greedily by IoU (pairs of IoU >= 0.5);
    ``matched`` is the share of every-frame faces with a match, ``extra`` the
    sparse run's faces without one, ``label_agreement`` the share of matched
    pairs with the same label (``label_agreement_all``: of all every-frame
    faces, an unmatched one counting as a disagreement), ``iou_*`` the IoU of
    the matched boxes; ``local_rows`` the sparse rows from the local search.
    """
    from ferlab.inference.tracker import IoUTracker, box_iou_xywh
    from ferlab.inference.writers import read_rows

    def by_frame(path):
        out = {}
        for r in read_rows(path):
            if int(r['face_found']) == 1:
                out.setdefault(int(r['frame']), []).append(r)
        return out

    sparse, every = by_frame(sparse_csv), by_frame(every_csv)
    ious, same, total, extra = [], [], 0, 0
    box = lambda r: [float(r[k]) for k in 'xywh']  # noqa: E731
    for frame in sorted(set(sparse) | set(every)):
        a, b = every.get(frame, []), sparse.get(frame, [])
        total += len(a)
        pairs = IoUTracker(iou_thr=0.5)._assign(box_iou_xywh([box(r) for r in a], [box(r) for r in b]))
        extra += len(b) - len(pairs)
        for i, j in pairs:
            ious.append(float(box_iou_xywh([box(a[i])], [box(b[j])])[0, 0]))
            same.append(a[i]['label'] == b[j]['label'])
    local = sum(int(r['detected']) == 0 for rows in sparse.values() for r in rows)
    return dict(
        every_frame_faces=total,
        matched=len(ious) / total if total else float('nan'),
        extra=extra,
        label_agreement=float(np.mean(same)) if same else float('nan'),
        label_agreement_all=float(np.sum(same) / total) if total else float('nan'),
        iou_mean=float(np.mean(ious)) if ious else float('nan'),
        iou_min=float(np.min(ious)) if ious else float('nan'),
        local_rows=local,
    )


def pasted_face_agreement(sparse_csv: str, every_csv: str, size: tuple[int, int]) -> dict:
    """Both runs on the real face only (one-face video): a row counts when its box centre lies in the
    pasted head square (:func:`pasted_head_boxes`); rows elsewhere are false detections on the
    background. Returns the frames in which each run has such a row and the label agreement on the
    frames both have."""
    from ferlab.inference.writers import read_rows

    def labels(path):
        out = {}
        for r in read_rows(path):
            if int(r['face_found']) != 1:
                continue
            f = int(r['frame'])
            x, y, w, h = (float(r[k]) for k in 'xywh')
            hx, hy, hw, hh = pasted_head_boxes(f, size)[0]
            if hx <= x + w / 2 <= hx + hw and hy <= y + h / 2 <= hy + hh:
                out.setdefault(f, r['label'])
        return out

    sparse, every = labels(sparse_csv), labels(every_csv)
    both = sorted(set(sparse) & set(every))
    return dict(
        every_frame_frames=len(every),
        sparse_frames=len(sparse),
        both_frames=len(both),
        label_agreement=float(np.mean([sparse[f] == every[f] for f in both])) if both else float('nan'),
    )


def _same_rows(a_csv: str, b_csv: str) -> bool:
    """Whether two prediction files hold the same rows (every field as written)."""
    with open(a_csv, encoding='utf-8') as a, open(b_csv, encoding='utf-8') as b:
        return a.read() == b.read()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return ' '.join(open('/proc/loadavg').read().split()[:3])
    except OSError:
        return 'n/a'


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.video_only:
        path = write_synthetic_video(
            args.video_only, args.frames, args.size, args.fps, seed=args.seed, faces=args.faces
        )
        print(f'wrote {path}: {args.frames} frames {args.size[0]}x{args.size[1]} at {args.fps} fps')
        return dict(video=path)
    if args.threads:
        torch.set_num_threads(args.threads)
    from ferlab.apis import FERInferencer

    work = args.work_dir or tempfile.mkdtemp(prefix='infer_benchmark_')
    os.makedirs(work, exist_ok=True)
    video = write_synthetic_video(
        osp.join(work, 'synthetic.mp4'), args.frames, args.size, args.fps, seed=args.seed, faces=args.faces
    )
    detector = args.detector
    if detector == 'haar':
        detector = dict(type='HaarFaceDetector', max_side=args.detect_max_side or None)
    inferencer = FERInferencer(
        args.config, args.checkpoint, detector=detector, batch_size=args.batch_size, ramp=not args.no_ramp
    )
    model = inferencer.backend.model
    classes = inferencer.classes
    load_before = _load()
    # warm-up: a short clip through both (allocator, OpenMP pools, cascade caches)
    warm = write_synthetic_video(
        osp.join(work, 'warmup.mp4'), min(args.frames, 8), args.size, args.fps, seed=1
    )
    run_naive(model, inferencer.detector, classes, warm, osp.join(work, 'warm_naive.csv'), inferencer.margin)
    run_pipeline(inferencer, warm, osp.join(work, 'warm_pipeline'), detect_every=args.detect_every)

    names = ('naive', 'pipeline') if args.no_serial else ('naive', 'pipeline', 'serial')
    if args.detect_every > 1:
        names = (*names, 'every_frame')
    if args.compare_ramp:
        names = (*names, 'no_ramp')
    results = {name: [] for name in names}
    for rep in range(args.repeats):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            if name == 'naive':
                results['naive'].append(
                    run_naive(
                        model,
                        inferencer.detector,
                        classes,
                        video,
                        osp.join(work, 'naive.csv'),
                        inferencer.margin,
                    )
                )
            elif name == 'pipeline':
                results['pipeline'].append(
                    run_pipeline(
                        inferencer, video, osp.join(work, 'pipeline'), detect_every=args.detect_every
                    )
                )
            elif name == 'serial':
                results['serial'].append(
                    run_pipeline(
                        inferencer,
                        video,
                        osp.join(work, 'serial'),
                        overlap=False,
                        detect_every=args.detect_every,
                    )
                )
            elif name == 'no_ramp':
                inferencer.ramp = False
                try:
                    results['no_ramp'].append(
                        run_pipeline(
                            inferencer, video, osp.join(work, 'no_ramp'), detect_every=args.detect_every
                        )
                    )
                finally:
                    inferencer.ramp = not args.no_ramp
            else:
                results['every_frame'].append(
                    run_pipeline(inferencer, video, osp.join(work, 'every_frame'), detect_every=1)
                )
        inferencer.overlap, inferencer.detect_every = True, 1

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    speedups = [p['fps'] / n['fps'] for p, n in zip(results['pipeline'], results['naive'])]
    cpu_ratios = [n['cpu_s'] / p['cpu_s'] for p, n in zip(results['pipeline'], results['naive'])]
    summary = dict(
        config=args.config,
        input_size=list(inferencer.backend.meta['input_size']),
        video=dict(frames=args.frames, size=list(args.size), fps=args.fps, seed=args.seed),
        batch_size=args.batch_size,
        ramp=not args.no_ramp,
        detect_every=args.detect_every,
        detector=type(inferencer.detector).__name__,
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        opencv=cv2.__version__,
        cpu=cpu_model(),
        cpu_count=os.cpu_count(),
        opencv_threads=cv2.getNumThreads(),
        load_before=load_before,
        load_after=_load(),
        repeats=args.repeats,
        pipeline_fps=med('pipeline', 'fps'),
        naive_fps=med('naive', 'fps'),
        speedup=statistics.median(speedups),
        speedups=speedups,
        cpu_ratio=statistics.median(cpu_ratios),
        pipeline_own_share=med('pipeline', 'own_share'),
        pipeline_wait_share=med('pipeline', 'wait_share'),
        pipeline_split_s={
            k: med('pipeline', k)
            for k in (
                'seconds',
                'detect_s',
                'backend_s',
                'forward_s',
                'own_s',
                'wait_s',
                'detector_calls',
                'local_search_s',
                'local_searches',
                'key_frames',
                'rescued',
                'plot_s',
            )
        },
        naive_split_s={
            k: med('naive', k) for k in ('seconds', 'decode_s', 'detect_s', 'crop_s', 'model_s', 'write_s')
        },
        faces={name: results[name][-1]['faces'] for name in names},
        agreement=compare_predictions(results['pipeline'][-1]['csv'], osp.join(work, 'naive.csv'), classes),
        runs=results,
    )
    print(
        f'{summary["detector"]} + {osp.basename(args.config)} at {summary["input_size"]} px, '
        f'{args.frames} frames {args.size[0]}x{args.size[1]}, {summary["torch_threads"]} torch threads, '
        f'{summary["opencv_threads"]} OpenCV threads, {summary["cpu_count"]} x {summary["cpu"]}, '
        f'load {load_before} -> {summary["load_after"]}'
    )
    print(
        f'pipeline {summary["pipeline_fps"]:.2f} frames/s, naive {summary["naive_fps"]:.2f} frames/s, '
        f'speed-up {summary["speedup"]:.2f}x (median of {args.repeats} paired ratios; '
        f'{", ".join(f"{x:.2f}" for x in speedups)}); process CPU time naive / pipeline '
        f'{summary["cpu_ratio"]:.2f}x'
    )
    if 'serial' in results:
        serial_gain = [p['fps'] / s['fps'] for p, s in zip(results['pipeline'], results['serial'])]
        summary.update(
            serial_fps=med('serial', 'fps'),
            overlap_gain=statistics.median(serial_gain),
            overlap_gains=serial_gain,
            serial_own_share=med('serial', 'own_share'),
            serial_split_s={
                k: med('serial', k)
                for k in ('seconds', 'detect_s', 'backend_s', 'forward_s', 'own_s', 'wait_s')
            },
            rows_equal=_same_rows(results['pipeline'][-1]['csv'], results['serial'][-1]['csv']),
        )
        summary['runs'] = results
    if 'every_frame' in results:
        gains = [p['fps'] / e['fps'] for p, e in zip(results['pipeline'], results['every_frame'])]
        summary.update(
            every_frame_fps=med('every_frame', 'fps'),
            every_frame_speedup=statistics.median(
                e['fps'] / n['fps'] for e, n in zip(results['every_frame'], results['naive'])
            ),
            every_frame_own_share=med('every_frame', 'own_share'),
            detect_every_gain=statistics.median(gains),
            detect_every_gains=gains,
            detect_every_accuracy=compare_to_every_frame(
                results['pipeline'][-1]['csv'], results['every_frame'][-1]['csv'], classes
            ),
        )
        if args.faces == 1:
            summary['detect_every_pasted_face'] = pasted_face_agreement(
                results['pipeline'][-1]['csv'], results['every_frame'][-1]['csv'], args.size
            )
        summary['runs'] = results
    if 'no_ramp' in results:
        gains = [p['fps'] / q['fps'] for p, q in zip(results['pipeline'], results['no_ramp'])]
        summary.update(
            no_ramp_fps=med('no_ramp', 'fps'),
            ramp_gain=statistics.median(gains),
            ramp_gains=gains,
            no_ramp_own_share=med('no_ramp', 'own_share'),
            no_ramp_wait_share=med('no_ramp', 'wait_share'),
        )
        summary['runs'] = results
    ps, ns = summary['pipeline_split_s'], summary['naive_split_s']
    print(
        f'pipeline split: total {ps["seconds"]:.2f} s = backend {ps["backend_s"]:.2f} s (forward '
        f'{ps["forward_s"]:.2f} s) + own {ps["own_s"]:.2f} s ({100 * summary["pipeline_own_share"]:.1f} %; '
        f'of it waiting for frames {ps["wait_s"]:.2f} s, drawing the plot {ps["plot_s"]:.2f} s); '
        f'detection {ps["detect_s"]:.2f} s in the worker thread'
    )
    if 'serial' in results:
        ss = summary['serial_split_s']
        print(
            f'serial (overlap=False) {summary["serial_fps"]:.2f} frames/s; overlap gain '
            f'{summary["overlap_gain"]:.2f}x ({", ".join(f"{x:.2f}" for x in summary["overlap_gains"])}); '
            f'own {ss["own_s"]:.2f} s of {ss["seconds"]:.2f} s ({100 * summary["serial_own_share"]:.1f} %); '
            f'rows equal to the overlapped run: {summary["rows_equal"]}'
        )
    print(
        f'naive split: total {ns["seconds"]:.2f} s = decode {ns["decode_s"]:.2f} + detect {ns["detect_s"]:.2f} '
        f'+ crop/transform {ns["crop_s"]:.2f} + model {ns["model_s"]:.2f} + write {ns["write_s"]:.2f} s'
    )
    if 'every_frame' in results:
        acc = summary['detect_every_accuracy']
        print(
            f'every-frame detection {summary["every_frame_fps"]:.2f} frames/s '
            f'({summary["every_frame_speedup"]:.2f}x naive, model idle '
            f'{100 * summary["every_frame_own_share"]:.1f} %); detect_every={args.detect_every} gain '
            f'{summary["detect_every_gain"]:.2f}x; against every-frame detection: '
            f'{100 * acc["matched"]:.1f} % of {acc["every_frame_faces"]} faces matched (IoU >= 0.5), '
            f'labels agree on {100 * acc["label_agreement"]:.1f} % of them, IoU mean {acc["iou_mean"]:.3f} '
            f'min {acc["iou_min"]:.3f}, {acc["extra"]} extra faces, {acc["local_rows"]} rows from the local search'
        )
    if 'detect_every_pasted_face' in summary:
        print(f'on the pasted face only: {summary["detect_every_pasted_face"]}')
    if 'no_ramp' in results:
        print(
            f'without the batch ramp {summary["no_ramp_fps"]:.2f} frames/s; ramp gain {summary["ramp_gain"]:.2f}x '
            f'({", ".join(f"{x:.2f}" for x in summary["ramp_gains"])}); model idle without it '
            f'{100 * summary["no_ramp_own_share"]:.1f} % (wait {100 * summary["no_ramp_wait_share"]:.1f} %)'
        )
    print(f'faces: {summary["faces"]}; agreement: {summary["agreement"]}')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
