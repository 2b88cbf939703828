"""Safe checkpoint loading (weights_only + allow-list) and atomic checkpoint writes."""

from __future__ import annotations

import collections
import os
import os.path as osp
import pickle
import shlex
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint

from ferlab.utils import UnsafeCheckpointError, atomic_save, load_state_dict_file, safe_torch_load
from ferlab.utils.checkpoint import _history_buffer_getattr, atomic_write_bytes, safe_globals
from tests.utils import REPO_ROOT


class _RunsShell:
    """Pickles to ``os.system(cmd)``: unpickling it runs the command."""

    def __init__(self, cmd: str):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _Foreign:
    """A harmless user class: still not on the allow-list."""

    def __init__(self, value):
        self.value = value


class _SneakyGetattr:
    """Pickles to ``getattr(HistoryBuffer, '__init__')`` (a non-statistics attribute)."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def _malicious_checkpoint(tmp_path):
    marker = tmp_path / 'pwned'
    payload = _RunsShell(f'touch {shlex.quote(str(marker))}')
    path = tmp_path / 'malicious.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'meta': {'x': payload}}, path)
    return path, marker


def _mmengine_like_checkpoint() -> dict:
    """What mmengine's Runner writes, minus the model: message hub, optimizer, schedulers."""
    hub = MessageHub(f'ckpt-test-{id(object())}')
    for v in (1.5, 2.5, 3.0):
        hub.update_scalar('train/loss', v)
    hub.update_scalar('val/accuracy', np.float64(0.5))
    hub.update_info('best_score', np.float32(0.25))
    hub.update_info('arr', np.arange(3, dtype=np.int64))
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    return {
        'meta': {'epoch': 1, 'iter': 3, 'seed': 0},
        'state_dict': collections.OrderedDict(model.state_dict()),
        'message_hub': hub.state_dict(),
        'optimizer': opt.state_dict(),
        'param_schedulers': [sched.state_dict()],
    }


def test_payload_is_real(tmp_path):
    """Control: plain pickle really runs the payload, so the refusal tests mean something."""
    marker = tmp_path / 'pwned'
    pickle.loads(pickle.dumps(_RunsShell(f'touch {shlex.quote(str(marker))}')))
    assert marker.exists()


def test_code_running_checkpoint_is_refused(tmp_path):
    path, marker = _malicious_checkpoint(tmp_path)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(path)
    msg = str(info.value)
    assert str(path) in msg and 'allow-list' in msg and 'system' in msg
    assert not marker.exists()


def test_refused_through_mmengine_checkpoint_loader(tmp_path):
    """mmengine's load_checkpoint (used by Runner load_from/resume) goes through ferlab's loader."""
    path, marker = _malicious_checkpoint(tmp_path)
    with pytest.raises(UnsafeCheckpointError, match='malicious.pth'):
        load_checkpoint(torch.nn.Linear(2, 2), str(path))
    assert not marker.exists()


def test_foreign_global_is_refused(tmp_path):
    path = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {}, 'extra': _Foreign(3)}, path)
    with pytest.raises(UnsafeCheckpointError, match='_Foreign'):
        safe_torch_load(path)
    with pytest.raises(UnsafeCheckpointError, match='foreign.pth'):
        load_state_dict_file(path)


def test_getattr_is_restricted_to_history_buffer_methods(tmp_path):
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(os, 'system')
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(HistoryBuffer, '__init__')
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': _SneakyGetattr()}, path)
    with pytest.raises(UnsafeCheckpointError, match='sneaky.pth'):
        safe_torch_load(path)


def _global_name(obj) -> str:
    if isinstance(obj, tuple):
        return obj[1]
    return f'{obj.__module__}.{obj.__qualname__}'


