"""MVT stage 1 (MGN, a model that owns its train step) on 2 CPU ranks: torchrun + tools/train.py."""

from __future__ import annotations

import json
import os

import pytest
import torch

from ferlab.utils import safe_torch_load
from tests.test_tools.test_dist_train import PLUGIN, run_dist_train
from tests.utils import REPO_ROOT

pytestmark = pytest.mark.dist

CONFIG = os.path.join(REPO_ROOT, 'configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py')
STAGE2 = os.path.join(REPO_ROOT, 'configs/mvt/mvt_r18-48px-cpu_synthfer.py')
N_TRAIN = 16


def _build(config: str, key: str = 'model', **overrides):
    from mmengine.config import Config

    from ferlab.registry import MODELS

    return MODELS.build(dict(Config.fromfile(config)[key], **overrides))


def test_two_rank_mgn_stage1_keeps_generator_and_discriminator_in_sync(tmp_path):
    plugin_dir = tmp_path / 'plugin'
    plugin_dir.mkdir()
    (plugin_dir / 'shard_recorder.py').write_text(PLUGIN)
    work_dir = tmp_path / 'work'
    opts = ['train_cfg.max_epochs=1', 'default_hooks.logger.interval=1', 'randomness.seed=0',
            f'train_dataloader.dataset.num_samples={N_TRAIN}', 'train_dataloader.batch_size=4',
            'custom_imports.imports=[shard_recorder]', 'default_hooks.shard.type=ShardRecorderHook']  # fmt: skip
    run_dist_train(CONFIG, work_dir, opts, plugin_dir, tmp_path)

    ranks = [json.loads((work_dir / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert [r['rank'] for r in ranks] == [0, 1] and [r['world_size'] for r in ranks] == [2, 2]
    assert all(r['backend'] == 'gloo' and r['wrapped'] == 'MMSeparateDistributedDataParallel' for r in ranks)
    seen0, seen1 = set(ranks[0]['seen']), set(ranks[1]['seen'])
    assert len(ranks[0]['seen']) == len(seen0) == N_TRAIN // 2 and seen0.isdisjoint(seen1)
    assert seen0 | seen1 == set(range(N_TRAIN))

    # Disjoint halves, yet equal generator and discriminator weights: both sub-DDPs all-reduced.
    mgn = _build(CONFIG)
    names = [n for n, _ in mgn.named_parameters()]
    assert len(ranks[0]['checksum']) == len(names)
    ckpt_path = str(work_dir / 'epoch_1.pth')
    ckpt = safe_torch_load(ckpt_path)
    # saved without the per-sub-module DDP (no generator.module.* keys): the single-process layout
    assert list(ckpt['state_dict']) == list(mgn.state_dict())
    for part in ('generator', 'discriminator'):
        idx = [i for i, n in enumerate(names) if n.startswith(f'{part}.')]
        assert idx, part
        rank0 = [ranks[0]['checksum'][i] for i in idx]
        assert rank0 == pytest.approx([ranks[1]['checksum'][i] for i in idx], rel=1e-6, abs=1e-6), part
        # the checkpoint (written by rank 0) holds exactly these weights
        saved = [float(ckpt['state_dict'][names[i]].double().sum()) for i in idx]
        assert saved == pytest.approx(rank0, rel=1e-6, abs=1e-6), part
    # both optimisers stepped once per iteration: 8 samples per rank / batch 4 = 2 steps
    for part in ('generator', 'discriminator'):
        steps = {float(s['step']) for s in ckpt['optimizer'][part]['state'].values()}
        assert steps == {2.0}, (part, steps)
    # stage 2 takes its frozen generator from this checkpoint
    stage2 = _build(STAGE2, mgn_checkpoint=ckpt_path)
    stage2.init_weights()
    for k, v in stage2.mgn.state_dict().items():
        assert torch.equal(v, ckpt['state_dict'][f'generator.{k}']), k
