"""Facial landmark regression: any backbone + a 2L-d regression head (68 iBUG points: 136 outputs).

Used to pre-train POSTER++'s landmark stream (a MobileFaceNet that regresses 68 points, as the
public ``mobilefacenet_model_best.pth.tar``) on SynthFER or AffectNet landmarks; the checkpoint
keeps the backbone's keys under ``backbone.`` so
:class:`~ferlab.models.backbones.MobileFaceNet` reads it as landmark weights
(docs/poster.md#landmark-pre-training).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.model import BaseModel, BaseModule

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


@MODELS.register_module()
class LandmarkRegHead(BaseModule):
    """Linear regression of ``num_points`` ``(x, y)`` pairs from the last feature.

    Predictions are coordinates normalised by the input size, ``(x / W, y / H)`` (the layout of
    the public MobileFaceNet landmark regressor: ``x0, y0, x1, y1, ...``); the loss is computed in
    pixels of the network input (``pred * (W, H)`` against the pixel targets), the units Wing
    loss's ``w`` and ``eps`` are given in.

    Args:
        in_channels: Channels of the last feature (a ``(B, C)`` vector or a ``(B, C, H, W)`` map,
            globally averaged). ``None``: the last feature already is the ``(B, 2L)`` prediction
            (e.g. MobileFaceNet's ``output_layer``); the head has no parameters.
        num_points: ``L`` (68 for iBUG 300-W).
        loss: Loss config on ``(B, L, 2)`` pixel coordinates (:class:`WingLoss`,
            :class:`LandmarkL1Loss`).
        init_cfg: mmengine init config.
    """

    def __init__(self, in_channels: int | None = None, num_points: int = 68,
                 loss: dict | None = None, init_cfg: dict | None = None):  # fmt: skip
        super().__init__(init_cfg=init_cfg)
        self.num_points = int(num_points)
        self.in_channels = in_channels
        self.fc = nn.Linear(in_channels, 2 * self.num_points) if in_channels is not None else None
        self.loss_module = MODELS.build(loss or dict(type='WingLoss'))

    def forward(self, feats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``(B, 2L)`` normalised coordinates from the last of ``feats``."""
        x = feats[-1]
        if x.dim() == 4:
            x = x.mean(dim=(2, 3))
        if self.fc is not None:
            x = self.fc(x)
        if x.dim() != 2 or x.shape[1] != 2 * self.num_points:
            raise ValueError(
                f'LandmarkRegHead: expected a (B, {2 * self.num_points}) prediction, got {tuple(x.shape)}; '
                'set in_channels to add a linear layer'
            )
        return x

    @staticmethod
    def targets(data_samples: list[FERDataSample], num_points: int) -> torch.Tensor:
        """``(B, L, 2)`` pixel targets; one clear line for a sample without ``gt_landmarks``."""
        out = []
        for s in data_samples:
            lm = s.get('gt_landmarks')
            if lm is None:
                raise KeyError(
                    f'LandmarkRegressor: sample {s.metainfo.get("img_path", "?")} has no gt_landmarks '
                    "(the dataset must serve 'landmarks')"
                )
            if tuple(lm.shape) != (num_points, 2):
                raise ValueError(
                    f'LandmarkRegressor: sample {s.metainfo.get("img_path", "?")} has gt_landmarks of shape '
                    f'{tuple(lm.shape)}, expected ({num_points}, 2)'
                )
            out.append(lm)
        return torch.stack(out).float()


@MODELS.register_module()
class LandmarkRegressor(BaseModel):
    """Backbone -> optional neck -> :class:`LandmarkRegHead`.

    ``forward(inputs, data_samples, mode)``:
        * ``'tensor'``: ``(B, 2L)`` normalised coordinates ``(x / W, y / H)``.
        * ``'loss'``: ``dict(loss=...)`` (the head's loss in input pixels).
        * ``'predict'``: the samples with ``pred_landmarks`` ``(L, 2)`` in pixels of the input
          image (and ``gt_landmarks`` kept), which :class:`NME` evaluates.

    Each sample's prediction depends only on its own image in eval mode (BatchNorm uses its
    running statistics).

    Args:
        backbone: Backbone config.
        neck: Optional neck config.
        head: :class:`LandmarkRegHead` config.
        data_preprocessor: Defaults to :class:`FERDataPreprocessor`.
        init_cfg: mmengine init config.

    Shapes:
        inputs: ``(B, 3, H, W)``.
    """

    def __init__(self, backbone: dict, neck: dict | None = None, head: dict | None = None,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None):  # fmt: skip
        if data_preprocessor is None:
            data_preprocessor = dict(type='FERDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head or dict(type='LandmarkRegHead'))

    def extract_feat(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.backbone(inputs)
        if not isinstance(feats, (tuple, list)):
            feats = (feats,)
        if self.neck is not None:
            feats = self.neck(tuple(feats))
            if not isinstance(feats, (tuple, list)):
                feats = (feats,)
        return tuple(feats)

    def _pixels(self, pred: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, 2L)`` normalised -> ``(B, L, 2)`` pixel coordinates of the ``(B, C, H, W)`` inputs."""
        h, w = inputs.shape[-2:]
        return pred.reshape(pred.shape[0], -1, 2) * pred.new_tensor([float(w), float(h)])

    def forward(self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None,
                mode: str = 'tensor'):  # fmt: skip
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs))
        if mode == 'loss':
            pred = self._pixels(self.head(self.extract_feat(inputs)), inputs)
            target = LandmarkRegHead.targets(data_samples, self.head.num_points).to(pred.device)
            return dict(loss=self.head.loss_module(pred, target))
        if mode == 'predict':
            pred = self._pixels(self.head(self.extract_feat(inputs)), inputs).detach()
            samples = (
                data_samples if data_samples is not None else [FERDataSample() for _ in range(len(pred))]
            )
            for s, p in zip(samples, pred):
                s.set_field(p.cpu(), 'pred_landmarks', dtype=torch.Tensor)
            return samples
        raise RuntimeError(f'Invalid mode "{mode}"; expected "tensor", "loss" or "predict"')
