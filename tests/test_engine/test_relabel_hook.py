"""SCN / MVT relabeling: threshold functions, the decision rule, the hook and resume."""

import glob
import os.path as osp
from types import SimpleNamespace

import pytest
import torch

from ferlab.engine.hooks import RelabelHook, RelabelThreshold, relabel_decision, unwrap_dataset
from ferlab.registry import HOOKS
from ferlab.utils import safe_torch_load
from tests.utils import make_fake_rafdb


@pytest.mark.parametrize(
    'kind, expected',
    [
        ('constant', [0.0, 0.0, 0.0, 0.0]),
        ('linear', [0.0, 0.2, 0.5, 1.0]),
        ('quadratic', [0.0, 0.04, 0.25, 1.0]),
    ],
)
def test_threshold_functions(kind, expected):
    p = torch.tensor([0.0, 0.2, 0.5, 1.0])
    torch.testing.assert_close(RelabelThreshold(kind)(p), torch.tensor(expected))


def test_sigmoid_threshold_is_shifted_logistic():
    f = RelabelThreshold('sigmoid', scale=1.0, steepness=10.0, center=0.5)
    p = torch.linspace(0, 1, 11)
    out = f(p)
    assert abs(out[0].item()) < 1e-7  # f(0) = 0
    s = lambda z: 1 / (1 + torch.exp(-z))  # noqa: E731
    torch.testing.assert_close(out, s(10 * (p - 0.5)) - s(torch.tensor(-5.0)))
    assert torch.all(out[1:] > out[:-1])  # monotone increasing
    with pytest.raises(ValueError, match='one of'):
        RelabelThreshold('cubic')
    with pytest.raises(ValueError, match='non-negative'):
        RelabelThreshold('linear', scale=-1.0)


def test_relabel_decision_constant_vs_dynamic():
    # P_max - P_gt = 0.3 in both rows; P_gt = 0.05 (low) and 0.3 (high).
    scores = torch.tensor([[0.35, 0.05, 0.3, 0.3], [0.6, 0.3, 0.05, 0.05]])
    labels = torch.tensor([1, 1])
    scn, new = relabel_decision(scores, labels, 0.2, RelabelThreshold('constant'))
    assert scn.tolist() == [True, True] and new.tolist() == [0, 0]
    # linear: thresholds 0.2 + 0.05 = 0.25 (relabel) and 0.2 + 0.3 = 0.5 (keep)
    dyn, new = relabel_decision(scores, labels, 0.2, RelabelThreshold('linear'))
    assert dyn.tolist() == [True, False] and new.tolist() == [0, 1]
    # quadratic: 0.2025 and 0.29 -> both relabel (0.3 > 0.29)
    quad, _ = relabel_decision(scores, labels, 0.2, RelabelThreshold('quadratic'))
    assert quad.tolist() == [True, True]
    # sigmoid: f(0.3) ~ 0.112 -> 0.312 > 0.3 keeps the second sample
    sig, _ = relabel_decision(scores, labels, 0.2, RelabelThreshold('sigmoid'))
    assert sig.tolist() == [True, False]
    # a sample already predicted as its label is never relabeled
    keep, _ = relabel_decision(
        torch.tensor([[0.1, 0.9]]), torch.tensor([1]), 0.0, RelabelThreshold('constant')
    )
    assert keep.tolist() == [False]
    with pytest.raises(ValueError, match='scores'):
        relabel_decision(scores, torch.tensor([1]), 0.2, RelabelThreshold('constant'))


def test_hook_config_errors():
    with pytest.raises(ValueError, match='start_epoch'):
        HOOKS.build(dict(type='RelabelHook', start_epoch=-1))
    with pytest.raises(ValueError, match='delta'):
        HOOKS.build(dict(type='RelabelHook', delta=1.5))
    hook = HOOKS.build(dict(type='RelabelHook', threshold=dict(kind='quadratic', scale=0.5)))
    assert isinstance(hook, RelabelHook) and hook.f.kind == 'quadratic' and hook.f.scale == 0.5


