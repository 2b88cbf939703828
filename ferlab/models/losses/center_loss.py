"""Center loss (Wen et al., ECCV 2016), the Table 1 comparison of DAN."""

from __future__ import annotations

import torch
import torch.nn as nn

from ferlab.registry import MODELS

from .affinity_loss import _check_labels, _pooled


@MODELS.register_module()
class CenterLoss(nn.Module):
    """Center loss: ``L_C = ½ Σ_i ||x_i − c_{y_i}||²₂`` (Eq. 2 of Wen et al. 2016).

    Differences from the original, on purpose: the centers are an
    ``nn.Parameter`` learned by the model's optimiser (as in the widely used
    re-implementations) instead of the separate moving-average update with
    rate α of Eq. 4 there, and the sum is averaged over the batch
    (``reduction='mean'``) so that the weight is batch-size independent. It
    differs from :class:`AffinityLoss` only by the missing division by the
    center variance σ_c², which is what DAN's Table 1 ablates.

    Args:
        num_classes: Number of classes ``C`` (= the dataset's).
        feat_dim: Feature dimension ``D``.
        loss_weight: λ of the center term.
        reduction: ``'mean'`` or ``'sum'`` over the batch.

    Shapes:
        feats: ``(B, D)`` or ``(B, D, H, W)`` (GAP first). labels: ``(B,)``.
        Returns a scalar.
    """

    def __init__(
        self, num_classes: int, feat_dim: int = 512, loss_weight: float = 1.0, reduction: str = 'mean'
    ):
        super().__init__()
        if num_classes < 1 or feat_dim < 1:
            raise ValueError(f'num_classes and feat_dim must be positive, got {num_classes}, {feat_dim}')
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.num_classes = num_classes
        self.feat_dim = feat_dim
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.centers = nn.Parameter(torch.randn(num_classes, feat_dim))

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = _pooled(feats)
        if x.size(1) != self.feat_dim:
            raise ValueError(
                f'CenterLoss was built for feat_dim={self.feat_dim}, got features {tuple(x.shape)}'
            )
        labels = _check_labels(labels.to(x.device), x.size(0), self.num_classes, 'CenterLoss')
        loss = 0.5 * (x - self.centers.to(x.dtype)[labels]).pow(2).sum()
        if self.reduction == 'mean':
            loss = loss / max(x.size(0), 1)
        return self.loss_weight * loss
