"""A two-layer MLP classification head registered into ferlab's MODELS."""

from __future__ import annotations

import torch
import torch.nn as nn

from ferlab.models.heads import ClsHead
from ferlab.registry import MODELS


@MODELS.register_module()
class ExampleMLPHead(ClsHead):
    """``Linear → ReLU → Linear`` on pooled features.

    Inherits :meth:`ClsHead.loss` / :meth:`ClsHead.predict`, so it only
    defines the layers and :meth:`forward`.

    Args:
        num_classes: Number of classes ``C``.
        in_channels: Feature dimension ``D``.
        hidden_channels: Hidden width.
        **kwargs: ``loss``, ``use_soft_labels``, ``init_cfg`` of :class:`ClsHead`.

    Shapes:
        feats[-1] ``(B, D)`` → logits ``(B, C)``.
    """

    def __init__(self, num_classes: int, in_channels: int, hidden_channels: int = 64, **kwargs):
        super().__init__(**kwargs)
        if num_classes <= 0 or in_channels <= 0 or hidden_channels <= 0:
            raise ValueError(
                f'ExampleMLPHead sizes must be positive, got num_classes={num_classes}, '
                f'in_channels={in_channels}, hidden_channels={hidden_channels}'
            )
        self.num_classes = num_classes
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden_channels),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, num_classes),
        )

    def forward(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = self.pre_logits(feats)
        if x.dim() != 2:
            raise ValueError(
                f'ExampleMLPHead expects pooled (B, D) features, got {tuple(x.shape)}; add a neck'
            )
        return self.mlp(x)
