"""DAN's Attention Fusion Network (AFN) head (Wen et al., 2023, Eqs. 5–7)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample

from .cls_head import ClsHead

#: Defaults of the two auxiliary terms (copied before use); ``None`` disables a term.
DEFAULT_PARTITION_LOSS = dict(type='PartitionLoss')
DEFAULT_AFFINITY_LOSS = dict(type='AffinityLoss')


@MODELS.register_module()
class AttentionFusionHead(ClsHead):
    """Fuse the MAN heads, classify, and compute DAN's three losses.

    Forward (Eq. 5 and Sec. 3.3): head outputs ``(B, k, D)`` are scaled by a
    log-softmax across the head axis (skipped when ``k = 1``, as in the
    public code: it would make every value 0), summed over heads, mapped by
    ``Linear(D, C)`` and a ``BatchNorm1d(C)`` on the logits. The BN uses
    running statistics in eval mode, so predictions are batch-invariant.

    Loss (Eq. 7): ``L = L_cls + λ1·L_af + λ2·L_pt`` with the cross-entropy
    ``loss``, the partition loss (Eq. 6) on the log-softmaxed heads and the
    affinity loss (Eq. 2) on the GAP of the backbone map. Both auxiliary
    losses are built here from ``LOSSES`` configs, so their parameters (the
    affinity centers) belong to the model and are optimised and saved with
    it. ``affinity_loss`` / ``partition_loss`` = ``None`` disables a term
    (ablations); any loss with ``forward(feats, labels)`` (e.g.
    :class:`CenterLoss`) can replace the affinity loss.

    Args:
        num_classes: ``C``; also given to the affinity loss (which must not
            set a different value).
        in_channels: ``D``, the MAN head width.
        loss: Classification loss config.
        partition_loss: Config of the head-partition loss or ``None``.
        affinity_loss: Config of the feature-clustering loss or ``None``;
            ``num_classes`` and ``feat_dim`` default to this head's.
        fuse_log_softmax: Apply Eq. 5 (for ablations).

    Inputs: the neck's tuple ``(x (B, D', H, W), heads (B, k, D), maps (B, k, H, W))``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 512,
        loss: dict | None = None,
        partition_loss: dict | None = DEFAULT_PARTITION_LOSS,
        affinity_loss: dict | None = DEFAULT_AFFINITY_LOSS,
        fuse_log_softmax: bool = True,
        use_soft_labels: bool = True,
        init_cfg: dict | None = None,
    ):
        super().__init__(loss=loss, use_soft_labels=use_soft_labels, init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes={num_classes} must be positive')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.fuse_log_softmax = fuse_log_softmax
        self.fc = nn.Linear(in_channels, num_classes)
        self.bn = nn.BatchNorm1d(num_classes)
        self.partition_loss = MODELS.build(dict(partition_loss)) if partition_loss is not None else None
        if affinity_loss is not None:
            affinity_loss = dict(affinity_loss)
            given = affinity_loss.setdefault('num_classes', num_classes)
            if given != num_classes:
                raise ValueError(
                    f"affinity_loss.num_classes={given} differs from the head's num_classes={num_classes}; "
                    "it must equal the dataset's number of classes (leave it unset)"
                )
            affinity_loss.setdefault('feat_dim', in_channels)
            self.affinity_loss = MODELS.build(affinity_loss)
        else:
            self.affinity_loss = None

    @staticmethod
    def _unpack(feats) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        if isinstance(feats, torch.Tensor):
            feats = (feats,)
        if len(feats) == 3:
            return feats[0], feats[1], feats[2]
        if len(feats) == 1 and feats[0].dim() == 3:
            return None, feats[0], None
        raise ValueError(
            'AttentionFusionHead expects the MultiHeadCrossAttention tuple (x, heads (B, k, D), maps), '
            f'got {len(feats)} tensors of shapes {[tuple(f.shape) for f in feats]}'
        )

    def fuse(self, heads: torch.Tensor) -> torch.Tensor:
        """Eq. 5: log-softmax over the head axis when ``k > 1``; ``(B, k, D)`` → ``(B, k, D)``."""
        if heads.dim() != 3 or heads.size(2) != self.in_channels:
            raise ValueError(f'expected heads of shape (B, k, {self.in_channels}), got {tuple(heads.shape)}')
        if self.fuse_log_softmax and heads.size(1) > 1:
            heads = F.log_softmax(heads, dim=1)
        return heads

    def forward(self, feats) -> torch.Tensor:
        """Logits ``(B, C)``."""
        _, heads, _ = self._unpack(feats)
        return self.bn(self.fc(self.fuse(heads).sum(dim=1)))

    @staticmethod
    def get_attention_maps(feats) -> torch.Tensor:
        """The per-head spatial attention maps ``(B, k, H, W)`` of the MAN neck."""
        _, _, maps = AttentionFusionHead._unpack(feats)
        if maps is None:
            raise ValueError('these features carry no attention maps (use the MultiHeadCrossAttention neck)')
        return maps

    def _hard_labels(self, data_samples: list[FERDataSample], device) -> torch.Tensor:
        if all('gt_label' in s for s in data_samples):
            return torch.cat([s.gt_label for s in data_samples]).to(device)
        if all('gt_score' in s for s in data_samples):
            return torch.stack([s.gt_score for s in data_samples]).argmax(dim=1).to(device)
        raise ValueError('AttentionFusionHead needs gt_label (or gt_score) on every sample of the batch')

    def loss(self, feats, data_samples: list[FERDataSample]) -> dict:
        x, heads, _ = self._unpack(feats)
        fused = self.fuse(heads)
        logits = self.bn(self.fc(fused.sum(dim=1)))
        labels = self._hard_labels(data_samples, logits.device)
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f'labels must lie in 0..{self.num_classes - 1} (head num_classes={self.num_classes} must equal '
                f"the dataset's number of classes); got {labels.tolist()}"
            )
        target = self.get_targets(data_samples).to(logits.device)
        self.set_train_scores(logits, data_samples)
        losses = dict(loss_cls=self.loss_module(logits, target))
        if self.partition_loss is not None:
            losses['loss_pt'] = self.partition_loss(fused)
        if self.affinity_loss is not None:
            if x is None:
                raise ValueError(
                    'the affinity loss needs the backbone map: use the MultiHeadCrossAttention neck'
                )
            losses['loss_af'] = self.affinity_loss(x, labels)
        return losses
