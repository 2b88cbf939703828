"""The sweep tools pass ``--amp`` on: dan_sweeps.py to tools/train.py and tools/test.py, mvt_sweeps.py
to its in-process tools/train.py runs (training, validation and its ``runner.test()``)."""

from __future__ import annotations

import importlib.util
import os.path as osp

import pytest
import torch

from ferlab.engine.optim_wrappers import precision
from tests.test_engine.test_optim_wrappers.test_amp_tools import synthfer_options
from tests.utils import REPO_ROOT


@pytest.fixture(autouse=True)
def _native_bf16(monkeypatch):
    monkeypatch.setenv(precision.ENV_CPU_BF16, '1')


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO_ROOT, 'tools/analysis_tools', f'{name}.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Stop(Exception):
    pass


@pytest.mark.parametrize('amp', [False, True])
def test_dan_sweeps_passes_amp_to_train_and_test(amp, tmp_path, monkeypatch):
    tool = _tool('dan_sweeps')
    commands = []

    def fake_run(cmd, log):
        commands.append(cmd)
        if len(commands) == 2:
            raise _Stop

    monkeypatch.setattr(tool, '_run', fake_run)
    a = tool.parse_args(
        ['--out', str(tmp_path), '--variants', 'dan', '--seeds', '0', *(['--amp'] if amp else [])]
    )
    with pytest.raises(_Stop):
        tool.run_one(a, 'dan', 0)
    train_cmd, test_cmd = commands
    assert train_cmd[1].endswith('tools/train.py') and test_cmd[1].endswith('tools/test.py')
    for cmd in (train_cmd, test_cmd):
        flags = cmd[: cmd.index('--cfg-options')]
        assert ('--amp' in flags) is amp


@pytest.mark.e2e
def test_mvt_sweeps_train_applies_options_and_amp(tmp_path):
    tool = _tool('mvt_sweeps')
    assert tool.parse_args(['--amp']).amp and not tool.parse_args([]).amp
    opts = synthfer_options(n_train=32, n_val=16, n_test=16, epochs=1)
    opts.append('custom_hooks.1.start_epoch=100000')
    runner = tool.train(tool.PLAIN, str(tmp_path / 'plain'), opts, amp=True)
    assert runner.max_epochs == 1  # the --cfg-options reached the run
    assert type(runner.optim_wrapper).__name__ == 'MixedPrecisionOptimWrapper'
    assert runner.optim_wrapper.cast_dtype == torch.bfloat16
    assert runner.test_loop.fp16 and runner.val_loop.fp16  # the sweep's runner.test() autocasts
