"""``tools/analysis_tools/auvit_sweeps.py``: variants are the shipped CPU configs; runs go through the tools."""

from __future__ import annotations

import json
import os
import os.path as osp

import pytest

from tests.utils import REPO_ROOT, recompute_test_scores
from tools.analysis_tools import auvit_sweeps as tool


def test_scale_options_reach_every_source_and_loader():
    from mmengine.config import Config

    from ferlab.utils import apply_cfg_options
    from tests.utils import parse_cfg_options

    for v in tool.VARIANTS:
        opts = tool.scale_options(v, 48, 400, 100, 3, 700)
        cfg = apply_cfg_options(
            Config.fromfile(osp.join(REPO_ROOT, tool.CONFIGS[v])), parse_cfg_options(opts)
        )
        assert cfg.model.backbone.input_size == 48 and cfg.train_cfg.max_epochs == 3
        assert cfg.param_scheduler[1]['T_max'] == 3 and cfg.param_scheduler[1]['end'] == 3
        assert cfg.test_dataloader.dataset.img_size == 48 and cfg.test_dataloader.dataset.num_samples == 700
        ds = cfg.train_dataloader.dataset
        srcs = [ds] if v == 'target' else [s.dataset for s in ds.sources]
        assert [s.img_size for s in srcs] == [48] * len(srcs)
        assert [s.num_samples for s in srcs] == ([400] if v == 'target' else [400, 100])
    with pytest.raises(KeyError, match="unknown variant 'au'"):
        tool.scale_options('au', 48, 1, 1, 1, 1)


def test_summary_differences_per_seed():
    def run(v, seed, acc):
        return dict(variant=v, seed=seed, accuracy=acc, mean_class_accuracy=acc, train_seconds=2.0)

    table = tool.summarise([run('target', 0, 20.0), run('target', 1, 30.0), run('joint_au', 0, 23.0),
                            run('joint_au', 1, 29.0)])  # fmt: skip
    lines = table.splitlines()
    assert lines[2].startswith('| target | 0,1 | 25.00 ± 5.00 | 20.00, 30.00 | — | — |')
    # differences +3, -1: mean 1, population std 2
    assert lines[3].startswith(
        '| joint_au | 0,1 | 26.00 ± 3.00 | 23.00, 29.00 | +3.00, -1.00 | 1.00 ± 2.00 |'
    )


@pytest.mark.e2e
def test_sweep_runs_the_real_tools_and_resumes(tmp_path):
    out = str(tmp_path / 'sweep')
    argv = ['--out', out, '--seeds', '0', '--img-size', '32', '--num-target', '8', '--num-aux', '3',
            '--epochs', '1', '--num-test', '6', '--cfg-options', 'train_dataloader.batch_size=5']  # fmt: skip
    results = tool.main(argv)
    assert [r['variant'] for r in results] == list(tool.VARIANTS)
    assert json.load(open(osp.join(out, 'results.json')))['runs'] == json.loads(json.dumps(results))
    for r in results:
        work = osp.join(out, f'{r["variant"]}_s0')
        assert r['commands']['train'].startswith('python tools/train.py ' + tool.CONFIGS[r['variant']])
        metrics = json.load(open(osp.join(work, 'test', 'metrics.json')))
        assert r['accuracy'] == metrics['accuracy']
        # independent recomputation from the checkpoint, one test image at a time
        opts = r['settings']['options']
        again = recompute_test_scores(osp.join(REPO_ROOT, tool.CONFIGS[r['variant']]), r['checkpoint'], opts)
        assert len(again['gt']) == 6 and again['accuracy'] == pytest.approx(metrics['accuracy'])
    stamp = os.stat(results[0]['checkpoint']).st_mtime_ns
    assert tool.main(argv) == results  # resumed: nothing retrained
    assert os.stat(results[0]['checkpoint']).st_mtime_ns == stamp
