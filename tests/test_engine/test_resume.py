"""``tools/train.py --resume [auto|PATH]``, ``load_from`` and ``--amp`` on CPU, end to end.

Every run trains ``configs/baseline/resnet18_rafdb.py`` on a fake RAF-DB
(8 train images, batch 4: 2 iterations per epoch, 32 px).
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ferlab.registry import HOOKS
from ferlab.utils import UnsafeCheckpointError, safe_torch_load
from tests.utils import REPO_ROOT, make_fake_rafdb, tiny_train_options

pytestmark = pytest.mark.e2e  # every test trains through tools/train.py

CONFIG = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
ITERS_PER_EPOCH = 2
RECORDS: dict = {}
_RUN_IDS = itertools.count()


class ResumeProbeHook(Hook):
    """Records where training starts (after load_from/resume) and which epochs it runs."""

    priority = 'LOWEST'

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        optimizer = runner.optim_wrapper.optimizer
        RECORDS[runner.work_dir] = dict(
            start_epoch=runner.epoch,
            start_iter=runner.iter,
            start_state={k: v.detach().clone() for k, v in model.state_dict().items()},
            start_lr=[g['lr'] for g in optimizer.param_groups],
            optimizer_state_keys=sorted({k for s in optimizer.state.values() for k in s}),
            epochs_run=[],
        )

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        RECORDS[runner.work_dir]['epochs_run'].append(runner.epoch)


class SimulatedCrash(RuntimeError):
    """Raised by :class:`CrashAfterFirstEpochHook`."""


class CrashAfterFirstEpochHook(Hook):
    """Kills the run right after epoch 1 was checkpointed (an interrupted job)."""

    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW)

    def after_train_epoch(self, runner):
        if runner.epoch == 0:  # the loop increments epoch after these hooks
            raise SimulatedCrash('interrupted after epoch 1')


class CrashMidSecondEpochHook(Hook):
    """Kills the run after the first iteration of epoch 2 (epoch_1.pth is the last checkpoint)."""

    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.epoch == 1 and batch_idx == 0:
            raise SimulatedCrash('interrupted in the middle of epoch 2')


@pytest.fixture(scope='module', autouse=True)
def _probe_hooks():
    """Register this module's hooks for its tests only (keeps ferlab's HOOKS clean for others)."""
    hooks = (ResumeProbeHook, CrashAfterFirstEpochHook, CrashMidSecondEpochHook)
    for hook in hooks:
        HOOKS.register_module(module=hook, force=True)
    yield
    for hook in hooks:
        HOOKS._module_dict.pop(hook.__name__, None)


def _train(config, work_dir, data_root, max_epochs, *extra, cfg_options=()):
    from tools.train import main

    opts = tiny_train_options(data_root, max_epochs=max_epochs, batch_size=4)
    opts += [f'experiment_name=resume_test_{next(_RUN_IDS)}', 'default_hooks.probe.type=ResumeProbeHook']
    opts += list(cfg_options)
    main([str(config), '--work-dir', str(work_dir), *extra, '--cfg-options', *opts])
    return RECORDS[str(work_dir)]


def _assert_weights_equal(state, checkpoint_path):
    saved = safe_torch_load(checkpoint_path)['state_dict']
    assert set(saved) == set(state)
    for key, value in saved.items():
        assert torch.equal(state[key], value), key


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume')
    data_root = make_fake_rafdb(root / 'data', n_train=8, n_test=4, size=32)
    work_dir = root / 'epoch1'
    rec = _train(CONFIG, work_dir, data_root, 1)
    assert rec['start_epoch'] == 0 and rec['epochs_run'] == [0] * ITERS_PER_EPOCH
    assert (work_dir / 'epoch_1.pth').is_file()
    return dict(root=root, data_root=data_root, work_dir=work_dir, ckpt=work_dir / 'epoch_1.pth')


def _check_resumed_from_epoch1(rec, ckpt):
    assert rec['start_epoch'] == 1 and rec['start_iter'] == ITERS_PER_EPOCH
    assert rec['epochs_run'] == [1] * ITERS_PER_EPOCH  # only epoch 2 ran
    _assert_weights_equal(rec['start_state'], ckpt)
    assert 'momentum_buffer' in rec['optimizer_state_keys']  # SGD state came back


def test_resume_auto(trained, tmp_path):
    work_dir = tmp_path / 'auto'
    shutil.copytree(trained['work_dir'], work_dir)
    # last_checkpoint holds an absolute path into the original dir: point it at the copy.
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    rec = _train(CONFIG, work_dir, trained['data_root'], 2, '--resume')
    _check_resumed_from_epoch1(rec, work_dir / 'epoch_1.pth')
    meta = safe_torch_load(work_dir / 'epoch_2.pth')['meta']
    assert (meta['epoch'], meta['iter']) == (2, 2 * ITERS_PER_EPOCH)


def test_resume_explicit_path(trained, tmp_path):
    work_dir = tmp_path / 'explicit'
    rec = _train(CONFIG, work_dir, trained['data_root'], 2, '--resume', str(trained['ckpt']))
    _check_resumed_from_epoch1(rec, trained['ckpt'])
    assert (work_dir / 'epoch_2.pth').is_file() and not (work_dir / 'epoch_1.pth').exists()


def test_resume_auto_without_checkpoint_starts_fresh(trained, tmp_path):
    rec = _train(CONFIG, tmp_path / 'fresh', trained['data_root'], 1, '--resume')
    assert rec['start_epoch'] == 0 and rec['epochs_run'] == [0] * ITERS_PER_EPOCH


def test_load_from_starts_at_epoch0_with_loaded_weights(trained, tmp_path):
    rec = _train(
        CONFIG, tmp_path / 'load_from', trained['data_root'], 1, cfg_options=[f'load_from={trained["ckpt"]}']
    )
    assert rec['start_epoch'] == 0 and rec['start_iter'] == 0
    assert rec['epochs_run'] == [0] * ITERS_PER_EPOCH
    _assert_weights_equal(rec['start_state'], trained['ckpt'])
    assert rec['optimizer_state_keys'] == []  # load_from restores weights only


def test_resume_adamw_exponential_lr(trained, tmp_path):
    """An interrupted AdamW + ExponentialLR run resumes with its optimizer state and decayed lr."""
    config = tmp_path / 'adamw_cfg.py'
    config.write_text(
        f'_base_ = [{CONFIG!r}]\n'
        "optim_wrapper = dict(_delete_=True, type='OptimWrapper',\n"
        "                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))\n"
        "param_scheduler = dict(_delete_=True, type='ExponentialLR', gamma=0.5, by_epoch=True)\n"
    )
    work_dir = tmp_path / 'adamw'
    with pytest.raises(SimulatedCrash):
        _train(
            config,
            work_dir,
            trained['data_root'],
            2,
            cfg_options=['default_hooks.crash.type=CrashAfterFirstEpochHook'],
        )
    assert RECORDS[str(work_dir)]['epochs_run'] == [0] * ITERS_PER_EPOCH
    rec = _train(config, work_dir, trained['data_root'], 2, '--resume')
    assert rec['start_epoch'] == 1 and rec['epochs_run'] == [1] * ITERS_PER_EPOCH
    assert rec['start_lr'] == [pytest.approx(5e-4)]
    assert {'exp_avg', 'exp_avg_sq', 'step'} <= set(rec['optimizer_state_keys'])
    _assert_weights_equal(rec['start_state'], work_dir / 'epoch_1.pth')


def _state(work_dir, name):
    return safe_torch_load(work_dir / name)['state_dict']


def _max_abs_diff(a, b):
    assert set(a) == set(b)
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)


@pytest.mark.e2e
@pytest.mark.parametrize('num_workers', [0, 2])
def test_killed_mid_epoch_and_resumed_ends_bit_identical(trained, tmp_path, num_workers):
    """Augmentation and main-process randomness are functions of (seed, epoch[, sample]): resume is exact.

    The run dies after the first iteration of epoch 2 (last checkpoint: epoch_1.pth), is resumed
    with ``--resume`` and finishes epoch 2; its weights must equal those of a run that was never
    interrupted, with the augmenting pipeline in the main process (0) or in workers (2).
    """
    opts = [f'{loader}.num_workers={num_workers}' for loader in ('train_dataloader', 'val_dataloader')]
    whole = tmp_path / 'whole'
    _train(CONFIG, whole, trained['data_root'], 2, cfg_options=opts)
    broken = tmp_path / 'broken'
    with pytest.raises(SimulatedCrash):
        _train(
            CONFIG,
            broken,
            trained['data_root'],
            2,
            cfg_options=[*opts, 'default_hooks.crash.type=CrashMidSecondEpochHook'],
        )
    assert RECORDS[str(broken)]['epochs_run'] == [0, 0, 1]
    assert not (broken / 'epoch_2.pth').exists()
    rec = _train(CONFIG, broken, trained['data_root'], 2, '--resume', cfg_options=opts)
    assert rec['start_epoch'] == 1 and rec['epochs_run'] == [1, 1]
    diff = _max_abs_diff(_state(whole, 'epoch_2.pth'), _state(broken, 'epoch_2.pth'))
    assert diff == 0.0, f'resumed run differs from the uninterrupted one by max |dw| = {diff:.3g}'
    # control: the weights did move in epoch 2, so the equality above is not trivial
    assert _max_abs_diff(_state(whole, 'epoch_1.pth'), _state(whole, 'epoch_2.pth')) > 0


@pytest.mark.e2e
def test_unseeded_run_resumes_with_its_drawn_seed(trained, tmp_path):
    """``randomness.seed=None``: mmengine draws a seed, stores it in the checkpoint meta, resume uses it.

    The resumed run is compared with a run given that seed from the start (an unseeded run and a
    run seeded with the seed it drew are the same run).
    """
    opts = ['randomness.seed=None']
    broken = tmp_path / 'broken'
    with pytest.raises(SimulatedCrash):
        _train(
            CONFIG,
            broken,
            trained['data_root'],
            2,
            '--no-validate',
            cfg_options=[*opts, 'default_hooks.crash.type=CrashMidSecondEpochHook'],
        )
    seed = safe_torch_load(broken / 'epoch_1.pth')['meta']['seed']
    assert isinstance(seed, int)
    _train(CONFIG, broken, trained['data_root'], 2, '--resume', '--no-validate', cfg_options=opts)
    assert safe_torch_load(broken / 'epoch_2.pth')['meta']['seed'] == seed
    whole = tmp_path / 'whole'
    _train(CONFIG, whole, trained['data_root'], 2, '--no-validate', cfg_options=[f'randomness.seed={seed}'])
    diff = _max_abs_diff(_state(whole, 'epoch_2.pth'), _state(broken, 'epoch_2.pth'))
    assert diff == 0.0, f'resumed unseeded run differs from the seed-{seed} run by max |dw| = {diff:.3g}'


class _RunsShell:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


@pytest.fixture
def malicious(trained, tmp_path):
    """A real checkpoint with a code-running object slipped into its meta."""
    marker = tmp_path / 'pwned'
    ckpt = safe_torch_load(trained['ckpt'])
    ckpt['meta']['note'] = _RunsShell(f'touch {shlex.quote(str(marker))}')
    path = tmp_path / 'evil_epoch_1.pth'
    torch.save(ckpt, path)
    return path, marker


@pytest.mark.parametrize('how', ['resume_path', 'resume_auto', 'load_from'])
def test_malicious_checkpoint_refused_by_runner(trained, malicious, tmp_path, how):
    path, marker = malicious
    work_dir = tmp_path / how
    extra, cfg_options = [], []
    if how == 'resume_path':
        extra = ['--resume', str(path)]
    elif how == 'resume_auto':
        work_dir.mkdir()
        (work_dir / 'last_checkpoint').write_text(str(path))
        extra = ['--resume']
    else:
        cfg_options = [f'load_from={path}']
    with pytest.raises(UnsafeCheckpointError, match='evil_epoch_1.pth') as info:
        _train(CONFIG, work_dir, trained['data_root'], 2, *extra, cfg_options=cfg_options)
    assert 'posix.system' in str(info.value) or 'os.system' in str(info.value)
    assert not marker.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only error')
def test_mmengine_amp_wrapper_on_cpu_fails_clearly(trained, tmp_path, capsys):
    """mmengine's CUDA-only ``AmpOptimWrapper`` named in a config: one clear error on CPU.

    ``--amp`` itself selects ferlab's ``MixedPrecisionOptimWrapper`` and trains on CPU
    (tests/test_engine/test_optim_wrappers/test_amp_tools.py).
    """
    from ferlab.utils.errors import AmpUnavailableError

    opts = ['optim_wrapper.type=AmpOptimWrapper']
    with pytest.raises(AmpUnavailableError, match="type='MixedPrecisionOptimWrapper' or --amp"):
        _train(CONFIG, tmp_path / 'amp', trained['data_root'], 1, cfg_options=opts)
    assert not (tmp_path / 'amp').exists()  # refused before the Runner was built
    # The command-line entry turns it into one error line (exit code 2), not a traceback.
    from tools.train import cli

    data = f'data_root={trained["data_root"]}'
    argv = [CONFIG, '--work-dir', str(tmp_path / 'amp_cli'), '--cfg-options', data]
    with pytest.raises(SystemExit) as info:
        cli([*argv, *opts])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1
    assert err[0].startswith("tools/train.py: error: optim_wrapper type='AmpOptimWrapper'")
    assert 'CUDA' in err[0]
