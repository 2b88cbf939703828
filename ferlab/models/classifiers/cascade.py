"""Coarse-to-fine cascade of CFC-SP (Xue et al., CVPRW 2022, Sec. 3.2, Fig. 1)."""

from __future__ import annotations

import torch
from mmengine.model import BaseModel

from ferlab.datasets.categories import (
    AFFWILD2_CLASSES,
    AFFWILD2_TO_COARSE,
    AFFWILD2_TO_NEGATIVE,
    CFCSP_COARSE_CLASSES,
)
from ferlab.registry import MODELS
from ferlab.structures import FERDataSample

from .ensemble import resize_inputs, with_checkpoint

#: Index of 'Negative' among the coarse classes.
NEGATIVE_INDEX = CFCSP_COARSE_CLASSES.index('Negative')
#: Aff-Wild2 class of each coarse class (-1 for 'Negative') and of each negative class.
COARSE_TO_FINE = tuple(AFFWILD2_TO_COARSE.index(c) if c != NEGATIVE_INDEX else -1 for c in range(5))
NEGATIVE_TO_FINE = tuple(AFFWILD2_TO_NEGATIVE.index(j) for j in range(4))


def cascade_scores(coarse: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """8-class scores from coarse ``(N, 5)`` and negative ``(N, 4)`` probabilities.

    ``p(c) = p_coarse(c)`` for Neutral, Happiness, Surprise, Other and
    ``p(c) = p_coarse(Negative) · p_neg(c)`` for Anger, Disgust, Fear, Sadness;
    rows sum to 1 when the inputs do. Returns ``(N, 8)`` in the Aff-Wild2 order.
    """
    columns = [None] * len(AFFWILD2_CLASSES)
    for c, fine in enumerate(COARSE_TO_FINE):
        if fine >= 0:
            columns[fine] = coarse[:, c]
    for j, fine in enumerate(NEGATIVE_TO_FINE):
        columns[fine] = coarse[:, NEGATIVE_INDEX] * negative[:, j]
    return torch.stack(columns, dim=1)


def cascade_decision(scores: torch.Tensor) -> torch.Tensor:
    """The cascade rule applied to ``(N, 8)`` scores of :func:`cascade_scores` (or smoothed ones).

    The 8-class vector holds the coarse probabilities (the four negatives sum
    to ``p_coarse(Negative)``) and, scaled by that sum, the negative ones, so the
    rule can be applied to it directly: if the coarse argmax is 'Negative', the
    largest of the four negative entries; else the coarse class. Linear
    smoothing of the vector (SmoothPredicting, Eq. 1) smooths the coarse
    probabilities exactly; the cascade rule on the smoothed vector is "SP, then
    CFC". Returns ``(N,)`` long Aff-Wild2 labels.
    """
    coarse_fine = torch.tensor([f for f in COARSE_TO_FINE if f >= 0], device=scores.device)
    neg_fine = torch.tensor(NEGATIVE_TO_FINE, device=scores.device)
    coarse = torch.zeros(scores.shape[0], 5, dtype=scores.dtype, device=scores.device)
    coarse[:, [c for c, f in enumerate(COARSE_TO_FINE) if f >= 0]] = scores[:, coarse_fine]
    coarse[:, NEGATIVE_INDEX] = scores[:, neg_fine].sum(1)
    coarse_label = coarse.argmax(1)
    fine_of_coarse = torch.tensor([max(f, 0) for f in COARSE_TO_FINE], device=scores.device)[coarse_label]
    fine_of_negative = neg_fine[scores[:, neg_fine].argmax(1)]
    return torch.where(coarse_label == NEGATIVE_INDEX, fine_of_negative, fine_of_coarse)


def _probabilities(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``(B, C)`` class probabilities of a ferlab classifier: its ``'predict'`` ``pred_score``.

    For ``FERClassifier`` (softmax of its ``'tensor'`` logits, as its head predicts) and
    ``EnsembleClassifier`` (its ``'tensor'`` output) they are computed as tensors, which keeps
    the cascade traceable (ONNX export); other classifiers go through ``'predict'``.
    """
    from .ensemble import EnsembleClassifier
    from .fer_classifier import FERClassifier

    if type(model) is FERClassifier:
        return model(inputs, mode='tensor').float().softmax(dim=1)
    if isinstance(model, EnsembleClassifier):
        return model(inputs, mode='tensor')
    return torch.stack([s.pred_score for s in model(inputs, None, mode='predict')]).float()


@MODELS.register_module()
class CascadeClassifier(BaseModel):
    """Coarse net (5 classes) → negative net (4 classes) → Aff-Wild2's 8 classes.

    Sec. 3.2: "If the coarse net predicts the facial image into the negative
    class, the image will be fed into the negative net to predict the negative
    expression. Otherwise, the coarse label will be returned directly." The
    coarse classes are ``CFCSP_COARSE_CLASSES`` (Neutral, Happiness, Surprise,
    Other, Negative), the negative ones ``CFCSP_NEGATIVE_CLASSES`` (Anger,
    Disgust, Fear, Sadness); the maps live in :mod:`ferlab.datasets.categories`
    (label groups ``'affwild2_coarse'`` / ``'affwild2_negative'`` train the two
    nets on any dataset).

    Outputs per sample (``'predict'``):

    * ``pred_label``: the cascade rule above (:func:`cascade_decision`).
    * ``pred_score`` ``(8,)``: ``p(c) = p_coarse(c)`` for the four non-negative
      classes, ``p_coarse(Negative) · p_neg(c)`` for the four negative ones
      (:func:`cascade_scores`; a distribution), so macro-F1, CSV output and
      smoothing work on it.
    * ``coarse_score`` ``(5,)`` and ``negative_score`` ``(4,)``.

    How ``pred_label`` and ``pred_score`` relate: ``pred_label ==
    cascade_decision(pred_score)`` always. It equals ``argmax(pred_score)``
    when the coarse net predicts a non-negative class ``k`` (then ``p(k) =
    p_coarse(k) ≥ p_coarse(Negative) ≥ p_coarse(Negative)·p_neg(j)`` for every
    ``j``), and, when it predicts Negative, only if
    ``p_coarse(Negative) · max_j p_neg(j) ≥ max_{k ≠ Negative} p_coarse(k)``;
    otherwise the argmax of the vector is a non-negative class while the
    cascade answers a negative one (e.g. ``p_coarse = (0.3, 0, 0, 0, 0.7)``,
    ``p_neg = (0.4, 0.3, 0.2, 0.1)``: cascade says Anger, ``p(Anger) = 0.28 <
    p(Neutral) = 0.3``). Ties go to the lower index in both.

    The negative net runs on every sample (batched; its output is used only
    where the coarse net says Negative), so a sample's result never depends on
    the others in its batch.

    Both sub-models are full ferlab classifier configs (an
    :class:`~ferlab.models.classifiers.EnsembleClassifier` as the coarse net in
    the paper's best setting). Their trained weights load through ``init_cfg``
    (or ``coarse_checkpoint`` / ``negative_checkpoint``, which set it) when
    :meth:`init_weights` runs (``tools/train.py``, or
    ``tools/model_converters/assemble_cascade.py``, which writes a cascade
    checkpoint); the constructor reads no file, and a saved cascade
    checkpoint holds ``coarse.*`` and ``negative.*``, so it tests without the
    sub-checkpoints.

    Training (``'loss'``) trains both nets on the 8-class batch: the coarse net
    on all samples with their coarse labels, the negative net on the samples
    of the four negative classes (hard labels; a batch without any gives the
    negative net a zero loss that still reaches its parameters).

    Args:
        coarse: Classifier config with 5 classes.
        negative: Classifier config with 4 classes.
        coarse_checkpoint / negative_checkpoint: Optional checkpoint paths
            (→ the sub-model's ``init_cfg``).
        coarse_input_size / negative_input_size: Resize the batch for that
            sub-model (int or ``(H, W)``), ``None`` keeps it.
        data_preprocessor: Defaults to ``FERDataPreprocessor``.
        init_cfg: mmengine init config of the whole cascade.

    Shapes: inputs ``(B, 3, H, W)`` → coarse ``(B, 5)``, negative ``(B, 4)`` → scores ``(B, 8)``.
    """

    def __init__(
        self,
        coarse: dict,
        negative: dict,
        coarse_checkpoint: str | None = None,
        negative_checkpoint: str | None = None,
        coarse_input_size=None,
        negative_input_size=None,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ):
        if data_preprocessor is None:
            data_preprocessor = dict(type='FERDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.coarse = MODELS.build(with_checkpoint(coarse, coarse_checkpoint, 'coarse model'))
        self.negative = MODELS.build(with_checkpoint(negative, negative_checkpoint, 'negative model'))
        self.coarse_input_size, self.negative_input_size = coarse_input_size, negative_input_size
        self.register_buffer('coarse_map', torch.tensor(AFFWILD2_TO_COARSE), persistent=False)
        self.register_buffer('negative_map', torch.tensor(AFFWILD2_TO_NEGATIVE), persistent=False)

    def sub_scores(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Coarse ``(B, 5)`` and negative ``(B, 4)`` probabilities."""
        coarse = _probabilities(self.coarse, resize_inputs(inputs, self.coarse_input_size))
        negative = _probabilities(self.negative, resize_inputs(inputs, self.negative_input_size))
        if coarse.shape[1] != len(COARSE_TO_FINE) or negative.shape[1] != len(NEGATIVE_TO_FINE):
            raise ValueError(
                f'CascadeClassifier needs a 5-class coarse and a 4-class negative model, got '
                f'{coarse.shape[1]} and {negative.shape[1]} classes'
            )
        return coarse, negative

    def forward(
        self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None, mode: str = 'tensor'
    ):
        """``'tensor'``: ``(B, 8)`` scores; ``'predict'``: samples; ``'loss'``: both nets' losses."""
        if mode == 'tensor':
            return cascade_scores(*self.sub_scores(inputs))
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; expected "tensor", "loss" or "predict"')

    def predict(
        self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None
    ) -> list[FERDataSample]:
        coarse, negative = self.sub_scores(inputs)
        scores = cascade_scores(coarse, negative)
        labels = cascade_decision(scores)
        if data_samples is None:
            data_samples = [FERDataSample() for _ in range(scores.size(0))]
        for i, sample in enumerate(data_samples):
            sample.set_pred_score(scores[i]).set_pred_label(labels[i].view(1))
            sample.set_field(coarse[i], 'coarse_score', dtype=torch.Tensor)
            sample.set_field(negative[i], 'negative_score', dtype=torch.Tensor)
        return data_samples

    def loss(self, inputs: torch.Tensor, data_samples: list[FERDataSample]) -> dict:
        """``coarse.<key>`` on every sample, ``negative.<key>`` on the negative-class samples."""
        labels = torch.cat([s.gt_label for s in data_samples]).to(self.coarse_map.device)
        if labels.min() < 0 or labels.max() >= len(AFFWILD2_CLASSES):
            raise ValueError(f'CascadeClassifier trains on Aff-Wild2 labels 0..7, got {labels.tolist()}')
        coarse_samples = [FERDataSample().set_gt_label(int(c)) for c in self.coarse_map[labels]]
        out = self.coarse(resize_inputs(inputs, self.coarse_input_size), coarse_samples, mode='loss')
        losses = {f'coarse.{k}': v for k, v in out.items() if 'loss' in k}
        neg = self.negative_map[labels]
        keep = torch.nonzero(neg >= 0).flatten()
        if len(keep):
            neg_samples = [FERDataSample().set_gt_label(int(neg[i])) for i in keep]
            x = resize_inputs(inputs[keep], self.negative_input_size)
            out = self.negative(x, neg_samples, mode='loss')
            losses.update({f'negative.{k}': v for k, v in out.items() if 'loss' in k})
        else:  # no negative sample in the batch: a zero loss that keeps every parameter in the graph
            losses['negative.loss_cls'] = sum(p.sum() * 0.0 for p in self.negative.parameters())
        return losses
