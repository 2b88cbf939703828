"""``tools/analysis_tools/arbex_sweeps.py``: runs are options of the shipped configs, through the real tools."""

from __future__ import annotations

import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ferlab.registry import MODELS
from ferlab.utils import apply_cfg_options
from tests.utils import REPO_ROOT, parse_cfg_options, read_prediction_dump, recompute_test_scores
from tools.analysis_tools import arbex_sweeps as tool


def _cfg(name, a, seed=0):
    config = osp.join(REPO_ROOT, tool.run_config(name, a))
    return apply_cfg_options(Config.fromfile(config), parse_cfg_options(tool.all_options(name, seed, a)))


def test_run_names_round_trip_and_shared_runs_are_planned_once():
    assert tool.parse_run('k10_n20') == dict(k=10, noise=20, lam=1.0)
    assert tool.parse_run('k10_n20_la0.01') == dict(k=10, noise=20, lam=0.01)
    assert tool.parse_run('linear_n20') == dict(k=None, noise=20, lam=None)
    for name in ('k10', 'k10_n20_x1', 'resnet_n20', 'kx_n20'):
        with pytest.raises(KeyError, match='unknown run'):
            tool.parse_run(name)
    a = tool.parse_args(['--seeds', '0', '1'])
    order = tool.plan(a)
    # ARBEx vs linear for both seeds first, then the 5 other runs of table1, the 4 new runs of table2,
    # the 3 new ones of table4
    assert order[:5] == [('linear_n20', 0), ('k10_n20', 0), ('linear_n20', 1), ('k10_n20', 1), ('k0_n20', 0)]
    assert len(order) == len(set(order)) == 2 * (7 + 4 + 3)
    assert {n for n, _ in order[:14]} == {'linear_n20', *(f'k{k}_n20' for k in (0, 1, 4, 8, 10, 20))}
    assert {n for n, _ in order[14:22]} == {'k0_n0', 'k0_n40', 'k10_n0', 'k10_n40'}
    assert {n for n, _ in order[22:]} == {'k10_n20_la0', 'k10_n20_la0.01', 'k10_n20_la100'}


@pytest.mark.parametrize(
    'name, anchors, lam, rate',
    [
        ('k0_n40', 0, 1.0, 0.4),
        ('k20_n20', 20, 1.0, 0.2),
        ('k10_n0', 10, 1.0, 0.0),
        ('k10_n20_la100', 10, 100.0, 0.2),
    ],
)
def test_arbex_runs_set_the_head_and_the_noise(name, anchors, lam, rate):
    a = tool.parse_args([])
    cfg = _cfg(name, a, seed=2)
    assert cfg.randomness.seed == 2 and cfg.randomness.deterministic is True
    assert cfg.train_dataloader.dataset.label_noise.rate == rate
    assert cfg.test_dataloader.dataset.get('label_noise') is None  # clean test labels
    assert cfg.test_dataloader.dataset.num_samples >= 2000
    model = MODELS.build(cfg.model)
    assert type(model.head).__name__ == 'ReliabilityBalancingHead'
    assert model.head.num_anchors == anchors and model.head.lambda_anchor == lam
    assert (model.head.anchors is None) == (anchors == 0)


def test_linear_run_is_the_same_trunk_with_a_linear_head():
    a = tool.parse_args([])
    lin, arb = MODELS.build(_cfg('linear_n20', a).model), MODELS.build(_cfg('k10_n20', a).model)
    assert type(lin.head).__name__ == 'LinearClsHead'
    assert {k: v.shape for k, v in lin.backbone.state_dict().items()} == {
        k: v.shape for k, v in arb.backbone.state_dict().items()
    }
    assert _cfg('linear_n20', a).train_dataloader.dataset.label_noise.rate == 0.2


