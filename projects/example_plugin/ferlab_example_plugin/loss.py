"""A focal loss registered into ferlab's MODELS (LOSSES is an alias)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ferlab.registry import LOSSES


@LOSSES.register_module()
class ExampleFocalLoss(nn.Module):
    """Multi-class focal loss ``-(1 - p_y)^γ log p_y`` (Lin et al., 2017).

    ``gamma=0`` equals cross-entropy.

    Args:
        gamma: Focusing parameter γ ≥ 0.
        loss_weight: Multiplier of the returned loss.

    Shapes:
        cls_score ``(B, C)`` logits; target ``(B,)`` class indices or ``(B, C)``
        soft targets (then ``Σ_c q_c (1 - p_c)^γ (-log p_c)``) → scalar mean.
    """

    def __init__(self, gamma: float = 2.0, loss_weight: float = 1.0):
        super().__init__()
        if gamma < 0:
            raise ValueError(f'ExampleFocalLoss gamma must be >= 0, got {gamma}')
        self.gamma = gamma
        self.loss_weight = loss_weight

    def forward(self, cls_score: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if cls_score.dim() != 2:
            raise ValueError(f'cls_score must be (B, C), got {tuple(cls_score.shape)}')
        log_p = F.log_softmax(cls_score, dim=-1)
        if target.dim() == 1:
            q = F.one_hot(target.long(), cls_score.shape[-1]).to(log_p.dtype)
        elif target.shape == cls_score.shape:
            q = target.to(log_p.dtype)
        else:
            raise ValueError(f'target must be (B,) or {tuple(cls_score.shape)}, got {tuple(target.shape)}')
        focal = (1 - log_p.exp()).pow(self.gamma)
        return self.loss_weight * -(q * focal * log_p).sum(-1).mean()
