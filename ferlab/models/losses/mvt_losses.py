"""MVT's generator losses (Li et al., ICASSP 2022, Eq. 2-4)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ferlab.registry import MODELS


@MODELS.register_module()
class ProbVarianceLoss(nn.Module):
    """``var(softmax(logits_gm))`` of Eq. 2 with the variance of Eq. 3.

    ``var(x) = sum_i (x_i - mean(x))^2 / (K - 1)`` over the ``K`` class
    probabilities of each sample, averaged over the batch. Minimising it pushes
    the discriminator towards a uniform prediction, i.e. the generated mask
    hides the expression-relevant patches.

    Args:
        ddof: Delta degrees of freedom; 1 gives the paper's ``K - 1``
            denominator (Eq. 3), 0 the population variance.
        loss_weight: Multiplier.

    Shapes: ``(B, K)`` logits → scalar.
    """

    def __init__(self, ddof: int = 1, loss_weight: float = 1.0):
        super().__init__()
        if ddof not in (0, 1):
            raise ValueError(f'ddof must be 0 or 1, got {ddof}')
        self.ddof = ddof
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.dim() != 2 or logits.shape[1] < 2:
            raise ValueError(f'expected (B, K>=2) logits, got {tuple(logits.shape)}')
        probs = F.softmax(logits.float(), dim=1)
        return self.loss_weight * probs.var(dim=1, correction=self.ddof).mean()


@MODELS.register_module()
class MaskAreaLoss(nn.Module):
    """``|M_avg - m|`` of Eq. 2 with ``M_avg = sum_i M_p_i / N`` (Eq. 4).

    ``M_avg`` is taken per image and the absolute deviation averaged over the
    batch, so every image's mask is pulled to area ``m`` (not only the batch mean).

    Args:
        ratio: Target mask area ``m`` in ``[0, 1]`` (paper: 0.15 RAF-DB /
            AffectNet, 0.20 FERPlus).
        loss_weight: Multiplier.

    Shapes: ``(B, N)`` mask values → scalar.
    """

    def __init__(self, ratio: float = 0.15, loss_weight: float = 1.0):
        super().__init__()
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f'mask ratio m must be in [0, 1], got {ratio}')
        self.ratio = ratio
        self.loss_weight = loss_weight

    def forward(self, mask_values: torch.Tensor) -> torch.Tensor:
        if mask_values.dim() != 2:
            raise ValueError(f'expected (B, N) patch mask values, got {tuple(mask_values.shape)}')
        return self.loss_weight * (mask_values.float().mean(dim=1) - self.ratio).abs().mean()
