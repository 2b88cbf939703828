"""Sharpness-aware minimisation (SAM, Foret et al. 2021) as an mmengine optimizer wrapper."""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.structures import BaseDataElement

from ferlab.registry import OPTIM_WRAPPERS
from ferlab.utils.errors import FerlabInputError

from . import precision
from .mixed_precision import MixedPrecisionOptimWrapper


class SAMConfigError(FerlabInputError, ValueError):
    """``SAMOptimWrapper`` was configured or called in a way it cannot run."""


def _clone_samples(obj: Any) -> Any:
    """Copy the data elements in a forward call's arguments (tensors of the batch are shared).

    The first forward wrote its outputs (e.g. ``train_score``) into the
    batch's data samples; the replay works on clones so those stay the first
    pass's values.
    """
    if isinstance(obj, BaseDataElement):
        return obj.clone()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone_samples(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _clone_samples(v) for k, v in obj.items()}
    return obj


def _hi(t: torch.Tensor) -> torch.Tensor:
    """``t`` in at least fp32 (bf16/fp16 gradients are promoted; fp64 stays fp64)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


@contextlib.contextmanager
def _keep_bn_statistics(model: nn.Module):
    """Restore every BatchNorm's running statistics after the block (``bn_second_pass='keep'``)."""
    saved = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
            saved.append(
                (m, [b.detach().clone() for b in (m.running_mean, m.running_var, m.num_batches_tracked)])
            )
    try:
        yield
    finally:
        with torch.no_grad():
            for m, (mean, var, count) in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


