"""SCN / MVT relabeling: threshold functions, the decision rule, published scores, the hook and resume."""

import glob
import json
import os.path as osp
from datetime import timedelta
from types import SimpleNamespace

import pytest
import torch

from ferlab.engine.hooks import RelabelHook, RelabelThreshold, relabel_decision, unwrap_dataset
from ferlab.engine.hooks.relabel_hook import apply_relabels, gather_relabels, sync_and_apply_relabels
from ferlab.registry import HOOKS, MODELS
from ferlab.structures import FERDataSample
from ferlab.utils import safe_torch_load
from tests.utils import free_port, make_fake_rafdb


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


_TINY_BACKBONE = dict(type='ResNet', depth=18, num_stages=2, out_indices=(1,))
PUBLISHING_MODELS = {
    # dropout in the head: a second head call would draw another mask and give other scores
    'FERClassifier': dict(type='FERClassifier', backbone=_TINY_BACKBONE, neck=dict(type='GlobalAveragePooling'),
                          head=dict(type='LinearClsHead', num_classes=7, in_channels=128, dropout=0.5)),
    'MVT-no-MGN': dict(type='MVT', mgn=None, backbone=_TINY_BACKBONE, neck=dict(type='GlobalAveragePooling'),
                       head=dict(type='LinearClsHead', num_classes=7, in_channels=128, dropout=0.5)),
    'DAN': dict(type='FERClassifier', backbone=_TINY_BACKBONE,
                neck=dict(type='MultiHeadCrossAttention', in_channels=128, num_heads=2),
                head=dict(type='AttentionFusionHead', num_classes=7, in_channels=128)),
}  # fmt: skip


@pytest.mark.parametrize('name', sorted(PUBLISHING_MODELS))
def test_train_step_publishes_the_scores_its_loss_used(name):
    """``train_step`` outputs carry each sample's softmax of the very forward the loss was computed on."""
    from mmengine.optim import OptimWrapper

    torch.manual_seed(0)
    model = MODELS.build(PUBLISHING_MODELS[name])
    model.init_weights()
    labels = [3, 0, 6, 1]
    batch = dict(
        inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8) for _ in labels],
        data_samples=[
            FERDataSample(metainfo=dict(sample_idx=10 + i)).set_gt_label(y) for i, y in enumerate(labels)
        ],
    )
    outputs = model.train_step(batch, OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1)))
    # what mmengine logs: scalars only (RuntimeInfoHook logs every key of the outputs)
    assert 'loss' in outputs and 'loss_cls' in outputs and 'data_samples' not in outputs
    assert all(torch.as_tensor(v).numel() == 1 for v in outputs.values())
    samples = outputs.data_samples
    assert [s.sample_idx for s in samples] == [10, 11, 12, 13]
    assert [int(s.gt_label) for s in samples] == labels
    scores = torch.stack([s.train_score for s in samples])
    assert scores.shape == (4, 7) and not scores.requires_grad
    torch.testing.assert_close(scores.sum(1), torch.ones(4))
    # oracle: the cross-entropy of these scores is the logged loss (same forward, same dropout mask)
    hand_ce = -scores.log()[torch.arange(4), torch.tensor(labels)].mean()
    torch.testing.assert_close(hand_ce, outputs['loss_cls'], rtol=1e-5, atol=1e-6)


RELABEL_CONFIG = 'configs/relabel/resnet18_scn-relabel_synthfer_noisy.py'


def tiny_relabel_options(max_epochs=1, start_epoch=0):
    """A seconds-long FERClassifier + RelabelHook run on 16 noisy SynthFER images (delta = 0, constant f)."""
    opts = [f'train_cfg.max_epochs={max_epochs}', 'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.interval=1', 'model.backbone.num_stages=2', 'model.backbone.out_indices=(1,)',
            'model.head.in_channels=128', f'custom_hooks.1.start_epoch={start_epoch}', 'custom_hooks.1.delta=0.0',
            'custom_hooks.1.threshold=constant', 'randomness.seed=0']  # fmt: skip
    for loader, n in (('train_dataloader', 16), ('val_dataloader', 4), ('test_dataloader', 4)):
        opts += [
            f'{loader}.batch_size=4',
            f'{loader}.dataset.num_samples={n}',
            f'{loader}.dataset.img_size=32',
        ]
    return opts


