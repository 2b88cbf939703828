"""IR-50/100/152: the "improved residual" ResNets of face recognition.

The parameter names follow face.evoLVe's ``Backbone(input_size, num_layers,
mode='ir')`` (also used unchanged by POSTER, POSTER++ and AU-ViT), so the
public ``ir50.pth`` (MS-Celeb-1M) loads without conversion:

* ``input_layer.{0,1,2}``: 3×3 conv 3→64 (stride 1, no bias), BN, PReLU.
* ``body.N``: every unit of every stage in one flat ``Sequential``. A unit has
  ``shortcut_layer`` (``MaxPool2d(1, stride)`` when the channel count does not
  change, else ``{0: 1×1 conv (stride), 1: BN}``) and ``res_layer`` =
  ``{0: BN(in), 1: 3×3 conv in→out, 2: PReLU(out), 3: 3×3 conv out→out (stride),
  4: BN(out)}``. The **first unit of every stage, stage 1 included, has stride
  2**. Units per stage: IR-50 ``(3, 4, 14, 3)``, IR-100 ``(3, 13, 30, 3)``,
  IR-152 ``(3, 8, 36, 3)``; channels 64, 128, 256, 512.
* ``output_layer``: BN2d(512), Dropout, Flatten, Linear(512·s·s → 512),
  BN1d(512) with ``s = input_size / 16`` (keys ``output_layer.{0,3,4}``).

POSTER++ (``Talented-Q/POSTER_V2``) re-saved the first three stages as
``body1``/``body2``/``body3``; that layout is mapped to ``body.N`` on load.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.model import BaseModule

from ferlab.models.utils.pretrained import load_pretrained_file
from ferlab.registry import MODELS

STAGE_CHANNELS = (64, 128, 256, 512)


class BottleneckIR(nn.Module):
    """One IR unit: ``res_layer(x) + shortcut_layer(x)``; no activation after the sum.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the second 3×3 conv and of the shortcut.

    Shapes:
        ``(B, in, H, W)`` → ``(B, out, ⌈H/stride⌉, ⌈W/stride⌉)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if in_channels == out_channels:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def poster_v2_key_map(units: Sequence[int]) -> Callable[[dict], dict]:
    """Map POSTER++'s ``body1.i``/``body2.i``/``body3.i`` keys to ``body.N``.

    Args:
        units: Units per stage of the target network.

    Returns:
        A ``state_dict -> state_dict`` callable; keys already in the
        face.evoLVe layout pass through unchanged.
    """
    offsets = [sum(units[:i]) for i in range(len(units))]

    def convert(state: dict) -> dict:
        out = {}
        for key, value in state.items():
            head, _, rest = key.partition('.')
            if head in ('body1', 'body2', 'body3', 'body4') and rest:
                idx, _, tail = rest.partition('.')
                stage = int(head[-1]) - 1
                key = f'body.{offsets[stage] + int(idx)}.{tail}'
            out[key] = value
        return out

    return convert


