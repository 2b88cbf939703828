"""Smoke test of tools/analysis_tools/infer_benchmark.py: one repetition on a few frames."""

import importlib.util
import os.path as osp

import numpy as np

from tests.test_inference.infer_utils import write_tiny_model
from tests.utils import REPO_ROOT


def _tool():
    path = osp.join(REPO_ROOT, 'tools/analysis_tools/infer_benchmark.py')
    spec = importlib.util.spec_from_file_location('infer_benchmark', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_runs_once_and_both_loops_see_the_same_faces(tmp_path):
    cfg, ckpt = write_tiny_model(tmp_path)
    out = tmp_path / 'bench.json'
    summary = _tool().main(
        ['--config', cfg, '--checkpoint', ckpt, '--frames', '4', '--size', '320x240', '--repeats', '1',
         '--batch-size', '4', '--work-dir', str(tmp_path / 'work'), '--out', str(out)]
    )  # fmt: skip
    assert out.is_file()
    pipe, naive = summary['runs']['pipeline'][0], summary['runs']['naive'][0]
    assert pipe['frames'] == naive['frames'] == 4
    # same decoder, same detector: the same faces at the same boxes, the same labels
    assert pipe['faces'] == naive['faces'] >= 4
    assert summary['agreement']['common_faces'] == naive['faces']
    assert (
        summary['pipeline_split_s']['backend_s'] + summary['pipeline_split_s']['own_s']
        == summary['pipeline_split_s']['seconds']
    )


def test_benchmark_serial_run_writes_the_same_rows_as_the_overlapped_one(tmp_path):
    cfg, ckpt = write_tiny_model(tmp_path)
    summary = _tool().main(
        ['--config', cfg, '--checkpoint', ckpt, '--frames', '6', '--size', '320x240', '--repeats', '1',
         '--batch-size', '2', '--work-dir', str(tmp_path / 'work')]
    )  # fmt: skip
    pipe, serial = summary['runs']['pipeline'][0], summary['runs']['serial'][0]
    assert pipe['frames'] == serial['frames'] == 6 and pipe['faces'] == serial['faces'] >= 6
    assert summary['rows_equal'] is True
    # waiting for frames is part of the calling thread's time outside the backend
    for run in (pipe, serial):
        assert 0 < run['wait_s'] <= run['own_s']


def test_benchmark_detect_every_adds_the_every_frame_reference(tmp_path):
    cfg, ckpt = write_tiny_model(tmp_path)
    summary = _tool().main(
        ['--config', cfg, '--checkpoint', ckpt, '--frames', '9', '--size', '320x240', '--repeats', '1',
         '--batch-size', '4', '--detect-every', '3', '--no-serial', '--work-dir', str(tmp_path / 'work')]
    )  # fmt: skip
    pipe, every = summary['runs']['pipeline'][0], summary['runs']['every_frame'][0]
    assert pipe['frames'] == every['frames'] == 9
    # the every-frame run calls the full detector on each of the 9 frames, the sparse one on fewer
    assert every['detector_calls'] == 9 and 3 <= pipe['detector_calls'] < 9
    acc = summary['detect_every_accuracy']
    assert acc['every_frame_faces'] == every['faces'] and acc['local_rows'] == 9 - pipe['detector_calls']
    # the key-frame counts of the pipeline's KeyframeDetector agree with the timed detector's calls
    assert pipe['key_frames'] == pipe['detector_calls'] and pipe['local_frames'] == 9 - pipe['key_frames']
    assert every['key_frames'] == 9 and summary['video']['seed'] == 0


def test_benchmark_compare_ramp_runs_the_pipeline_without_the_ramp(tmp_path):
    from ferlab.inference.writers import read_rows

    cfg, ckpt = write_tiny_model(tmp_path)
    summary = _tool().main(
        ['--config', cfg, '--checkpoint', ckpt, '--frames', '9', '--size', '320x240', '--repeats', '1',
         '--batch-size', '4', '--no-serial', '--compare-ramp', '--work-dir', str(tmp_path / 'work')]
    )  # fmt: skip
    pipe, flat = summary['runs']['pipeline'][0], summary['runs']['no_ramp'][0]
    assert summary['ramp'] is True and summary['ramp_gain'] == pipe['fps'] / flat['fps']
    a, b = read_rows(pipe['csv']), read_rows(flat['csv'])
    key = ('frame', 'face_id', 'x', 'y', 'w', 'h', 'label')
    assert len(a) == len(b) == 9 and [[r[k] for k in key] for r in a] == [[r[k] for k in key] for r in b]


def test_compare_to_every_frame_on_hand_made_rows(tmp_path):
    from ferlab.inference.writers import row_fields, write_rows

    fields = row_fields(['a', 'b'])

    def row(frame, x, label, detected=1):
        return dict.fromkeys(fields) | dict(
            input='v', frame=frame, x=x, y=0, w=10, h=10, face_found=1, detected=detected, label=label
        )

    every = [row(0, 0, 'a'), row(0, 50, 'b'), row(1, 0, 'a'), row(2, 0, 'b')]
    # frame 0: both faces, one shifted by 2 px (IoU 80/120), one label differs; frame 1: missed;
    # frame 2: found; plus an extra face in frame 2
    sparse = [row(0, 2, 'a', 0), row(0, 50, 'a', 0), row(2, 0, 'b'), row(2, 80, 'a')]
    write_rows(str(tmp_path / 'every.csv'), every, fields)
    write_rows(str(tmp_path / 'sparse.csv'), sparse, fields)
    acc = _tool().compare_to_every_frame(
        str(tmp_path / 'sparse.csv'), str(tmp_path / 'every.csv'), ['a', 'b']
    )
    assert acc['every_frame_faces'] == 4 and acc['matched'] == 3 / 4 and acc['extra'] == 1
    assert acc['label_agreement'] == 2 / 3 and acc['label_agreement_all'] == 2 / 4
    assert abs(acc['iou_min'] - 80 / 120) < 1e-12 and abs(acc['iou_mean'] - (80 / 120 + 2) / 3) < 1e-12
    assert acc['local_rows'] == 2


def test_pasted_head_boxes_hold_the_faces_haar_finds(tmp_path):
    import cv2
    from skimage import data

    from ferlab.inference.detectors import HaarFaceDetector

    tool = _tool()
    video = tool.write_synthetic_video(str(tmp_path / 'v.mp4'), 6, (320, 240))
    cap, det, inside = cv2.VideoCapture(video), HaarFaceDetector(), []
    head = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[20:260, 120:360]
    for i in range(6):
        ok, img = cap.read()
        assert ok
        ((hx, hy, side, _),) = tool.pasted_head_boxes(i, (320, 240))
        ref = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA).astype(np.float64)
        # the decoded square is the resized head up to mp4v's loss; 4 px off it is not
        err = np.abs(img[hy : hy + side, hx : hx + side] - ref).mean()
        off = np.abs(img[hy + 4 : hy + 4 + side, hx + 4 : hx + 4 + side] - ref).mean()
        assert err < 6 and off > 2 * err, (err, off)
        for f in det(img):
            x, y, w, h = f.box
            inside.append(hx <= x + w / 2 <= hx + side and hy <= y + h / 2 <= hy + side)
    assert sum(inside) >= 5  # the detector's faces lie in the pasted squares


def test_pasted_face_agreement_on_hand_made_rows(tmp_path):
    from ferlab.inference.writers import row_fields, write_rows

    tool = _tool()
    fields = row_fields(['a', 'b'])

    def row(frame, at_face, label):
        hx, hy, side, _ = tool.pasted_head_boxes(frame, (320, 240))[0]
        x, y = (hx + side // 4, hy + side // 4) if at_face else (0, 0)
        return dict.fromkeys(fields) | dict(
            input='v', frame=frame, x=x, y=y, w=side // 2, h=side // 2, face_found=1, label=label
        )

    every = [row(0, True, 'a'), row(1, True, 'a'), row(2, True, 'b'), row(2, False, 'a')]
    sparse = [row(0, True, 'a'), row(2, True, 'a'), row(3, True, 'b'), row(3, False, 'b')]
    write_rows(str(tmp_path / 'every.csv'), every, fields)
    write_rows(str(tmp_path / 'sparse.csv'), sparse, fields)
    out = tool.pasted_face_agreement(str(tmp_path / 'sparse.csv'), str(tmp_path / 'every.csv'), (320, 240))
    assert out == dict(every_frame_frames=3, sparse_frames=3, both_frames=2, label_agreement=0.5)
