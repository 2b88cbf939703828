"""``tools/analysis_tools/dan_sweeps.py``: variants are options of the shipped config; runs go through the tools."""

from __future__ import annotations

import importlib.util
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from ferlab.registry import MODELS
from ferlab.utils.checkpoint import safe_torch_load
from tests.utils import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools/analysis_tools/dan_sweeps.py')


def _tool():
    spec = importlib.util.spec_from_file_location('dan_sweeps', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _variant_model(tool, variant):
    from ferlab.utils import apply_cfg_options
    from tools.train import parse_args

    cfg = Config.fromfile(osp.join(REPO_ROOT, tool.CONFIG))
    options = tool.variant_options(variant)
    opts = parse_args([tool.CONFIG, *(['--cfg-options', *options] if options else [])]).cfg_options
    return MODELS.build(apply_cfg_options(cfg, opts).model)


@pytest.mark.parametrize(
    'variant, heads, partition, feature, fuse',
    [
        ('dan', 4, True, 'AffinityLoss', True),
        ('none', 4, True, None, True),
        ('center', 4, True, 'CenterLoss', True),
        ('no_pt', 4, False, 'AffinityLoss', True),
        ('k1', 1, True, 'AffinityLoss', True),
        ('k8', 8, True, 'AffinityLoss', True),
        ('k2_nofuse', 2, True, 'AffinityLoss', False),
        ('k2_no_pt', 2, False, 'AffinityLoss', True),
    ],
)
def test_variants_are_options_of_the_shipped_config(variant, heads, partition, feature, fuse):
    model = _variant_model(_tool(), variant)
    assert type(model.neck).__name__ == 'MultiHeadCrossAttention' and model.neck.num_heads == heads
    assert (model.head.partition_loss is not None) == partition
    assert type(model.head.affinity_loss).__name__ == (feature or 'NoneType')
    assert model.head.fuse_log_softmax == fuse
    assert model.head.in_channels == 256 and model.backbone.out_indices == (2,)


def test_baseline_is_trunk_gap_linear():
    model = _variant_model(_tool(), 'baseline')
    assert type(model.neck).__name__ == 'GlobalAveragePooling'
    assert type(model.head).__name__ == 'LinearClsHead'
    model.eval()
    with torch.no_grad():
        x = torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8)
        assert model.head(model.extract_feat(model.data_preprocessor({'inputs': x})['inputs'])).shape == (
            2,
            7,
        )


def test_unknown_variant_fails_before_any_run():
    with pytest.raises(KeyError, match="unknown variant 'k5'"):
        _tool().parse_args(['--variants', 'dan', 'k5'])


@pytest.mark.e2e
def test_sweep_runs_the_real_tools_and_resumes(tmp_path):
    tool = _tool()
    out = str(tmp_path / 'sweep')
    argv = ['--out', out, '--seeds', '0', '--variants', 'baseline', 'k2']
    argv += ['--num-train', '16', '--num-test', '8', '--epochs', '1']
    results = tool.main(argv)
    assert [(r['variant'], r['seed']) for r in results] == [('baseline', 0), ('k2', 0)]
    saved = json.load(open(osp.join(out, 'results.json')))
    assert saved == json.loads(json.dumps(results))
    for r in results:
        work = osp.join(out, f'{r["variant"]}_s0')
        assert r['work_dir'] == work and r['commands']['train'].startswith('python tools/train.py ')
        # an mmengine checkpoint written by the Runner of tools/train.py: weights of this variant
        ckpt = safe_torch_load(osp.join(work, 'epoch_1.pth'))
        assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 1  # 16 images, batch 32
        assert 'optimizer' in ckpt and 'message_hub' in ckpt
        heads = {k.split('.')[2] for k in ckpt['state_dict'] if k.startswith('neck.heads.')}
        assert len(heads) == (2 if r['variant'] == 'k2' else 0)
        # the reported figures are tools/test.py's metrics.json (FERMetric), on the 8 test images
        metrics = json.load(open(osp.join(work, 'test', 'metrics.json')))
        assert r['metrics_file'] == osp.join(work, 'test', 'metrics.json')
        assert (
            r['accuracy'] == metrics['accuracy']
            and r['mean_class_accuracy'] == metrics['mean_class_accuracy']
        )
        assert r['metrics'] == metrics and r['num_test'] == 8
        # independent recomputation from the checkpoint agrees with tools/test.py
        assert r['accuracy_from_checkpoint'] == pytest.approx(metrics['accuracy'])
        assert r['settings']['torch'] == torch.__version__
    assert results[0]['head_overlap'] is None and 0.0 < results[1]['head_overlap'] <= 1.0
    md = open(osp.join(out, 'results.md')).read()
    assert f'torch {torch.__version__}' in md and results[1]['commands']['test'] in md
    # a second invocation trains nothing: the runs are in results.json
    stamp = os.stat(osp.join(out, 'k2_s0', 'epoch_1.pth')).st_mtime_ns
    again = tool.main(argv)
    assert again == results
    assert os.stat(osp.join(out, 'k2_s0', 'epoch_1.pth')).st_mtime_ns == stamp


def test_summary_lists_diagnostic_variants_after_the_studies():
    tool = _tool()

    def run(variant, seed, acc, overlap=None):
        return dict(variant=variant, seed=seed, accuracy=acc, mean_class_accuracy=acc, head_overlap=overlap,
                    train_seconds=1.0)  # fmt: skip

    table = tool.summarise(
        [run('k2_nofuse', 1, 80.0, 0.25), run('dan', 0, 85.0), run('k2_nofuse', 0, 90.0, 0.75)]
    )
    lines = table.splitlines()
    # 'dan' is a row of every study; the variant outside the studies comes last
    assert [line.split(' | ')[0] for line in lines[2:]] == ['| table1', '| table2', '| fig5', '| diagnostic']
    # mean ± population std over seeds 0, 1 = (90, 80); range 10; overlaps in seed order
    assert lines[-1] == (
        '| diagnostic | k2_nofuse | 0,1 | 85.00 ± 5.00 | 90.00, 80.00 | 10.00 | 85.00 ± 5.00 | '
        '0.500 ± 0.250 | 0.750, 0.250 | 1 |'
    )
