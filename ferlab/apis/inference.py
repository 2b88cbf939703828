"""High-level inference API: build a model from a config and run it on images."""

from __future__ import annotations

import os.path as osp
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.runner.checkpoint import _load_checkpoint

from ferlab.engine.optim_wrappers import autocast, resolve_amp_dtype
from ferlab.registry import MODELS, TRANSFORMS
from ferlab.structures import FERDataSample
from ferlab.utils import register_all_modules
from ferlab.utils.errors import InputFileNotFoundError

ImageLike = Union[str, np.ndarray]


def _criterion_keys(model: torch.nn.Module) -> set[str]:
    """State-dict keys of the model's training criteria (submodules whose class name ends in ``Loss``)."""
    keys = set()
    for name, module in model.named_modules():
        if name and type(module).__name__.endswith('Loss'):
            keys.update(f'{name}.{k}' for k in module.state_dict())
    return keys


def load_model_weights(model: torch.nn.Module, checkpoint: str, strict: bool = True) -> dict:
    """Load ``checkpoint`` (read by ferlab's safe loader) into ``model``.

    Args:
        model: The model built from the config.
        checkpoint: A local checkpoint written by ``tools/train.py`` (its
            ``state_dict``), or a bare state dict file.
        strict: Every parameter and buffer of the model must be in the file and
            every tensor of the file must belong to the model, except the
            state of training criteria (submodules whose class name ends in
            ``Loss``, e.g. DAN's affinity-loss class centres), which inference
            never uses. ``False``: load what matches and return the rest.

    Returns:
        The loaded checkpoint dict, with ``missing_keys`` and ``unexpected_keys``
        (lists) added.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
        RuntimeError: With ``strict``, the file does not hold this model's
            weights (the message names the file and the first keys).
    """
    if '://' not in str(checkpoint) and not osp.isfile(checkpoint):
        raise InputFileNotFoundError(f'checkpoint file {checkpoint} does not exist')
    ckpt = _load_checkpoint(str(checkpoint), map_location='cpu')
    if not isinstance(ckpt, dict):
        raise RuntimeError(f'{checkpoint} does not hold a state dict (got {type(ckpt).__name__})')
    state = ckpt.get('state_dict', ckpt)
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.') :]: v for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches; torch lists them on separate lines
        detail = '; '.join(line.strip() for line in str(err).splitlines()[1:] if line.strip()) or str(err)
        raise RuntimeError(f'{checkpoint} does not match the model of the config: {detail}') from None
    missing = [k for k in result.missing_keys if k not in _criterion_keys(model)]
    if strict and (missing or result.unexpected_keys):
        raise RuntimeError(
            f'{checkpoint} does not match the model of the config: {len(missing)} missing keys '
            f'{missing[:5]}, {len(result.unexpected_keys)} unexpected keys {result.unexpected_keys[:5]}'
        )
    ckpt = dict(ckpt, missing_keys=list(result.missing_keys), unexpected_keys=list(result.unexpected_keys))
    return ckpt


def init_model(
    config: str | Path | Config, checkpoint: str | None = None, device: str = 'cpu', strict: bool = True
) -> torch.nn.Module:
    """Build the model of ``config``, load ``checkpoint`` (safely), set eval mode.

    Args:
        config: Config file or :class:`mmengine.config.Config` (e.g. after
            ``--cfg-options``).
        checkpoint: Checkpoint written by ``tools/train.py``. ``None``: the
            model's own initialisation (``init_weights``, which loads the
            ``pretrained``/``init_cfg`` files the config names).
        device: Where the model goes.
        strict: See :func:`load_model_weights`: a checkpoint that does not
            hold every weight of the model is an error.

    Returns:
        The model in eval mode, with the config as ``model.cfg`` (its test
        pipeline is what :func:`inference_model` applies) and, when the
        checkpoint records them, the training set's class names in
        ``model.dataset_meta``.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist (checked before the
            model is built).
        RuntimeError: The checkpoint does not match the config's model.
    """
    register_all_modules()
    cfg = Config.fromfile(str(config)) if isinstance(config, (str, Path)) else config
    if checkpoint is not None and '://' not in str(checkpoint) and not osp.isfile(checkpoint):
        raise InputFileNotFoundError(f'checkpoint file {checkpoint} does not exist')
    model = MODELS.build(cfg.model)
    if checkpoint is None:
        model.init_weights()
    else:
        ckpt = load_model_weights(model, checkpoint, strict=strict)
        meta = (ckpt.get('meta') or {}).get('dataset_meta')
        if meta:
            model.dataset_meta = meta
    model.cfg = cfg
    return model.to(device).eval()


@torch.no_grad()
def inference_model(
    model: torch.nn.Module, images: ImageLike | Sequence[ImageLike], amp: bool = False
) -> list[FERDataSample]:
    """Predict expressions with the config's test pipeline.

    Args:
        model: A model from :func:`init_model`.
        images: An image path or BGR ``uint8`` array ``(H, W, 3)``, or a list of them.
        amp: Autocast the forward pass, as ``tools/test.py --amp``: bf16 on CPUs
            with ``avx512_bf16``/``amx_bf16`` (fp32 on other CPUs, said once),
            bf16 or fp16 on CUDA. The scores are a softmax of the logits cast
            to fp32 either way.

    Returns:
        One :class:`FERDataSample` per image (a list also for one image), with
        ``pred_score`` ``(C,)`` (softmax) and ``pred_label`` ``(1,)``.
    """
    images = [images] if isinstance(images, (str, np.ndarray)) else list(images)
    from ferlab.inference.backends import config_test_pipeline  # the innermost wrapped test dataset's

    pipeline = Compose([TRANSFORMS.build(t) for t in config_test_pipeline(model.cfg)])
    batch = []
    for img in images:
        info = dict(img_path=img) if isinstance(img, str) else dict(img=img, img_path='<array>')
        batch.append(pipeline(info))
    device = model.data_preprocessor.device
    with autocast(device, resolve_amp_dtype(device) if amp else None):
        return model.test_step(pseudo_collate(batch))
