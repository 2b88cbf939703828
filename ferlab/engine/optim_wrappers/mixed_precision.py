"""Mixed-precision training on any device (CPU bf16, CUDA bf16/fp16)."""

from __future__ import annotations

import contextlib
import logging

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from ferlab.registry import OPTIM_WRAPPERS

from . import precision


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(OptimWrapper):
    """An :class:`~mmengine.optim.OptimWrapper` whose ``optim_context`` autocasts the forward pass.

    mmengine's ``AmpOptimWrapper`` asserts a GPU; this one works on the device
    of the optimised parameters:

    * **CPU**: bfloat16 autocast where the CPU computes bf16 natively
      (``avx512_bf16`` / ``amx_bf16``); otherwise it logs once and trains in
      fp32, exactly like ``OptimWrapper``. No loss scaling: bf16 has fp32's
      exponent range.
    * **CUDA**: ``dtype='auto'`` is bfloat16 where the GPU supports it, else
      float16. Only float16 uses a ``torch.amp.GradScaler`` (``loss_scale``).

    Parameters and optimizer state stay fp32 (autocast casts weights per op);
    the backward runs outside the context, as in PyTorch's AMP recipe. With
    ``fp32_losses=True`` every loss module inside the context runs in fp32
    on fp32 inputs (see :func:`~ferlab.engine.optim_wrappers.precision.fp32_losses`),
    so the cross-entropy, partition, centre or variance losses see bf16
    logits/features only through one rounding.

    Config::

        optim_wrapper = dict(type='MixedPrecisionOptimWrapper',
                             optimizer=dict(type='AdamW', lr=1e-3))

    or ``tools/train.py CONFIG --amp`` on an ``OptimWrapper`` config (also
    each entry of MGN's dict of wrappers).

    Args:
        dtype: ``'auto'``, ``'bfloat16'``, ``'float16'`` or ``'float32'``
            (autocast off). float16 is replaced by bfloat16 on CPU.
        loss_scale: float16 only: ``'dynamic'``, an initial scale (float) or
            ``torch.amp.GradScaler`` keyword arguments (dict).
        fp32_losses: Run loss modules in fp32 inside the context.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).

    Attributes:
        device_type: Device type of the optimised parameters (``'cpu'``, ``'cuda'``…).
        cast_dtype: The autocast dtype, or ``None`` when training in fp32.
        loss_scaler: A ``GradScaler`` for float16, else ``None``.
    """

    def __init__(
        self,
        dtype: str | torch.dtype | None = 'auto',
        loss_scale: str | float | dict = 'dynamic',
        fp32_losses: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.device_type = self._param_device_type()
        self.cast_dtype = precision.resolve_amp_dtype(self.device_type, dtype)
        self.fp32_losses = fp32_losses
        self.loss_scaler = None
        self._scale_update_param = None
        if self.cast_dtype == torch.float16:
            if loss_scale == 'dynamic':
                self.loss_scaler = torch.amp.GradScaler(self.device_type)
            elif isinstance(loss_scale, (int, float)):
                self._scale_update_param = float(loss_scale)
                self.loss_scaler = torch.amp.GradScaler(self.device_type, init_scale=float(loss_scale))
            elif isinstance(loss_scale, dict):
                self.loss_scaler = torch.amp.GradScaler(self.device_type, **loss_scale)
            else:
                raise TypeError(f"loss_scale must be 'dynamic', a float or a dict, got {loss_scale!r}")
        name = 'fp32' if self.cast_dtype is None else str(self.cast_dtype).replace('torch.', '')
        precision.log_once(
            f'{type(self).__name__}_{self.device_type}_{name}',
            f'{type(self).__name__}: {self.device_type} autocast dtype {name}'
            + (', dynamic loss scaling' if self.loss_scaler is not None else ''),
            level=logging.INFO,
        )

    def _param_device_type(self) -> str:
        for group in self.optimizer.param_groups:
            for p in group['params']:
                return p.device.type
        return 'cpu'

    @property
    def enabled(self) -> bool:
        """Whether the forward pass is autocast (``False`` on the fp32 fallback)."""
        return self.cast_dtype is not None

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of ``OptimWrapper`` + autocast (+ fp32 losses)."""
        with super().optim_context(model), contextlib.ExitStack() as stack:
            if self.enabled:
                stack.enter_context(precision.autocast(self.device_type, self.cast_dtype))
                if self.fp32_losses:
                    stack.enter_context(precision.fp32_losses(self.device_type))
            yield

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        loss.backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        if self.loss_scaler is None:
            super().step(**kwargs)
            return
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update_param)

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.loss_scaler is not None:
            state['loss_scaler'] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Load the optimizer state (and the loss scaler's, when both sides use float16)."""
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if scaler_state is not None and self.loss_scaler is not None:
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state_dict)