def test_tables_from_hand_made_runs():
    def run(name, seed, acc, primary=None, **extra):
        scores = dict(macro_precision=acc - 1, macro_recall=acc - 2, macro_f1=acc - 3)
        return dict(run=name, seed=seed, accuracy=acc, accuracy_primary=primary, **scores, **extra)

    results = [
        run('linear_n20', 0, 50.0), run('linear_n20', 1, 54.0),
        run('k10_n20', 0, 53.0, 51.0), run('k10_n20', 1, 58.0, 52.0),
        run('k0_n20', 0, 52.0, 50.0), run('k0_n20', 1, 52.0, 50.0),
        run('k10_n20_la100', 0, 40.0), run('k10_n20_la100', 1, 44.0),
    ]  # fmt: skip
    text = tool.tables(results)
    # ARBEx (53, 58) = 55.50 ± 2.50; minus linear per seed (+3, +4) = 3.50 ± 0.50: same sign, |3.5| > 0.5
    assert ('| ARBEx K=10 | 55.50 ± 2.50 (53.00, 58.00) | 51.50 ± 0.50 (51.00, 52.00) | '
            '52.50 ± 2.50 (50.00, 55.00) | 3.50 ± 0.50 (+3.00, +4.00) (beyond spread) |') in text  # fmt: skip
    # Table 1: K=10 - K=0 = (+1, +6): 3.50 ± 2.50, same sign and 3.5 > 2.5
    assert (
        '| 10 | 55.50 ± 2.50 (53.00, 58.00) | 51.50 ± 0.50 (51.00, 52.00) | 3.50 ± 2.50 (+1.00, +6.00) (beyond spread) |'
        in text
    )
    assert '| 1 | not run | not run | - |' in text
    # Table 2: noise 20 column filled, Δ(10 - 0) as in Table 1
    assert '| 0 | not run | 52.00 ± 0.00 (52.00, 52.00) | not run |' in text
    assert '| Δ (10 − 0) | - | 3.50 ± 2.50 (+1.00, +6.00) (beyond spread) | - |' in text
    # Table 4: λ_a = 100 vs 1 per seed (-13, -14): -13.50 ± 0.50
    assert ('| 100 | 41.00 ± 2.00 (39.00, 43.00) | 42.00 ± 2.00 (40.00, 44.00) | 39.00 ± 2.00 (37.00, 41.00) | '
            '40.00 ± 2.00 (38.00, 42.00) | -13.50 ± 0.50 (-13.00, -14.00) (beyond spread) |') in text  # fmt: skip
    assert not tool.beyond_spread([1.0, -0.5])  # signs differ
    assert not tool.beyond_spread([2.0])  # one seed has no spread
    # same sign but mean 1.733 < std 2.309 (ddof 0)
    assert not tool.beyond_spread([0.1, 0.1, 5.0]) and tool.beyond_spread([0.1, 0.2, 0.3])


def test_macro_scores_from_the_confusion_matrix_csv(tmp_path):
    path = tmp_path / 'cm.csv'
    # rows = ground truth a, b, c (c absent); predictions: a 3/4 right, b 1/2 right
    path.write_text('gt\\pred,a,b,c\na,3,1,0\nb,0,1,1\nc,0,0,0\n')
    s = tool.macro_scores(str(path))
    # precision a 3/3, b 1/2 (c has no test samples: excluded); recall a 3/4, b 1/2
    assert s['macro_precision'] == pytest.approx(100 * (1 + 0.5) / 2)
    assert s['macro_recall'] == pytest.approx(100 * (0.75 + 0.5) / 2)
    f1a, f1b = 2 * 0.75 / 1.75, 0.5
    assert s['macro_f1'] == pytest.approx(100 * (f1a + f1b) / 2)