def test_allow_list_is_exactly_what_mmengine_writes():
    names = {_global_name(g) for g in safe_globals()}
    dtype_classes = {n for n in names if n.startswith('numpy.dtypes.') and n.endswith('DType')}
    assert dtype_classes, 'numpy dtype classes are needed to rebuild pickled dtypes'
    assert names - dtype_classes == {
        'mmengine.logging.history_buffer.HistoryBuffer',
        'collections.OrderedDict',
        'collections.Counter',
        '__builtin__.getattr',
        'builtins.getattr',
        'numpy.ndarray',
        'numpy.dtype',
        'numpy._core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar',
        'numpy.core.multiarray._reconstruct',
        'numpy.core.multiarray.scalar',
    }


def test_mmengine_style_checkpoint_roundtrips(tmp_path):
    ckpt = _mmengine_like_checkpoint()
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint(ckpt, str(path))  # mmengine's writer (through ferlab's atomic backend)
    needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    allowed = {_global_name(g) for g in safe_globals()}
    assert needed and needed <= allowed, needed - allowed
    loaded = safe_torch_load(path)
    assert loaded['param_schedulers'][0]['milestones'] == collections.Counter({2: 1, 4: 1})
    hub = MessageHub(f'ckpt-restore-{id(loaded)}')
    hub.load_state_dict(loaded['message_hub'])
    assert hub.get_scalar('train/loss').current() == 3.0
    assert hub.get_scalar('train/loss').mean() == pytest.approx(7.0 / 3)
    np.testing.assert_array_equal(hub.get_info('arr'), np.arange(3))
    for key, value in ckpt['state_dict'].items():
        assert torch.equal(loaded['state_dict'][key], value)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        safe_torch_load(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='nope.safetensors'):
        load_state_dict_file(tmp_path / 'nope.safetensors')


def test_load_state_dict_file_layouts(tmp_path):
    state = {'fc.weight': torch.randn(2, 3), 'fc.bias': torch.randn(2)}
    torch.save(state, tmp_path / 'plain.pth')
    torch.save({'state_dict': {f'module.{k}': v for k, v in state.items()}, 'meta': {}}, tmp_path / 'ddp.pth')
    torch.save({'model': state}, tmp_path / 'model.pt')
    for name in ('plain.pth', 'ddp.pth', 'model.pt'):
        loaded = load_state_dict_file(tmp_path / name)
        assert set(loaded) == set(state), name
        assert all(torch.equal(loaded[k], state[k]) for k in state)
    torch.save([torch.zeros(1)], tmp_path / 'list.pth')
    with pytest.raises(TypeError, match='list.pth'):
        load_state_dict_file(tmp_path / 'list.pth')


def test_load_state_dict_file_safetensors(tmp_path):
    import safetensors.torch as safetensors_torch

    state = {'a': torch.arange(4, dtype=torch.float32), 'b.c': torch.ones(2, 2)}
    safetensors_torch.save_file(state, str(tmp_path / 'w.safetensors'))
    loaded = load_state_dict_file(tmp_path / 'w.safetensors')
    assert set(loaded) == {'a', 'b.c'} and torch.equal(loaded['a'], state['a'])


def _leftovers(directory) -> list:
    return [n for n in os.listdir(directory) if n.endswith('.tmp')]


def test_atomic_write_failure_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    old = {'state_dict': {'w': torch.ones(3)}}
    atomic_save(old, path)
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600), 'atomic files should get the usual mode'

    import ferlab.utils.checkpoint as ckpt_mod

    def crash(fd):
        raise OSError('disk on fire (simulated crash after the bytes were written)')

    monkeypatch.setattr(ckpt_mod.os, 'fsync', crash)
    with pytest.raises(OSError, match='disk on fire'):
        atomic_save({'state_dict': {'w': torch.zeros(1000)}}, path)
    # mmengine's own writer (CheckpointHook -> save_checkpoint -> backend.put) is atomic too.
    assert type(get_file_backend(str(path))).__name__ == 'AtomicLocalBackend'
    with pytest.raises(OSError, match='disk on fire'):
        save_checkpoint({'state_dict': {'w': torch.zeros(1000)}}, str(path))
    with pytest.raises(OSError, match='disk on fire'):
        atomic_write_bytes(b'partial', path)
    assert torch.equal(safe_torch_load(path)['state_dict']['w'], torch.ones(3))
    assert _leftovers(tmp_path) == []


