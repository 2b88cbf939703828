"""Squeeze-and-excitation gate on a pooled feature vector (POSTER++'s ``SE_block``)."""

from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ferlab.registry import MODELS


@MODELS.register_module()
class SEGate(BaseModule):
    """``x ⊙ sigmoid(fc2(ReLU(fc1(x))))`` on the last feature of the tuple.

    POSTER++ gates its CLS token with this before the classifier (public
    ``VIT.se_block``, ``linear1``/``linear2`` of size ``D × D``); the gated
    768-d vector is ARBEx's embedding ``e`` (Sec. 3.2). As in SENet
    (Hu et al., 2018, Eq. 3) but on a vector and, by default, without the
    bottleneck (``hidden_channels = D``, the public setting).

    Args:
        in_channels: ``D``.
        hidden_channels: Width of ``fc1`` (``None`` = ``D``).
        init_cfg: mmengine init config (default: trunc-normal(0.01), zero bias,
            the public ViT init).

    Shapes: tuple ending in ``(B, D)`` → ``((B, D),)``.
    """

    def __init__(self, in_channels: int = 768, hidden_channels: int | None = None, init_cfg=None):
        if init_cfg is None:
            init_cfg = dict(type='TruncNormal', layer='Linear', std=0.01, bias=0)
        super().__init__(init_cfg=init_cfg)
        hidden = hidden_channels or in_channels
        self.in_channels = in_channels
        self.fc1 = nn.Linear(in_channels, hidden)
        self.fc2 = nn.Linear(hidden, in_channels)

    def forward(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor]:
        x = inputs[-1]
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f'SEGate expects a (B, {self.in_channels}) feature, got {tuple(x.shape)}')
        return (x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x)))),)
