"""Process set-up used by the tools: registries, default scope, CPU distributed."""

from __future__ import annotations

import datetime
import os

import torch
from mmengine.registry import DefaultScope


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


def init_cpu_distributed(cfg) -> bool:
    """Initialise a gloo process group for ``--launcher pytorch`` without CUDA.

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device`` and DDP
    gets ``device_ids=[LOCAL_RANK]``, both of which fail on CPU. When CUDA is
    absent we create the process group ourselves (the Runner then skips its
    own initialisation) and wrap the model with ``device_ids=None``. A
    ``timeout`` in ``env_cfg.dist_cfg`` (seconds) is honoured; a user
    ``model_wrapper_cfg`` is kept, only its ``device_ids`` is set to None.

    Args:
        cfg: The run's config (modified in place: ``model_wrapper_cfg`` and
            ``env_cfg.dist_cfg.backend``).

    Returns:
        True if this function initialised the group.

    Raises:
        RuntimeError: ``RANK`` / ``WORLD_SIZE`` are not set (not started by
            ``torchrun``).
    """
    if torch.cuda.is_available() or not torch.distributed.is_available():
        return False
    if torch.distributed.is_initialized():
        return False
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the environment variables {missing}: start with torchrun, '
            'e.g. bash tools/dist_train.sh CONFIG 2'
        )
    env_cfg = cfg.get('env_cfg') or {}
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    kwargs = {}
    if dist_cfg.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    torch.distributed.init_process_group(
        backend='gloo', rank=int(os.environ['RANK']), world_size=int(os.environ['WORLD_SIZE']), **kwargs
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
