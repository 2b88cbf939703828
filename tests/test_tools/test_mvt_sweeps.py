"""``tools/analysis_tools/mvt_sweeps.py``: runs go through tools/train.py and tools/test.py, deterministically."""

from __future__ import annotations

import importlib.util
import json
import os
import os.path as osp
import subprocess

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from ferlab.apis import init_model
from ferlab.utils import apply_cfg_options
from ferlab.utils.checkpoint import safe_torch_load
from ferlab.utils.errors import CliUsageError
from tests.utils import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools/analysis_tools/mvt_sweeps.py')
TINY = ['--num-train', '16', '--num-test', '8', '--epochs', '2', '--epochs-mgn', '1', '--relabel-start', '0']


def _tool():
    spec = importlib.util.spec_from_file_location('mvt_sweeps', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(tool, config, opts):
    """The config tools/train.py builds from the tool's --cfg-options."""
    from tools.train import parse_args

    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    return apply_cfg_options(cfg, parse_args([config, '--cfg-options', *opts]).cfg_options)


def test_default_runs_meet_the_evidence_standard(tmp_path):
    tool = _tool()
    a = tool.parse_args(['--out', str(tmp_path)])
    assert len(a.seeds) >= 3
    for seed in a.seeds:
        cfg = _config(tool, tool.PLAIN, tool.data_options(a, seed))
        assert cfg.randomness.deterministic is True and cfg.randomness.seed == seed
        test_set = cfg.test_dataloader.dataset
        # one test image is at most 0.05 accuracy points; the test split is clean
        assert 100.0 / test_set.num_samples <= 0.05
        assert test_set.get('label_noise') is None


def test_summary_states_mean_std_and_per_seed_values():
    tool = _tool()
    a = tool.parse_args(['--seeds', '0', '1', '2', '--tables', '3'])

    def run(seed, m, f, acc):
        counts = dict.fromkeys(
            ('relabel_events', 'relabel_correct', 'wrong_before', 'wrong_after', 'fixed', 'broken'), 0
        )
        mgn = dict(mgn_mask_area=0.15, mgn_mask_area_hard=0.15, mgn_acc_d_gen=0.5)
        return dict(
            seed=seed, m=m, f=f, stage2_mask='same' if m else None, acc=acc, seconds=1.0, **counts, **mgn
        )

    runs = [run(s, 0.0, None, acc) for s, acc in ((0, 60.0), (1, 62.0), (2, 64.0))]
    runs += [run(s, 0.15, None, acc) for s, acc in ((0, 61.0), (1, 61.0), (2, 67.0))]
    meta = dict(torch='9.9', ferlab_commit='abc', command='python tools/analysis_tools/mvt_sweeps.py')
    lines = tool.summarise(runs, a, meta).splitlines()
    assert 'torch 9.9, ferlab commit abc; command: `python tools/analysis_tools/mvt_sweeps.py`' in lines
    # mean 62, population std sqrt(8/3) = 1.633; Δ = (+1, -1, +3): mean 1, std sqrt(8/3)
    assert '| ✗ | ✗ | 62.00 ± 1.63 (60.00, 62.00, 64.00) | +0.00 ± 0.00 (+0.00, +0.00, +0.00) |' in lines
    assert '| ✓ | ✗ | 63.00 ± 2.83 (61.00, 61.00, 67.00) | +1.00 ± 1.63 (+1.00, -1.00, +3.00) |' in lines


def _recomputed_accuracy(tool, rec):
    """Accuracy of the run's final checkpoint: argmax of ``test_step`` == label, counted by hand."""
    config = tool.STAGE2 if rec['m'] else tool.PLAIN
    work = osp.join(osp.dirname(osp.dirname(rec['_path'])), rec['name'])
    opts = rec['commands']['test'].split('--cfg-options ')[1].split(' ')
    cfg = _config(tool, config, opts)
    model = init_model(cfg, osp.join(work, f'epoch_{rec["settings"]["epochs"]}.pth'))
    hits = n = 0
    for batch in Runner.build_dataloader(cfg.test_dataloader):
        with torch.no_grad():
            out = model.test_step(batch)
        pred = np.array([int(s.pred_score.argmax()) for s in out])
        gt = np.array([int(s.gt_label) for s in out])
        hits, n = hits + int((pred == gt).sum()), n + len(gt)
    return 100.0 * hits / n, n


@pytest.mark.e2e
def test_sweep_runs_the_real_tools_deterministically_and_resumes(tmp_path):
    tool = _tool()
    out = str(tmp_path / 'a')
    argv = ['--out', out, '--seeds', '0', '--tables', '3', *TINY]
    results = tool.main(argv)
    assert [(r['m'], r['f']) for r in results] == [
        (0.0, None),
        (0.15, None),
        (0.0, 'sigmoid'),
        (0.15, 'sigmoid'),
    ]
    saved = json.load(open(osp.join(out, 'results.json')))
    assert saved['runs'] == json.loads(json.dumps(results))
    head = subprocess.run(
        ['git', '-C', REPO_ROOT, 'rev-parse', 'HEAD'], capture_output=True, text=True
    ).stdout
    assert saved['meta']['torch'] == torch.__version__
    assert saved['meta']['ferlab_commit'].split('+')[0] == head.strip()
    assert saved['meta']['command'] == 'python tools/analysis_tools/mvt_sweeps.py ' + ' '.join(argv)
    table = open(osp.join(out, 'tables.md')).read()
    assert f'torch {torch.__version__}' in table and saved['meta']['command'] in table
    for r in results:
        work = osp.join(out, r['name'])
        assert r['commands']['train'].startswith('python tools/train.py ')
        assert 'randomness.deterministic=True' in r['commands']['train']
        # the run's work dir holds the Runner's checkpoint of the requested schedule (16 images, batch 32)
        ckpt = safe_torch_load(osp.join(work, 'epoch_2.pth'))
        assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 2
        assert any(k.startswith('mgn.') for k in ckpt['state_dict']) == bool(r['m'])
        # the reported accuracy is tools/test.py's metrics.json (FERMetric) ...
        metrics = json.load(open(osp.join(work, 'test', 'metrics.json')))
        assert r['acc'] == metrics['accuracy'] and r['mean_class_acc'] == metrics['mean_class_accuracy']
        # ... and equals a recomputation from the checkpoint on the 8 clean test images
        acc, n = _recomputed_accuracy(
            tool, dict(r, _path=tool.run_path(tool.parse_args(argv), 0, r['m'], r['f']))
        )
        assert n == 8 and acc == pytest.approx(metrics['accuracy'])
        # relabel bookkeeping: no hook events without f; wrong labels = noisy annotations
        if r['f'] is None:
            assert r['relabel_events'] == 0 and r['changed'] == 0
        assert r['wrong_after'] == r['wrong_before'] - r['fixed'] + r['broken']
    # a second invocation trains nothing
    stamp = os.stat(osp.join(out, results[1]['name'], 'epoch_2.pth')).st_mtime_ns
    assert tool.main(argv) == json.loads(json.dumps(results))
    assert os.stat(osp.join(out, results[1]['name'], 'epoch_2.pth')).st_mtime_ns == stamp
    # ... and one with other settings refuses the finished runs instead of mixing them in
    with pytest.raises(CliUsageError, match='other settings'):
        tool.main(['--out', out, '--seeds', '0', '--tables', '3', *TINY[:-2], '--relabel-start', '1'])
    # deterministic: the same run in another directory gives the same weights and metrics
    again = tool.main(['--out', str(tmp_path / 'b'), '--seeds', '0', '--tables', '3', *TINY])
    for r, s in zip(results, again):
        assert (r['acc'], r['mean_class_acc'], r['relabel_events']) == (
            s['acc'],
            s['mean_class_acc'],
            s['relabel_events'],
        )
        w_a = safe_torch_load(osp.join(out, r['name'], 'epoch_2.pth'))['state_dict']
        w_b = safe_torch_load(osp.join(str(tmp_path / 'b'), s['name'], 'epoch_2.pth'))['state_dict']
        assert all(torch.equal(w_a[k], w_b[k]) for k in w_a)


def test_summarise_only_trains_nothing_and_lists_missing_runs(tmp_path):
    tool = _tool()
    out = str(tmp_path)
    assert tool.main(['--out', out, '--seeds', '0', '--tables', '3', '--summarise-only', *TINY]) == []
    meta = json.load(open(osp.join(out, 'results.json')))['meta']
    assert meta['missing_runs'] == ['mvt_m0.00_fnone_s0', 'mvt_m0.15_fnone_s0', 'mvt_m0.00_fsigmoid_s0',
                                    'mvt_m0.15_fsigmoid_s0']  # fmt: skip
    assert sorted(os.listdir(out)) == ['results.json', 'runs', 'tables.md'] and not os.listdir(
        osp.join(out, 'runs')
    )
