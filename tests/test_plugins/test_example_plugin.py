"""projects/example_plugin: a package outside ferlab/ trained through tools/train.py."""

import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

PLUGIN_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'projects', 'example_plugin'
)
CONFIG = osp.join(PLUGIN_DIR, 'configs', 'example_plugin_cfg.py')


def test_unimportable_custom_import_fails_clearly(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['ferlab_no_such_plugin_pkg'], allow_failed_imports=False)\n"
    )
    with pytest.raises(ImportError) as info:
        Config.fromfile(str(cfg))
    msg = str(info.value)
    assert 'ferlab_no_such_plugin_pkg' in msg and 'PYTHONPATH' in msg
    assert 'ferlab_no_such_plugin_pkg' in str(info.value.__cause__)


@pytest.mark.e2e
def test_train_plugin_through_tools_train(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(PLUGIN_DIR)  # what PYTHONPATH=projects/example_plugin does
    from tools.train import main

    runner = main(
        [
            CONFIG,
            '--work-dir', str(tmp_path),
            '--cfg-options', 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
            'train_dataloader.batch_size=8', 'default_hooks.logger.interval=1',
        ]
    )  # fmt: skip
    assert 'ferlab_example_plugin' in sys.modules
    model = runner.model
    assert type(model).__name__ == 'FERClassifier'
    assert type(model.backbone).__module__ == 'ferlab_example_plugin.backbone'
    assert type(model.head).__module__ == 'ferlab_example_plugin.head'
    assert type(model.head.loss_module).__module__ == 'ferlab_example_plugin.loss'
    assert type(runner.train_dataloader.dataset).__module__ == 'ferlab_example_plugin.dataset'
    assert runner.iter == 3
    assert osp.isfile(osp.join(tmp_path, 'iter_3.pth'))
    # registered into ferlab's registries (scope 'ferlab'), not a registry of its own
    from ferlab.registry import DATASETS, MODELS

    for name in ('ExampleConvNet', 'ExampleMLPHead', 'ExampleFocalLoss'):
        assert MODELS.get(name).__module__.startswith('ferlab_example_plugin')
    assert DATASETS.get('ExampleRandomFaces').__module__ == 'ferlab_example_plugin.dataset'
    # the training loss came from the plugin's focal loss and is finite
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert loss == loss and loss > 0


def test_plugin_modules_behave(monkeypatch):
    monkeypatch.syspath_prepend(PLUGIN_DIR)
    import ferlab_example_plugin  # noqa: F401
    import torch.nn.functional as F

    from ferlab.registry import DATASETS, MODELS

    focal = MODELS.build(dict(type='ExampleFocalLoss', gamma=0.0))
    logits, target = torch.randn(4, 7), torch.tensor([0, 3, 6, 2])
    torch.testing.assert_close(focal(logits, target), F.cross_entropy(logits, target))
    assert MODELS.build(dict(type='ExampleFocalLoss', gamma=2.0))(logits, target) < focal(logits, target)
    ds = DATASETS.build(dict(type='ExampleRandomFaces', num_samples=5, img_size=12, seed=3))
    again = DATASETS.build(dict(type='ExampleRandomFaces', num_samples=5, img_size=12, seed=3))
    assert len(ds) == 5 and ds[0]['img'].shape == (12, 12, 3) and ds[0]['img'].dtype.name == 'uint8'
    assert (ds[4]['img'] == again[4]['img']).all()
    with pytest.raises(ValueError, match='num_samples'):
        DATASETS.build(dict(type='ExampleRandomFaces', num_samples=0))
    backbone = MODELS.build(dict(type='ExampleConvNet', widths=(4, 8), out_indices=(0, 1)))
    assert [tuple(o.shape) for o in backbone(torch.randn(1, 3, 16, 16))] == [(1, 4, 8, 8), (1, 8, 4, 4)]
