"""DAN's Multi-head cross Attention Network (MAN) as a neck (Wen et al., 2023, Eqs. 3–4)."""

from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ferlab.registry import MODELS


class SpatialAttention(nn.Module):
    """Spatial attention unit of one cross-attention head (Eq. 3, Fig. 4 left).

    A 1×1 conv (+BN) reduces ``C → C/2``; three parallel branches 3×3, 1×3
    and 3×1 (+BN each) expand back to ``C``; their sum goes through one ReLU
    and is summed over channels into a single ``(B, 1, H, W)`` map ``H_i``
    (no sigmoid, as in the public code); the output is ``s_i = x' × H_i``.
    Sub-module names follow the public code (``conv1x1``, ``conv_3x3``,
    ``conv_1x3``, ``conv_3x1``) so its checkpoints map one to one.

    Shapes: ``(B, C, H, W)`` → ``s_i`` ``(B, C, H, W)`` and map ``(B, 1, H, W)``.
    """

    def __init__(self, in_channels: int = 512, mid_channels: int | None = None):
        super().__init__()
        mid = mid_channels or in_channels // 2
        self.conv1x1 = nn.Sequential(nn.Conv2d(in_channels, mid, 1), nn.BatchNorm2d(mid))
        self.conv_3x3 = nn.Sequential(nn.Conv2d(mid, in_channels, 3, padding=1), nn.BatchNorm2d(in_channels))
        self.conv_1x3 = nn.Sequential(
            nn.Conv2d(mid, in_channels, (1, 3), padding=(0, 1)), nn.BatchNorm2d(in_channels)
        )
        self.conv_3x1 = nn.Sequential(
            nn.Conv2d(mid, in_channels, (3, 1), padding=(1, 0)), nn.BatchNorm2d(in_channels)
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv1x1(x)
        y = self.relu(self.conv_3x3(y) + self.conv_1x3(y) + self.conv_3x1(y))
        attn = y.sum(dim=1, keepdim=True)
        return x * attn, attn


class ChannelAttention(nn.Module):
    """Channel attention unit (Eq. 4, Fig. 4 right): a mini auto-encoder on the GAP vector.

    ``g = GAP(s_i)``; ``a_i = g × σ(W2 ReLU(BN(W1 g)))`` with ``W1: C → r``,
    ``W2: r → C``. Names (``attention.0`` … ``attention.3``) follow the
    public code. The BatchNorm1d uses running statistics in eval mode, so a
    sample's output never depends on the rest of its batch at inference.

    Shapes: ``(B, C, H, W)`` → ``(B, C)``.
    """

    def __init__(self, in_channels: int = 512, hidden_channels: int = 32):
        super().__init__()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.attention = nn.Sequential(
            nn.Linear(in_channels, hidden_channels),
            nn.BatchNorm1d(hidden_channels),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, in_channels),
            nn.Sigmoid(),
        )

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        g = self.gap(s).flatten(1)
        return g * self.attention(g)


class CrossAttentionHead(nn.Module):
    """One cross-attention head: spatial unit then channel unit.

    Init as in the public code: Kaiming-normal (fan_out) convs with zero
    bias, BN to (1, 0), Linear weights N(0, 1e-3) with zero bias.
    """

    def __init__(self, in_channels: int = 512, mid_channels: int | None = None, hidden_channels: int = 32):
        super().__init__()
        self.sa = SpatialAttention(in_channels, mid_channels)
        self.ca = ChannelAttention(in_channels, hidden_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=1e-3)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, attn = self.sa(x)
        return self.ca(s), attn


@MODELS.register_module()
class MultiHeadCrossAttention(BaseModule):
    """MAN: ``k`` independent cross-attention heads on the last backbone map.

    Each head ``i`` applies a spatial attention unit (1×1 reduction, then
    1×3, 3×1 and 3×3 convs, Eq. 3) and a channel attention unit (two linear
    layers as a mini auto-encoder, Eq. 4) and outputs a ``C``-vector ``a_i``.
    The heads share nothing.

    Args:
        in_channels: Channels ``C`` of the backbone map (512 for ResNet-18).
        num_heads: ``k`` (paper default 4).
        mid_channels: Width of the spatial unit's bottleneck (default ``C/2``).
        hidden_channels: Width of the channel auto-encoder (public code: 32).
        init_cfg: mmengine init config; by default the heads keep the public
            code's initialisation (done at construction).

    Shapes:
        inputs: tuple whose last element is ``(B, C, H, W)``.
        returns a 3-tuple ``(x, heads, maps)``: the backbone map ``x``
        ``(B, C, H, W)`` passed through (for DAN's affinity loss on its GAP),
        the stacked head outputs ``(B, k, C)`` and the spatial attention maps
        ``(B, k, H, W)`` (for visualisation and head-overlap analysis).
    """

    def __init__(
        self,
        in_channels: int = 512,
        num_heads: int = 4,
        mid_channels: int | None = None,
        hidden_channels: int = 32,
        init_cfg: dict | None = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if num_heads < 1:
            raise ValueError(f'num_heads must be >= 1, got {num_heads}')
        if in_channels < 2:
            raise ValueError(f'in_channels must be >= 2, got {in_channels}')
        self.in_channels = in_channels
        self.num_heads = num_heads
        self.heads = nn.ModuleList(
            CrossAttentionHead(in_channels, mid_channels, hidden_channels) for _ in range(num_heads)
        )

    def forward(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if isinstance(inputs, torch.Tensor):
            inputs = (inputs,)
        x = inputs[-1]
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(
                f'MultiHeadCrossAttention expects a (B, {self.in_channels}, H, W) map as the last input, '
                f"got {tuple(x.shape)}; set in_channels to the backbone's output channels"
            )
        outs, maps = zip(*(head(x) for head in self.heads))
        return x, torch.stack(outs, dim=1), torch.cat(maps, dim=1)
