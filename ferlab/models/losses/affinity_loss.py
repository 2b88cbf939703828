"""Affinity loss of DAN's Feature Clustering Network (Wen et al., 2023, Eq. 2)."""

from __future__ import annotations

import torch
import torch.nn as nn

from ferlab.registry import MODELS


def _pooled(feats: torch.Tensor) -> torch.Tensor:
    """``(B, D, H, W)`` → GAP ``(B, D)``; ``(B, D)`` passes through."""
    if feats.dim() == 4:
        return feats.mean(dim=(2, 3))
    if feats.dim() == 2:
        return feats
    raise ValueError(f'expected features of shape (B, D) or (B, D, H, W), got {tuple(feats.shape)}')


def _check_labels(labels: torch.Tensor, batch: int, num_classes: int, who: str) -> torch.Tensor:
    if labels.dim() != 1 or labels.numel() != batch:
        raise ValueError(f'{who}: labels must have shape ({batch},), got {tuple(labels.shape)}')
    labels = labels.long()
    if batch and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f'{who}: labels must lie in 0..{num_classes - 1} (num_classes={num_classes}, which must equal '
            f"the dataset's number of classes); got min {int(labels.min())}, max {int(labels.max())}"
        )
    return labels


@MODELS.register_module()
class AffinityLoss(nn.Module):
    """DAN's affinity loss: pull features to their class center, push centers apart.

    Eq. 2 of "Distract Your Attention" (Wen et al.)::

        L_af = Σ_i ||x'_i − c_{y_i}||²₂ / σ_c²

    with learnable class centers ``c ∈ R^{C×D}`` initialised from N(0, 1)
    (they are an ``nn.Parameter`` of this module, so when the loss is built
    inside a head they are part of the model, saved in its checkpoints and
    optimised with it), and ``σ_c² = Σ_d Var_c(c_{·,d})``, the total
    (unbiased) variance of the centers over the class axis: dividing by it
    rewards centers that spread apart.

    Normalisation. Eq. 2 writes a plain sum over the samples
    (``reduction='sum'``, the default, as printed in the paper); the public
    code (yaoing/DAN) divides the sum by the batch size
    (``reduction='mean'``). ferlab's DAN configs choose ``'mean'``
    explicitly: with the paper's λ1 = 1 a batch-size-proportional sum (×256
    on RAF-DB) would swamp the cross-entropy and make the loss scale depend
    on the batch size, and the published numbers come from the public code.

    ``num_classes`` must equal the dataset's number of classes (the public
    RAF-DB script creates 8 centers for 7 classes, a bug): labels outside
    ``0..num_classes-1`` raise.

    Args:
        num_classes: Number of classes ``C`` (= the dataset's).
        feat_dim: Feature dimension ``D``.
        loss_weight: λ1 of Eq. 7.
        reduction: ``'sum'`` (Eq. 2 as printed, default) or ``'mean'`` (public code).
        unbiased: Unbiased center variance (``torch.var`` default, as in the
            public code).

    Shapes:
        feats: ``(B, D)`` or a map ``(B, D, H, W)`` (global-average pooled
        first, as DAN does with the backbone map). labels: ``(B,)`` long.
        Returns a scalar.
    """

    def __init__(
        self,
        num_classes: int,
        feat_dim: int = 512,
        loss_weight: float = 1.0,
        reduction: str = 'sum',
        unbiased: bool = True,
    ):
        super().__init__()
        if num_classes < 2:
            raise ValueError(
                f'AffinityLoss needs num_classes >= 2 (σ_c is undefined otherwise), got {num_classes}'
            )
        if feat_dim < 1:
            raise ValueError(f'feat_dim must be positive, got {feat_dim}')
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.num_classes = num_classes
        self.feat_dim = feat_dim
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.unbiased = unbiased
        self.centers = nn.Parameter(torch.randn(num_classes, feat_dim))

    def center_variance(self) -> torch.Tensor:
        """``σ_c²``: the summed per-dimension variance of the centers (a scalar)."""
        return self.centers.var(dim=0, unbiased=self.unbiased).sum()

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = _pooled(feats)
        if x.size(1) != self.feat_dim:
            raise ValueError(
                f'AffinityLoss was built for feat_dim={self.feat_dim}, got features {tuple(x.shape)}'
            )
        labels = _check_labels(labels.to(x.device), x.size(0), self.num_classes, 'AffinityLoss')
        dist = (x - self.centers.to(x.dtype)[labels]).pow(2).sum(dim=1)
        loss = dist.sum() / self.center_variance().to(x.dtype)
        if self.reduction == 'mean':
            loss = loss / max(x.size(0), 1)
        return self.loss_weight * loss
