"""Global average pooling neck."""

from __future__ import annotations

import torch
import torch.nn as nn

from ferlab.registry import MODELS


@MODELS.register_module()
class GlobalAveragePooling(nn.Module):
    """Average every ``(B, C, H, W)`` map (or ``(B, N, C)`` token set) to ``(B, C)``.

    ``(B, C)`` inputs pass through unchanged.
    """

    def forward(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return tuple(self._pool(x) for x in inputs)

    @staticmethod
    def _pool(x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return x.mean(dim=(2, 3))
        if x.dim() == 3:
            return x.mean(dim=1)
        if x.dim() == 2:
            return x
        raise ValueError(f'GlobalAveragePooling expects 2-, 3- or 4-D inputs, got {tuple(x.shape)}')
