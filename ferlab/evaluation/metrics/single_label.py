"""Dataset-level classification metrics.

Every metric accumulates per-sample predictions in ``process`` and computes
its value once over the whole split in ``compute_metrics``; nothing is
averaged per batch (the mean-class-accuracy bug of some public FER code).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from ferlab.registry import METRICS


def _collect(data_samples: Sequence[dict]) -> list[dict]:
    out = []
    for s in data_samples:
        if 'pred_score' not in s:
            raise KeyError('metric needs pred_score in every data sample (run the model in predict mode)')
        gt = s.get('gt_label')
        if gt is None:
            raise KeyError('metric needs gt_label in every data sample')
        out.append(
            dict(
                pred_score=torch.as_tensor(s['pred_score']).detach().float().cpu(),
                gt_label=int(torch.as_tensor(gt).reshape(-1)[0]),
            )
        )
    return out


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` counts, rows = ground truth, columns = prediction.

    Args:
        pred: ``(N,)`` predicted class indices.
        gt: ``(N,)`` ground-truth class indices.
        num_classes: ``C``.

    Raises:
        ValueError: shapes differ or a label is outside ``[0, C)`` (``np.bincount``
            would otherwise silently count it in a wrong cell or fail obscurely).
    """
    pred = np.asarray(pred, dtype=np.int64).reshape(-1)
    gt = np.asarray(gt, dtype=np.int64).reshape(-1)
    if pred.shape != gt.shape:
        raise ValueError(f'pred and gt must have the same length, got {pred.shape[0]} and {gt.shape[0]}')
    for name, arr in (('ground-truth', gt), ('predicted', pred)):
        bad = (arr < 0) | (arr >= num_classes)
        if bad.any():
            raise ValueError(
                f'{name} label {int(arr[bad][0])} is outside [0, {num_classes}) '
                f'({int(bad.sum())} such samples); check num_classes / the dataset classes'
            )
    return np.bincount(gt * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_stats(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 per class from a confusion matrix (0 where undefined)."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1).astype(np.float64)
    predicted = cm.sum(0).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return dict(precision=precision, recall=recall, f1=f1, support=support)


class _ScoreMetric(BaseMetric):
    """Stores ``(pred_score, gt_label)`` of every sample of the split."""

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        self.results.extend(_collect(data_samples))

    @staticmethod
    def stack(results: list[dict]) -> tuple[torch.Tensor, np.ndarray]:
        if not results:
            raise ValueError('metric got no samples: is the evaluation dataloader empty?')
        shapes = {tuple(r['pred_score'].shape) for r in results}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ValueError(
                f'every pred_score must be a (C,) vector of the same C, got shapes {sorted(shapes)}'
            )
        scores = torch.stack([r['pred_score'] for r in results])
        gt = np.array([r['gt_label'] for r in results], dtype=np.int64)
        return scores, gt


@METRICS.register_module()
class Accuracy(_ScoreMetric):
    """Top-k accuracy in percent over the whole split.

    A sample counts as correct for ``k`` if its ground truth is among the
    ``k`` highest scores (``k >= C`` is therefore 100). Keys:
    ``accuracy/top{k}``.

    Args:
        topk: One positive int or a sequence of them.
        collect_device: Where results are gathered in distributed runs.
        prefix: Optional key prefix.
    """

    default_prefix = ''

    def __init__(self, topk: int | Sequence[int] = (1,), collect_device='cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk,) if isinstance(topk, int) else tuple(topk)
        if not self.topk or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.topk):
            raise ValueError(f'topk must be a positive int or a sequence of them, got {topk!r}')

    def compute_metrics(self, results: list[dict]) -> dict:
        scores, gt = self.stack(results)
        gt_t = torch.from_numpy(gt)
        out = {}
        maxk = min(max(self.topk), scores.shape[1])
        top = scores.topk(maxk, dim=1).indices
        for k in self.topk:
            hit = (top[:, : min(k, maxk)] == gt_t[:, None]).any(1).float().mean().item()
            out[f'accuracy/top{k}'] = 100.0 * hit
        return out


@METRICS.register_module()
class FERMetric(_ScoreMetric):
    """Accuracy, mean class accuracy, macro-F1, per-class P/R and the confusion matrix.

    All values are percentages computed once over the split. Both class
    means average over the same classes, those **present in the ground
    truth** of the split (a class with no test sample has no recall; a class
    that is only predicted already costs the true classes recall and
    precision):

    - ``mean_class_accuracy`` = mean per-class recall (the "balanced
      accuracy" DAN/AffectNet report) =
      ``sklearn.metrics.balanced_accuracy_score``;
    - ``macro_f1`` = mean per-class F1 (the Aff-Wild2 metric) =
      ``f1_score(average='macro', labels=np.unique(gt), zero_division=0)``.

    On a split where every class occurs (every benchmark test set) this is
    the mean over all ``C`` classes.

    Args:
        num_classes: ``C``; defaults to the evaluator's ``dataset_meta``.
        per_class: Add ``precision/<class>`` and ``recall/<class>``.
        with_confusion_matrix: Add ``confusion_matrix`` (a ``C × C`` list,
            rows = ground truth); ``tools/test.py`` writes it as CSV + PNG.
    """

    default_prefix = ''

    def __init__(
        self,
        num_classes: int | None = None,
        per_class: bool = True,
        with_confusion_matrix: bool = True,
        collect_device='cpu',
        prefix=None,
    ):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(f'num_classes must be a positive int or None, got {num_classes!r}')
        self.num_classes = num_classes
        self.per_class = per_class
        self.with_confusion_matrix = with_confusion_matrix

    def class_names(self, n: int) -> list[str]:
        classes = (self.dataset_meta or {}).get('classes')
        return list(classes) if classes and len(classes) == n else [str(i) for i in range(n)]

    def compute_metrics(self, results: list[dict]) -> dict:
        scores, gt = self.stack(results)
        n = self.num_classes or len((self.dataset_meta or {}).get('classes', ())) or scores.shape[1]
        if scores.shape[1] != n:
            raise ValueError(f'model predicts {scores.shape[1]} classes but the dataset has {n}')
        pred = scores.argmax(1).numpy()
        cm = confusion_matrix(pred, gt, n)
        stats = per_class_stats(cm)
        present = stats['support'] > 0
        out = {
            'accuracy': 100.0 * float(np.trace(cm)) / max(int(cm.sum()), 1),
            'mean_class_accuracy': 100.0 * float(stats['recall'][present].mean()) if present.any() else 0.0,
            'macro_f1': 100.0 * float(stats['f1'][present].mean()) if present.any() else 0.0,
        }
        if self.per_class:
            for name, p, r in zip(self.class_names(n), stats['precision'], stats['recall']):
                out[f'precision/{name}'] = 100.0 * float(p)
                out[f'recall/{name}'] = 100.0 * float(r)
        if self.with_confusion_matrix:
            out['confusion_matrix'] = cm.tolist()
        return out
