"""Mutable training labels: soft targets follow relabels, negative indices, and LabelStateHook.

LabelStateHook acts only while training: ``tools/test.py`` never builds the training set, and
``load_from`` (weights only) does not restore relabels while ``--resume`` does.
"""

from __future__ import annotations

import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from ferlab.engine.hooks import RelabelHook, unwrap_dataset
from ferlab.registry import MODELS
from ferlab.utils import atomic_save, safe_torch_load
from tests.test_datasets.fake_formats import write_ferplus_csv
from tests.utils import REPO_ROOT, make_fake_rafdb, tiny_train_options

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]
# 10 FERPlus vote columns (8 emotions, unknown, NF); 'distribution' serves the emotion votes normalised.
FERPLUS_VOTES = [
    [6, 2, 2, 0, 0, 0, 0, 0, 0, 0],
    [0, 7, 0, 3, 0, 0, 0, 0, 0, 0],
    [1, 0, 5, 0, 2, 0, 1, 1, 0, 0],
    [0, 0, 0, 0, 4, 4, 2, 0, 0, 0],
]


def _ferplus(root):
    rows = [('Training', f'fer{i:07d}.png', votes) for i, votes in enumerate(FERPLUS_VOTES)]
    write_ferplus_csv(str(root), rows)
    from ferlab.datasets import FERPlus

    return lambda: FERPlus(data_root=str(root), split='train', label_mode='distribution', pipeline=PIPELINE)


def _synthfer(_root):
    from ferlab.datasets import SynthFER

    return lambda: SynthFER(split='train', num_samples=6, img_size=32, soft_labels=True, pipeline=PIPELINE)


SOFT_DATASETS = {'ferplus-distribution': _ferplus, 'synthfer-soft_labels': _synthfer}


@pytest.mark.parametrize('kind', sorted(SOFT_DATASETS))
def test_relabel_replaces_the_served_soft_target(tmp_path, kind):
    build = SOFT_DATASETS[kind](tmp_path / 'data')
    ds = build()
    c = ds.num_classes
    idx = 1
    keep = ds[0]['data_samples']
    before = ds[idx]['data_samples']
    assert 'gt_score' in keep and 'gt_score' in before
    # a class that is neither the served label nor the top vote (so the one-hot is a real change)
    new = next(k for k in range(c) if k != int(before.gt_label) and k != int(before.gt_score.argmax()))
    ds.set_gt_label(idx, new)
    after = ds[idx]['data_samples']
    one_hot = F.one_hot(torch.tensor(new), c).float()
    assert int(after.gt_label) == new
    torch.testing.assert_close(after.gt_score, one_hot)
    torch.testing.assert_close(ds[0]['data_samples'].gt_score, keep.gt_score)  # untouched sample

    # What the loss sees: ClsHead trains on gt_score when every sample has one.
    head = MODELS.build(dict(type='LinearClsHead', num_classes=c, in_channels=5))
    samples = [ds[0]['data_samples'], ds[idx]['data_samples']]
    target = head.get_targets(samples)
    torch.testing.assert_close(target, torch.stack([keep.gt_score, one_hot]))
    feats = (torch.randn(2, 5),)
    log_p = F.log_softmax(head(feats), dim=1)
    expected = (-(keep.gt_score * log_p[0]).sum() - log_p[1, new]) / 2  # hand CE: soft row, then one-hot row
    torch.testing.assert_close(head.loss(feats, samples)['loss_cls'], expected)

    # The label state saved in a checkpoint brings the one-hot target back in a fresh dataset.
    path = str(tmp_path / 'state.pth')
    atomic_save(dict(label_state=ds.label_state_dict()), path)
    fresh = build()
    torch.testing.assert_close(fresh[idx]['data_samples'].gt_score, before.gt_score)
    fresh.load_label_state_dict(safe_torch_load(path)['label_state'])
    torch.testing.assert_close(fresh[idx]['data_samples'].gt_score, one_hot)
    assert int(fresh[idx]['data_samples'].gt_label) == new
    torch.testing.assert_close(fresh[0]['data_samples'].gt_score, keep.gt_score)


