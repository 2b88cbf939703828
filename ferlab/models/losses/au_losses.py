"""Action-unit losses on partially labelled AU targets."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ferlab.registry import MODELS


@MODELS.register_module()
class MaskedBCEWithLogitsLoss(nn.Module):
    """Binary cross-entropy on AU logits, counted only where the AU is annotated.

    AU-ViT (Mao et al., Sec. III "Loss Function", Eq. 3) trains the AU branch
    with ``L_bce(sigmoid(z_au), y_au)`` on the AU-labelled images. Per entry
    ``b_ij = -[p_j y_ij log σ(z_ij) + (1 - y_ij) log(1 - σ(z_ij))]`` with
    ``p_j = 1`` in the paper (the default, ``pos_weight=None``); the public code
    passes a fixed 21-vector as ``pos_weight`` of ``torch.nn.BCEWithLogitsLoss``
    (the option). Each term is multiplied by a mask ``m_ij`` ∈ {0, 1}
    (1 = AU ``j`` of sample ``i`` is annotated), so a sample of a set without AU
    labels, or an AU a set does not
    annotate, contributes neither to the loss nor to its gradient:

    ``ℓ = Σ_ij m_ij b_ij / Σ_ij m_ij`` with ``b_ij`` the elementwise
    ``binary_cross_entropy_with_logits(z_ij, y_ij, pos_weight=p_j)``.

    With a full mask this equals ``BCEWithLogitsLoss(pos_weight=p)`` of torch
    (mean over all entries), the public code's loss. With an empty mask the loss
    is an exact 0 that still depends on the logits (zero gradient), so a batch
    without AU labels trains like a FER-only batch.

    Args:
        pos_weight: Optional ``(A,)`` positive weights ``p_j``.
        loss_weight: Multiplier of the returned loss (β of the joint loss).
        reduction: ``'mean'`` (over annotated entries), ``'sum'`` or ``'none'``
            (``(B, A)``, masked entries 0).

    Shapes:
        au_logits: ``(B, A)``. target: ``(B, A)`` in [0, 1]. mask: ``(B, A)``
        (bool or 0/1), default all ones.
    """

    def __init__(
        self,
        pos_weight: Sequence[float] | None = None,
        loss_weight: float = 1.0,
        reduction: str = 'mean',
    ):
        super().__init__()
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f'reduction must be mean, sum or none, got {reduction!r}')
        self.loss_weight = float(loss_weight)
        self.reduction = reduction
        if pos_weight is not None:
            pw = torch.as_tensor(pos_weight, dtype=torch.float32).reshape(-1)
            if (pw <= 0).any():
                raise ValueError(f'pos_weight entries must be positive, got {pw.tolist()}')
            self.register_buffer('pos_weight', pw)
        else:
            self.pos_weight = None

    def forward(
        self, au_logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if au_logits.shape != target.shape:
            raise ValueError(
                f'AU logits {tuple(au_logits.shape)} and targets {tuple(target.shape)} differ in shape'
            )
        if self.pos_weight is not None and self.pos_weight.numel() != au_logits.shape[-1]:
            raise ValueError(
                f'pos_weight has {self.pos_weight.numel()} entries for {au_logits.shape[-1]} AUs'
            )
        target = target.to(au_logits.dtype)
        mask = (
            torch.ones_like(au_logits)
            if mask is None
            else mask.to(device=au_logits.device, dtype=au_logits.dtype)
        )
        per = F.binary_cross_entropy_with_logits(
            au_logits, target, pos_weight=self.pos_weight, reduction='none'
        )
        # where() rather than a product: a masked entry with an inf/NaN term stays out of the gradient
        per = torch.where(mask > 0, per, torch.zeros_like(per))
        if self.reduction == 'none':
            return self.loss_weight * per
        total = per.sum()
        if self.reduction == 'mean':
            total = total / mask.sum().clamp(min=1.0)
        return self.loss_weight * total
