"""``bash tools/dist_train.sh CONFIG 2`` (torchrun, ``--launcher pytorch``) on a CPU-only machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.utils import REPO_ROOT, free_port, make_fake_rafdb, tiny_train_options

CONFIG = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
DIST_TRAIN = os.path.join(REPO_ROOT, 'tools/dist_train.sh')
N_TRAIN = 12

# A plugin loaded through --cfg-options custom_imports: records, per rank, the dataset indices it
# trained on and a checksum of its weights at the end.
PLUGIN = textwrap.dedent("""
    import json
    import os
    import os.path as osp

    import torch
    from mmengine.dist import get_rank, get_world_size
    from mmengine.hooks import Hook
    from mmengine.model import is_model_wrapper

    from ferlab.registry import HOOKS


    @HOOKS.register_module()
    class ShardRecorderHook(Hook):
        def before_run(self, runner):
            self.seen = []

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.seen += [int(s.sample_idx) for s in data_batch['data_samples']]

        def after_run(self, runner):
            model = runner.model
            record = dict(
                rank=get_rank(),
                world_size=get_world_size(),
                local_rank=int(os.environ['LOCAL_RANK']),
                wrapped=type(model).__name__,
                backend=torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
                seen=self.seen,
                checksum=[float(p.detach().double().sum()) for p in model.parameters()],
            )
            with open(osp.join(runner.work_dir, f'rank{get_rank()}.json'), 'w') as f:
                json.dump(record, f)
