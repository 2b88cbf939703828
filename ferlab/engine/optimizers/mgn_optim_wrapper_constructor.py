"""One optimiser wrapper per named sub-module, for models that step them in their own ``train_step``."""

from __future__ import annotations

import torch
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict

from ferlab.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MGNOptimWrapperConstructor:
    """Build one optimiser wrapper per named sub-module (MGN's generator and discriminator).

    Config::

        optim_wrapper = dict(
            constructor='MGNOptimWrapperConstructor',
            generator=dict(optimizer=dict(type='AdamW', lr=9e-5)),
            discriminator=dict(optimizer=dict(type='AdamW', lr=9e-5)))

    Every key except ``constructor`` names an attribute of the model and holds
    an ordinary optim-wrapper config (built with mmengine's
    ``DefaultOptimWrapperConstructor``, so ``paramwise_cfg`` works). Parameter
    schedulers then need ``dict(generator=[...], discriminator=[...])``.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None):
        if not isinstance(optim_wrapper_cfg, dict) or not optim_wrapper_cfg:
            raise ValueError('MGNOptimWrapperConstructor needs a dict of {submodule: optim wrapper config}')
        if paramwise_cfg is not None:
            raise ValueError('put paramwise_cfg inside each sub-module optim wrapper config')
        self.cfgs = {k: dict(v) for k, v in optim_wrapper_cfg.items()}

    def __call__(self, model) -> OptimWrapperDict:
        module = model.module if is_model_wrapper(model) else model
        wrappers = {}
        for name, cfg in self.cfgs.items():
            sub = getattr(module, name, None)
            if not isinstance(sub, torch.nn.Module):
                raise AttributeError(f'{type(module).__name__} has no sub-module {name!r} to optimise')
            paramwise = cfg.pop('paramwise_cfg', None)
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, paramwise)(sub)
        return OptimWrapperDict(**wrappers)
