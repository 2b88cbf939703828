"""AUMetric: per-AU F1 on the known entries only, against sklearn; alongside FERMetric in one evaluator."""

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from sklearn.metrics import f1_score

from ferlab.registry import METRICS

NAMES = ('AU01', 'AU04', 'AU06', 'AU12', 'AU25')


def samples(pred, gt, mask, labels=None):
    out = []
    for i in range(len(pred)):
        s = dict(
            pred_au_score=torch.tensor(pred[i]), gt_aus=torch.tensor(gt[i]), gt_au_mask=torch.tensor(mask[i])
        )
        if labels is not None:
            s.update(gt_label=torch.tensor([labels[i]]), pred_score=torch.eye(3)[(labels[i] + i % 2) % 3])
        out.append(s)
    return out


def run(metric, data, batch=7):
    metric.dataset_meta = dict(au_names=NAMES, classes=('a', 'b', 'c'))
    for k in range(0, len(data), batch):
        metric.process(None, data[k : k + batch])
    return metric.evaluate(len(data))


def random_split(seed=0, n=40):
    rng = np.random.default_rng(seed)
    pred = rng.random((n, 5)).astype(np.float32)
    gt = (rng.random((n, 5)) > 0.6).astype(np.float32)
    mask = (rng.random((n, 5)) > 0.3).astype(np.float32)
    mask[:, 4] = 0  # AU25 never annotated
    gt[:, 3] = 0  # AU12 never present
    return pred, gt, mask


def test_against_sklearn_on_known_entries():
    pred, gt, mask = random_split()
    got = run(METRICS.build(dict(type='AUMetric')), samples(pred, gt, mask))
    ref = {}
    for j, name in enumerate(NAMES[:4]):
        m = mask[:, j] > 0
        ref[name] = 100 * f1_score(gt[m, j], pred[m, j] >= 0.5, zero_division=0)
    assert set(got) == {f'au_f1/{n}' for n in NAMES[:4]} | {'au_mean_f1'}  # AU25: no known label, no key
    for name, v in ref.items():
        assert got[f'au_f1/{name}'] == pytest.approx(v, abs=1e-9)
    # mean over the AUs with a known positive: AU12 (never present) is out of the mean
    assert got['au_mean_f1'] == pytest.approx(np.mean([ref[n] for n in NAMES[:3]]), abs=1e-9)


def test_masked_entries_are_not_negatives():
    # one AU: the model says "present" everywhere; the two unknown labels are not counted as FPs
    pred = np.ones((4, 5), np.float32)
    gt = np.array([[1] * 5, [0] * 5, [1] * 5, [0] * 5], np.float32)
    mask = np.array([[1] * 5, [0] * 5, [1] * 5, [0] * 5], np.float32)
    got = run(METRICS.build(dict(type='AUMetric')), samples(pred, gt, mask))
    assert got['au_f1/AU01'] == 100.0 and got['au_mean_f1'] == 100.0  # 2 TP, 0 FP among the known
    unmasked = run(METRICS.build(dict(type='AUMetric')), samples(pred, gt, np.ones_like(mask)))
    assert unmasked['au_f1/AU01'] == pytest.approx(100 * 2 * 2 / (2 * 2 + 2))  # 2 TP, 2 FP


def test_thresholds_reorder_and_skips():
    pred, gt, mask = random_split(1)
    gt_int = gt * 3.0  # intensity-like labels
    got = run(
        METRICS.build(dict(type='AUMetric', threshold=0.3, gt_threshold=1.0)), samples(pred, gt_int, mask)
    )
    m = mask[:, 0] > 0
    assert got['au_f1/AU01'] == pytest.approx(100 * f1_score(gt[m, 0], pred[m, 0] >= 0.3, zero_division=0))
    # a model whose output order differs: matched by name
    order = [4, 2, 0, 3, 1]
    model_names = [NAMES[k] for k in order] + ['AU45']
    pred_model = np.concatenate([pred[:, order], np.zeros((len(pred), 1), np.float32)], 1)
    data = samples(pred_model, gt, mask)
    data.insert(3, dict(gt_label=torch.tensor([0]), pred_score=torch.ones(3)))  # an expression-only sample
    reordered = run(METRICS.build(dict(type='AUMetric', pred_au_names=model_names)), data)
    assert reordered == pytest.approx(run(METRICS.build(dict(type='AUMetric')), samples(pred, gt, mask)))
    short = METRICS.build(dict(type='AUMetric', pred_au_names=['AU01', 'AU04']))
    with pytest.raises(ValueError, match=r"outputs no \['AU06', 'AU12'\]"):
        run(short, samples(pred[:, :2], gt, mask))
    with pytest.raises(KeyError, match='needs pred_au_score'):
        METRICS.build(dict(type='AUMetric')).process(None, [dict(gt_aus=torch.zeros(5))])


def test_with_fermetric_in_one_evaluator():
    pred, gt, mask = random_split(2, n=12)
    labels = [i % 3 for i in range(12)]
    evaluator = Evaluator([dict(type='FERMetric'), dict(type='AUMetric')])
    evaluator.dataset_meta = dict(au_names=NAMES, classes=('a', 'b', 'c'))
    data = samples(pred, gt, mask, labels)
    evaluator.process(data[:5])
    evaluator.process(data[5:])
    out = evaluator.evaluate(12)
    assert out['accuracy'] == pytest.approx(100 * 6 / 12)  # every other sample predicted right
    assert (
        out['au_mean_f1'] == run(METRICS.build(dict(type='AUMetric')), samples(pred, gt, mask))['au_mean_f1']
    )
