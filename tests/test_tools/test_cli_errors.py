"""ferlab's input errors end every ``tools/*.py`` in one ``<tool>: error:`` line and exit code 2.

Run as subprocesses, as a user would: the traceback appears only with ``--debug`` (or
``FERLAB_DEBUG=1``); errors raised inside mmengine's Runner and in DataLoader workers are found
and reported the same way; unexpected exceptions keep their traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.test_datasets.fake_formats import make_rafdb
from tests.utils import RAFDB_ALIGNED_DIR, REPO_ROOT, make_fake_rafdb, tiny_train_options

CONFIG = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
MGN_CONFIG = os.path.join(REPO_ROOT, 'configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py')


def _run(tool, *args, cwd, debug_env=False, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    env.pop('FERLAB_DEBUG', None)
    if debug_env:
        env['FERLAB_DEBUG'] = '1'
    cmd = [sys.executable, os.path.join(REPO_ROOT, tool), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(cwd))


def _one_error_line(proc, tool):
    """The single ``<tool>: error:`` message of a run that ended in an input error."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr[-4000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-4000:]
    assert lines and lines[-1].startswith(f'{tool}: error: '), proc.stderr[-4000:]
    assert sum('error:' in ln for ln in lines) == 1
    return lines[-1][len(f'{tool}: error: ') :]


@pytest.fixture(scope='module')
def bad_label_rafdb(tmp_path_factory):
    """A RAF-DB tree whose third training line has label 9 (RAF-DB has 1..7)."""
    return make_rafdb(str(tmp_path_factory.mktemp('bad_label') / 'raf'), train=(5, 1, 9))


@pytest.mark.e2e
def test_label_out_of_range_is_one_line(bad_label_rafdb, tmp_path):
    """The DatasetFormatError raised while the Runner builds the train loop is the only output line."""
    opts = [f'data_root={bad_label_rafdb}', 'train_dataloader.num_workers=0']
    proc = _run('tools/train.py', CONFIG, '--work-dir', tmp_path / 'w', '--cfg-options', *opts, cwd=tmp_path)
    label_file = os.path.join(bad_label_rafdb, 'basic/EmoLabel/list_patition_label.txt')
    assert _one_error_line(proc, 'tools/train.py') == f'{label_file}, line 3: expected a label in 1..7, got 9'
    stderr_lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(stderr_lines) == 1, proc.stderr


@pytest.mark.e2e
@pytest.mark.parametrize('how', ['--debug', 'FERLAB_DEBUG=1'])
def test_debug_shows_the_traceback(bad_label_rafdb, tmp_path, how):
    opts = [f'data_root={bad_label_rafdb}', 'train_dataloader.num_workers=0']
    extra = ['--debug'] if how == '--debug' else []
    proc = _run('tools/train.py', CONFIG, *extra, '--work-dir', tmp_path / 'w', '--cfg-options', *opts,
                cwd=tmp_path, debug_env=how != '--debug')  # fmt: skip
    assert proc.returncode == 2
    assert 'Traceback' in proc.stderr and 'build_dataloader' in proc.stderr  # through mmengine's Runner
    last = [ln for ln in proc.stderr.splitlines() if ln.strip()][-1]
    assert last.startswith('tools/train.py: error: ') and 'expected a label in 1..7, got 9' in last


