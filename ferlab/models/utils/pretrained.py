"""Loading pretrained weights from local files: one behaviour for ``pretrained=`` and ``init_cfg``.

Both entry points go through :func:`load_pretrained_file`:

* a backbone's ``pretrained='path.pth'`` argument (``ResNet``, ``IResNet``,
  ``TimmBackbone``, ``ViTBackbone``, ``MaskGenerator``), read in ``init_weights``;
* ``init_cfg=dict(type='Pretrained', checkpoint='path.pth', prefix=None)`` on any
  module, resolved to :class:`PretrainedInit` under ``default_scope='ferlab'``
  (every ferlab config, ``tools/*.py`` and ``register_all_modules``).

A missing file is a ``FileNotFoundError`` naming it; a file of which no tensor
fills a parameter of the module (wrong file, wrong layout, every shape
different, empty, or nothing under ``prefix``) is a ``RuntimeError`` naming the
file and the module. A partial match loads what matches and logs the counts.
"""

from __future__ import annotations

import os.path as osp

import torch.nn as nn
from mmengine.logging import MMLogger

from ferlab.registry import WEIGHT_INITIALIZERS
from ferlab.utils.checkpoint import load_state_dict_file
from ferlab.utils.errors import InputFileNotFoundError


def load_pretrained_file(
    module: nn.Module,
    path: str,
    what: str,
    how_to_get: str = 'see docs/get_started.md#pretrained-weights',
    prefix: str | None = None,
    strict: bool = False,
    key_map=None,
    map_location: str = 'cpu',
) -> tuple[list[str], list[str]]:
    """Load a local state dict file into ``module``.

    Args:
        module: Target module.
        path: Local ``.pth``/``.pt``/``.bin``/``.safetensors`` file.
        what: Human description used in errors ("timm resnet18 weights").
        how_to_get: Where the user can obtain the file.
        prefix: Keep only keys that start with ``prefix`` (stripped).
        strict: Raise if keys are missing or unexpected.
        key_map: Optional callable ``state_dict -> state_dict`` (layout conversion).
        map_location: Device the tensors are read to.

    Returns:
        ``(missing_keys, unexpected_keys)``.

    Raises:
        FileNotFoundError: naming ``path`` and ``how_to_get``. ferlab never
            downloads weights.
        RuntimeError: no tensor of the file fills a parameter of ``module``
            (wrong file or layout, all shapes different, an empty file, nothing
            under ``prefix``), or ``strict`` and keys differ. The message names
            ``path`` and the module's class.
    """
    if not osp.isfile(path):
        raise InputFileNotFoundError(
            f'pretrained {what} not found at {path!r}. ferlab never downloads weights: put the '
            f'file there or change the path in your config ({how_to_get}); set '
            f'pretrained=None to train from scratch.'
        )
    name = type(module).__name__
    state = load_state_dict_file(path, map_location=map_location)
    n_all = len(state)
    if prefix:
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if n_all and not state:
            raise RuntimeError(
                f'pretrained {what} at {path!r}: no tensor under prefix {prefix!r} for {name} '
                f'(file keys e.g. {list(load_state_dict_file(path))[:3]})'
            )
    if not state:
        raise RuntimeError(f'pretrained {what} at {path!r} holds no tensors: nothing to load into {name}')
    if key_map is not None:
        state = key_map(state)
    own = module.state_dict()
    params = {k for k, _ in module.named_parameters()}
    n_file, file_keys = len(state), list(state)[:3]
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    for k in mismatched:
        state.pop(k)
    if params and not any(k in params for k in state):
        raise RuntimeError(
            f'pretrained {what} at {path!r}: none of its {n_file} tensors matches a parameter of '
            f'{name} (file keys e.g. {file_keys}, model keys e.g. {list(own)[:3]}'
            f'{", shape-mismatched " + str(mismatched[:3]) if mismatched else ""}); wrong file or layout?'
        )
    missing, unexpected = module.load_state_dict(state, strict=False)
    if strict and (missing or unexpected or mismatched):
        raise RuntimeError(
            f'{path} does not match {name}: missing {missing[:10]}, '
            f'unexpected {unexpected[:10]}, shape-mismatched {mismatched[:10]}'
        )
    logger = MMLogger.get_current_instance()
    logger.info(
        f'loaded {what} from {path}: {len(state)} tensors, {len(missing)} missing, '
        f'{len(unexpected)} unexpected, {len(mismatched)} shape-mismatched (skipped)'
    )
    return list(missing), list(unexpected)


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class PretrainedInit:
    """``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=None)`` through :func:`load_pretrained_file`.

    Replaces mmengine's ``PretrainedInit`` in the ``ferlab`` scope, which only
    warns when nothing matches; here the same file gives the same result as a
    backbone's ``pretrained=`` argument. mmengine's ``BaseModule.init_weights``
    still applies it after the other initialisers and the children's
    ``init_weights`` (it keys on the name ``'Pretrained'``).

    Args:
        checkpoint: Local weight file (a ``state_dict``, possibly nested under
            ``'state_dict'``/``'model'``; ``module.`` prefixes are stripped).
        prefix: Load only the keys under this sub-module name (``'backbone'`` or
            ``'backbone.'``), as mmengine's ``prefix``.
        map_location: Device the tensors are read to.
    """

    def __init__(self, checkpoint: str, prefix: str | None = None, map_location: str = 'cpu'):
        self.checkpoint = checkpoint
        self.prefix = prefix if prefix is None or prefix.endswith('.') else prefix + '.'
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        from mmengine.model.weight_init import update_init_info

        load_pretrained_file(
            module,
            self.checkpoint,
            what=f'init_cfg Pretrained weights for {type(module).__name__}',
            prefix=self.prefix,
            map_location=self.map_location,
        )
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=f'{type(self).__name__}: load from {self.checkpoint}')