@OPTIM_WRAPPERS.register_module()
class SAMOptimWrapper(MixedPrecisionOptimWrapper):
    """SAM around any base optimizer: two forward/backward passes per step.

    With the training loss :math:`L` and weights :math:`w`, one step is
    (Foret et al., ICLR 2021, Sec. 2, Eq. 2 with :math:`p = q = 2`, and Eq. 3)::

        g     = ∇L(w)                          # first pass (the logged loss)
        ε̂(w)  = ρ · g / ‖g‖₂                   # Eq. 2
        g_SAM = ∇L(w)|_(w + ε̂(w))              # Eq. 3, second pass
        w     ← base_optimizer_step(w, g_SAM)  # restored w, base update with g_SAM

    ``‖g‖₂`` is the norm over every parameter of the optimizer that has a
    gradient; ``ε̂`` is computed in (at least) fp32 and the original weights are restored
    by copy (bit-exact), as in the public implementation POSTER++ trains with
    (davda54/sam). ``adaptive=True`` is ASAM (Kwon et al., ICML 2021, Eq. 11
    with :math:`T_w = |w| + η`): ``ε̂ = ρ · T_w² g / ‖T_w g‖₂``; ``eta``
    defaults to the paper's 0.01 (davda54/sam's adaptive mode uses 0).

    **How the second pass runs with the stock Runner.** mmengine's
    ``BaseModel.train_step`` (and ``MMDistributedDataParallel.train_step``)
    call ``model(**data, mode='loss')`` inside ``optim_context(model)`` and
    hand only the summed loss to ``update_params``. This wrapper's
    ``optim_context`` records that forward call (a forward pre-hook on the
    model, removed on exit); ``update_params`` replays it at ``w + ε̂`` with
    the same preprocessed batch (data samples cloned), parses its losses with
    the model's ``parse_losses`` and back-propagates. Any model whose
    ``train_step`` follows mmengine's pattern therefore trains with SAM by
    config; a custom ``train_step`` can pass ``update_params(loss,
    closure=fn)`` instead (``fn()`` returns the loss at the current weights).
    Under distributed training both passes all-reduce their gradients.

    BatchNorm: the second forward runs in train mode and updates the running
    statistics again (the plain algorithm and the POSTER++ public code:
    ``bn_second_pass='update'``, default); ``'keep'`` restores them, so they
    follow the unperturbed weights only (davda54/sam's ``disable_running_stats``
    recommendation). Dropout and other random layers draw new numbers in the
    second pass.

    Mixed precision: ``dtype='bfloat16'`` (or ``'auto'``) autocasts both
    forward passes like :class:`MixedPrecisionOptimWrapper` (fp32 fallback on
    CPUs without bf16); the default ``'float32'`` trains in fp32. float16 (loss
    scaling) is refused.

    Config::

        optim_wrapper = dict(type='SAMOptimWrapper', rho=0.05,
                             optimizer=dict(type='Adam', lr=3.5e-5))

    Checkpoints hold the base optimizer's state (SAM keeps none between
    steps), so ``--resume`` continues exactly.

    Args:
        rho: Neighbourhood radius ρ (paper: 0.05 for most image tasks).
        adaptive: ASAM's scale-invariant neighbourhood.
        eta: ASAM's :math:`η` (only with ``adaptive=True``).
        bn_second_pass: ``'update'`` or ``'keep'`` (see above).
        dtype: Autocast dtype, as for :class:`MixedPrecisionOptimWrapper`;
            default ``'float32'`` (no autocast).
        **kwargs: ``optimizer`` (the base optimizer), ``clip_grad`` (applied
            to ``g_SAM`` before the base step), ``fp32_losses``. Gradient
            accumulation (``accumulative_counts > 1``) is not supported.

    Raises:
        SAMConfigError: ``rho <= 0``, ``eta < 0``, an unknown ``bn_second_pass``,
            ``accumulative_counts != 1`` or a float16 autocast dtype.
    """

    def __init__(
        self,
        rho: float = 0.05,
        adaptive: bool = False,
        eta: float = 0.01,
        bn_second_pass: str = 'update',
        dtype: str | torch.dtype | None = 'float32',
        **kwargs,
    ):
        if not rho > 0:
            raise SAMConfigError(f'SAMOptimWrapper rho must be > 0, got {rho!r}')
        if eta < 0:
            raise SAMConfigError(f'SAMOptimWrapper eta must be >= 0, got {eta!r}')
        if bn_second_pass not in ('update', 'keep'):
            raise SAMConfigError(
                f"SAMOptimWrapper bn_second_pass must be 'update' or 'keep', got {bn_second_pass!r}"
            )
        if kwargs.get('accumulative_counts', 1) != 1:
            raise SAMConfigError(
                'SAMOptimWrapper does not support gradient accumulation '
                f'(accumulative_counts={kwargs["accumulative_counts"]}); use a larger batch'
            )
        super().__init__(dtype=dtype, **kwargs)
        if self.cast_dtype == torch.float16:
            raise SAMConfigError(
                'SAMOptimWrapper supports fp32 and bfloat16 autocast, not float16 (its loss scaling would '
                "have to unscale two backward passes per step); use dtype='bfloat16' or 'float32'"
            )
        self.rho = float(rho)
        self.adaptive = adaptive
        self.eta = float(eta)
        self.bn_second_pass = bn_second_pass
        self._calls: list[tuple[tuple, dict]] | None = None
        self._model: nn.Module | None = None

    # ------------------------------------------------------------------ capturing the forward call
    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        """The parent's context, recording the forward calls of ``model`` for the second pass."""
        calls: list[tuple[tuple, dict]] = []

        def record(module, args, kwargs):
            calls.append((args, kwargs))

        handle = model.register_forward_pre_hook(record, with_kwargs=True)
        self._calls, self._model = calls, model
        try:
            with super().optim_context(model):
                yield
        finally:
            handle.remove()

    @contextlib.contextmanager
    def _forward_context(self):
        """Autocast (+ fp32 losses) of the first pass, for the replay."""
        with contextlib.ExitStack() as stack:
            if self.enabled:
                stack.enter_context(precision.autocast(self.device_type, self.cast_dtype))
                if self.fp32_losses:
                    stack.enter_context(precision.fp32_losses(self.device_type))
            yield

    def _replay_closure(self) -> Callable[[], torch.Tensor]:
        calls, model = self._calls, self._model
        self._calls = self._model = None
        if model is None or calls is None:
            raise SAMConfigError(
                'SAMOptimWrapper.update_params needs the forward call made inside optim_context(model) '
                "(mmengine's train_step pattern) or update_params(loss, closure=...); none was recorded"
            )
        if len(calls) != 1:
            raise SAMConfigError(
                f'SAMOptimWrapper replays the one forward call made inside optim_context; '
                f'{type(model).__name__} made {len(calls)}: pass update_params(loss, closure=...) instead'
            )
        args, kwargs = calls[0]
        parser = model.module if is_model_wrapper(model) else model

        def closure() -> torch.Tensor:
            with self._forward_context():
                losses = model(*_clone_samples(args), **_clone_samples(kwargs))
            loss, _ = parser.parse_losses(losses)
            return loss

        closure.model = model
        return closure

    # ------------------------------------------------------------------ the SAM step
    def _params_with_grad(self) -> list[nn.Parameter]:
        return [p for g in self.optimizer.param_groups for p in g['params'] if p.grad is not None]

    @torch.no_grad()
    def _perturb(self, params: list[nn.Parameter]) -> list[torch.Tensor]:
        """``w ← w + ε̂(w)`` for ``params`` (Eq. 2 / ASAM); returns the original weights."""
        originals = [p.detach().clone() for p in params]
        if self.adaptive:
            scales = [_hi(p.detach()).abs() + self.eta for p in params]
        else:
            scales = [None] * len(params)
        scaled = [_hi(p.grad) if s is None else s * _hi(p.grad) for p, s in zip(params, scales)]
        norm = (
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in scaled]))
            if scaled
            else None
        )
        if norm is None or not torch.isfinite(norm) or norm == 0:
            return originals  # no direction to ascend (zero or non-finite gradient): a plain base step
        factor = self.rho / norm
        for p, g, s in zip(params, scaled, scales):
            eps = factor * (g if s is None else s * g)
            p.add_(eps.to(p.dtype))
        return originals

    def update_params(  # type: ignore[override]
        self,
        loss: torch.Tensor,
        step_kwargs: dict | None = None,
        zero_kwargs: dict | None = None,
        closure: Callable[[], torch.Tensor] | None = None,
    ) -> None:
        """One SAM step from the first pass's ``loss``.

        Args:
            loss: The loss at ``w`` (scalar; logged by the caller).
            step_kwargs: Passed to the base optimizer's ``step``.
            zero_kwargs: Passed to ``zero_grad``.
            closure: Returns the loss at the current weights; default: replay
                the forward call recorded by :meth:`optim_context`.
        """
        step_kwargs = step_kwargs or {}
        zero_kwargs = zero_kwargs or {}
        if closure is None:
            closure = self._replay_closure()
        else:
            self._calls = self._model = None
        self.backward(loss)  # g = ∇L(w); counts the step for mmengine's bookkeeping
        params = self._params_with_grad()
        originals = self._perturb(params)
        self.zero_grad(**zero_kwargs)
        if self.bn_second_pass == 'keep':
            keep = _keep_bn_statistics(self._bn_owner(closure))
        else:
            keep = contextlib.nullcontext()
        with keep:  # restored after the backward: BatchNorm's backward checks the buffers' versions
            closure().backward()  # g_SAM = ∇L(w + ε̂)
        with torch.no_grad():
            for p, w in zip(params, originals):
                p.copy_(w)
        self.step(**step_kwargs)
        self.zero_grad(**zero_kwargs)

    @staticmethod
    def _bn_owner(closure) -> nn.Module:
        """The module whose BatchNorm statistics ``bn_second_pass='keep'`` restores (``closure.model``).

        The replay closure carries the recorded model; an explicit closure
        must carry it too (``fn.model = model``).
        """
        model = getattr(closure, 'model', None)
        if not isinstance(model, nn.Module):
            raise SAMConfigError(
                "SAMOptimWrapper(bn_second_pass='keep') with an explicit closure needs closure.model "
                '(the nn.Module whose BatchNorm statistics to keep)'
            )
        return model
