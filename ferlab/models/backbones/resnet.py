"""ResNet in torchvision's parameter layout.

Parameter names match ``torchvision.models.resnet`` (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer1.0.downsample.0`` …), so public ResNet
checkpoints such as the MS-Celeb-1M ResNet-18 used by DAN load unchanged.
The ``fc`` layer is not part of the backbone; its keys are ignored.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ferlab.models.utils.pretrained import load_pretrained_file
from ferlab.registry import MODELS


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


@MODELS.register_module()
class ResNet(BaseModule):
    """ResNet-18/34/50/101/152 (He et al., 2016), torchvision layout.

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: Input channels.
        num_stages: Number of residual stages kept (1–4).
        out_indices: Stages whose outputs are returned (0-based).
        frozen_stages: Stages (and the stem) whose weights are frozen; -1 = none.
        pretrained: Local torchvision-layout state dict (``.pth`` or
            ``.safetensors``); ``fc.*`` keys are dropped. Missing file → error.
        zero_init_residual: Zero the last BN of every block.

    Shapes:
        ``(B, C, H, W)`` → tuple of ``(B, 64·e·2^i, H/2^(i+2), W/2^(i+2))``
        for each ``i`` in ``out_indices`` (``e`` = 1 for 18/34, 4 otherwise);
        ResNet-18 at 224 gives ``(B, 512, 7, 7)`` from stage 3.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int = 18,
        in_channels: int = 3,
        num_stages: int = 4,
        out_indices: Sequence[int] = (3,),
        frozen_stages: int = -1,
        pretrained: str | None = None,
        zero_init_residual: bool = False,
        init_cfg: dict | list | None = None,
    ):
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth} for ResNet; choose from {list(self.arch_settings)}')
        if not 1 <= num_stages <= 4:
            raise ValueError(f'num_stages must be 1..4, got {num_stages}')
        if any(i >= num_stages or i < 0 for i in out_indices):
            raise ValueError(f'out_indices {tuple(out_indices)} outside 0..{num_stages - 1}')
        if init_cfg is None and pretrained is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
                dict(type='Constant', val=1, layer=['BatchNorm2d']),
            ]
        super().__init__(init_cfg=init_cfg)
        block, layers = self.arch_settings[depth]
        self.depth = depth
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.zero_init_residual = zero_init_residual
        self.pretrained = pretrained
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.stage_names = []
        for i in range(num_stages):
            layer = self._make_layer(block, 64 * 2**i, layers[i], stride=1 if i == 0 else 2)
            name = f'layer{i + 1}'
            self.add_module(name, layer)
            self.stage_names.append(name)
        self.out_channels = [64 * 2**i * block.expansion for i in range(num_stages)]
        self._freeze_stages()

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def init_weights(self) -> None:
        super().init_weights()
        if self.pretrained is not None:
            load_pretrained_file(
                self,
                self.pretrained,
                what=f'ResNet-{self.depth} weights (torchvision layout)',
                key_map=lambda sd: {k: v for k, v in sd.items() if not k.startswith('fc.')},
            )
        elif self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.conv1, self.bn1] + [getattr(self, n) for n in self.stage_names[: self.frozen_stages]]
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'ResNet':
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(inputs))))
        outs = []
        for i, name in enumerate(self.stage_names):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