@pytest.mark.e2e
def test_truncated_image_in_a_dataloader_worker_is_one_line(tmp_path):
    """torch re-raises a worker's ImageLoadError with the worker's traceback in its message."""
    data_root = make_fake_rafdb(tmp_path / 'raf', n_train=4, n_test=2, size=16)
    bad = os.path.join(data_root, RAFDB_ALIGNED_DIR, 'train_00002_aligned.jpg')
    with open(bad, 'rb') as f:
        data = f.read()
    with open(bad, 'wb') as f:
        f.write(data[: len(data) // 2])
    opts = tiny_train_options(data_root, img_size=16) + ['train_dataloader.num_workers=1']
    proc = _run('tools/train.py', CONFIG, '--no-validate', '--work-dir', tmp_path / 'w', '--cfg-options', *opts,
                cwd=tmp_path)  # fmt: skip
    message = _one_error_line(proc, 'tools/train.py')
    assert message == f'image file {bad!r} is truncated (JPEG: no end-of-image marker)'


@pytest.mark.e2e
def test_missing_data_root_in_test_tool_is_one_line(tmp_path):
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': {}}, ckpt)  # never read: the test set is built first
    missing = tmp_path / 'no_such_root'
    proc = _run('tools/test.py', CONFIG, ckpt, '--work-dir', tmp_path / 'w', '--cfg-options', f'data_root={missing}',
                cwd=tmp_path)  # fmt: skip
    message = _one_error_line(proc, 'tools/test.py')
    assert f'data root {str(missing)!r} does not exist' in message


@pytest.mark.e2e
def test_missing_pretrained_file_is_one_line(tmp_path):
    data_root = make_fake_rafdb(tmp_path / 'raf', n_train=2, n_test=1, size=16)
    opts = tiny_train_options(data_root, img_size=16) + [f'model.backbone.pretrained={tmp_path}/r18.pth']
    proc = _run('tools/train.py', CONFIG, '--work-dir', tmp_path / 'w', '--cfg-options', *opts, cwd=tmp_path)
    message = _one_error_line(proc, 'tools/train.py')
    assert f"not found at '{tmp_path}/r18.pth'" in message and 'never downloads' in message


class _RunsShell:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


@pytest.mark.e2e
def test_checkpoint_errors_in_test_tool_are_one_line(tmp_path):
    evil = tmp_path / 'evil.pth'
    marker = tmp_path / 'pwned'
    torch.save({'state_dict': {}, 'meta': _RunsShell(f'touch {marker}')}, evil)
    data_root = make_fake_rafdb(tmp_path / 'raf', n_train=1, n_test=2, size=16)
    opts = tiny_train_options(data_root, img_size=16)
    proc = _run(
        'tools/test.py', CONFIG, evil, '--work-dir', tmp_path / 'w', '--cfg-options', *opts, cwd=tmp_path
    )
    assert _one_error_line(proc, 'tools/test.py').startswith(f'refused to load checkpoint {evil}')
    assert not marker.exists()
    url = 'https://download.example.invalid/epoch_1.pth'
    proc = _run('tools/test.py', CONFIG, url, '--work-dir', tmp_path / 'w', cwd=tmp_path)
    assert _one_error_line(proc, 'tools/test.py').startswith(f"refused to load checkpoint '{url}'")
    proc = _run('tools/test.py', CONFIG, tmp_path / 'gone.pth', '--work-dir', tmp_path / 'w', cwd=tmp_path)
    assert _one_error_line(proc, 'tools/test.py') == f'checkpoint file {tmp_path}/gone.pth does not exist'
    proc = _run('tools/test.py', CONFIG, evil, '--out', tmp_path / 'p.json', cwd=tmp_path)
    assert _one_error_line(proc, 'tools/test.py') == f'--out must end with .pkl, got {tmp_path}/p.json'


@pytest.mark.slow
def test_missing_config_is_one_line(tmp_path):
    proc = _run('tools/train.py', tmp_path / 'nope.py', cwd=tmp_path)
    assert _one_error_line(proc, 'tools/train.py') == f"config file '{tmp_path}/nope.py' does not exist"


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only refusal')
def test_cuda_only_amp_wrapper_on_cpu_is_one_line(tmp_path):
    proc = _run('tools/train.py', CONFIG, '--work-dir', tmp_path / 'w', '--cfg-options',
                'optim_wrapper.type=AmpOptimWrapper', f'data_root={tmp_path}', cwd=tmp_path)  # fmt: skip
    assert 'AmpOptimWrapper' in _one_error_line(proc, 'tools/train.py')


@pytest.mark.slow
@pytest.mark.parametrize(
    'tool, args, expected',
    [
        ('tools/model_converters/dan_to_ferlab.py', ['{tmp}/dan.pth', '{tmp}/out.pth'],
         'checkpoint file {tmp}/dan.pth does not exist'),
        ('tools/analysis_tools/vis_cam.py', [CONFIG, '{tmp}/ckpt.pth', '{tmp}/face.jpg'],
         'checkpoint file {tmp}/ckpt.pth does not exist'),
        ('tools/analysis_tools/visualize_masks.py', [MGN_CONFIG, '{tmp}/ckpt.pth', '--images', '{tmp}/face.jpg'],
         'checkpoint file {tmp}/ckpt.pth does not exist'),
    ],
)  # fmt: skip
def test_other_tools_end_in_one_line(tmp_path, tool, args, expected):
    proc = _run(tool, *[a.format(tmp=tmp_path) for a in args], cwd=tmp_path, timeout=180)
    assert expected.format(tmp=tmp_path) in _one_error_line(proc, tool)


# ----------------------------------------------------------------------------- run_tool in process
def test_run_tool_finds_wrapped_and_worker_errors(capsys):
    from ferlab.datasets.base_fer_dataset import DatasetFormatError
    from ferlab.utils.cli import find_input_error, run_tool

    err = DatasetFormatError('a.txt', 2, 'a label in 1..7', 0)

    def wrapped(argv):
        try:
            raise err
        except DatasetFormatError as inner:
            raise RuntimeError('while building the train loop') from inner

    def context(argv):
        try:
            raise err
        except DatasetFormatError:
            raise KeyError('handler failed')  # noqa: B904 - an implicit __context__ on purpose

    for main in (wrapped, context):
        with pytest.raises(SystemExit) as info:
            run_tool(main, os.path.join(REPO_ROOT, 'tools/train.py'), [])
        assert info.value.code == 2
        assert (
            capsys.readouterr().err
            == 'tools/train.py: error: a.txt, line 2: expected a label in 1..7, got 0\n'
        )
    # torch's DataLoader re-raise of a worker's DatasetFormatError (not constructible from one string)
    worker = RuntimeError(
        'Caught DatasetFormatError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n'
        '  File "x.py", line 1, in f\n    raise DatasetFormatError(...)\n'
        'ferlab.datasets.base_fer_dataset.DatasetFormatError: b.txt, line 4: expected a label, got 12\n'
    )
    assert find_input_error(worker) == 'b.txt, line 4: expected a label, got 12'
    # a user's class of the same name is not ferlab's
    foreign = RuntimeError(worker.args[0].replace('ferlab.datasets.base_fer_dataset.', 'mypkg.'))
    assert find_input_error(foreign) is None


def test_run_tool_keeps_unexpected_tracebacks():
    from ferlab.utils.cli import run_tool

    def buggy(argv):
        raise ZeroDivisionError('a bug, not an input error')

    with pytest.raises(ZeroDivisionError):
        run_tool(buggy, 'tools/train.py', [])
    seen = []
    assert run_tool(lambda argv: seen.append(argv) or 7, 'x.py', ['a', '--debug', 'b']) == 7
    assert seen == [['a', 'b']]  # --debug is the tool entry's, not the tool's parser's