""")


def _shard_run(tmp_path):
    """Fake RAF-DB + the shard-recorder plugin: ``(plugin_dir, work_dir, --cfg-options list)``."""
    data_root = make_fake_rafdb(tmp_path / 'data', n_train=N_TRAIN, n_test=2, size=32)
    plugin_dir = tmp_path / 'plugin'
    plugin_dir.mkdir()
    (plugin_dir / 'shard_recorder.py').write_text(PLUGIN)
    opts = tiny_train_options(data_root, max_epochs=1, batch_size=3)
    opts += ['custom_imports.imports=[shard_recorder]', 'default_hooks.shard.type=ShardRecorderHook']
    return plugin_dir, tmp_path / 'work', opts


def _check_two_ranks(work_dir):
    """Both ranks trained with gloo + DDP on disjoint halves and ended with equal weights."""
    ranks = [json.loads((work_dir / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert [r['world_size'] for r in ranks] == [2, 2] and [r['rank'] for r in ranks] == [0, 1]
    assert [r['local_rank'] for r in ranks] == [0, 1]  # one node, two tasks
    assert all(r['backend'] == 'gloo' and r['wrapped'] == 'MMDistributedDataParallel' for r in ranks)
    seen0, seen1 = set(ranks[0]['seen']), set(ranks[1]['seen'])
    assert len(ranks[0]['seen']) == len(seen0) == N_TRAIN // 2  # each rank: its own half, once
    assert seen0.isdisjoint(seen1)
    assert seen0 | seen1 == set(range(N_TRAIN))
    # DDP averaged the gradients: both replicas end with the same weights.
    assert ranks[0]['checksum'] == pytest.approx(ranks[1]['checksum'], rel=1e-6, abs=1e-6)
    assert (work_dir / 'epoch_1.pth').is_file()


def run_dist_train(config, work_dir, opts, plugin_dir, cwd):
    """``tools/dist_train.sh CONFIG 2 --work-dir WORK_DIR --no-validate --cfg-options OPTS`` on CPU.

    One thread per rank, a free port, ``plugin_dir`` on PYTHONPATH; asserts the run succeeded.
    """
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PORT=str(free_port()),
        PYTHON=sys.executable,
        PYTHONPATH=str(plugin_dir),
        CUDA_VISIBLE_DEVICES='',
    )
    cmd = [
        'bash',
        DIST_TRAIN,
        config,
        '2',
        '--work-dir',
        str(work_dir),
        '--no-validate',
        '--cfg-options',
        *opts,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=str(cwd))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


@pytest.mark.dist
def test_two_cpu_processes_train_disjoint_shards(tmp_path):
    plugin_dir, work_dir, opts = _shard_run(tmp_path)
    run_dist_train(CONFIG, work_dir, opts, plugin_dir, tmp_path)
    _check_two_ranks(work_dir)


def test_dist_train_usage_errors(tmp_path):
    proc = subprocess.run(['bash', DIST_TRAIN], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and 'usage' in proc.stderr
    proc = subprocess.run(['bash', DIST_TRAIN, CONFIG, 'two'], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and 'positive integer' in proc.stderr
    missing = str(tmp_path / 'nope.py')
    proc = subprocess.run(['bash', DIST_TRAIN, missing, '2'], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and 'nope.py' in proc.stderr


def test_pytorch_launcher_outside_torchrun_is_clear(monkeypatch):
    import torch
    from mmengine.config import Config

    from ferlab.utils import init_cpu_distributed

    if torch.cuda.is_available() or torch.distributed.is_initialized():
        pytest.skip('checks the CPU, not-yet-initialised path')
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match='torchrun'):
        init_cpu_distributed(Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl')))))


# ----------------------------------------------------------------------------- slurm / mpi
# Left over from an outer job or a login shell: the scheduler's variables must win (as in mmengine).
# WORLD_SIZE=1 with RANK=1-r fails at once if they are used instead of the scheduler's.
def _stale(rank):
    return dict(RANK=str(1 - rank), WORLD_SIZE='1', LOCAL_RANK='7')


def _start_ranks(tmp_path, launcher, rank_env):
    """Start 2 ``tools/train.py --launcher L`` processes by hand, as srun / mpirun would.

    Each starts with stale ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (:func:`_stale`).
    """
    plugin_dir, work_dir, opts = _shard_run(tmp_path)
    base = {k: v for k, v in os.environ.items() if not k.startswith(('SLURM_', 'OMPI_'))}
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        base.pop(key, None)
    base.update(OMP_NUM_THREADS='1', PYTHONPATH=str(plugin_dir), CUDA_VISIBLE_DEVICES='')
    cmd = [sys.executable, os.path.join(REPO_ROOT, 'tools/train.py'), CONFIG, '--launcher', launcher,
           '--work-dir', str(work_dir), '--no-validate', '--cfg-options', *opts]  # fmt: skip
    procs = [
        subprocess.Popen(
            cmd,
            env=dict(base, **_stale(r), **rank_env(r)),
            cwd=str(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for r in (0, 1)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out[-2000:] + err[-4000:]
    return work_dir


@pytest.mark.dist
def test_slurm_launcher_on_cpu(tmp_path):
    # srun sets these per task; scontrol is not installed here, so MASTER_ADDR comes from the
    # environment (as `export MASTER_ADDR=...` in a batch script); the port is the job's choice.
    port = str(free_port())

    def env(rank):
        return dict(SLURM_PROCID=str(rank), SLURM_NTASKS='2', SLURM_LOCALID=str(rank), SLURM_NODELIST='node01',
                    MASTER_ADDR='127.0.0.1', MASTER_PORT=port)  # fmt: skip

    _check_two_ranks(_start_ranks(tmp_path, 'slurm', env))


@pytest.mark.dist
def test_mpi_launcher_on_cpu(tmp_path):
    port = str(free_port())

    def env(rank):
        return dict(OMPI_COMM_WORLD_RANK=str(rank), OMPI_COMM_WORLD_SIZE='2', OMPI_COMM_WORLD_LOCAL_RANK=str(rank),
                    MASTER_PORT=port)  # fmt: skip

    _check_two_ranks(_start_ranks(tmp_path, 'mpi', env))


def test_launcher_env_mapping(tmp_path, monkeypatch):
    from ferlab.utils import LauncherEnvError, launcher_env

    slurm = dict(SLURM_PROCID='3', SLURM_NTASKS='8', SLURM_LOCALID='1', SLURM_NODELIST='gpu[07-08]')
    # MASTER_ADDR from `scontrol show hostnames`, as slurm's own scripts do (a fake scontrol here)
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    scontrol = bin_dir / 'scontrol'
    scontrol.write_text(
        '#!/bin/sh\n[ "$1 $2 $3" = "show hostnames gpu[07-08]" ] && printf "gpu07\\ngpu08\\n"\n'
    )
    scontrol.chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    assert launcher_env('slurm', slurm) == dict(
        RANK='3', WORLD_SIZE='8', LOCAL_RANK='1', MASTER_ADDR='gpu07', MASTER_PORT='29500'
    )
    assert (
        launcher_env('slurm', dict(slurm, MASTER_PORT='1234', MASTER_ADDR='10.0.0.1'))['MASTER_ADDR']
        == '10.0.0.1'
    )
    monkeypatch.setenv('PATH', str(tmp_path / 'empty'))
    with pytest.raises(LauncherEnvError, match='scontrol'):
        launcher_env('slurm', slurm)
    with pytest.raises(LauncherEnvError, match=r'SLURM_PROCID.*srun'):
        launcher_env('slurm', dict(SLURM_NTASKS='2', SLURM_LOCALID='0', SLURM_NODELIST='n1'))
    mpi = launcher_env(
        'mpi', dict(OMPI_COMM_WORLD_RANK='1', OMPI_COMM_WORLD_SIZE='2', OMPI_COMM_WORLD_LOCAL_RANK='1')
    )
    assert mpi == dict(RANK='1', WORLD_SIZE='2', LOCAL_RANK='1', MASTER_ADDR='127.0.0.1', MASTER_PORT='29500')
    with pytest.raises(LauncherEnvError, match='mpirun'):
        launcher_env('mpi', {})
    with pytest.raises(ValueError, match='unknown launcher'):
        launcher_env('lsf', {})


@pytest.mark.slow
def test_slurm_launcher_without_srun_is_one_error_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_')}
    env.update(CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'not read: the launcher check comes first')
    for tool, extra in (('train.py', []), ('test.py', [str(ckpt)])):
        proc = subprocess.run(
            [sys.executable, os.path.join(REPO_ROOT, 'tools', tool), CONFIG, *extra, '--launcher', 'slurm',
             '--work-dir', str(tmp_path / 'w'), '--cfg-options', f'data_root={tmp_path}'],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr[-3000:]
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert lines[-1].startswith(f'tools/{tool}: error: --launcher slurm needs the environment variables')
        assert 'srun' in lines[-1] and 'Traceback' not in proc.stderr


def test_launcher_env_scheduler_variables_win(tmp_path):
    from ferlab.utils import launcher_env

    stale = dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='10.1.1.1', MASTER_PORT='4321')
    slurm = dict(SLURM_PROCID='3', SLURM_NTASKS='8', SLURM_LOCALID='1', SLURM_NODELIST='gpu07')
    # torch's RANK/WORLD_SIZE/LOCAL_RANK lose to srun's; the rendezvous address set by the user wins
    assert launcher_env('slurm', dict(slurm, **stale)) == dict(
        RANK='3', WORLD_SIZE='8', LOCAL_RANK='1', MASTER_ADDR='10.1.1.1', MASTER_PORT='4321'
    )
    ompi = dict(OMPI_COMM_WORLD_RANK='5', OMPI_COMM_WORLD_SIZE='6', OMPI_COMM_WORLD_LOCAL_RANK='2')
    assert launcher_env('mpi', dict(ompi, RANK='0', WORLD_SIZE='1', LOCAL_RANK='0')) == dict(
        RANK='5', WORLD_SIZE='6', LOCAL_RANK='2', MASTER_ADDR='127.0.0.1', MASTER_PORT='29500'
    )
    # --local_rank never overrides a scheduler's local rank
    assert launcher_env('mpi', ompi, local_rank=0)['LOCAL_RANK'] == '2'
    # torchrun: its LOCAL_RANK; torch.distributed.launch (no LOCAL_RANK): --local_rank; else RANK
    torchrun = dict(RANK='3', WORLD_SIZE='4', MASTER_ADDR='h', MASTER_PORT='1')
    assert launcher_env('pytorch', dict(torchrun, LOCAL_RANK='1'), local_rank=0)['LOCAL_RANK'] == '1'
    assert launcher_env('pytorch', torchrun, local_rank=2)['LOCAL_RANK'] == '2'
    assert launcher_env('pytorch', torchrun)['LOCAL_RANK'] == '3'


def test_train_parse_args_leaves_local_rank_alone(monkeypatch):
    """Parsing must not write LOCAL_RANK (a written 0 used to beat SLURM_LOCALID on every rank)."""
    from tools.test import parse_args as test_args
    from tools.train import parse_args as train_args

    monkeypatch.delenv('LOCAL_RANK', raising=False)
    assert train_args([CONFIG, '--launcher', 'slurm']).local_rank is None
    assert test_args([CONFIG, 'x.pth', '--launcher', 'mpi', '--local_rank', '3']).local_rank == 3
    assert 'LOCAL_RANK' not in os.environ


def _fake_cuda(monkeypatch, calls):
    """CUDA 'available'; set_device / init_process_group recorded instead of run."""
    import torch

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'set_device', lambda d: calls.append(('set_device', int(d))))
    monkeypatch.setattr(
        torch.distributed, 'init_process_group', lambda *a, **k: calls.append(('init_process_group', k))
    )
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: False)


def _clean_launcher_env(monkeypatch, **env):
    for key in list(os.environ):
        if key.startswith(('SLURM_', 'OMPI_')):
            monkeypatch.delenv(key)
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_cuda_mpi_exports_master_addr_for_mmengine(monkeypatch):
    """With CUDA, mmengine's mpi launcher runs: it needs MASTER_ADDR, which mpirun does not set."""
    from mmengine.config import Config
    from mmengine.dist.utils import _init_dist_mpi

    from ferlab.utils import init_cpu_distributed

    calls = []
    _fake_cuda(monkeypatch, calls)
    _clean_launcher_env(monkeypatch, OMPI_COMM_WORLD_RANK='1', OMPI_COMM_WORLD_SIZE='2',
                        OMPI_COMM_WORLD_LOCAL_RANK='1', RANK='0', WORLD_SIZE='1', LOCAL_RANK='0')  # fmt: skip
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert init_cpu_distributed(cfg, 'mpi') is False  # mmengine initialises the group
    assert os.environ['MASTER_ADDR'] == '127.0.0.1' and os.environ['MASTER_PORT'] == '29500'
    assert (os.environ['RANK'], os.environ['WORLD_SIZE'], os.environ['LOCAL_RANK']) == ('1', '2', '1')
    _init_dist_mpi('nccl')  # what the Runner's init_dist('mpi') runs next; it raised KeyError('MASTER_ADDR')
    assert calls == [('set_device', 1), ('init_process_group', dict(backend='nccl'))]


def test_cuda_torch_distributed_launch_uses_local_rank_argument(monkeypatch):
    """``torch.distributed.launch`` without --use-env passes --local_rank; mmengine reads LOCAL_RANK."""
    from mmengine.config import Config
    from mmengine.dist.utils import _init_dist_pytorch

    from ferlab.utils import init_cpu_distributed

    calls = []
    _fake_cuda(monkeypatch, calls)
    _clean_launcher_env(monkeypatch, RANK='3', WORLD_SIZE='4', MASTER_ADDR='127.0.0.1', MASTER_PORT='1234')
    assert init_cpu_distributed(Config(dict()), 'pytorch', local_rank=1) is False
    assert os.environ['LOCAL_RANK'] == '1'
    _init_dist_pytorch('nccl')  # what the Runner's init_dist('pytorch') runs next
    assert calls == [('set_device', 1), ('init_process_group', dict(backend='nccl'))]
