"""The default image classifier: backbone → (neck) → head."""

from __future__ import annotations

import torch
from mmengine.model import BaseModel

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


@MODELS.register_module()
class FERClassifier(BaseModel):
    """Backbone → optional neck → head, with mmengine's three forward modes.

    Args:
        backbone: Backbone config; returns a tuple of feature maps.
        neck: Optional neck config; maps the tuple to a tuple.
        head: Head config with ``loss(feats, data_samples)`` and
            ``predict(feats, data_samples)``.
        data_preprocessor: Defaults to :class:`FERDataPreprocessor`.
        init_cfg: mmengine init config (e.g. ``dict(type='Pretrained', checkpoint=...)``).
        train_cfg: Reserved for subclasses.

    ``forward(inputs, data_samples, mode)``:
        * ``'tensor'``: the head's raw output (logits ``(B, C)``) or, without a
          head, the features.
        * ``'loss'``: a dict of losses.
        * ``'predict'``: a list of :class:`FERDataSample` with ``pred_score`` /
          ``pred_label``.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict | None = None,
        head: dict | None = None,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
        train_cfg: dict | None = None,
    ):
        if data_preprocessor is None:
            data_preprocessor = dict(type='FERDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head) if head is not None else None
        self.train_cfg = train_cfg or {}

    @property
    def with_neck(self) -> bool:
        return self.neck is not None

    @property
    def with_head(self) -> bool:
        return self.head is not None

    def extract_feat(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Backbone (+ neck) features of a ``(B, C, H, W)`` batch."""
        feats = self.backbone(inputs)
        if not isinstance(feats, (tuple, list)):
            feats = (feats,)
        if self.with_neck:
            feats = self.neck(tuple(feats))
            if not isinstance(feats, (tuple, list)):
                feats = (feats,)
        return tuple(feats)

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: list[FERDataSample] | None = None,
        mode: str = 'tensor',
    ):
        if mode == 'tensor':
            feats = self.extract_feat(inputs)
            return self.head(feats) if self.with_head else feats
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; expected "tensor", "loss" or "predict"')

    def loss(self, inputs: torch.Tensor, data_samples: list[FERDataSample]) -> dict:
        feats = self.extract_feat(inputs)
        return self.head.loss(feats, data_samples)

    def predict(
        self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None
    ) -> list[FERDataSample]:
        feats = self.extract_feat(inputs)
        return self.head.predict(feats, data_samples)
