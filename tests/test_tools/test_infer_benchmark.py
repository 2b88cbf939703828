"""Smoke test of tools/analysis_tools/infer_benchmark.py: one repetition on a few frames."""

import importlib.util
import os.path as osp

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
