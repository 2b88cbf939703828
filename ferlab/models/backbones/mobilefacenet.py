"""MobileFaceNet (Chen et al., 2018), the landmark network of POSTER++ and ARBEx.

Parameter names follow the MobileFaceNet of the public POSTER++ code
(``Talented-Q/POSTER_V2``, ``models/mobilefacenet.py``), so the public
``mobilefacenet_model_best.pth.tar`` (``{'state_dict': ...}``, a 68-landmark
regressor: 136 outputs) loads without conversion:

* ``conv1``: 3×3 conv 3→64 stride 2 + BN + PReLU (``conv1.{conv,bn,prelu}``).
* ``conv2_dw``: depth-wise 3×3 conv 64→64 + BN + PReLU.
* ``conv_23`` / ``conv_34`` / ``conv_45``: stride-2 inverted bottlenecks
  (``conv`` 1×1 expand + ``conv_dw`` 3×3 depth-wise + ``project`` 1×1 linear).
* ``conv_3`` / ``conv_4`` / ``conv_5``: 4 / 6 / 2 residual bottlenecks
  (``conv_k.model.i.{conv,conv_dw,project}``).
* ``conv_6_sep``: 1×1 conv 128→512 + BN + PReLU.
* ``output_layer`` (GDC): 7×7 depth-wise linear conv + Linear(512→E, no
  bias) + BN1d(E); E = 136 for 68 landmarks (``x0, y0, x1, y1, ...``).

Feature maps at a 112×112 input: ``conv1``/``conv2_dw`` 64×56², ``conv_23``
/``conv_3`` 64×28², ``conv_34``/``conv_4`` 128×14², ``conv_45``/``conv_5``
128×7², ``conv_6_sep`` 512×7², ``output_layer`` ``(B, E)``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseModule

from ferlab.models.utils.pretrained import load_pretrained_file
from ferlab.registry import MODELS


class ConvBlock(nn.Module):
    """Conv (no bias) + BN + PReLU; keys ``conv``, ``bn``, ``prelu``."""

    def __init__(
        self, in_c: int, out_c: int, kernel: int = 1, stride: int = 1, padding: int = 0, groups: int = 1
    ):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)
        self.prelu = nn.PReLU(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))


class LinearBlock(nn.Module):
    """Conv (no bias) + BN, no activation; keys ``conv``, ``bn``."""

    def __init__(
        self, in_c: int, out_c: int, kernel: int = 1, stride: int = 1, padding: int = 0, groups: int = 1
    ):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class DepthWise(nn.Module):
    """Inverted bottleneck: 1×1 expand to ``groups`` channels, 3×3 depth-wise, 1×1 linear project.

    Shapes: ``(B, in_c, H, W)`` → ``(B, out_c, ⌈H/stride⌉, ⌈W/stride⌉)``; with
    ``residual`` the input is added (needs ``in_c == out_c``, stride 1).
    """

    def __init__(self, in_c: int, out_c: int, groups: int, stride: int = 2, residual: bool = False):
        super().__init__()
        self.conv = ConvBlock(in_c, groups)
        self.conv_dw = ConvBlock(groups, groups, 3, stride, 1, groups=groups)
        self.project = LinearBlock(groups, out_c)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.conv_dw(self.conv(x)))
        return x + out if self.residual else out


class Residual(nn.Module):
    """``num_block`` residual :class:`DepthWise` units (keys ``model.i``)."""

    def __init__(self, channels: int, num_block: int, groups: int):
        super().__init__()
        self.model = nn.Sequential(
            *[DepthWise(channels, channels, groups, stride=1, residual=True) for _ in range(num_block)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class GDC(nn.Module):
    """Global depth-wise conv output layer: ``(B, 512, 7, 7)`` → ``(B, E)``."""

    def __init__(self, embedding_size: int):
        super().__init__()
        self.conv_6_dw = LinearBlock(512, 512, kernel=7, groups=512)
        self.linear = nn.Linear(512, embedding_size, bias=False)
        self.bn = nn.BatchNorm1d(embedding_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (7, 7):
            raise ValueError(
                f'MobileFaceNet output_layer needs 7x7 conv_6_sep maps (112x112 inputs), got {tuple(x.shape[-2:])}'
            )
        return self.bn(self.linear(self.conv_6_dw(x).flatten(1)))


def _landmark_key_map(state: dict) -> dict:
    """Accept a bare MobileFaceNet state dict or a ferlab model's (the ``backbone.`` keys, stripped)."""
    if any(k.startswith('backbone.') for k in state):
        return {k[len('backbone.') :]: v for k, v in state.items() if k.startswith('backbone.')}
    return state


