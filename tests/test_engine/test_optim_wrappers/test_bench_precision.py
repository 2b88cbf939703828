"""Smoke test of tools/analysis_tools/bench_precision.py (tiny sizes; it measures nothing here)."""

from __future__ import annotations

import importlib.util
import os.path as osp

import pytest
import torch

from ferlab.engine.optim_wrappers import precision
from tests.utils import REPO_ROOT


@pytest.fixture
def tool(monkeypatch):
    monkeypatch.setenv(precision.ENV_CPU_BF16, '1')
    path = osp.join(REPO_ROOT, 'tools/analysis_tools/bench_precision.py')
    spec = importlib.util.spec_from_file_location('bench_precision', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_variants_are_what_they_say(tool):
    fp32 = tool.Variant('fp32', 'resnet18', 32, 'train', 'cpu', 0)
    bf16 = tool.Variant('bf16', 'resnet18', 32, 'train', 'cpu', 0)
    bf16_cl = tool.Variant('bf16_cl', 'resnet18', 32, 'train', 'cpu', 0)
    assert type(fp32.wrapper).__name__ == 'OptimWrapper'
    assert bf16.wrapper.cast_dtype == torch.bfloat16 and bf16_cl.wrapper.cast_dtype == torch.bfloat16
    assert fp32.model.data_preprocessor.channels_last is False
    assert bf16.model.data_preprocessor.channels_last is False  # bf16 alone stays NCHW
    assert bf16_cl.model.data_preprocessor.channels_last is True
    assert all(torch.equal(a, b) for a, b in zip(fp32.model.parameters(), bf16_cl.model.parameters()))


def test_main_prints_a_table_of_every_model_size_and_mode(tool, capsys):
    argv = ['--models', 'resnet18', 'deit_s', '--img-sizes', '32', '--batch-size', '2', '--iters', '1',
            '--warmup', '0', '--repeats', '1', '--threads', '1']  # fmt: skip
    results = tool.main(argv)
    assert set(results) == {(m, 32, mode) for m in ('resnet18', 'deit_s') for mode in ('train', 'infer')}
    for res in results.values():
        assert set(res) == {'fp32', 'bf16', 'bf16_cl'}
        assert res['fp32']['wall']['ratio'] == 1.0
        assert all(res[v][c]['ips'] > 0 for v in res for c in ('wall', 'cpu'))
    out = capsys.readouterr().out
    assert 'flags ' in out and 'load average before' in out and '| deit_s | 32 | infer |' in out
