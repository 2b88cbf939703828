"""NME (inter-ocular: outer eye corners 36/45) against hand-computed values."""

import numpy as np
import pytest
import torch

from ferlab.evaluation.metrics import nme_per_sample
from ferlab.registry import METRICS


def _gt(iod: float) -> np.ndarray:
    g = np.zeros((68, 2))
    g[36] = [0.0, 0.0]
    g[45] = [iod, 0.0]
    return g


def test_nme_hand_values():
    gt = np.stack([_gt(50.0), _gt(20.0)])
    pred = gt.copy()
    # sample 0: every point off by (3, 4) -> error 5 at each of the 68 points -> 5 / 50 = 10 %
    pred[0] += [3.0, 4.0]
    # sample 1: one point off by 6.8 -> mean error 0.1 -> 0.1 / 20 = 0.5 %
    pred[1, 10] += [6.8, 0.0]
    np.testing.assert_allclose(nme_per_sample(pred, gt), [0.10, 0.005], rtol=1e-9)
    metric = METRICS.build(dict(type='NME', failure_threshold=0.08))
    metric.process(
        None, [dict(pred_landmarks=torch.tensor(p), gt_landmarks=torch.tensor(g)) for p, g in zip(pred, gt)]
    )
    out = metric.compute_metrics(metric.results)
    assert out['nme'] == pytest.approx((10 + 0.5) / 2, rel=1e-6)
    assert out['fr@8'] == pytest.approx(50.0)


def test_nme_normalises_by_the_ground_truth_not_the_prediction_and_bad_input():
    gt = _gt(40.0)[None]
    pred = gt.copy()
    pred[0, 45] = [80.0, 0.0]  # the predicted corner moved 40 px: mean error 40/68, iod stays 40
    assert nme_per_sample(pred, gt)[0] == pytest.approx(1 / 68, rel=1e-9)
    with pytest.raises(ValueError, match='zero inter-ocular'):
        nme_per_sample(np.zeros((1, 68, 2)), np.zeros((1, 68, 2)))
    metric = METRICS.build(dict(type='NME'))
    with pytest.raises(KeyError, match='pred_landmarks'):
        metric.process(None, [dict(gt_landmarks=torch.zeros(68, 2))])
