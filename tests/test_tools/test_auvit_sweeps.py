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
            Config.fromfile(osp.join(REPO_ROOT, tool.CONFIGS[tool.VARIANT_SPECS[v][0]])),
            parse_cfg_options(opts),
        )
        assert cfg.model.backbone.input_size == 48 and cfg.train_cfg.max_epochs == 3
        assert cfg.param_scheduler[1]['T_max'] == 3 and cfg.param_scheduler[1]['end'] == 3
        assert cfg.test_dataloader.dataset.img_size == 48 and cfg.test_dataloader.dataset.num_samples == 700
        ds = cfg.train_dataloader.dataset
        srcs = [ds] if tool.VARIANT_SPECS[v][0] == 'target' else [s.dataset for s in ds.sources]
        assert [s.img_size for s in srcs] == [48] * len(srcs)
        assert [s.num_samples for s in srcs] == ([400] if len(srcs) == 1 else [400, 100])

    # the ablations change exactly their one setting of joint_au
    def backbone(v):
        opts = tool.scale_options(v, 48, 400, 100, 3, 700)
        cfg = apply_cfg_options(
            Config.fromfile(osp.join(REPO_ROOT, tool.CONFIGS['joint_au'])), parse_cfg_options(opts)
        )
        return cfg.model.backbone

    ref = backbone('joint_au')
    assert ref.type == 'IRViTAU' and ref.au_tap == 2 and ref.au_branch == dict(regions='7', pair_reduce='max')
    assert backbone('au_tap1').au_tap == 1 and backbone('au_tap3').au_tap == 3
    assert backbone('au_regions1').au_branch.regions == 1 and backbone('au_regions2').au_branch.regions == 2
    assert backbone('au_no_maxout').au_branch.pair_reduce == 'mean'
    assert backbone('au_token').type == 'IRViTAUToken'
    au_cfg = apply_cfg_options(
        Config.fromfile(osp.join(REPO_ROOT, tool.AU_TEST)),
        parse_cfg_options(
            tool.other_test_options(tool.scale_options('joint_au', 48, 400, 100, 3, 700), wrapped=True)
        ),
    )
    src = au_cfg.test_dataloader.dataset.sources[0]
    assert (src.dataset.img_size, src.dataset.num_samples, src.dataset.split) == (48, 700, 'test')
    assert src.labels == ('expression', 'au') and [m.type for m in au_cfg.test_evaluator] == [
        'FERMetric',
        'AUMetric',
    ]
    occ = Config.fromfile(osp.join(REPO_ROOT, tool.OCCLUDED_TEST))
    assert occ.test_dataloader.dataset.domain.nuisance.occlusion.prob == 1.0
    assert occ.model == Config.fromfile(osp.join(REPO_ROOT, tool.CONFIGS['target'])).model
    with pytest.raises(KeyError, match="unknown variant 'au'"):
        tool.scale_options('au', 48, 1, 1, 1, 1)


def test_summary_differences_per_seed():
    def run(v, seed, acc):
        return dict(variant=v, seed=seed, accuracy=acc, mean_class_accuracy=acc, train_seconds=2.0)

    runs = [run('target', 0, 20.0), run('target', 1, 30.0), run('joint_au', 0, 23.0), run('joint_au', 1, 29.0),
            run('au_tap1', 0, 25.0)]  # fmt: skip
    runs[2].update(occluded_accuracy=10.0, occluded_mean_class_accuracy=10.0)
    lines = tool.summarise(runs).splitlines()
    assert lines[4].startswith('| target | 0,1 | 25.00 ± 5.00 | 20.00, 30.00 | — | — | — |')
    # differences +3, -1: mean 1, population std 2
    assert lines[5].startswith(
        '| joint_au | 0,1 | 26.00 ± 3.00 | 23.00, 29.00 | target | +3.00, -1.00 | 1.00 ± 2.00 |'
    )
    assert lines[6].startswith('| au_tap1 | 0 | 25.00 | 25.00 | joint_au | +2.00 | 2.00 |')  # vs joint_au
    occ = lines[lines.index('**Target test split with a hand over one eye and cheek**') :]
    assert occ[4].startswith(
        '| joint_au | 0 | 10.00 | 10.00 | target | — | — |'
    )  # target has no occluded run


def test_merge_combines_parallel_sweep_folders(tmp_path):
    def run(v, seed, acc):
        return dict(variant=v, seed=seed, accuracy=acc, mean_class_accuracy=acc, train_seconds=1.0)

    folders = []
    for name, runs in (('a', [run('joint_au', 0, 30.0), run('target', 0, 20.0)]),
                       ('b', [run('target', 1, 40.0), run('target', 0, 25.0)])):  # fmt: skip
        os.makedirs(tmp_path / name)
        json.dump(dict(runs=runs), open(tmp_path / name / 'results.json', 'w'))
        folders.append(str(tmp_path / name))
    out = tmp_path / 'merged'
    merged = tool.main(['--out', str(out), '--merge', *folders])
    # variant order, then seed; the later folder's (target, 0) replaces the first one's
    assert [(r['variant'], r['seed'], r['accuracy']) for r in merged] == [
        ('target', 0, 25.0),
        ('target', 1, 40.0),
        ('joint_au', 0, 30.0),
    ]
    assert json.load(open(out / 'results.json'))['runs'] == merged
    assert '| joint_au | 0 | 30.00 | 30.00 | target | +5.00 |' in open(out / 'results.md').read()


