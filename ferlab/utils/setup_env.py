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
    own initialisation) and wrap the model with ``device_ids=None``.

    Returns:
        True if this function initialised the group.
    """
    if torch.cuda.is_available() or not torch.distributed.is_available():
        return False
    if torch.distributed.is_initialized():
        return False
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise RuntimeError('--launcher pytorch needs RANK/WORLD_SIZE: start with torchrun')
    torch.distributed.init_process_group(backend='gloo')
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)
    return True
