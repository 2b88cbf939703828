"""Classification heads."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


@MODELS.register_module()
class ClsHead(BaseModule):
    """Base classification head: ``pre_logits`` → logits → loss / prediction.

    Subclasses override :meth:`pre_logits` and/or :meth:`forward`. The loss
    target is the samples' ``gt_score`` (soft labels) when every sample has
    one and ``use_soft_labels`` is on, else their ``gt_label``.

    :meth:`loss` also writes each sample's training probabilities, the
    softmax of the logits the loss was computed on, into the sample as
    ``train_score`` ``(C,)`` (detached; :meth:`set_train_scores`), so hooks
    such as ``RelabelHook`` use the training forward itself (same dropout
    mask, no second head call). A subclass that overrides :meth:`loss` calls
    :meth:`set_train_scores` with its classification logits.

    Args:
        loss: Loss config (default :class:`CrossEntropyLoss`).
        use_soft_labels: Train on ``gt_score`` when present.
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        loss: dict | None = None,
        use_soft_labels: bool = True,
        init_cfg: dict | None = None,
    ):
        super().__init__(init_cfg=init_cfg)
        self.loss_module = MODELS.build(loss or dict(type='CrossEntropyLoss'))
        self.use_soft_labels = use_soft_labels

    def pre_logits(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The last feature of the tuple, ``(B, D)``."""
        return feats[-1]

    def forward(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.pre_logits(feats)

    def get_targets(self, data_samples: list[FERDataSample]) -> torch.Tensor:
        """``(B, C)`` soft targets or ``(B,)`` hard targets."""
        if self.use_soft_labels and all('gt_score' in s for s in data_samples):
            return torch.stack([s.gt_score for s in data_samples])
        missing = [i for i, s in enumerate(data_samples) if 'gt_label' not in s]
        if missing:
            raise ValueError(f'data samples {missing} of the batch carry no gt_label')
        return torch.cat([s.gt_label for s in data_samples])

    def loss(self, feats: tuple[torch.Tensor, ...], data_samples: list[FERDataSample]) -> dict:
        """``dict(loss_cls=scalar)``; also sets ``train_score`` ``(C,)`` on every sample."""
        cls_score = self(feats)
        target = self.get_targets(data_samples).to(cls_score.device)
        self.set_train_scores(cls_score, data_samples)
        return dict(loss_cls=self.loss_module(cls_score, target))

    @staticmethod
    def set_train_scores(cls_score: torch.Tensor, data_samples: list[FERDataSample]) -> None:
        """Write ``softmax(cls_score)`` of the training batch into the samples as ``train_score``.

        Args:
            cls_score: ``(B, C)`` logits of the loss forward.
            data_samples: The ``B`` samples of the batch; each gets a detached
                float ``(C,)`` ``train_score`` on the logits' device.
        """
        if cls_score.dim() != 2 or cls_score.size(0) != len(data_samples):
            raise ValueError(
                f'need (B, C) logits for the B = {len(data_samples)} samples, got {tuple(cls_score.shape)}'
            )
        scores = F.softmax(cls_score.detach().float(), dim=1)
        for sample, score in zip(data_samples, scores):
            sample.set_field(score, 'train_score', dtype=torch.Tensor)

    def predict(
        self,
        feats: tuple[torch.Tensor, ...],
        data_samples: list[FERDataSample] | None = None,
    ) -> list[FERDataSample]:
        cls_score = self(feats)
        return self.scores_to_samples(cls_score, data_samples)

    @staticmethod
    def scores_to_samples(
        cls_score: torch.Tensor, data_samples: list[FERDataSample] | None
    ) -> list[FERDataSample]:
        """Write softmax scores and argmax labels of ``(B, C)`` logits into samples."""
        pred_scores = F.softmax(cls_score.float(), dim=1).detach()
        pred_labels = pred_scores.argmax(dim=1, keepdim=True)
        if data_samples is None:
            data_samples = [FERDataSample() for _ in range(cls_score.size(0))]
        for sample, score, label in zip(data_samples, pred_scores, pred_labels):
            sample.set_pred_score(score).set_pred_label(label)
        return data_samples


@MODELS.register_module()
class LinearClsHead(ClsHead):
    """A single linear layer on pooled features.

    Args:
        num_classes: Number of classes ``C``.
        in_channels: Feature dimension ``D``.
        dropout: Dropout probability before the linear layer.

    Shapes: feats[-1] ``(B, D)`` → logits ``(B, C)``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        dropout: float = 0.0,
        init_cfg: dict | None = None,
        **kwargs,
    ):
        if init_cfg is None:
            init_cfg = dict(type='Normal', layer='Linear', std=0.01)
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be positive')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.fc(self.dropout(self.pre_logits(feats)))
