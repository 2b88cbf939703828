"""Smoke test of tools/analysis_tools/onnx_benchmark.py: one tiny setting, its figures consistent."""

import sys

import pytest

from tests.utils import REPO_ROOT

pytest.importorskip('onnxruntime', reason='the deploy extra (onnxruntime) is not installed')


@pytest.mark.slow
def test_onnx_benchmark_prints_side_by_side_figures(capsys):
    sys.path.insert(0, REPO_ROOT)
    from tools.analysis_tools.onnx_benchmark import main

    rows = main(['--models', 'resnet18', '--sizes', '32', '--batches', '2', '--iters', '2', '--warmup', '0'])
    (row,) = rows
    assert (row['model'], row['size'], row['batch']) == ('resnet18', 32, 2)
    assert row['ratio'] == pytest.approx(row['torch_ms_per_img'] / row['ort_ms_per_img'])
    assert row['max_abs_logit_diff'] <= 1e-4
    out = capsys.readouterr().out
    assert 'threads: 1' in out and f'{row["ratio"]:.2f}' in out