@pytest.mark.slow
def test_sigkill_during_save_leaves_previous_checkpoint(tmp_path):
    """A process SIGKILLed while mmengine saves over an existing checkpoint leaves it intact."""
    path = tmp_path / 'epoch_1.pth'
    atomic_save({'state_dict': {'w': torch.full((4,), 7.0)}, 'meta': {'epoch': 1}}, path)
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {REPO_ROOT!r})
        import torch
        import ferlab.utils.checkpoint as ckpt_mod
        from mmengine.runner.checkpoint import save_checkpoint

        def slow_fsync(fd):
            print('WRITTEN', flush=True)  # the new bytes are in the temp file, not yet renamed
            time.sleep(60)

        ckpt_mod.os.fsync = slow_fsync
        big = {{'state_dict': {{'w': torch.zeros(4_000_000)}}, 'meta': {{'epoch': 2}}}}
        save_checkpoint(big, {str(path)!r})
        print('SAVED', flush=True)
    """)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(
        [sys.executable, '-c', script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        lines = []
        for line in proc.stdout:  # mmengine may print warnings first; EOF if the child died
            lines.append(line)
            if line.strip() == 'WRITTEN':
                break
        assert lines and lines[-1].strip() == 'WRITTEN', ''.join(lines) + proc.stderr.read()
        tmp_files = _leftovers(tmp_path)
        assert len(tmp_files) == 1 and osp.getsize(tmp_path / tmp_files[0]) > 16_000_000
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    loaded = safe_torch_load(path)
    assert loaded['meta']['epoch'] == 1 and torch.equal(loaded['state_dict']['w'], torch.full((4,), 7.0))


# ----------------------------------------------------------------------------- remote checkpoints
REMOTE = [
    'https://download.example.invalid/resnet18.pth',
    'http://download.example.invalid/resnet18.pth',
    'open-mmlab://resnet50_v1c',
    'openmmlab://resnet50_v1c',
    'torchvision://resnet18',
    'modelzoo://resnet18',
    'mmcls://resnet/resnet18_8xb32_in1k',
    'pavi://model/1',
    's3://bucket/epoch_1.pth',
    'open-mmlab:s3://bucket/epoch_1.pth',
    'petrel://bucket/epoch_1.pth',
]


@pytest.fixture
def no_download(monkeypatch):
    """Record (and answer) every download mmengine's http loader would start."""
    import mmengine.runner.checkpoint as mm_ckpt

    calls = []

    def fake_load_url(url, *args, **kwargs):
        calls.append(url)
        return {'state_dict': {'weight': torch.zeros(2, 2), 'bias': torch.zeros(2)}}

    monkeypatch.setattr(mm_ckpt, 'load_url', fake_load_url)
    return calls


@pytest.mark.parametrize('url', REMOTE)
def test_remote_checkpoint_is_refused_through_mmengine(url, no_download):
    """Every non-local scheme of mmengine's CheckpointLoader (what load_from/resume use) is refused."""
    from ferlab.utils import FerlabInputError, RemoteCheckpointError

    with pytest.raises(RemoteCheckpointError, match='local') as info:
        load_checkpoint(torch.nn.Linear(2, 2), url)
    assert url in str(info.value) and isinstance(info.value, FerlabInputError)
    assert no_download == []


@pytest.mark.parametrize(
    'url', ['https://example.invalid/w.pth', 'open-mmlab://resnet50_v1c', 's3://b/k.pth']
)
def test_remote_checkpoint_is_refused_by_ferlab_loaders(url):
    from ferlab.utils import RemoteCheckpointError

    with pytest.raises(RemoteCheckpointError, match='Download the file'):
        safe_torch_load(url)
    with pytest.raises(RemoteCheckpointError, match='Download the file'):
        load_state_dict_file(url)


