"""Process set-up used by the tools: registries, default scope, CPU distributed."""

from __future__ import annotations

import datetime
import os

import torch
from mmengine.registry import DefaultScope

from .errors import FerlabInputError


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every ferlab module so its registrations run; set scope 'ferlab'."""
    import ferlab.datasets  # noqa: F401
    import ferlab.engine  # noqa: F401
    import ferlab.evaluation  # noqa: F401
    import ferlab.models  # noqa: F401
    import ferlab.visualization  # noqa: F401

    if init_default_scope:
        never_created = (
            DefaultScope.get_current_instance() is None or not DefaultScope.check_instance_created('ferlab')
        )
        if never_created:
            DefaultScope.get_instance('ferlab', scope_name='ferlab')
            return
        current = DefaultScope.get_current_instance()
        if current.scope_name != 'ferlab':
            new_name = f'ferlab-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_name, scope_name='ferlab')


class LauncherEnvError(FerlabInputError, RuntimeError):
    """The job was not started the way ``--launcher`` says (its variables are missing)."""


# torch.distributed's variables <- the scheduler's (srun, mpirun). torchrun sets torch's own.
_LAUNCHER_ENV = {
    'pytorch': dict(RANK='RANK', WORLD_SIZE='WORLD_SIZE'),
    'slurm': dict(RANK='SLURM_PROCID', WORLD_SIZE='SLURM_NTASKS', LOCAL_RANK='SLURM_LOCALID'),
    'mpi': dict(
        RANK='OMPI_COMM_WORLD_RANK',
        WORLD_SIZE='OMPI_COMM_WORLD_SIZE',
        LOCAL_RANK='OMPI_COMM_WORLD_LOCAL_RANK',
    ),
}
_LAUNCHER_HINT = {
    'pytorch': 'start with torchrun, e.g. bash tools/dist_train.sh CONFIG 2',
    'slurm': 'start with srun, e.g. srun -n 2 python tools/train.py CONFIG --launcher slurm',
    'mpi': 'start with mpirun (Open MPI), e.g. mpirun -n 2 python tools/train.py CONFIG --launcher mpi',
}


def _first_slurm_host(nodelist: str) -> str:
    """First host of a SLURM node list (``node[01-04]`` ...), via ``scontrol`` as slurm does."""
    import shutil
    import subprocess

    if shutil.which('scontrol') is None:
        raise LauncherEnvError(
            f'--launcher slurm: MASTER_ADDR is not set and `scontrol` is not on PATH to resolve '
            f'SLURM_NODELIST={nodelist!r}; export MASTER_ADDR=<first node of the allocation>'
        )
    out = subprocess.run(['scontrol', 'show', 'hostnames', nodelist], capture_output=True, text=True)
    hosts = out.stdout.split()
    if out.returncode != 0 or not hosts:
        raise LauncherEnvError(
            f'--launcher slurm: `scontrol show hostnames {nodelist}` failed ({out.stderr.strip()!r}); '
            'export MASTER_ADDR=<first node of the allocation>'
        )
    return hosts[0]


def launcher_env(launcher: str, environ: dict | None = None, local_rank: int | None = None) -> dict:
    """The torch.distributed environment for a job started by ``launcher``.

    Precedence, as in mmengine's launchers: for ``slurm`` (srun) ``RANK``,
    ``WORLD_SIZE`` and ``LOCAL_RANK`` come from ``SLURM_PROCID``/
    ``SLURM_NTASKS``/``SLURM_LOCALID``, for ``mpi`` (Open MPI's mpirun) from
    ``OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK}``; the scheduler's values win
    over ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` already in the environment
    (left over from an outer job or a login shell). ``pytorch`` (torchrun)
    sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` itself; without ``LOCAL_RANK``
    (``torch.distributed.launch`` without ``--use-env``) ``local_rank`` (its
    ``--local_rank`` argument) is used, else ``RANK``. ``MASTER_ADDR`` and
    ``MASTER_PORT`` from the environment win; otherwise ``MASTER_ADDR`` is the
    first host of ``SLURM_NODELIST`` (``scontrol show hostnames``) for slurm
    and 127.0.0.1 (single node) for mpi, ``MASTER_PORT`` 29500.

    Args:
        launcher: ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        environ: The environment to read (default ``os.environ``).
        local_rank: ``--local_rank`` of the command line (``pytorch`` only).

    Returns:
        dict with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` (strings).

    Raises:
        LauncherEnvError: a variable the launcher must set is missing (names it and how to start).
    """
    environ = os.environ if environ is None else environ
    if launcher not in _LAUNCHER_HINT:
        raise ValueError(f'unknown launcher {launcher!r}; expected one of {sorted(_LAUNCHER_HINT)}')
    names = _LAUNCHER_ENV[launcher]
    required = list(names.values())
    if launcher == 'pytorch':  # torchrun sets the rendezvous address itself
        required += ['MASTER_ADDR', 'MASTER_PORT']
    elif launcher == 'slurm' and 'MASTER_ADDR' not in environ:
        required.append('SLURM_NODELIST')
    missing = [k for k in required if k not in environ]
    if missing:
        raise LauncherEnvError(
            f'--launcher {launcher} needs the environment variables {missing}: {_LAUNCHER_HINT[launcher]}'
        )
    out = {dst: environ[src] for dst, src in names.items()}
    if launcher == 'pytorch':
        if 'LOCAL_RANK' in environ:
            out['LOCAL_RANK'] = environ['LOCAL_RANK']
        else:
            out['LOCAL_RANK'] = str(local_rank) if local_rank is not None else out['RANK']
    if 'MASTER_ADDR' in environ:
        out['MASTER_ADDR'] = environ['MASTER_ADDR']
    elif launcher == 'slurm':
        out['MASTER_ADDR'] = _first_slurm_host(environ['SLURM_NODELIST'])
    else:
        out['MASTER_ADDR'] = '127.0.0.1'
    out['MASTER_PORT'] = environ.get('MASTER_PORT', '29500')
    return out


def init_cpu_distributed(cfg, launcher: str = 'pytorch', local_rank: int | None = None) -> bool:
    """Initialise a gloo process group for ``--launcher pytorch|slurm|mpi`` without CUDA.

    mmengine 0.10.7's launchers call ``torch.cuda.set_device`` (the slurm one
    divides by the GPU count) and DDP gets ``device_ids=[LOCAL_RANK]``, all of
    which fail on CPU. When CUDA is absent we create the process group
    ourselves from :func:`launcher_env` (the Runner then skips its own
    initialisation) and wrap the model with ``device_ids=None``. A ``timeout``
    in ``env_cfg.dist_cfg`` (seconds) is honoured; a user ``model_wrapper_cfg``
    is kept, only its ``device_ids`` is set to None. With CUDA, mmengine's own
    launcher runs: the variables of :func:`launcher_env` are checked and
    exported first (mmengine's mpi launcher needs ``MASTER_ADDR``, its
    pytorch launcher ``LOCAL_RANK``).

    Args:
        cfg: The run's config (modified in place: ``model_wrapper_cfg`` and
            ``env_cfg.dist_cfg.backend``).
        launcher: ``'pytorch'`` (torchrun), ``'slurm'`` (srun) or ``'mpi'`` (mpirun).
        local_rank: ``--local_rank`` of the command line (see :func:`launcher_env`).

    Returns:
        True if this function initialised the group.

    Raises:
        LauncherEnvError: the launcher's variables are not set (e.g. not started by
            ``torchrun`` / ``srun``); the message names them.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return False
    if torch.cuda.is_available():
        # A clear error instead of a KeyError inside mmengine, and the scheduler's values in
        # os.environ (mmengine's mpi launcher reads MASTER_ADDR, its pytorch one LOCAL_RANK).
        os.environ.update(launcher_env(launcher, local_rank=local_rank))
        return False
    if not torch.distributed.is_available():
        return False
    env = launcher_env(launcher, local_rank=local_rank)
    os.environ.update(env)  # gloo's env:// rendezvous and mmengine's get_rank read these
    env_cfg = cfg.get('env_cfg') or {}
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    kwargs = {}
    if dist_cfg.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    torch.distributed.init_process_group(
        backend='gloo', rank=int(env['RANK']), world_size=int(env['WORLD_SIZE']), **kwargs
    )
    if cfg.get('env_cfg') is not None:
        cfg.env_cfg.setdefault('dist_cfg', {})
        cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)
    else:
        wrapper['device_ids'] = None
    return True
