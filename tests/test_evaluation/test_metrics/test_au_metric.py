"""AUMetric: per-AU F1 on the known entries only, against sklearn; alongside FERMetric in one evaluator."""

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from sklearn.metrics import f1_score, roc_auc_score

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
    # AU25: no known label, no key; AU12 never present: an F1, no AUC
    assert set(got) == {f'au_f1/{n}' for n in NAMES[:4]} | {'au_mean_f1', 'au_mean_auc'} | {
        f'au_auc/{n}' for n in NAMES[:3]
    }
    for name, v in ref.items():
        assert got[f'au_f1/{name}'] == pytest.approx(v, abs=1e-9)
    # mean over the AUs with a known positive: AU12 (never present) is out of the mean
    assert got['au_mean_f1'] == pytest.approx(np.mean([ref[n] for n in NAMES[:3]]), abs=1e-9)


def test_auc_against_sklearn_with_ties_and_masks():
    pred, gt, mask = random_split(2, n=60)
    pred = np.round(pred * 4) / 4  # many tied scores
    got = run(METRICS.build(dict(type='AUMetric')), samples(pred, gt, mask))
    ref = {}
    for j, name in enumerate(NAMES[:3]):
        m = mask[:, j] > 0
        ref[name] = 100 * roc_auc_score(gt[m, j], pred[m, j])
        assert got[f'au_auc/{name}'] == pytest.approx(ref[name], abs=1e-9)
    assert got['au_mean_auc'] == pytest.approx(np.mean(list(ref.values())), abs=1e-9)
    # every probability under the threshold: F1 0, the ranking still scored
    low = run(METRICS.build(dict(type='AUMetric')), samples(pred * 0.4, gt, mask))
    assert low['au_mean_f1'] == 0.0 and low['au_mean_auc'] == pytest.approx(got['au_mean_auc'], abs=1e-9)


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


@pytest.mark.e2e
def test_tools_test_reports_fer_and_au_metrics(tmp_path, repo_root):
    """tools/test.py with [FERMetric, AUMetric] on RAF-DB + OpenFace pseudo-AUs: both sets of figures,
    equal to a per-sample recomputation (softmax argmax accuracy, sklearn F1 on the known AUs)."""
    import json
    import os.path as osp

    import torch.nn as nn
    import torch.nn.functional as F
    from mmengine.dataset import pseudo_collate

    from ferlab.datasets.au_vocabulary import OPENFACE_C_AUS
    from ferlab.registry import DATASETS, MODELS
    from tests.test_datasets.fake_formats import make_rafdb, write_openface_csv
    from tools.test import main as test_main

    @MODELS.register_module(force=True)
    class AUMetricTestTrunk(nn.Module):
        def __init__(self, num_aus=18, dim=8):
            super().__init__()
            self.conv = nn.Conv2d(3, dim, 3, padding=1)
            self.au = nn.Linear(dim, num_aus)

        def forward(self, x):
            feat = F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1)
            return feat, self.au(feat)

    torch.set_num_threads(1)
    root = make_rafdb(tmp_path / 'raf', train=(1,), test=(1, 2, 3, 4, 5, 6, 7, 4, 4, 1))
    for k in range(1, 11):  # image 10 has no CSV: masked, still scored for its expression
        if k < 10:
            write_openface_csv(tmp_path / 'of' / f'test_{k:04d}_aligned.csv',
                               [dict(c={12: k % 2, 6: int(k > 4), 25: 1, 4: int(k % 3 == 0)})])  # fmt: skip
    pipe = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(16, 16)), dict(type='PackFERInputs')]
    cfg = tmp_path / 'joint_test.py'
    cfg.write_text(
        f'_base_ = [{osp.join(repo_root, "configs", "baseline", "resnet18_rafdb.py")!r}]\n'
        "model = dict(_delete_=True, type='JointFERAUClassifier',\n"
        "    data_preprocessor=dict(type='FERDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3),\n"
        "    backbone=dict(type='AUMetricTestTrunk', num_aus=18, dim=8),\n"
        "    head=dict(type='LinearClsHead', num_classes=7, in_channels=8))\n"
        f"_inner = dict(type='RAFDB', data_root={root!r}, split='test', pipeline={pipe!r})\n"
        'test_dataloader = dict(batch_size=3, num_workers=0, persistent_workers=False, dataset=dict(\n'
        f"    _delete_=True, type='OpenFaceAUs', dataset=_inner, csv_root={str(tmp_path / 'of')!r}))\n"
        "test_evaluator = [dict(type='FERMetric'), dict(type='AUMetric')]\n"
    )
    from mmengine.config import Config

    config = Config.fromfile(str(cfg))
    torch.manual_seed(3)
    model = MODELS.build(config.model)
    with torch.no_grad():  # AU25 always predicted, AU04/06/12 near 0.5 (input-dependent), others absent
        model.backbone.au.weight.mul_(20.0)
        bias = torch.full((18,), -4.0)
        bias[[OPENFACE_C_AUS.index(a) for a in (4, 6, 12)]] = 0.0
        bias[OPENFACE_C_AUS.index(25)] = 4.0
        model.backbone.au.bias.copy_(bias)
    ckpt = tmp_path / 'joint.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(ckpt))
    metrics = test_main([str(cfg), str(ckpt), '--work-dir', str(tmp_path / 'test')])

    # the oracle: every test sample through the model on its own
    model.eval()
    ds = DATASETS.build(config.test_dataloader.dataset)
    probs, logits, gts, masks, labels = [], [], [], [], []
    with torch.no_grad():
        for i in range(len(ds)):
            item = ds[i]
            batch = model.data_preprocessor(pseudo_collate([item]), False)
            expr, au = model(batch['inputs'], mode='tensor')
            logits.append(expr[0].numpy())
            probs.append(torch.sigmoid(au[0]).numpy())
            gts.append(item['data_samples'].gt_aus.numpy())
            masks.append(item['data_samples'].gt_au_mask.numpy())
            labels.append(int(item['data_samples'].gt_label))
    probs, gts, masks = np.stack(probs), np.stack(gts), np.stack(masks) > 0
    assert masks[9].sum() == 0 and masks[:9].all()  # the image without a CSV is masked
    ref = {}
    for j, au in enumerate(OPENFACE_C_AUS):
        m = masks[:, j]
        ref[f'AU{au:02d}'] = 100 * f1_score(gts[m, j], probs[m, j] >= 0.5, zero_division=0)
    positive = [f'AU{au:02d}' for j, au in enumerate(OPENFACE_C_AUS) if gts[masks[:, j], j].any()]
    assert sorted(positive) == ['AU04', 'AU06', 'AU12', 'AU25']
    assert metrics['accuracy'] == pytest.approx(100 * np.mean(np.argmax(logits, 1) == np.array(labels)))
    for name, v in ref.items():
        assert metrics[f'au_f1/{name}'] == pytest.approx(v, abs=1e-9)
    assert metrics['au_mean_f1'] == pytest.approx(np.mean([ref[n] for n in positive]), abs=1e-9)
    with open(tmp_path / 'test' / 'metrics.json') as f:
        saved = json.load(f)
    assert saved['au_mean_f1'] == pytest.approx(metrics['au_mean_f1']) and 'mean_class_accuracy' in saved
