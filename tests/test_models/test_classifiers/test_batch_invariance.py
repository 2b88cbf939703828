"""Evaluation never depends on the other samples in the batch, for every shipped model family.

Each model is built from its real config file (weights files are not needed: ``init_weights``
is not called), put in eval mode and fed the same images alone, in a batch and in a shuffled
batch through its data preprocessor; every sample's scores must agree.
"""

from __future__ import annotations

import os.path as osp

import pytest
import torch
from mmengine.config import Config

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample
from ferlab.utils import atomic_save
from tests.utils import REPO_ROOT


def _model_cfg(config: str, **overrides) -> dict:
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    cfg.merge_from_dict(overrides)
    return cfg.model


def _stage1_checkpoint(mgn_config: str, path: str) -> str:
    torch.manual_seed(0)
    mgn = MODELS.build(_model_cfg(mgn_config))
    atomic_save(dict(meta=dict(epoch=1), state_dict=mgn.state_dict()), path)
    return path


CASES = {
    'baseline_resnet18': ('baseline/resnet18_rafdb.py', 48, None, {}),
    'quickstart_resnet18': ('quickstart/resnet18_synthfer.py', 48, None, {}),
    'dan_r18': ('dan/dan_r18_rafdb.py', 64, None, {}),
    'dan_convnext_atto': ('dan/dan_convnext-atto_rafdb.py', 64, None, {'model.backbone.pretrained': None}),
    'mvt_r18_48px_cpu': ('mvt/mvt_r18-48px-cpu_synthfer.py', 48, 'mvt/mgn_vit-tiny-48px-cpu_synthfer.py', {}),
    'mvt_vit_tiny_112px_cpu': (
        'mvt/mvt_vit-tiny-112px-cpu_synthfer.py',
        112,
        'mvt/mgn_vit-tiny-112px-cpu_synthfer.py',
        {},
    ),
}


@pytest.mark.parametrize('name', list(CASES))
def test_eval_scores_do_not_depend_on_batch_mates(name, tmp_path):
    config, size, mgn_config, overrides = CASES[name]
    if mgn_config is not None:
        overrides = dict(
            overrides, **{'model.mgn_checkpoint': _stage1_checkpoint(mgn_config, str(tmp_path / 's1.pth'))}
        )
    torch.manual_seed(1)
    model = MODELS.build(_model_cfg(config, **overrides)).eval()

    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(5)]

    def scores(idx):
        data = model.data_preprocessor(
            dict(inputs=[images[i] for i in idx], data_samples=[FERDataSample() for _ in idx]), False
        )
        with torch.no_grad():
            out = model(data['inputs'], data['data_samples'], mode='predict')
        return {i: o.pred_score for i, o in zip(idx, out)}

    batch = scores([0, 1, 2, 3, 4])
    shuffled = scores([3, 0, 4, 2, 1])
    pairs = scores([2, 4])
    for i in range(5):
        alone = scores([i])[i]
        assert batch[i].shape == alone.shape and batch[i].dim() == 1
        torch.testing.assert_close(batch[i], alone, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(shuffled[i], alone, atol=1e-5, rtol=1e-4)
    for i in (2, 4):
        torch.testing.assert_close(pairs[i], batch[i], atol=1e-5, rtol=1e-4)
    # the images are different, so identical scores would mean the model ignores its input
    assert not torch.allclose(batch[0], batch[1])
