"""Ensemble of ferlab classifiers: weighted sum of softmax scores (CFC-SP, Xue et al. 2022, Fig. 3)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel, ModuleList

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample

COMBINE_MODES = ('softmax_sum', 'logit_mean')


def resize_inputs(inputs: torch.Tensor, size: int | Sequence[int] | None) -> torch.Tensor:
    """``(B, C, H, W)`` inputs resized to ``size`` (bilinear, antialiased when shrinking); ``None`` keeps them."""
    if size is None:
        return inputs
    hw = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    if tuple(inputs.shape[-2:]) == hw:
        return inputs
    shrink = hw[0] < inputs.shape[-2] or hw[1] < inputs.shape[-1]
    return F.interpolate(inputs, size=hw, mode='bilinear', align_corners=False, antialias=shrink)


def with_checkpoint(cfg: dict, checkpoint: str | None, what: str) -> dict:
    """``cfg`` with ``init_cfg=dict(type='Pretrained', checkpoint=checkpoint)`` (read by ``init_weights``)."""
    cfg = dict(cfg)
    if checkpoint is None:
        return cfg
    if cfg.get('init_cfg') is not None:
        raise ValueError(
            f'{what}: give its checkpoint either as init_cfg or in the checkpoint list, not both'
        )
    cfg['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint)
    return cfg


@MODELS.register_module()
class EnsembleClassifier(BaseModel):
    """N classifiers on the same input; their class scores are combined.

    ``combine='softmax_sum'`` (paper, Fig. 3: "the scores are summed up and
    generate the final result with the argmax function"):

        p(c) = Σ_m w_m softmax(z_m)(c) / Σ_m w_m

    The division by ``Σ w_m`` leaves the argmax unchanged and makes ``p`` a
    distribution, so smoothing, CSV output and a cascade see probabilities.
    ``combine='logit_mean'``: ``z = Σ_m w_m z_m / Σ_m w_m`` and ``p =
    softmax(z)`` (an option the paper does not use). Default weights are 1.

    Every member is a full ferlab classifier config (``FERClassifier`` or any
    model whose ``'tensor'`` mode gives ``(B, C)`` logits) with the same class
    order. Trained members load their weights through ``init_cfg`` (or the
    ``checkpoints`` list, which sets it): :meth:`init_weights` reads the
    files, the constructor never does, so a saved ensemble checkpoint holds
    ``members.<i>.*`` and tests on its own. Members see the batch normalised
    by this model's ``data_preprocessor`` (their own preprocessors are not
    used; give them the same mean/std they were trained with) and resized to
    ``input_sizes[m]`` (e.g. 224 for Swin-S, 112 for the CNNs, as the paper
    crops them); ``None`` keeps the batch size.

    Training (``'loss'`` mode) trains every member on the batch with its own
    loss; the losses are summed, keys prefixed ``m<i>.``. Members share no
    parameters, so this equals training them one by one on the same batches.

    Args:
        members: Classifier configs.
        checkpoints: Per-member checkpoint path or ``None`` (→ ``init_cfg``).
        weights: Per-member weights ``w_m > 0``; default all 1.
        combine: ``'softmax_sum'`` (paper) or ``'logit_mean'``.
        input_sizes: Per-member input size (int or ``(H, W)``) or ``None``.
        data_preprocessor: Defaults to ``FERDataPreprocessor``.
        init_cfg: mmengine init config of the whole ensemble.

    Shapes: inputs ``(B, 3, H, W)`` → per-member logits ``(M, B, C)`` → scores ``(B, C)``.
    """

    def __init__(
        self,
        members: Sequence[dict],
        checkpoints: Sequence[str | None] | None = None,
        weights: Sequence[float] | None = None,
        combine: str = 'softmax_sum',
        input_sizes: Sequence | None = None,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ):
        if data_preprocessor is None:
            data_preprocessor = dict(type='FERDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        members = list(members)
        n = len(members)
        if n == 0:
            raise ValueError('EnsembleClassifier needs at least one member config')
        if combine not in COMBINE_MODES:
            raise ValueError(f'EnsembleClassifier combine must be one of {COMBINE_MODES}, got {combine!r}')
        for name, value in (('checkpoints', checkpoints), ('weights', weights), ('input_sizes', input_sizes)):
            if value is not None and len(value) != n:
                raise ValueError(f'EnsembleClassifier: {name} has {len(value)} entries for {n} members')
        weights = [1.0] * n if weights is None else [float(w) for w in weights]
        if any(w <= 0 for w in weights):
            raise ValueError(f'EnsembleClassifier weights must be > 0, got {weights}')
        checkpoints = checkpoints or [None] * n
        # mmengine's ModuleList: BaseModule.init_weights recurses into it (torch's would be skipped)
        self.members = ModuleList(
            MODELS.build(with_checkpoint(m, c, f'ensemble member {i}'))
            for i, (m, c) in enumerate(zip(members, checkpoints))
        )
        self.register_buffer('weights', torch.tensor(weights, dtype=torch.float32), persistent=False)
        self.combine = combine
        self.input_sizes = list(input_sizes) if input_sizes is not None else [None] * n

    def member_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(M, B, C)`` logits of the members for ``(B, 3, H, W)`` inputs."""
        logits = [m(resize_inputs(inputs, s), mode='tensor') for m, s in zip(self.members, self.input_sizes)]
        if any(z.shape != logits[0].shape for z in logits[1:]):  # no set: traced sizes are unhashable
            raise ValueError(
                f'EnsembleClassifier members give logits of different shapes {[tuple(z.shape) for z in logits]}; '
                'every member needs the same classes'
            )
        return torch.stack(logits).float()

    def scores(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` combined class probabilities (see the class docstring)."""
        w = self.weights.view(-1, 1, 1)
        logits = self.member_logits(inputs)
        if self.combine == 'softmax_sum':
            return (w * logits.softmax(dim=-1)).sum(0) / w.sum()
        return ((w * logits).sum(0) / w.sum()).softmax(dim=-1)

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: list[FERDataSample] | None = None,
        mode: str = 'tensor',
    ):
        """``'tensor'``: ``(B, C)`` combined probabilities; ``'predict'``: samples; ``'loss'``: summed losses."""
        if mode == 'tensor':
            return self.scores(inputs)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; expected "tensor", "loss" or "predict"')

    def predict(
        self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None
    ) -> list[FERDataSample]:
        """Samples with ``pred_score`` ``(C,)`` (combined probabilities) and ``pred_label`` (their argmax)."""
        scores = self.scores(inputs).detach()
        if data_samples is None:
            data_samples = [FERDataSample() for _ in range(scores.size(0))]
        for sample, score in zip(data_samples, scores):
            sample.set_pred_score(score).set_pred_label(score.argmax().view(1))
        return data_samples

    def loss(self, inputs: torch.Tensor, data_samples: list[FERDataSample]) -> dict:
        """Each member's losses on the batch, keys ``m<i>.<key>``."""
        losses = {}
        for i, (m, s) in enumerate(zip(self.members, self.input_sizes)):
            out = m(resize_inputs(inputs, s), data_samples, mode='loss')
            losses.update({f'm{i}.{k}': v for k, v in out.items() if 'loss' in k})
        return losses