def test_negative_indices_serve_the_overrides(tmp_path):
    from ferlab.datasets import RAFDB

    root = make_fake_rafdb(tmp_path / 'raf', n_train=8, n_test=2, size=16)
    ds = RAFDB(data_root=root, split='train', pipeline=PIPELINE)
    n = len(ds)
    annotated = [ds.get_data_info(i)['gt_label'] for i in range(n)]  # fake labels cycle 0..6: [0..6, 0]
    ds.set_gt_label(6, 2)
    for idx in (6, 6 - n):
        info = ds.get_data_info(idx)
        assert (info['gt_label'], info['ori_label'], info['sample_idx']) == (2, annotated[6], 6)
    sample = ds[6 - n]['data_samples']
    assert int(sample.gt_label) == 2 and sample.sample_idx == 6
    ds.set_gt_label(-1, 4)  # the last sample, stored under its non-negative index
    assert ds.label_state_dict()['overrides'] == {6: 2, n - 1: 4}
    assert ds.get_data_info(n - 1)['gt_label'] == 4 and ds.get_gt_labels()[n - 1] == 4
    for bad in (n, -n - 1):
        with pytest.raises(IndexError, match=f'{bad}'):
            ds.set_gt_label(bad, 0)


# ------------------------------------------------------------------------------------ LabelStateHook
RAFDB_CONFIG = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')


@pytest.mark.e2e
def test_test_tool_evaluates_without_the_training_set(tmp_path):
    """tools/test.py evaluates a checkpoint although the training split's data_root does not exist."""
    from tools.test import main as test_main
    from tools.train import main as train_main

    root = make_fake_rafdb(tmp_path / 'raf', n_train=8, n_test=4, size=32)
    work = str(tmp_path / 'work')
    opts = tiny_train_options(root, max_epochs=1, batch_size=4)
    train_main([RAFDB_CONFIG, '--work-dir', work, '--no-validate', '--cfg-options', *opts])
    missing = str(tmp_path / 'no_train_root')
    metrics = test_main([RAFDB_CONFIG, osp.join(work, 'epoch_1.pth'), '--work-dir', work, '--cfg-options',
                         *opts, f'train_dataloader.dataset.data_root={missing}'])  # fmt: skip
    assert 'accuracy' in metrics and not osp.exists(missing)


RELABEL_CONFIG = osp.join(REPO_ROOT, 'configs/relabel/resnet18_scn-relabel_synthfer_noisy.py')


def tiny_relabel_options(max_epochs: int, start_epoch: int) -> list[str]:
    """A seconds-long FERClassifier + RelabelHook run on 16 SynthFER images (delta = 0, constant f)."""
    opts = [f'train_cfg.max_epochs={max_epochs}', 'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=-1',
            'model.backbone.num_stages=2', 'model.backbone.out_indices=(1,)', 'model.head.in_channels=128',
            f'custom_hooks.1.start_epoch={start_epoch}', 'custom_hooks.1.delta=0.0',
            'custom_hooks.1.threshold=constant', 'randomness.seed=0']  # fmt: skip
    for loader, n in (('train_dataloader', 16), ('val_dataloader', 4), ('test_dataloader', 4)):
        opts += [
            f'{loader}.batch_size=4',
            f'{loader}.dataset.num_samples={n}',
            f'{loader}.dataset.img_size=32',
        ]
    return opts


def _train(work, opts, *extra):
    from tools.train import main

    runner = main([RELABEL_CONFIG, '--work-dir', str(work), '--no-validate', *extra, '--cfg-options', *opts])
    return runner, unwrap_dataset(runner.train_dataloader.dataset)


@pytest.mark.e2e
def test_load_from_keeps_the_annotations_resume_restores_relabels(tmp_path):
    _, ds = _train(tmp_path / 'relabeled', tiny_relabel_options(1, 0))
    ckpt = str(tmp_path / 'relabeled' / 'epoch_1.pth')
    relabels = safe_torch_load(ckpt)['label_state']['overrides']
    assert relabels and relabels == ds.label_state_dict()['overrides']

    # load_from: weights only, the training set serves its annotations (no relabeling in this run)
    runner, ds = _train(tmp_path / 'loaded', tiny_relabel_options(1, 100) + [f'load_from={ckpt}'])
    assert ds.label_state_dict()['overrides'] == {}
    assert next(h for h in runner.hooks if isinstance(h, RelabelHook)).history[0]['total'] == 0
    assert safe_torch_load(str(tmp_path / 'loaded' / 'epoch_1.pth'))['label_state']['overrides'] == {}

    # --resume: the run continues with the relabeled labels
    runner, ds = _train(tmp_path / 'relabeled', tiny_relabel_options(2, 100), '--resume', ckpt)
    assert runner.epoch == 2 and ds.label_state_dict()['overrides'] == relabels
    assert (
        safe_torch_load(str(tmp_path / 'relabeled' / 'epoch_2.pth'))['label_state']['overrides'] == relabels
    )
