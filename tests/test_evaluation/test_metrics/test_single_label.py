"""Tests of ferlab's classification metrics against scikit-learn."""

import csv
import json
import warnings

import cv2
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from sklearn import metrics as skm

from ferlab.evaluation import confusion_matrix
from ferlab.registry import METRICS
from ferlab.structures import FERDataSample

CLASSES = ('neutral', 'happy', 'sad', 'surprise', 'angry')


def samples(scores, gt):
    return [
        dict(pred_score=torch.as_tensor(s, dtype=torch.float32), gt_label=torch.tensor([int(g)]))
        for s, g in zip(scores, gt)
    ]


def evaluate(cfg, scores, gt, splits, classes=CLASSES):
    """Run a metric over ``scores``/``gt`` cut into batches at ``splits``."""
    metric = METRICS.build(cfg)
    metric.dataset_meta = dict(classes=classes)
    data = samples(scores, gt)
    bounds = [0, *splits, len(data)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        metric.process(None, data[a:b])
    return metric.evaluate(len(data))


@pytest.fixture
def random_case():
    """200 samples, 5 classes; class 4 never in the ground truth, class 3 never predicted."""
    rng = np.random.RandomState(0)
    n, c = 200, len(CLASSES)
    gt = rng.choice([0, 1, 2, 3], size=n, p=[0.4, 0.3, 0.2, 0.1])
    scores = rng.rand(n, c)
    hit = rng.rand(n) < 0.5
    scores[hit, gt[hit]] += 1.0  # better than chance
    scores[:, 3] = -1.0  # never predicted
    return scores, gt


def test_fer_metric_matches_sklearn(random_case):
    scores, gt = random_case
    out = evaluate(dict(type='FERMetric', num_classes=5), scores, gt, splits=[17, 64, 150])
    pred = scores.argmax(1)
    assert 3 not in pred and 4 not in gt
    labels = list(range(5))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ref_bal = skm.balanced_accuracy_score(gt, pred)
        # both means run over the classes present in the ground truth (class 4 is absent)
        ref_f1 = skm.f1_score(gt, pred, average='macro', labels=np.unique(gt), zero_division=0)
        ref_recall_present = skm.recall_score(
            gt, pred, average='macro', labels=np.unique(gt), zero_division=0
        )
        ref_p = skm.precision_score(gt, pred, average=None, labels=labels, zero_division=0)
        ref_r = skm.recall_score(gt, pred, average=None, labels=labels, zero_division=0)
    assert out['accuracy'] == pytest.approx(100 * skm.accuracy_score(gt, pred))
    assert (
        out['mean_class_accuracy'] == pytest.approx(100 * ref_bal) == pytest.approx(100 * ref_recall_present)
    )
    assert out['macro_f1'] == pytest.approx(100 * ref_f1)
    for i, name in enumerate(CLASSES):
        assert out[f'precision/{name}'] == pytest.approx(100 * ref_p[i])
        assert out[f'recall/{name}'] == pytest.approx(100 * ref_r[i])
    assert out['precision/surprise'] == 0.0 and out['recall/angry'] == 0.0
    np.testing.assert_array_equal(out['confusion_matrix'], skm.confusion_matrix(gt, pred, labels=labels))
    # the three "means" really differ on this data (so the test can tell them apart)
    assert (
        len({round(out['accuracy'], 6), round(out['mean_class_accuracy'], 6), round(out['macro_f1'], 6)}) == 3
    )


def test_macro_f1_and_mean_class_accuracy_average_the_same_classes():
    """Both means run over the ground-truth classes, also when a predicted class is absent from it."""
    # 3 classes; class 2 is predicted twice but never in the ground truth
    gt = np.array([0, 0, 0, 1, 1, 1])
    pred = np.array([0, 0, 2, 1, 1, 2])
    out = evaluate(dict(type='FERMetric', num_classes=3), np.eye(3)[pred], gt, [2], classes=('a', 'b', 'c'))
    # hand: recall 2/3 for both classes; precision 1 for both; F1 = 2 * 1 * (2/3) / (5/3) = 0.8
    assert out['mean_class_accuracy'] == pytest.approx(100 * 2 / 3)
    assert out['macro_f1'] == pytest.approx(80.0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert out['macro_f1'] == pytest.approx(
            100 * skm.f1_score(gt, pred, average='macro', labels=[0, 1], zero_division=0)
        )
        assert out['mean_class_accuracy'] == pytest.approx(100 * skm.balanced_accuracy_score(gt, pred))


def test_mean_class_accuracy_is_whole_set_not_per_batch():
    # batch A: 10 x class 0, all right; batch B: one class 0 (right), one class 1 (wrong)
    gt = np.array([0] * 10 + [0, 1])
    pred = np.array([0] * 10 + [0, 0])
    scores = np.eye(2)[pred]
    batches = [(0, 10), (10, 12)]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # batch A holds a single class
        per_batch = [skm.balanced_accuracy_score(gt[a:b], pred[a:b]) for a, b in batches]
    per_batch_mean = 100 * float(np.mean(per_batch))  # (1.0 + 0.5) / 2 = 75
    whole = 100 * skm.balanced_accuracy_score(gt, pred)  # (11/11 + 0/1) / 2 = 50
    assert per_batch_mean == pytest.approx(75.0) and whole == pytest.approx(50.0)
    cfg = dict(type='FERMetric', num_classes=2)
    for splits in ([10], [], list(range(1, 12)), [3, 7], [11]):
        out = evaluate(cfg, scores, gt, splits, classes=('a', 'b'))
        assert out['mean_class_accuracy'] == pytest.approx(whole), splits
        assert out['accuracy'] == pytest.approx(100 * 11 / 12)


def test_batch_split_invariance_random(random_case):
    scores, gt = random_case
    cfg = dict(type='FERMetric', num_classes=5)
    ref = evaluate(cfg, scores, gt, [])
    for splits in ([1], [50, 51, 52], list(range(10, 200, 10))):
        out = evaluate(cfg, scores, gt, splits)
        for k, v in ref.items():
            assert out[k] == (v if k == 'confusion_matrix' else pytest.approx(v)), k


def test_topk_accuracy(random_case):
    scores, gt = random_case
    out = evaluate(dict(type='Accuracy', topk=(1, 2, 3)), scores, gt, [100])
    for k in (1, 2, 3):
        ref = skm.top_k_accuracy_score(gt, scores, k=k, labels=list(range(5)))
        assert out[f'accuracy/top{k}'] == pytest.approx(100 * ref)
    small = np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    out = evaluate(dict(type='Accuracy', topk=(1, 2, 5)), small, [2, 0, 0], [1], classes=('a', 'b', 'c'))
    assert out['accuracy/top1'] == pytest.approx(100 / 3)
    assert out['accuracy/top2'] == pytest.approx(200 / 3)
    assert out['accuracy/top5'] == pytest.approx(100.0)  # k >= C


def test_through_mmengine_evaluator_with_data_samples():
    evaluator = Evaluator(
        [METRICS.build(dict(type='FERMetric')), METRICS.build(dict(type='Accuracy', topk=1))]
    )
    evaluator.dataset_meta = dict(classes=('x', 'y', 'z'))
    gts, preds = [0, 1, 2, 2], [0, 2, 2, 1]
    data = [
        FERDataSample().set_gt_label(g).set_pred_score(torch.eye(3)[p]).set_pred_label(p)
        for g, p in zip(gts, preds)
    ]
    evaluator.process(data[:3])
    evaluator.process(data[3:])
    out = evaluator.evaluate(4)
    assert out['accuracy'] == pytest.approx(50.0) and out['accuracy/top1'] == pytest.approx(50.0)
    assert out['mean_class_accuracy'] == pytest.approx(100 * (1 + 0 + 0.5) / 3)
    assert out['recall/z'] == pytest.approx(50.0) and out['precision/y'] == pytest.approx(0.0)


def test_metric_errors():
    with pytest.raises(ValueError, match='topk'):
        METRICS.build(dict(type='Accuracy', topk=0))
    with pytest.raises(ValueError, match='num_classes'):
        METRICS.build(dict(type='FERMetric', num_classes=0))
    with pytest.raises(ValueError, match='outside'):
        evaluate(dict(type='FERMetric', num_classes=3), np.eye(3), [0, 1, 3], [], classes=('a', 'b', 'c'))
    with pytest.raises(ValueError, match='dataset has'):
        evaluate(dict(type='FERMetric'), np.eye(3), [0, 1, 2], [], classes=('a', 'b'))
    metric = METRICS.build(dict(type='FERMetric'))
    with pytest.raises(KeyError, match='pred_score'):
        metric.process(None, [dict(gt_label=torch.tensor([0]))])
    with pytest.raises(ValueError, match='no samples'):
        metric.compute_metrics([])
    with pytest.raises(ValueError, match='outside'):
        confusion_matrix(np.array([-1]), np.array([0]), 2)
    with pytest.raises(ValueError, match='same length'):
        confusion_matrix(np.array([0, 1]), np.array([0]), 2)


def test_export_metrics(tmp_path, random_case):
    from tools.test import export_metrics

    scores, gt = random_case
    metrics = evaluate(dict(type='FERMetric', num_classes=5), scores, gt, [])
    cm = np.array(metrics['confusion_matrix'])
    paths = export_metrics(dict(metrics), CLASSES, str(tmp_path))
    with open(paths['metrics'], encoding='utf-8') as f:
        saved = json.load(f)
    assert 'confusion_matrix' not in saved
    assert set(saved) == set(metrics) - {'confusion_matrix'}
    for k, v in saved.items():
        assert v == pytest.approx(metrics[k])
    with open(paths['confusion_matrix_csv'], newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['gt\\pred', *CLASSES]
    assert [r[0] for r in rows[1:]] == list(CLASSES)
    np.testing.assert_array_equal(np.array([r[1:] for r in rows[1:]], dtype=int), cm)
    png = cv2.imread(paths['confusion_matrix_png'])
    assert png is not None and png.ndim == 3 and min(png.shape[:2]) > 100


def test_export_metrics_with_prefixed_metric(tmp_path):
    from tools.test import export_metrics

    metrics = evaluate(
        dict(type='FERMetric', prefix='test'), np.eye(3), [0, 1, 1], [], classes=('a', 'b', 'c')
    )
    assert 'test/confusion_matrix' in metrics
    paths = export_metrics(dict(metrics), ('a', 'b', 'c'), str(tmp_path))
    saved = json.load(open(paths['metrics'], encoding='utf-8'))
    assert saved['test/accuracy'] == pytest.approx(200 / 3) and 'test/confusion_matrix' not in saved
    rows = list(csv.reader(open(paths['confusion_matrix_csv'], newline='', encoding='utf-8')))
    assert rows[2] == ['b', '0', '1', '1']
