"""Normalised mean error (NME) of facial landmarks."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from ferlab.registry import METRICS


def nme_per_sample(pred: np.ndarray, gt: np.ndarray, norm_idx: tuple[int, int] = (36, 45)) -> np.ndarray:
    """Per-sample NME: mean point-to-point error over the ``L`` points / ``||gt[a] - gt[b]||``.

    Args:
        pred: ``(N, L, 2)`` predicted points.
        gt: ``(N, L, 2)`` ground-truth points (same units).
        norm_idx: Points whose ground-truth distance normalises each sample.

    Returns:
        ``(N,)`` errors as fractions of the normalising distance.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 2:
        raise ValueError(f'NME needs pred and gt of the same (N, L, 2) shape, got {pred.shape} / {gt.shape}')
    d = np.linalg.norm(gt[:, norm_idx[0]] - gt[:, norm_idx[1]], axis=1)
    if (d <= 0).any():
        raise ValueError(
            f'NME: {int((d <= 0).sum())} samples have coincident normalising points {norm_idx} '
            '(zero inter-ocular distance)'
        )
    return np.linalg.norm(pred - gt, axis=2).mean(axis=1) / d


@METRICS.register_module()
class NME(BaseMetric):
    """Landmark NME normalised by the inter-ocular distance, in percent.

    ``NME = 1/N sum_n [ 1/L sum_l ||p_nl - g_nl||_2 ] / d_n`` with ``d_n`` the distance between
    the ground-truth **outer eye corners** (iBUG 300-W points 36 and 45, 0-based), the
    "inter-ocular" normalisation of the 300-W benchmark (not the inter-pupil one, which would
    need pupil centres that 68-point markups do not have). Computed once over the split
    (per-sample values, then the mean), so it does not depend on the batch composition.

    Reported keys (percent): ``nme``; ``fr@<t>``: the failure rate, the share of samples whose
    NME exceeds ``t`` (default 10 %).

    Args:
        norm_idx: The two points whose distance normalises (default ``(36, 45)``).
        failure_threshold: NME (fraction) above which a sample counts as a failure.
        collect_device / prefix: As :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix = ''

    def __init__(self, norm_idx: Sequence[int] = (36, 45), failure_threshold: float = 0.1,
                 collect_device: str = 'cpu', prefix: str | None = None):  # fmt: skip
        super().__init__(collect_device=collect_device, prefix=prefix)
        if len(norm_idx) != 2:
            raise ValueError(f'NME norm_idx needs two point indices, got {norm_idx}')
        self.norm_idx = (int(norm_idx[0]), int(norm_idx[1]))
        self.failure_threshold = float(failure_threshold)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            for key in ('pred_landmarks', 'gt_landmarks'):
                if s.get(key) is None:
                    raise KeyError(
                        f'NME needs {key} in every data sample (a LandmarkRegressor in predict mode)'
                    )
            self.results.append(
                dict(
                    pred=torch.as_tensor(s['pred_landmarks']).float().cpu().numpy(),
                    gt=torch.as_tensor(s['gt_landmarks']).float().cpu().numpy(),
                )  # fmt: skip
            )

    def compute_metrics(self, results: list[dict]) -> dict:
        if not results:
            raise ValueError('NME got no samples: is the evaluation dataloader empty?')
        err = nme_per_sample(np.stack([r['pred'] for r in results]), np.stack([r['gt'] for r in results]),
                             self.norm_idx)  # fmt: skip
        t = self.failure_threshold
        return {'nme': float(err.mean() * 100), f'fr@{t * 100:g}': float((err > t).mean() * 100)}