def _au_f1_one_at_a_time(config: str, checkpoint: str, cfg_options: list) -> tuple[float, dict, float]:
    """Mean and per-AU F1 and mean ROC AUC of the AU output, each test image on its own, by sklearn."""
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from sklearn.metrics import f1_score, roc_auc_score

    from ferlab.registry import DATASETS, MODELS
    from ferlab.utils import apply_cfg_options, safe_torch_load
    from tests.utils import parse_cfg_options

    cfg = apply_cfg_options(Config.fromfile(config), parse_cfg_options(cfg_options))
    model = MODELS.build(cfg.model)
    model.load_state_dict(safe_torch_load(checkpoint)['state_dict'], strict=True)
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    probs, gt, mask = [], [], []
    with torch.no_grad():
        for i in range(len(dataset)):
            item = dataset[i]
            batch = model.data_preprocessor(pseudo_collate([item]), False)
            au_logits = model(batch['inputs'], mode='tensor')[1]
            probs.append(torch.sigmoid(au_logits[0].float()).numpy())
            gt.append(np.asarray(item['data_samples'].gt_aus))
            mask.append(np.asarray(item['data_samples'].gt_au_mask))
    probs, gt, mask = np.stack(probs), np.stack(gt), np.stack(mask).astype(bool)
    names = dataset.metainfo['au_names']
    per_au, scored, aucs = {}, [], []
    for k, name in enumerate(names):
        known = mask[:, k]
        if not known.any():
            continue
        per_au[name] = 100 * f1_score(gt[known, k] >= 0.5, probs[known, k] >= 0.5, zero_division=0)
        if (gt[known, k] >= 0.5).any():
            scored.append(per_au[name])
        if len(set((gt[known, k] >= 0.5).tolist())) == 2:
            aucs.append(100 * roc_auc_score(gt[known, k] >= 0.5, probs[known, k]))
    return float(np.mean(scored)), per_au, float(np.mean(aucs))


@pytest.mark.e2e
def test_sweep_runs_the_real_tools_and_resumes(tmp_path):
    out = str(tmp_path / 'sweep')
    variants = ['target', 'au_no_maxout', 'au_token']
    argv = ['--out', out, '--seeds', '0', '--img-size', '32', '--num-target', '8', '--num-aux', '3',
            '--epochs', '1', '--num-test', '6', '--variants', *variants,
            '--cfg-options', 'train_dataloader.batch_size=5']  # fmt: skip
    results = tool.main(argv)
    assert [r['variant'] for r in results] == variants
    assert json.load(open(osp.join(out, 'results.json')))['runs'] == json.loads(json.dumps(results))
    for r in results:
        work = osp.join(out, f'{r["variant"]}_s0')
        config = tool.CONFIGS[tool.VARIANT_SPECS[r['variant']][0]]
        assert r['commands']['train'].startswith('python tools/train.py ' + config)
        metrics = json.load(open(osp.join(work, 'test', 'metrics.json')))
        assert r['accuracy'] == metrics['accuracy']
        # independent recomputation from the checkpoint, one test image at a time
        opts = r['settings']['options']
        again = recompute_test_scores(osp.join(REPO_ROOT, config), r['checkpoint'], opts)
        assert len(again['gt']) == 6 and again['accuracy'] == pytest.approx(metrics['accuracy'])
        # AU F1 of the AU-trained variants, recomputed one image at a time with sklearn
        if tool.has_au_training(r['variant']):
            au_opts = tool.other_test_options(opts, wrapped=True)
            mean_f1, per_au, mean_auc = _au_f1_one_at_a_time(
                osp.join(REPO_ROOT, tool.AU_TEST), r['checkpoint'], au_opts
            )
            assert r['au_mean_f1'] == pytest.approx(mean_f1, abs=0.01)
            assert r['au_mean_auc'] == pytest.approx(mean_auc, abs=0.01)
            assert r['au_f1'].keys() == per_au.keys()
            assert all(r['au_f1'][k] == pytest.approx(per_au[k], abs=0.01) for k in per_au)
        else:
            assert 'au_mean_f1' not in r
        # the occluded split: other images (every face has a hand on it), the same checkpoint
        if not tool.VARIANT_SPECS[r['variant']][2]:
            assert 'occluded_accuracy' not in r
            continue
        occ_opts = [o for o in opts if not o.startswith('train_dataloader.')]
        occ = recompute_test_scores(osp.join(REPO_ROOT, tool.OCCLUDED_TEST), r['checkpoint'], occ_opts)
        assert len(occ['gt']) == 6 and r['occluded_accuracy'] == pytest.approx(occ['accuracy'])
    stamp = os.stat(results[0]['checkpoint']).st_mtime_ns
    assert tool.main(argv) == results  # resumed: nothing retrained
    assert os.stat(results[0]['checkpoint']).st_mtime_ns == stamp