@pytest.mark.e2e
def test_tiny_sweep_reports_the_checkpoints_accuracy_and_resumes(tmp_path):
    out = str(tmp_path / 'sweep')
    argv = ['--out', out, '--seeds', '0', '--runs', 'k4_n20', 'linear_n20',
            '--num-train', '32', '--num-test', '12', '--epochs', '1']  # fmt: skip
    results = tool.main(argv)
    assert [(r['run'], r['seed']) for r in results] == [('k4_n20', 0), ('linear_n20', 0)]
    assert json.load(open(osp.join(out, 'results.json'))) == json.loads(json.dumps(results))
    a = tool.parse_args(argv)
    for r in results:
        assert r['commands']['train'].startswith('python tools/train.py configs/arbex/')
        assert r['checkpoint'] == osp.join(out, f'{r["run"]}_s0', 'epoch_1.pth') and r['iterations'] == 1
        ref = recompute_test_scores(
            osp.join(REPO_ROOT, tool.run_config(r['run'], a)),
            r['checkpoint'],
            tool.all_options(r['run'], 0, a),
        )
        assert len(ref['gt']) == r['num_test'] == 12
        assert r['accuracy'] == pytest.approx(ref['accuracy'])
        assert r['accuracy_final'] == pytest.approx(ref['accuracy'])
        dump = read_prediction_dump(osp.join(r['work_dir'], 'test', 'preds.pkl'))
        np.testing.assert_allclose(dump['scores'], ref['scores'], atol=1e-5)
        assert r['settings']['torch'] == torch.__version__
    # the primary accuracy of the ARBEx run is argmax of its primary distribution l
    import pickle

    preds = pickle.load(open(osp.join(results[0]['work_dir'], 'test', 'preds.pkl'), 'rb'))
    prim = np.mean([int(np.argmax(p['primary_score'])) == int(p['gt_label']) for p in preds])
    assert results[0]['accuracy_primary'] == pytest.approx(100 * prim)
    assert 'accuracy_primary' not in results[1]
    md = open(osp.join(out, 'results.md')).read()
    assert f'torch {torch.__version__}' in md and results[1]['commands']['test'] in md
    stamp = os.stat(results[0]['checkpoint']).st_mtime_ns
    assert tool.main(argv) == results  # nothing retrained
    assert os.stat(results[0]['checkpoint']).st_mtime_ns == stamp


def test_dump_figures_and_component_table(tmp_path):
    import pickle

    def sample(gt, final, primary, anchor, attn, conf):
        t = torch.tensor
        return dict(gt_label=t([gt]), pred_score=t(final), primary_score=t(primary), anchor_score=t(anchor),
                    attn_score=t(attn), confidences=t(conf))  # fmt: skip

    preds = [
        sample(0, [0.6, 0.4], [0.4, 0.6], [0.9, 0.1], [0.6, 0.4], [0.1, 0.5, 0.0, 0.3]),
        sample(1, [0.3, 0.7], [0.2, 0.8], [0.8, 0.2], [0.5, 0.5 + 1e-3], [0.3, 0.1, 0.2, 0.1]),
    ]
    path = tmp_path / 'preds.pkl'
    path.write_bytes(pickle.dumps(preds))
    d = tool.dump_accuracies(str(path))
    # final right twice, primary once (sample 1), anchors once (sample 0), attention twice
    assert (d['accuracy_final'], d['accuracy_primary'], d['accuracy_anchor'], d['accuracy_attention']) == (
        100.0,
        50.0,
        50.0,
        100.0,
    )
    assert d['mean_confidences'] == pytest.approx(dict(primary=0.2, anchor=0.3, attention=0.1, final=0.2))
    runs = [dict(run='k4_n20', seed=s, k=4, accuracy=50.0, **d) for s in (0, 1)]
    runs[1] = dict(runs[1], accuracy_anchor=70.0, accuracy_final=80.0)
    lines = tool.tables(runs).splitlines()
    assert '| k4_n20 | 0,1 | 90.00 ± 10.00 | 50.00 ± 0.00 | 60.00 ± 10.00 | 100.00 ± 0.00 | 0.200 ± 0.000 | 0.300 ± 0.000 | 0.100 ± 0.000 |' in lines  # fmt: skip
