"""Action-unit detection metric: per-AU F1 and mean F1 over the annotated entries only."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ferlab.datasets.au_vocabulary import AUConfigError, au_index_map, au_names
from ferlab.registry import METRICS


def masked_au_f1(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-AU F1 of binary predictions over the known entries.

    Args:
        pred: ``(N, A)`` 0/1 predictions.
        gt: ``(N, A)`` 0/1 labels.
        mask: ``(N, A)`` 1 = the label is known; other entries are ignored.

    Returns:
        ``(f1, known, positives)``, each ``(A,)``: F1 = 2 TP / (2 TP + FP + FN)
        over the known entries (0 where that is 0/0, as sklearn's
        ``zero_division=0``), the number of known entries and of known positives.
    """
    pred, gt, known = pred.astype(bool), gt.astype(bool), mask.astype(bool)
    tp = (pred & gt & known).sum(0).astype(np.float64)
    fp = (pred & ~gt & known).sum(0).astype(np.float64)
    fn = (~pred & gt & known).sum(0).astype(np.float64)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return f1, known.sum(0), (gt & known).sum(0)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their average rank."""
    order = np.argsort(x, kind='mergesort')
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], len(xs)]
    ranks = np.empty(len(x), np.float64)
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return ranks


def masked_au_auc(scores: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-AU ROC AUC of the scores over the known entries (threshold-free).

    AUC = the probability that a present AU scores above an absent one (ties
    count one half): the Mann-Whitney ``U / (P · N)`` from average ranks, as
    sklearn's ``roc_auc_score``.

    Args:
        scores: ``(N, A)`` probabilities.
        gt: ``(N, A)`` 0/1 labels.
        mask: ``(N, A)`` 1 = the label is known.

    Returns:
        ``(A,)`` AUC; NaN where the known entries hold only one class.
    """
    gt, known = gt.astype(bool), mask.astype(bool)
    out = np.full(gt.shape[1], np.nan)
    for k in range(gt.shape[1]):
        y, s = gt[known[:, k], k], scores[known[:, k], k].astype(np.float64)
        pos, neg = int(y.sum()), int((~y).sum())
        if pos and neg:
            r = _average_ranks(s)
            out[k] = (r[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg)
    return out


@METRICS.register_module()
class AUMetric(BaseMetric):
    """Per-AU F1 and their mean, counting only annotated AU labels.

    Every data sample with ``gt_aus`` / ``gt_au_mask`` ``(A,)`` (in the order of
    the dataset's ``metainfo['au_names']``) is compared with the model's AU
    probabilities (``pred_au_score`` ``(A',)``): an AU is predicted present when
    its probability is ``>= threshold`` and labelled present when ``gt_aus >=
    gt_threshold`` (0/1 labels as they are; set ``gt_threshold`` for
    intensities, e.g. 1.0 for OpenFace ``_r``). Entries with mask 0 are left out
    of every count, so an unknown AU is never scored as a negative. Samples
    without ``gt_aus`` (expression-only samples evaluated in the same run)
    are skipped and counted in the log. The F1 of an AU is computed once over
    the split, ``2 TP / (2 TP + FP + FN)`` (sklearn's ``f1_score`` on the known
    entries, ``zero_division=0``).

    Keys (percent): ``au_f1/<AU>`` for every AU with a known label,
    ``au_mean_f1`` = their mean over the AUs with at least one known
    **positive** label (as :class:`FERMetric`'s class means run over the
    classes present in the ground truth: an AU never present in the split has
    no recall); ``au_auc/<AU>`` the threshold-free ROC AUC of the
    probabilities over the known entries of every AU with both present and
    absent labels (:func:`masked_au_auc`, 50 = chance) and ``au_mean_auc``
    their mean (a model whose probabilities all stay under ``threshold``
    has F1 0 yet may rank the AUs well). Works next to :class:`FERMetric` in one evaluator
    (``val_evaluator = [dict(type='FERMetric'), dict(type='AUMetric')]``), and
    ``tools/test.py`` prints and saves both.

    Args:
        threshold: Probability at which a predicted AU counts as present.
        gt_threshold: Label value at which an AU counts as present.
        pred_key: Data-sample field with the ``(A',)`` AU probabilities.
        pred_au_names: The AUs of the model's output, in order; ``None``: the
            same as the dataset's ``au_names``. Otherwise the predictions are
            re-ordered by name and a labelled AU the model does not output is an
            error.
        collect_device: Where results are gathered in distributed runs.
        prefix: Optional key prefix.
    """

    default_prefix = ''

    def __init__(
        self,
        threshold: float = 0.5,
        gt_threshold: float = 0.5,
        pred_key: str = 'pred_au_score',
        pred_au_names: Sequence | None = None,
        collect_device='cpu',
        prefix=None,
    ):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.threshold, self.gt_threshold, self.pred_key = float(threshold), float(gt_threshold), pred_key
        self.pred_au_names = None if pred_au_names is None else au_names(pred_au_names)
        self.num_skipped = 0

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            if s.get('gt_aus') is None:
                self.results.append(None)
                continue
            if s.get(self.pred_key) is None:
                raise KeyError(
                    f'AUMetric needs {self.pred_key} in every AU-labelled data sample (a model with an AU '
                    'output, run in predict mode)'
                )
            gt = torch.as_tensor(s['gt_aus']).detach().float().cpu().reshape(-1)
            mask = s.get('gt_au_mask')
            mask = torch.ones_like(gt) if mask is None else torch.as_tensor(mask).detach().float().cpu()
            pred = torch.as_tensor(s[self.pred_key]).detach().float().cpu().reshape(-1)
            self.results.append(dict(pred=pred.numpy(), gt=gt.numpy(), mask=mask.reshape(-1).numpy()))

    def compute_metrics(self, results: list) -> dict:
        kept = [r for r in results if r is not None]
        self.num_skipped = len(results) - len(kept)
        if self.num_skipped:
            MMLogger.get_current_instance().info(
                f'AUMetric: {self.num_skipped} of {len(results)} samples have no AU labels (not scored)'
            )
        if not kept:
            raise AUConfigError('AUMetric got no sample with gt_aus: is the evaluation set AU-labelled?')
        gt = np.stack([r['gt'] for r in kept])
        mask = np.stack([r['mask'] for r in kept]) != 0
        names = (self.dataset_meta or {}).get('au_names')
        names = au_names(names) if names else tuple(f'AU{k}' for k in range(gt.shape[1]))
        if len(names) != gt.shape[1]:
            raise AUConfigError(f'gt_aus has {gt.shape[1]} AUs but the dataset names {len(names)}: {names}')
        pred_len = {len(r['pred']) for r in kept}
        if len(pred_len) != 1:
            raise AUConfigError(f'every {self.pred_key} must have the same length, got {sorted(pred_len)}')
        scores = np.stack([r['pred'] for r in kept])
        if self.pred_au_names is not None:
            if scores.shape[1] != len(self.pred_au_names):
                raise AUConfigError(
                    f'{self.pred_key} has {scores.shape[1]} AUs, pred_au_names {len(self.pred_au_names)}'
                )
            index = au_index_map(self.pred_au_names, names)
            absent = [n for n, i in zip(names, index) if i < 0 and mask[:, names.index(n)].any()]
            if absent:
                raise AUConfigError(f'AUMetric: the model outputs no {absent}, which the dataset labels')
            scores = np.where(index >= 0, scores[:, np.maximum(index, 0)], 0.0)
        elif scores.shape[1] != gt.shape[1]:
            raise AUConfigError(
                f'{self.pred_key} has {scores.shape[1]} AUs, the dataset labels {gt.shape[1]} ({names}); '
                'give pred_au_names to match them by name'
            )
        f1, known, positives = masked_au_f1(scores >= self.threshold, gt >= self.gt_threshold, mask)
        out = {f'au_f1/{n}': 100.0 * float(v) for n, v, k in zip(names, f1, known) if k > 0}
        scored = positives > 0
        out['au_mean_f1'] = 100.0 * float(f1[scored].mean()) if scored.any() else 0.0
        auc = masked_au_auc(scores, gt >= self.gt_threshold, mask)
        out.update({f'au_auc/{n}': 100.0 * float(v) for n, v in zip(names, auc) if not np.isnan(v)})
        if not np.isnan(auc).all():
            out['au_mean_auc'] = 100.0 * float(np.nanmean(auc))
        return out