def tiny_mvt_options(root, max_epochs, start_epoch):
    """A seconds-long baseline MVT (no MGN) on the fake RAF-DB, relabeling with delta=0 from ``start_epoch``."""
    opts = [f'data_root={root}', f'train_cfg.max_epochs={max_epochs}', 'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.save_best=None', 'default_hooks.checkpoint.max_keep_ckpts=-1',
            'model.mgn=None', 'model.backbone.img_size=32', 'model.backbone.patch_size=8',
            'model.backbone.embed_dim=32', 'model.backbone.num_heads=2', 'model.backbone.depth=1',
            'model.backbone.pretrained=None', 'model.head.in_channels=32', 'optim_wrapper.optimizer.lr=0.01',
            f'custom_hooks.1.start_epoch={start_epoch}', 'custom_hooks.1.delta=0.0',
            'custom_hooks.1.threshold=constant', 'randomness.seed=0']  # fmt: skip
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.batch_size=4',
            f'{loader}.num_workers=0',
            f'{loader}.dataset.pipeline.1.scale=(32,32)',
        ]
    return opts


def test_relabels_written_logged_checkpointed_and_resumed(tmp_path):
    from tools.train import main

    root = make_fake_rafdb(tmp_path / 'raf', n_train=16, n_test=4, size=32)
    work = str(tmp_path / 'work')
    cfg = 'configs/mvt/mvt_deit-s_rafdb.py'
    runner = main([cfg, '--work-dir', work, '--cfg-options', *tiny_mvt_options(root, 1, 0)])
    train_ds = unwrap_dataset(runner.train_dataloader.dataset)
    hook = next(h for h in runner.hooks if isinstance(h, RelabelHook))
    overrides = train_ds.label_state_dict()['overrides']
    # delta = 0 and a constant f: every sample not predicted as its label is relabeled
    assert hook.history[0]['count'] > 0 and len(overrides) > 0
    assert hook.history[0]['total'] == sum(
        lbl != train_ds.get_data_info(i)['ori_label'] for i, lbl in overrides.items()
    )
    served = train_ds.get_gt_labels()
    for i, lbl in overrides.items():
        assert served[i] == lbl
    # val/test data never change
    val_ds = unwrap_dataset(runner.val_dataloader.dataset)
    assert val_ds.label_state_dict()['overrides'] == {}
    log = open(glob.glob(osp.join(work, '*', '*.log'))[0]).read()
    assert 'relabel epoch 1:' in log
    ckpt = safe_torch_load(osp.join(work, 'epoch_1.pth'))
    assert ckpt['label_state']['overrides'] == overrides

    # Resume for one more epoch without further relabeling: the overrides come back from the checkpoint.
    runner2 = main([cfg, '--work-dir', work, '--resume', '--cfg-options', *tiny_mvt_options(root, 2, 5)])
    ds2 = unwrap_dataset(runner2.train_dataloader.dataset)
    assert runner2.epoch == 2
    assert ds2.label_state_dict()['overrides'] == overrides
    assert safe_torch_load(osp.join(work, 'epoch_2.pth'))['label_state']['overrides'] == overrides


def test_hook_rejects_persistent_workers_and_models_without_scores(tmp_path):
    from tools.train import main

    root = make_fake_rafdb(tmp_path / 'raf', n_train=8, n_test=4, size=32)
    opts = tiny_mvt_options(root, 1, 0)
    with pytest.raises(ValueError, match='persistent_workers=False'):
        main(['configs/mvt/mvt_deit-s_rafdb.py', '--work-dir', str(tmp_path / 'w1'), '--cfg-options', *opts,
              'train_dataloader.num_workers=1', 'train_dataloader.persistent_workers=True'])  # fmt: skip
    hook = HOOKS.build(dict(type='RelabelHook', start_epoch=0))
    runner = SimpleNamespace(epoch=0, model=torch.nn.Linear(2, 2))
    with pytest.raises(AttributeError, match='last_train_batch'):
        hook.after_train_iter(runner, 0)
