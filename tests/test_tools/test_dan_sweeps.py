"""``tools/analysis_tools/dan_sweeps.py``: variant -> model config, and the summary table."""

from __future__ import annotations

import importlib.util
import os.path as osp

import torch

from ferlab.registry import MODELS
from tests.utils import REPO_ROOT


def _tool():
    spec = importlib.util.spec_from_file_location(
        'dan_sweeps', osp.join(REPO_ROOT, 'tools/analysis_tools/dan_sweeps.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_variants_build_and_nofuse_diagnostic():
    tool = _tool()
    dan = MODELS.build(tool.model_cfg('dan', stages=2, num_classes=7))
    assert dan.neck.num_heads == 4 and dan.head.fuse_log_softmax
    k2 = MODELS.build(tool.model_cfg('k2_nofuse', stages=2, num_classes=7))
    assert k2.neck.num_heads == 2 and not k2.head.fuse_log_softmax
    assert k2.head.affinity_loss is not None and k2.head.partition_loss is not None
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    k2.eval()
    with torch.no_grad():
        feats = k2.extract_feat(k2.data_preprocessor({'inputs': x})['inputs'])
        assert k2.head(feats).shape == (2, 7)


def test_summary_lists_diagnostic_variants_after_the_studies():
    tool = _tool()

    def run(variant, seed, acc):
        return dict(variant=variant, seed=seed, accuracy=acc, mean_class_accuracy=acc, head_overlap=None,
                    train_seconds=1.0)  # fmt: skip

    table = tool.summarise([run('k2_nofuse', 1, 80.0), run('dan', 0, 85.0), run('k2_nofuse', 0, 90.0)])
    lines = table.splitlines()
    # 'dan' is a row of every study; the variant outside the studies comes last
    assert [line.split(' | ')[0] for line in lines[2:]] == ['| table1', '| table2', '| fig5', '| diagnostic']
    assert lines[-1].startswith('| diagnostic | k2_nofuse | 0,1 | 85.00 ± 5.00 | 90.00, 80.00 |')
