"""Cross-entropy for hard labels, soft labels and class weights (normalised as torch does)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ferlab.registry import MODELS


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """Softmax cross-entropy with class weights, label smoothing and soft targets.

    Per sample ``i`` with logits ``z_i`` ``(C,)``:
    ``ℓ_i = -Σ_c w_c q_ic log softmax(z_i)_c``, where for a hard label ``y_i``
    (optionally smoothed with ε, Szegedy et al. 2016, Sec. 7)
    ``q_i = (1-ε)·onehot(y_i) + ε/C`` and for soft targets ``q_i`` is the given
    distribution (e.g. FERPlus votes), smoothed the same way; ``w = 1`` without
    class weights.

    ``reduction='mean'`` divides ``Σ_i ℓ_i`` by the normaliser that
    :func:`torch.nn.functional.cross_entropy` uses, which is the oracle of the
    tests: ``Σ_i w_{y_i}`` for hard labels (``N`` without class weights,
    with or without smoothing) and ``N`` for probability targets. The two
    differ on purpose in torch: one-hot soft targets with class weights give
    ``Σ_i ℓ_i / N``, hard labels ``Σ_i ℓ_i / Σ_i w_{y_i}``. Per-sample
    ``weight`` ``s_i`` scales both sums: ``Σ_i s_i ℓ_i / Σ_i s_i n_i`` with
    ``n_i`` = ``w_{y_i}`` or 1.

    Args:
        loss_weight: Multiplier of the returned loss.
        label_smoothing: ε in [0, 1).
        class_weight: Optional per-class weights ``(C,)``.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.

    Shapes:
        cls_score: ``(B, C)`` logits. target: ``(B,)`` long or ``(B, C)`` float.
        weight: optional per-sample weights ``(B,)``.
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        label_smoothing: float = 0.0,
        class_weight: Sequence[float] | None = None,
        reduction: str = 'mean',
    ):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f'label_smoothing must be in [0, 1), got {label_smoothing}')
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f'reduction must be mean, sum or none, got {reduction!r}')
        self.loss_weight = loss_weight
        self.label_smoothing = label_smoothing
        self.reduction = reduction
        if class_weight is not None:
            self.register_buffer('class_weight', torch.tensor(class_weight, dtype=torch.float32))
        else:
            self.class_weight = None

    def forward(
        self,
        cls_score: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        avg_factor: float | None = None,
    ) -> torch.Tensor:
        num_classes = cls_score.shape[-1]
        hard = target.dim() == 1
        if hard:
            soft = F.one_hot(target.long(), num_classes).to(cls_score.dtype)
        else:
            soft = target.to(cls_score.dtype)
        if self.label_smoothing > 0:
            soft = soft * (1 - self.label_smoothing) + self.label_smoothing / num_classes
        log_prob = F.log_softmax(cls_score, dim=-1)
        if self.class_weight is not None:
            cw = self.class_weight.to(cls_score.dtype)
            per_sample = -(soft * cw * log_prob).sum(-1)
            # torch's normaliser: the weight of the hard label, 1 for probability targets
            norm = cw[target.long()] if hard else torch.ones_like(per_sample)
        else:
            per_sample = -(soft * log_prob).sum(-1)
            norm = torch.ones_like(per_sample)
        if weight is not None:
            per_sample = per_sample * weight
            norm = norm * weight
        if self.reduction == 'none':
            loss = per_sample
        elif self.reduction == 'sum':
            loss = per_sample.sum()
        else:
            denom = avg_factor if avg_factor is not None else norm.sum().clamp_min(1e-12)
            loss = per_sample.sum() / denom
        return self.loss_weight * loss
