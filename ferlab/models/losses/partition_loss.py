"""Partition loss of DAN's Attention Fusion Network (Wen et al., 2023, Eq. 6)."""

from __future__ import annotations

import torch
import torch.nn as nn

from ferlab.registry import MODELS


@MODELS.register_module()
class PartitionLoss(nn.Module):
    """Push the k attention heads apart by rewarding their variance.

    ``mode='paper'`` (default), Eq. 6 of "Distract Your Attention"::

        L_pt = 1/(N·C) Σ_i Σ_j log(1 + k / σ_ij²)

    where ``σ_ij²`` is the variance over the ``k`` heads of channel ``j`` of
    sample ``i``: one log term per sample and channel.

    ``mode='public'``, the public implementation (yaoing/DAN)::

        L_pt = log(1 + k / mean_ij σ_ij²)

    a single log of the averaged variance. By Jensen's inequality the paper's
    form is ≥ the public one, and its gradient weights every (sample,
    channel) pair by ``1/(σ²(σ² + k))``, so channels that collapsed across
    heads dominate; the public form weights all pairs equally.

    Both use the unbiased variance (as ``torch.var`` in the public code) and
    return 0 when ``k = 1`` (no partition to enforce). ``eps`` guards the
    division when heads are exactly equal (the paper and code have none).

    Args:
        mode: ``'paper'`` or ``'public'``.
        loss_weight: λ2 of Eq. 7.
        eps: Added to the variance before dividing.
        unbiased: Unbiased variance over heads.

    Shapes:
        heads: ``(B, k, C)`` head outputs (DAN: after the log-softmax over
        the head axis). Returns a scalar.
    """

    def __init__(
        self, mode: str = 'paper', loss_weight: float = 1.0, eps: float = 1e-8, unbiased: bool = True
    ):
        super().__init__()
        if mode not in ('paper', 'public'):
            raise ValueError(f"PartitionLoss mode must be 'paper' or 'public', got {mode!r}")
        if eps < 0:
            raise ValueError(f'eps must be >= 0, got {eps}')
        self.mode = mode
        self.loss_weight = loss_weight
        self.eps = eps
        self.unbiased = unbiased

    def forward(self, heads: torch.Tensor) -> torch.Tensor:
        if heads.dim() != 3:
            raise ValueError(
                f'PartitionLoss expects head outputs of shape (B, k, C), got {tuple(heads.shape)}'
            )
        k = heads.size(1)
        if k <= 1:
            return heads.sum() * 0.0
        var = heads.var(dim=1, unbiased=self.unbiased)  # (B, C)
        if self.mode == 'paper':
            loss = torch.log1p(k / (var + self.eps)).mean()
        else:
            loss = torch.log1p(k / (var.mean() + self.eps))
        return self.loss_weight * loss