@pytest.mark.e2e
def test_fer_classifier_config_trains_and_relabels(tmp_path):
    """``configs/relabel``: a plain FERClassifier + RelabelHook relabels through tools/train.py."""
    from tools.train import main

    work = str(tmp_path / 'work')
    runner = main(
        [RELABEL_CONFIG, '--work-dir', work, '--no-validate', '--cfg-options', *tiny_relabel_options()]
    )
    assert type(runner.model).__name__ == 'FERClassifier'
    ds = unwrap_dataset(runner.train_dataloader.dataset)
    hook = next(h for h in runner.hooks if isinstance(h, RelabelHook))
    overrides = ds.label_state_dict()['overrides']
    assert hook.history[0]['count'] > 0 and overrides
    assert hook.history[0]['total'] == sum(
        lbl != ds.get_data_info(i)['ori_label'] for i, lbl in overrides.items()
    )
    # SynthFER carries clean labels: the hook counts the events that restored them
    assert 0 <= hook.history[0]['correct'] <= hook.history[0]['count']
    served = ds.get_gt_labels()
    assert all(served[i] == lbl for i, lbl in overrides.items())
    log = open(glob.glob(osp.join(work, '*', '*.log'))[0]).read()
    assert 'relabel epoch 1:' in log
    assert safe_torch_load(osp.join(work, 'epoch_1.pth'))['label_state']['overrides'] == overrides


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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_hook_rejects_persistent_workers_and_models_without_scores(tmp_path):
    from ferlab.datasets import RAFDB
    from tools.train import main

    root = make_fake_rafdb(tmp_path / 'raf', n_train=8, n_test=4, size=32)
    opts = tiny_mvt_options(root, 1, 0)
    with pytest.raises(ValueError, match='persistent_workers=False'):
        main(['configs/mvt/mvt_deit-s_rafdb.py', '--work-dir', str(tmp_path / 'w1'), '--cfg-options', *opts,
              'train_dataloader.num_workers=1', 'train_dataloader.persistent_workers=True'])  # fmt: skip
    hook = HOOKS.build(dict(type='RelabelHook', start_epoch=5))
    ds = unwrap_dataset(RAFDB(data_root=root, split='train', pipeline=[]))
    runner = SimpleNamespace(epoch=0, train_dataloader=SimpleNamespace(dataset=ds, num_workers=0))
    hook.before_train(runner)
    # a model whose train_step publishes no per-sample scores is refused at its first iteration,
    # not only when relabeling starts
    with pytest.raises(TypeError, match='train_score'):
        hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.0)})
    samples = [FERDataSample(metainfo=dict(sample_idx=0)).set_gt_label(0)]
    with pytest.raises(TypeError, match='train_score'):
        hook.after_train_iter(runner, 0, outputs=SimpleNamespace(data_samples=samples))


# Per rank: (sample_idx, new_label, clean_label) decisions of two iterations (rank 1 has none in the second),
# then one hook iteration whose scores make every sample of this rank's batch relabel to class 6.
_RANK_DECISIONS = {0: [[(0, 3, 3), (4, 1, -1)], [(2, 5, 5)]], 1: [[(5, 2, 2), (7, 6, 0)], []]}
_HOOK_SAMPLES = {0: [8], 1: [9, 10]}


def _two_rank_worker(rank: int, port: int, root: str, out_dir: str) -> None:
    """One gloo rank: gather/apply the decisions above, then run RelabelHook.after_train_iter."""
    import torch.distributed as dist

    from ferlab.datasets import RAFDB

    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2,
                            timeout=timedelta(seconds=60))  # fmt: skip
    try:
        ds = RAFDB(data_root=root, split='train', pipeline=[])
        counts = [sync_and_apply_relabels(ds, d) for d in _RANK_DECISIONS[rank]]
        hook = RelabelHook(start_epoch=0, delta=0.2, threshold='constant')
        samples = []
        for idx in _HOOK_SAMPLES[rank]:
            s = FERDataSample(metainfo=dict(sample_idx=idx, clean_label=6)).set_gt_label(0)
            s.set_field(torch.tensor([0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.95]), 'train_score')
            samples.append(s)
        runner = SimpleNamespace(epoch=0, train_dataloader=SimpleNamespace(dataset=ds, num_workers=0))
        hook.before_train(runner)
        hook.after_train_iter(runner, 0, outputs=SimpleNamespace(data_samples=samples))
        res = dict(counts=counts, overrides=ds.label_state_dict()['overrides'],
                   hook=[hook.count, hook.with_clean, hook.correct])  # fmt: skip
        json.dump(res, open(osp.join(out_dir, f'rank{rank}.json'), 'w'))
    finally:
        dist.destroy_process_group()


def test_single_process_gather_is_identity_and_apply_counts(tmp_path):
    from ferlab.datasets import RAFDB

    root = make_fake_rafdb(tmp_path / 'raf', n_train=8, n_test=2, size=16)
    ds = RAFDB(data_root=root, split='train', pipeline=[])
    decisions = [(1, 4, 4), (3, 2, 0), (1, 5, -1)]
    assert gather_relabels(decisions) == decisions  # no process group: no communication, same list
    assert apply_relabels(ds, decisions) == (3, 2, 1)
    assert ds.label_state_dict()['overrides'] == {1: 5, 3: 2}  # later decision for the same index wins


@pytest.mark.dist
def test_two_ranks_end_with_the_union_of_relabels(tmp_path):
    """2 gloo processes: both ranks hold every rank's relabels; counts are global."""
    import torch.multiprocessing as mp

    root = make_fake_rafdb(tmp_path / 'raf', n_train=12, n_test=2, size=16)
    out = str(tmp_path)
    ctx = mp.start_processes(_two_rank_worker, args=(free_port(), root, out), nprocs=2, join=False,
                             start_method='spawn')  # fmt: skip
    for p in ctx.processes:
        p.join(timeout=120)
    alive = [p for p in ctx.processes if p.is_alive()]
    for p in alive:
        p.terminate()
    assert not alive, 'distributed relabel workers did not finish within 120 s'
    assert all(p.exitcode == 0 for p in ctx.processes), [p.exitcode for p in ctx.processes]
    res = [json.load(open(osp.join(out, f'rank{r}.json'))) for r in (0, 1)]
    union = {'0': 3, '4': 1, '5': 2, '7': 6, '2': 5, '8': 6, '9': 6, '10': 6}
    for r in res:
        assert r['overrides'] == union
        # iteration 1: 4 events (3 with clean label, 2 correct); iteration 2: rank 0's single event
        assert r['counts'] == [[4, 3, 2], [1, 1, 1]]
        assert r['hook'] == [3, 3, 3]  # the hook's counts include the other rank's relabels