@MODELS.register_module()
class MobileFaceNet(BaseModule):
    """MobileFaceNet with named taps (public POSTER++ key layout).

    Args:
        embedding_size: Outputs of the GDC ``output_layer`` (136 = 68
            landmarks, the POSTER++ landmark network; 512 for face
            recognition).
        out_indices: Layers whose outputs are returned, by name (see
            :attr:`layer_names`) or by index into it. Default: POSTER++'s taps
            ``('conv_3', 'conv_4', 'conv_6_sep')``. ``'output_layer'`` returns
            the ``(B, E)`` regression output.
        with_output_layer: Build the GDC ``output_layer`` (needed for the
            ``'output_layer'`` tap and to hold its weights; POSTER++ computes
            it and never uses it, ferlab's trunk does not build it).
        pretrained: Local file with MobileFaceNet weights, read in
            :meth:`init_weights`: the public ``{'state_dict': ...}`` layout
            (``module.`` prefix stripped) or a ferlab checkpoint whose model
            holds this network under ``backbone.`` (e.g. a landmark regressor).
        init_cfg: mmengine init config. Default: LeCun-normal convs and
            Linear (Kaiming fan-in, gain 1), unit BN. The public code uses
            Kaiming fan-out (ReLU gain), which with fresh (identity) BN
            statistics shrinks the features about 10x per depth-wise block
            (``conv_6_sep`` std 6e-6 for unit-variance inputs, measured);
            fan-in with ReLU gain makes the residual stages grow instead (std
            750). LeCun keeps every tap of a random, frozen landmark stream at
            std 0.17-0.65, so it is a real random-feature baseline.

    Shapes:
        ``(B, 3, H, W)`` → tuple of the requested maps; at 112×112 see the
        module docstring. Layers after the last requested tap are not run.
    """

    layer_names = (
        'conv1',
        'conv2_dw',
        'conv_23',
        'conv_3',
        'conv_34',
        'conv_4',
        'conv_45',
        'conv_5',
        'conv_6_sep',
        'output_layer',
    )
    #: Output channels of each layer (``output_layer``: ``embedding_size``).
    layer_channels = (64, 64, 64, 64, 128, 128, 128, 128, 512, None)

    def __init__(
        self,
        embedding_size: int = 136,
        out_indices: Sequence[int | str] = ('conv_3', 'conv_4', 'conv_6_sep'),
        with_output_layer: bool = True,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ):
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer=['Conv2d', 'Linear'], mode='fan_in', nonlinearity='linear'),
                dict(type='Constant', val=1, bias=0, layer=['BatchNorm2d']),
            ]
        super().__init__(init_cfg=init_cfg)
        idx = []
        for o in out_indices:
            if isinstance(o, str):
                if o not in self.layer_names:
                    raise ValueError(
                        f'MobileFaceNet out_indices: unknown layer {o!r}; choose from {self.layer_names}'
                    )
                idx.append(self.layer_names.index(o))
            elif isinstance(o, int) and -len(self.layer_names) <= o < len(self.layer_names):
                idx.append(o % len(self.layer_names))
            else:
                raise ValueError(
                    f'MobileFaceNet out_indices: {o!r} is neither a layer name nor an index 0..9'
                )
        if not idx:
            raise ValueError('MobileFaceNet needs at least one entry in out_indices')
        if len(self.layer_names) - 1 in idx and not with_output_layer:
            raise ValueError("MobileFaceNet out_indices asks for 'output_layer' but with_output_layer=False")
        self.out_indices = tuple(idx)
        self.embedding_size = embedding_size
        self.pretrained = pretrained
        self.out_channels = [
            embedding_size if i == len(self.layer_names) - 1 else self.layer_channels[i]
            for i in self.out_indices
        ]

        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.conv2_dw = ConvBlock(64, 64, 3, 1, 1, groups=64)
        self.conv_23 = DepthWise(64, 64, groups=128)
        self.conv_3 = Residual(64, num_block=4, groups=128)
        self.conv_34 = DepthWise(64, 128, groups=256)
        self.conv_4 = Residual(128, num_block=6, groups=256)
        self.conv_45 = DepthWise(128, 128, groups=512)
        self.conv_5 = Residual(128, num_block=2, groups=256)
        self.conv_6_sep = ConvBlock(128, 512)
        self.output_layer = GDC(embedding_size) if with_output_layer else None

    def init_weights(self) -> None:
        """Random init from ``init_cfg``, then the local ``pretrained`` file (if any)."""
        super().init_weights()
        if self.pretrained is None:
            return
        missing, _ = load_pretrained_file(
            self,
            self.pretrained,
            what='MobileFaceNet landmark weights',
            how_to_get='the public POSTER++ mobilefacenet_model_best.pth.tar, or a ferlab landmark '
            'checkpoint (docs/poster.md#landmark-pre-training)',
            key_map=_landmark_key_map,
        )
        if missing:
            MMLogger.get_current_instance().warning(
                f'MobileFaceNet: {len(missing)} parameters not in {self.pretrained} stay randomly '
                f'initialised, e.g. {missing[:5]}'
            )

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run the layers up to the last requested tap.

        Args:
            inputs: ``(B, 3, H, W)`` float images (112×112 for the output layer).

        Returns:
            Tuple of the requested outputs, in ``out_indices`` order.
        """
        if inputs.dim() != 4 or inputs.shape[1] != 3:
            raise ValueError(f'MobileFaceNet expects (B, 3, H, W) inputs, got {tuple(inputs.shape)}')
        feats = {}
        x = inputs
        for i in range(max(self.out_indices) + 1):
            x = getattr(self, self.layer_names[i])(x)
            feats[i] = x
        return tuple(feats[i] for i in self.out_indices)
