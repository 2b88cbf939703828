"""Relabeling in a 2-rank run: ``bash tools/dist_train.sh configs/relabel/... 2`` (torchrun, gloo on CPU)."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from ferlab.utils import safe_torch_load
from tests.test_engine.test_relabel_hook import RELABEL_CONFIG, tiny_relabel_options
from tests.test_tools.test_dist_train import run_dist_train
from tests.utils import REPO_ROOT

# Loaded through --cfg-options custom_imports: per rank, the samples it trained on, the relabel
# overrides its training set ends with and the RelabelHook's per-epoch counts.
PLUGIN = textwrap.dedent("""
    import json
    import os.path as osp

    from mmengine.dist import get_rank, get_world_size
    from mmengine.hooks import Hook

    from ferlab.engine.hooks import RelabelHook
    from ferlab.registry import HOOKS


    @HOOKS.register_module()
    class RelabelRecorderHook(Hook):
        def before_run(self, runner):
            self.seen = []

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.seen += [int(s.sample_idx) for s in data_batch['data_samples']]

        def after_run(self, runner):
            relabel = next(h for h in runner.hooks if isinstance(h, RelabelHook))
            record = dict(rank=get_rank(), world_size=get_world_size(), wrapped=type(runner.model).__name__,
                          seen=self.seen, history=relabel.history,
                          overrides={str(k): v for k, v in relabel.dataset.label_state_dict()['overrides'].items()})
            with open(osp.join(runner.work_dir, f'relabel_rank{get_rank()}.json'), 'w') as f:
                json.dump(record, f)
""")


@pytest.mark.dist
@pytest.mark.e2e
def test_two_ranks_relabel_identically(tmp_path):
    plugin_dir = tmp_path / 'plugin'
    plugin_dir.mkdir()
    (plugin_dir / 'relabel_recorder.py').write_text(PLUGIN)
    work_dir = tmp_path / 'work'
    opts = tiny_relabel_options(max_epochs=1, start_epoch=0)
    opts += ['custom_imports.imports=[relabel_recorder]', 'default_hooks.recorder.type=RelabelRecorderHook']
    run_dist_train(os.path.join(REPO_ROOT, RELABEL_CONFIG), work_dir, opts, plugin_dir, tmp_path)

    ranks = [json.loads((work_dir / f'relabel_rank{r}.json').read_text()) for r in (0, 1)]
    assert [(r['rank'], r['world_size']) for r in ranks] == [(0, 2), (1, 2)]
    assert all(r['wrapped'] == 'MMDistributedDataParallel' for r in ranks)
    seen0, seen1 = set(ranks[0]['seen']), set(ranks[1]['seen'])
    assert seen0.isdisjoint(seen1) and seen0 | seen1 == set(range(16))  # each rank decides on its own half
    overrides = {int(k): v for k, v in ranks[0]['overrides'].items()}
    assert overrides, 'no relabels happened (delta = 0 relabels every sample not predicted as its label)'
    # identical overrides on both ranks, holding decisions made on both shards
    assert ranks[1]['overrides'] == ranks[0]['overrides']
    assert set(overrides) & seen0 and set(overrides) & seen1
    # global counts on both ranks; rank 0's checkpoint holds every relabel
    assert ranks[0]['history'] == ranks[1]['history'] and ranks[0]['history'][0]['count'] >= len(overrides)
    assert safe_torch_load(str(work_dir / 'epoch_1.pth'))['label_state']['overrides'] == overrides
