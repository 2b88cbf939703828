"""Loading pretrained weights from local files."""

from __future__ import annotations

import os.path as osp

import torch.nn as nn
from mmengine.logging import MMLogger

from ferlab.utils.checkpoint import load_state_dict_file


def load_pretrained_file(
    module: nn.Module,
    path: str,
    what: str,
    how_to_get: str = 'see docs/get_started.md#pretrained-weights',
    prefix: str | None = None,
    strict: bool = False,
    key_map=None,
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

    Returns:
        ``(missing_keys, unexpected_keys)``.

    Raises:
        FileNotFoundError: naming ``path`` and ``how_to_get``. ferlab never
            downloads weights.
        RuntimeError: no tensor of the file matches ``module`` (wrong file or
            layout), or ``strict`` and keys differ.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'pretrained {what} not found at {path!r}. ferlab never downloads weights: put the '
            f'file there or change the path in your config ({how_to_get}); set '
            f'pretrained=None to train from scratch.'
        )
    state = load_state_dict_file(path)
    if prefix:
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if key_map is not None:
        state = key_map(state)
    own = module.state_dict()
    n_file, file_keys = len(state), list(state)[:3]
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    for k in mismatched:
        state.pop(k)
    missing, unexpected = module.load_state_dict(state, strict=False)
    if own and n_file and len(unexpected) == len(state):
        raise RuntimeError(
            f'pretrained {what} at {path!r}: none of its {n_file} tensors matches '
            f'{type(module).__name__} (file keys e.g. {file_keys}, model keys e.g. '
            f'{list(own)[:3]}{", shape-mismatched " + str(mismatched[:3]) if mismatched else ""}); '
            'wrong file or layout?'
        )
    if strict and (missing or unexpected or mismatched):
        raise RuntimeError(
            f'{path} does not match {type(module).__name__}: missing {missing[:10]}, '
            f'unexpected {unexpected[:10]}, shape-mismatched {mismatched[:10]}'
        )
    logger = MMLogger.get_current_instance()
    logger.info(
        f'loaded {what} from {path}: {len(state)} tensors, {len(missing)} missing, '
        f'{len(unexpected)} unexpected, {len(mismatched)} shape-mismatched (skipped)'
    )
    return list(missing), list(unexpected)