@MODELS.register_module()
class IResNet(BaseModule):
    """IR-18/34/50/100/152 (Deng et al., ArcFace; face.evoLVe layout).

    Args:
        depth: 18, 34, 50, 100 or 152 (units per stage in
            :attr:`arch_settings`).
        num_stages: Stages kept, 1–4 (POSTER++, ARBEx and AU-ViT use 3).
        out_indices: Stages whose feature maps are returned (0-based);
            ``None`` = the last kept stage.
        input_size: Spatial size the network was trained at (112 for the
            public ``ir50.pth``); sets the output layer's Linear size and is
            the target of ``resize_input``.
        resize_input: Resize every input to ``input_size`` first (bilinear;
            POSTER++ resizes its 224 inputs to 112 with nearest-neighbour).
        with_output_layer: Build face.evoLVe's ``output_layer`` (needs
            ``num_stages=4``) and append its 512-d embedding to the outputs.
        drop_ratio: Dropout probability inside the output layer.
        frozen_stages: Freeze the stem and the first ``frozen_stages`` stages
            (BN in eval mode, no gradients); -1 freezes nothing.
        pretrained: Local face.evoLVe-layout file (``.pth``/``.safetensors``;
            POSTER++'s ``body1..3`` layout is converted); keys of dropped
            stages are ignored. A missing file raises ``FileNotFoundError``.
        widths: Channels of the stages (default ``(64, 128, 256, 512)``, the
            published networks'; the stem has ``widths[0]``). Narrower widths
            are for CPU-scale experiments trained from scratch (pretrained
            files have the default widths).
        init_cfg: mmengine init config.

    Shapes:
        ``(B, 3, H, W)`` → tuple of ``(B, C_i, H/2^(i+1), W/2^(i+1))`` for each
        ``i`` in ``out_indices`` with ``C = (64, 128, 256, 512)``. At 112×112:
        stage 0 ``(B, 64, 56, 56)``, 1 ``(B, 128, 28, 28)``, 2
        ``(B, 256, 14, 14)``, 3 ``(B, 512, 7, 7)`` (the stem keeps 112×112;
        each stage's first unit halves the size). ``with_output_layer`` adds a
        last ``(B, 512)`` embedding.
    """

    # 18 and 34 are insightface's iresnet18/34 unit counts (no face.evoLVe
    # release): small image streams for CPU-scale experiments.
    arch_settings = {
        18: (2, 2, 2, 2),
        34: (3, 4, 6, 3),
        50: (3, 4, 14, 3),
        100: (3, 13, 30, 3),
        152: (3, 8, 36, 3),
    }

    def __init__(
        self,
        depth: int = 50,
        num_stages: int = 4,
        out_indices: Sequence[int] | None = None,
        input_size: int = 112,
        resize_input: bool = False,
        with_output_layer: bool = False,
        drop_ratio: float = 0.0,
        frozen_stages: int = -1,
        pretrained: str | None = None,
        widths: Sequence[int] | None = None,
        init_cfg: dict | list | None = None,
    ):
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth} for IResNet; choose from {list(self.arch_settings)}')
        if not 1 <= num_stages <= 4:
            raise ValueError(f'IResNet num_stages must be 1..4, got {num_stages}')
        out_indices = (num_stages - 1,) if out_indices is None else tuple(out_indices)
        if not out_indices and not with_output_layer:
            raise ValueError('IResNet needs at least one entry in out_indices (or with_output_layer=True)')
        if any(not 0 <= i < num_stages for i in out_indices):
            raise ValueError(f'IResNet out_indices {out_indices} outside 0..{num_stages - 1}')
        if with_output_layer and num_stages != 4:
            raise ValueError(f'with_output_layer=True needs num_stages=4, got {num_stages}')
        widths = tuple(int(w) for w in (STAGE_CHANNELS if widths is None else widths))
        if len(widths) < num_stages or min(widths[:num_stages]) < 1:
            raise ValueError(
                f'IResNet widths {widths} must give a positive width for each of {num_stages} stages'
            )
        if input_size % 16 != 0 or input_size <= 0:
            raise ValueError(f'IResNet input_size must be a positive multiple of 16, got {input_size}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in -1..{num_stages}, got {frozen_stages}')
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer=['Conv2d', 'Linear'], mode='fan_out', nonlinearity='relu'),
                dict(type='Constant', val=1, layer=['BatchNorm2d', 'BatchNorm1d']),
            ]
        super().__init__(init_cfg=init_cfg)
        self.depth = depth
        self.num_stages = num_stages
        self.out_indices = out_indices
        self.input_size = input_size
        self.resize_input = resize_input
        self.frozen_stages = frozen_stages
        self.pretrained = pretrained
        self.units = self.arch_settings[depth][:num_stages]

        self.widths = widths[:num_stages]
        self.input_layer = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.PReLU(widths[0]),
        )
        modules = []
        self.stage_ends = []  # index (exclusive) in ``body`` where each stage ends
        in_ch = widths[0]
        for n_units, out_ch in zip(self.units, self.widths):
            modules.append(BottleneckIR(in_ch, out_ch, 2))
            modules += [BottleneckIR(out_ch, out_ch, 1) for _ in range(n_units - 1)]
            in_ch = out_ch
            self.stage_ends.append(len(modules))
        self.body = nn.Sequential(*modules)
        self.out_channels = list(self.widths)
        if with_output_layer:
            side = input_size // 16
            self.output_layer = nn.Sequential(
                nn.BatchNorm2d(self.widths[-1]),
                nn.Dropout(drop_ratio),
                nn.Flatten(),
                nn.Linear(self.widths[-1] * side * side, 512),
                nn.BatchNorm1d(512),
            )
        else:
            self.output_layer = None
        self._freeze_stages()

    def init_weights(self) -> None:
        """Random init from ``init_cfg``, then the local pretrained file (if any)."""
        super().init_weights()
        if self.pretrained is None:
            return
        missing, _ = load_pretrained_file(
            self,
            self.pretrained,
            what=f'IR-{self.depth} weights (face.evoLVe layout)',
            how_to_get='e.g. the ir50.pth distributed with POSTER / face.evoLVe',
            key_map=poster_v2_key_map(self.arch_settings[self.depth]),
        )
        if missing:
            MMLogger.get_current_instance().warning(
                f'IResNet: {len(missing)} parameters not in {self.pretrained} stay randomly '
                f'initialised, e.g. {missing[:5]}'
            )

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        end = self.stage_ends[self.frozen_stages - 1] if self.frozen_stages > 0 else 0
        frozen = [self.input_layer] + list(self.body[:end])
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'IResNet':
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run the stem and the kept stages.

        Args:
            inputs: ``(B, 3, H, W)`` float images.

        Returns:
            Tuple of ``(B, C_i, H_i, W_i)`` maps for ``out_indices`` (+ a
            ``(B, 512)`` embedding with ``with_output_layer``).
        """
        if inputs.dim() != 4 or inputs.shape[1] != 3:
            raise ValueError(f'IResNet expects (B, 3, H, W) inputs, got {tuple(inputs.shape)}')
        if self.resize_input and inputs.shape[-2:] != (self.input_size, self.input_size):
            inputs = F.interpolate(
                inputs, size=(self.input_size, self.input_size), mode='bilinear', align_corners=False
            )
        x = self.input_layer(inputs)
        outs = []
        start = 0
        for i, end in enumerate(self.stage_ends):
            for unit in self.body[start:end]:
                x = unit(x)
            start = end
            if i in self.out_indices:
                outs.append(x)
        if self.output_layer is not None:
            side = self.input_size // 16
            if x.shape[-2:] != (side, side):
                raise ValueError(
                    f'IResNet output_layer was built for {self.input_size}px inputs ({side}x{side} maps) '
                    f'but got {tuple(x.shape[-2:])} maps; resize inputs or set resize_input=True'
                )
            outs.append(self.output_layer(x))
        return tuple(outs)
