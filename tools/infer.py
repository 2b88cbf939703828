"""Facial-expression inference on photos, folders, globs, videos and a webcam.

    python tools/infer.py CONFIG CHECKPOINT INPUT... [--out-dir DIR] [--detector haar|yunet|whole]
    python tools/infer.py model.onnx INPUT... --backend onnxruntime       # no config needed
    python tools/infer.py CONFIG CHECKPOINT --camera 0 --smooth 9        # until q / Ctrl-C
    python tools/infer.py CONFIG CHECKPOINT clip.mp4 --detect-every 5 --detect-max-side 640

Writes ``DIR/predictions.csv`` (or ``.json`` with ``--format json``): one row
per face per frame (columns in :mod:`ferlab.inference.writers`), a
``face_found=0`` row for a frame without a face and an ``error`` row for an
input that cannot be read; ``DIR/summary.json`` with the counts;
``DIR/plots/<video>_probabilities.png`` per video (unless ``--no-plots``);
with ``--save-annotated`` an annotated PNG per image and an annotated video
per video under ``DIR/annotated/``. ``--camera N`` shows a preview window
(``q`` ends the run; ``--no-preview`` for none) and smooths causally.
The exit code is 1 when any input could not be read (the run still covers
every other input), 2 for a usage error or, with ``--strict``, at the first
unreadable input. See docs/inference.md.
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from ferlab.utils.cli import run_tool  # noqa: E402
from ferlab.utils.errors import CliUsageError  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Predict the expression of every face in images, folders, globs, videos or a camera',
        usage='%(prog)s CONFIG CHECKPOINT INPUT... | MODEL.onnx INPUT... [options]',
    )
    parser.add_argument('model', help='config file, or an .onnx file from tools/deployment/pytorch2onnx.py')
    parser.add_argument(
        'inputs',
        nargs='*',
        help='for a config: CHECKPOINT then the inputs (image/video files, folders searched recursively, '
        'globs); for an .onnx file: the inputs',
    )
    parser.add_argument(
        '--out-dir', default='work_dirs/infer', help='output folder (default work_dirs/infer)'
    )
    parser.add_argument('--batch-size', type=int, default=16, help='face crops per forward pass (default 16)')
    parser.add_argument('--every-n-frames', type=int, default=1, help='keep one video frame in N (default 1)')
    parser.add_argument('--max-faces', type=int, default=None, help='keep the N largest faces per frame')
    parser.add_argument(
        '--detector', choices=('haar', 'yunet', 'whole'), default='haar', help='face detector'
    )
    parser.add_argument(
        '--yunet-model', default=None, help='YuNet ONNX file (face_detection_yunet_2023mar.onnx)'
    )
    parser.add_argument(
        '--detect-max-side',
        type=int,
        default=None,
        help='haar: run the face cascade on a copy of each frame shrunk to this longer side (pixels)',
    )
    parser.add_argument(
        '--detect-every',
        type=int,
        default=1,
        help='videos: full face detection on every K-th kept frame (and when a face is lost), a local '
        'search around the tracked boxes in between (default 1: every frame)',
    )
    parser.add_argument(
        '--no-overlap',
        action='store_true',
        help='decode, detect and crop in the calling thread instead of a worker thread (same rows)',
    )
    parser.add_argument(
        '--margin', type=float, default=0.2, help='context around each face box (default 0.2)'
    )
    parser.add_argument('--format', choices=('csv', 'json'), default='csv', help='predictions file format')
    parser.add_argument('--save-annotated', action='store_true', help='write annotated images')
    parser.add_argument('--strict', action='store_true', help='stop at the first input that cannot be read')
    parser.add_argument(
        '--smooth', type=int, default=0, help='SmoothPredicting window W per video face (0: off)'
    )
    parser.add_argument('--camera', type=int, default=None, help='read webcam N (until q / Ctrl-C)')
    parser.add_argument(
        '--backend', choices=('pytorch', 'onnxruntime'), default=None, help='default: from MODEL'
    )
    parser.add_argument('--device', default='cpu', help="torch / onnxruntime device (default 'cpu')")
    parser.add_argument(
        '--amp', action='store_true', help='autocast the PyTorch forward (as tools/test.py --amp)'
    )
    parser.add_argument('--no-plots', action='store_true', help='no per-video probability plots')
    parser.add_argument('--no-preview', action='store_true', help='with --camera: no preview window')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    is_onnx = args.model.lower().endswith('.onnx')
    backend = args.backend or ('onnxruntime' if is_onnx else 'pytorch')
    if backend == 'onnxruntime' and not is_onnx:
        raise CliUsageError(f'--backend onnxruntime takes an .onnx file as MODEL, got {args.model}')
    if backend == 'pytorch' and is_onnx:
        raise CliUsageError(
            f'{args.model} is an ONNX file: use --backend onnxruntime (the default for .onnx)'
        )
    if backend == 'pytorch':
        if not args.inputs:
            raise CliUsageError(
                'a config needs a CHECKPOINT after it (tools/infer.py CONFIG CHECKPOINT INPUT...)'
            )
        args.checkpoint, args.inputs = args.inputs[0], args.inputs[1:]
    else:
        args.checkpoint = None
    args.backend = backend
    if args.camera is not None:
        args.inputs.append(f'camera:{args.camera}')
    if not args.inputs:
        raise CliUsageError('no INPUT given (image/video files, folders, globs, or --camera N)')
    for name, value, low in (
        ('--batch-size', args.batch_size, 1),
        ('--every-n-frames', args.every_n_frames, 1),
        ('--detect-every', args.detect_every, 1),
    ):
        if value < low:
            raise CliUsageError(f'{name} must be >= {low}, got {value}')
    if args.max_faces is not None and args.max_faces < 1:
        raise CliUsageError(f'--max-faces must be >= 1, got {args.max_faces}')
    if args.smooth < 0:
        raise CliUsageError(f'--smooth must be >= 0, got {args.smooth}')
    if args.detect_max_side is not None:
        if args.detector != 'haar':
            raise CliUsageError(f'--detect-max-side applies to --detector haar, not {args.detector}')
        if args.detect_max_side < 24:
            raise CliUsageError(
                f'--detect-max-side must be >= 24 (the cascade window), got {args.detect_max_side}'
            )
    if args.detector == 'yunet' and not args.yunet_model:
        raise CliUsageError('--detector yunet needs --yunet-model PATH (face_detection_yunet_2023mar.onnx)')
    return args


class _Progress:
    """mmengine's ProgressBar over the expected frame count (images: 1, videos: container count / N)."""

    def __init__(self, inputs, every_n_frames: int):
        from mmengine.utils import ProgressBar

        from ferlab.inference.sources import expand_inputs, is_camera, is_video_file

        total = 0
        for name in expand_inputs(inputs):
            if is_camera(name):
                self.bar = None
                return
            if is_video_file(name) and osp.isfile(name):
                from ferlab.inference.video import video_info

                try:
                    frames = video_info(name)['frames']
                except OSError:
                    frames = 1
                total += max(1, -(-frames // every_n_frames))
            else:
                total += 1
        self.bar = ProgressBar(total, file=sys.stderr) if total > 1 else None
        self.total, self.done = total, 0

    def __call__(self, frame, rows) -> None:
        if self.bar is not None and self.done < self.total:
            self.done += 1
            self.bar.update()


def main(argv=None) -> dict:
    args = parse_args(argv)
    from ferlab.apis import FERInferencer

    detector = args.detector
    if args.detect_max_side is not None:
        detector = dict(type='HaarFaceDetector', max_side=args.detect_max_side)
    inferencer = FERInferencer(
        args.model,
        args.checkpoint,
        device=args.device,
        detector=detector,
        yunet_model=args.yunet_model,
        margin=args.margin,
        batch_size=args.batch_size,
        max_faces=args.max_faces,
        amp=args.amp,
        backend=args.backend,
        overlap=not args.no_overlap,
        detect_every=args.detect_every,
    )
    progress = None if args.no_progress else _Progress(args.inputs, args.every_n_frames)
    callbacks = [progress] if progress is not None and progress.bar is not None else []
    preview = None
    if args.camera is not None and not args.no_preview:
        from ferlab.inference.video import CameraPreview

        preview = CameraPreview(inferencer.classes)
        callbacks.append(preview)

    def on_frame(frame, rows):
        for cb in callbacks:
            cb(frame, rows)

    os.makedirs(args.out_dir, exist_ok=True)
    try:
        inferencer(
            args.inputs,
            every_n_frames=args.every_n_frames,
            smooth=args.smooth,
            strict=args.strict,
            out_dir=args.out_dir,
            out_format=args.format,
            save_annotated=args.save_annotated,
            save_plots=not args.no_plots,
            return_rows=False,
            on_frame=on_frame if callbacks else None,
        )
    except KeyboardInterrupt:
        sys.stderr.write('\ninterrupted: the rows so far are written\n')
    finally:
        if preview is not None:
            preview.close()
        if progress is not None and progress.bar is not None:
            sys.stderr.write('\n')  # end the bar's line, also before an error message
            sys.stderr.flush()
    summary = dict(inferencer.summary, predictions=osp.join(args.out_dir, f'predictions.{args.format}'))
    with open(osp.join(args.out_dir, 'summary.json'), 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    print(
        f'{summary["inputs"]} inputs, {summary["frames"]} frames, {summary["faces"]} faces, '
        f'{summary["frames_without_face"]} frames without a face, {summary["errors"]} unreadable; '
        f'wrote {summary["predictions"]}'
    )
    for name in summary['failed_inputs']:
        sys.stderr.write(f'failed: {name}\n')
    return summary


def cli(argv=None):
    """Command-line entry: exit code 1 when an input could not be read, 2 for input errors."""
    summary = run_tool(main, __file__, argv)
    if summary['errors']:
        raise SystemExit(1)
    return summary


if __name__ == '__main__':
    cli()