def test_remote_load_from_is_refused_by_the_runner(tmp_path, no_download):
    from ferlab.utils import RemoteCheckpointError
    from tests.utils import make_fake_rafdb, tiny_train_options
    from tools.train import main

    data_root = make_fake_rafdb(tmp_path / 'data', n_train=4, n_test=2, size=16)
    url = 'https://download.example.invalid/epoch_1.pth'
    opts = tiny_train_options(data_root, img_size=16) + [f'load_from={url}']
    config = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
    with pytest.raises(RemoteCheckpointError, match='download.example.invalid'):
        main([config, '--work-dir', str(tmp_path / 'w'), '--no-validate', '--cfg-options', *opts])
    assert no_download == []
    assert not (tmp_path / 'w' / 'epoch_1.pth').exists()  # refused before any training


def test_local_paths_are_not_taken_for_urls(tmp_path):
    from ferlab.utils.checkpoint import is_remote

    assert not any(is_remote(p) for p in ('/abs/epoch_1.pth', 'work_dirs/a.pth', 'C:/w/a.pth', 'a/b://c'))
    assert all(is_remote(p) for p in REMOTE)


# ----------------------------------------------------------------------------- install range and docs
def _setup_requirement(name):
    import ast

    from packaging.requirements import Requirement

    tree = ast.parse(open(osp.join(REPO_ROOT, 'setup.py'), encoding='utf-8').read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == 'install_requires':
            reqs = [Requirement(ast.literal_eval(e)) for e in node.value.elts]
            return next(r for r in reqs if r.name == name)
    raise AssertionError('setup.py has no install_requires')


def test_torch_floor_is_the_first_release_with_named_safe_globals():
    """``safe_globals`` entries ``(obj, 'module.name')`` exist from torch 2.6.0; 2.5.1 takes objects only.

    (Measured on the released wheels: 2.5.1's ``_weights_only_unpickler._get_user_allowed_globals``
    keys every entry by ``f.__module__``, 2.6.0's accepts ``(f, name)`` tuples.) ``safe_torch_load``
    passes such tuples (numpy 1.x paths, the ``getattr`` stand-in), so 2.5.1 must be excluded.
    """
    spec = _setup_requirement('torch').specifier
    assert not spec.contains('2.5.1') and not spec.contains('2.1.0')
    assert spec.contains('2.6.0') and spec.contains(torch.__version__.split('+')[0])
    assert spec.contains('2.13.0') and spec.contains('3.0.0')  # open above, 2.13 not pinned
    from ferlab.utils.checkpoint import MIN_TORCH

    assert spec.contains(MIN_TORCH + '.0') and not spec.contains('2.5.99')
    assert any(isinstance(g, tuple) for g in safe_globals())  # the reason for the floor
    docs = open(osp.join(REPO_ROOT, 'docs/get_started.md'), encoding='utf-8').read()
    assert f'`torch{spec}`' in docs


def _docs_section(title):
    text = open(osp.join(REPO_ROOT, 'docs/get_started.md'), encoding='utf-8').read()
    start = text.index(f'\n## {title}\n')
    end = text.find('\n## ', start + 1)
    return text[start : end if end != -1 else None]


def test_docs_allow_list_is_the_code_allow_list():
    """docs/get_started.md#checkpoints names exactly the globals of ``safe_globals()``."""
    import re

    section = _docs_section('Checkpoints')
    documented = set(re.findall(r'`((?:[A-Za-z_]\w*\.)+[A-Za-z_*]\w*)`', section))
    documented = {d for d in documented if not d.startswith(('torch.', 'ferlab.'))}
    names = {_global_name(g) for g in safe_globals()}
    dtype_classes = {n for n in names if n.startswith('numpy.dtypes.') and n.endswith('DType')}
    assert 'numpy.dtypes.*DType' in documented and dtype_classes
    assert documented - {'numpy.dtypes.*DType'} == names - dtype_classes
