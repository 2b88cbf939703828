"""The sweep tools pass ``--amp`` on to tools/train.py and tools/test.py (dan_sweeps.py as
subprocesses, mvt_sweeps.py in-process)."""

from __future__ import annotations

import importlib.util
import os.path as osp

import pytest

from ferlab.engine.optim_wrappers import precision
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
@pytest.mark.parametrize('amp', [False, True])
def test_mvt_sweeps_passes_amp_to_train_and_test(amp, tmp_path, monkeypatch):
    import tools.test
    import tools.train

    tool = _tool('mvt_sweeps')
    a = tool.parse_args(['--amp'] if amp else [])
    assert a.amp is amp
    # an --amp sweep records it (and so never reuses fp32 runs); fp32 records are unchanged
    assert tool.settings(a).get('amp') == (True if amp else None)
    seen = {}
    monkeypatch.setattr(tools.train, 'main', lambda argv: seen.setdefault('train', argv))
    monkeypatch.setattr(tools.test, 'main', lambda argv: seen.setdefault('test', argv))
    (tmp_path / 'test').mkdir()
    (tmp_path / 'test' / 'metrics.json').write_text('{"accuracy": 50.0}')
    _, train_cmd = tool.train(tool.STAGE1, str(tmp_path), ['randomness.seed=0'], amp=a.amp)
    metrics, test_cmd = tool.evaluate(tool.STAGE1, 'x.pth', str(tmp_path), ['randomness.seed=0'], amp=a.amp)
    assert metrics == {'accuracy': 50.0}
    for key, shown in (('train', train_cmd), ('test', test_cmd)):
        flags = seen[key][: seen[key].index('--cfg-options')]
        assert ('--amp' in flags) is amp and ('--amp' in shown) is amp
