"""A small plain CNN backbone registered into ferlab's MODELS."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ferlab.registry import MODELS


@MODELS.register_module()
class ExampleConvNet(BaseModule):
    """Stacked ``conv3x3 → BN → ReLU`` stages, each halving the resolution.

    Args:
        in_channels: Input channels.
        widths: Output channels of each stage.
        out_indices: Stages whose maps are returned (0-based).
        init_cfg: mmengine init config.

    Shapes:
        ``(B, in_channels, H, W)`` → tuple of ``(B, widths[i], H/2^(i+1), W/2^(i+1))``
        for ``i`` in ``out_indices``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: Sequence[int] = (16, 32),
        out_indices: Sequence[int] | None = None,
        init_cfg: dict | list | None = None,
    ):
        if init_cfg is None:
            init_cfg = dict(type='Kaiming', layer='Conv2d')
        super().__init__(init_cfg=init_cfg)
        if not widths:
            raise ValueError('ExampleConvNet needs at least one stage width')
        self.out_indices = tuple(out_indices) if out_indices is not None else (len(widths) - 1,)
        if any(not 0 <= i < len(widths) for i in self.out_indices):
            raise ValueError(f'out_indices {self.out_indices} outside 0..{len(widths) - 1}')
        stages = []
        prev = in_channels
        for width in widths:
            stages.append(
                nn.Sequential(
                    nn.Conv2d(prev, width, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                )
            )
            prev = width
        self.stages = nn.ModuleList(stages)
        self.out_channels = list(widths)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Feature maps of ``(B, C, H, W)`` images, one per ``out_indices`` entry."""
        outs = []
        x = inputs
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
