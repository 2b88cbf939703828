"""The default image classifier: backbone → (neck) → head."""

from __future__ import annotations

from collections import OrderedDict

import torch
from mmengine.model import BaseModel

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


class TrainStepOutputs(OrderedDict):
    """What :meth:`FERClassifier.train_step` returns: mmengine's ``log_vars`` plus the batch's samples.

    mmengine's train loop passes this object to every hook's ``after_train_iter`` as
    ``outputs``. Its keys are the scalar ``log_vars`` (``loss``, ``loss_cls`` …), which
    mmengine's ``RuntimeInfoHook`` logs one by one; the per-sample outputs of the loss
    forward are the attribute :attr:`data_samples`, not a key, so they are neither logged
    nor averaged.

    Attributes:
        data_samples: The ``B`` :class:`FERDataSample` of the training batch as the
            model saw them (after the data preprocessor), carrying ``sample_idx``, the
            served ``gt_label`` and the head's ``train_score`` ``(C,)``; ``None`` when
            the loss published none.
    """

    def __init__(self, log_vars=(), data_samples: list[FERDataSample] | None = None):
        super().__init__(log_vars)
        self.data_samples = data_samples


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
        * ``'loss'``: a dict of losses (keys containing ``'loss'`` are summed
          into the training loss, mmengine's rule) plus the entry
          ``'data_samples'``: the batch's samples, into which the head wrote
          its training probabilities ``train_score`` ``(C,)``.
        * ``'predict'``: a list of :class:`FERDataSample` with ``pred_score`` /
          ``pred_label``.

    ``train_step`` (and mmengine's distributed wrappers, which call
    :meth:`parse_losses`) returns a :class:`TrainStepOutputs`: the scalar
    ``log_vars`` as keys and the published samples as ``outputs.data_samples``,
    which hooks read in ``after_train_iter`` (e.g. ``RelabelHook``).
    """

    #: Key of the loss dict that carries the batch's data samples (not a loss).
    SAMPLES_KEY = 'data_samples'

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
        """The head's losses for ``(B, C, H, W)`` inputs, plus ``'data_samples'`` (see the class docstring)."""
        feats = self.extract_feat(inputs)
        losses = dict(self.head.loss(feats, data_samples))
        losses[self.SAMPLES_KEY] = data_samples
        return losses

    def parse_losses(self, losses: dict) -> tuple[torch.Tensor, TrainStepOutputs]:
        """mmengine's loss parsing on the loss entries; the samples go to ``outputs.data_samples``."""
        losses = dict(losses)
        samples = losses.pop(self.SAMPLES_KEY, None)
        loss, log_vars = super().parse_losses(losses)
        return loss, TrainStepOutputs(log_vars, data_samples=samples)

    def predict(
        self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None
    ) -> list[FERDataSample]:
        feats = self.extract_feat(inputs)
        return self.head.predict(feats, data_samples)
