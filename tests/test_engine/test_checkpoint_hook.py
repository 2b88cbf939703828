"""ferlab's CheckpointHook: atomic ``last_checkpoint`` pointer, rotation and best-swap after the save."""

from __future__ import annotations

import os
from collections import deque

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.hooks import CheckpointHook as MMCheckpointHook
from mmengine.logging import MessageHub, MMLogger

import ferlab.utils.checkpoint as ckpt_io
from ferlab.engine.hooks import CheckpointHook
from ferlab.registry import HOOKS
from ferlab.utils import safe_torch_load
from tests.utils import REPO_ROOT, make_fake_rafdb, tiny_train_options


class FakeRunner:
    """What ``_save_checkpoint_with_step`` touches: work_dir, message_hub, save_checkpoint."""

    def __init__(self, work_dir, fail_at=None, epoch=0, message_hub=None):
        self.work_dir = str(work_dir)
        self.message_hub = message_hub or MessageHub.get_instance(f'ckpt_hook_test_{id(self)}')
        self.fail_at = fail_at
        self.epoch, self.iter = epoch, 2 * epoch
        self.logger = MMLogger.get_instance('ckpt_hook_test')

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        if filename == self.fail_at:
            raise RuntimeError(f'killed while writing {filename}')
        ckpt_io.atomic_save({'meta': {'file': filename}}, os.path.join(out_dir, filename))


def _hook(work_dir, max_keep):
    hook = HOOKS.build(dict(type='CheckpointHook', interval=1, max_keep_ckpts=max_keep))
    hook.out_dir = str(work_dir)
    hook.file_backend = get_file_backend(hook.out_dir)
    hook.keep_ckpt_ids = deque(maxlen=max_keep if max_keep > 0 else None)
    return hook


def test_builds_ferlab_subclass_from_the_registry():
    hook = HOOKS.build(dict(type='CheckpointHook', interval=1))
    assert type(hook) is CheckpointHook and isinstance(hook, MMCheckpointHook)


def test_rotation_keeps_max_and_pointer(tmp_path):
    hook, runner = _hook(tmp_path, 2), FakeRunner(tmp_path)
    for step in (1, 2, 3, 4):
        hook._save_checkpoint_with_step(runner, step, meta={})
        assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / f'epoch_{step}.pth')
    assert sorted(p.name for p in tmp_path.glob('epoch_*.pth')) == ['epoch_3.pth', 'epoch_4.pth']
    assert runner.message_hub.get_info('keep_ckpt_ids') == [3, 4]
    hook._save_checkpoint_with_step(runner, 4, meta={})  # same step again (latest + best): no rotation
    assert sorted(p.name for p in tmp_path.glob('epoch_*.pth')) == ['epoch_3.pth', 'epoch_4.pth']


def test_crash_during_save_keeps_old_checkpoints_and_pointer(tmp_path):
    hook = _hook(tmp_path, 2)
    ok = FakeRunner(tmp_path)
    for step in (1, 2):
        hook._save_checkpoint_with_step(ok, step, meta={})
    with pytest.raises(RuntimeError, match='killed while writing epoch_3.pth'):
        hook._save_checkpoint_with_step(FakeRunner(tmp_path, fail_at='epoch_3.pth'), 3, meta={})
    # mmengine's hook deletes epoch_1 before saving epoch_3; ferlab's only after it is on disk
    assert sorted(p.name for p in tmp_path.glob('epoch_*.pth')) == ['epoch_1.pth', 'epoch_2.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_2.pth')


def test_pointer_write_is_atomic(tmp_path, monkeypatch):
    hook, runner = _hook(tmp_path, -1), FakeRunner(tmp_path)
    hook._save_checkpoint_with_step(runner, 1, meta={})

    def dying_replace(src, dst):  # the process dies between writing the temp file and renaming it
        raise KeyboardInterrupt('SIGINT during rename')

    monkeypatch.setattr(ckpt_io.os, 'replace', dying_replace)
    with pytest.raises(KeyboardInterrupt):
        hook._save_checkpoint_with_step(runner, 2, meta={})
    monkeypatch.undo()
    # epoch_2.pth itself was never renamed into place either; the pointer still names epoch_1
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')
    assert not list(tmp_path.glob('.last_checkpoint.*')) and not list(tmp_path.glob('.epoch_*'))


@pytest.mark.e2e
def test_train_tool_uses_it_and_resume_follows_the_pointer(tmp_path):
    from tools.train import main

    data_root = make_fake_rafdb(tmp_path / 'data', n_train=8, n_test=4, size=32)
    work_dir = tmp_path / 'work'
    opts = tiny_train_options(data_root, max_epochs=3, batch_size=4)
    opts = [
        o
        for o in opts
        if not o.startswith(('default_hooks.checkpoint.max_keep_ckpts', 'default_hooks.checkpoint.save_best'))
    ]
    # save_best re-saves the current step after a new best (same step twice: must not rotate twice)
    opts += ['default_hooks.checkpoint.max_keep_ckpts=2', 'default_hooks.checkpoint.save_best=auto']
    config = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
    main([config, '--work-dir', str(work_dir), '--cfg-options', *opts])
    assert sorted(p.name for p in work_dir.glob('epoch_*.pth')) == ['epoch_2.pth', 'epoch_3.pth']
    assert len(list(work_dir.glob('best_accuracy_epoch_*.pth'))) == 1
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_3.pth')
    assert safe_torch_load(work_dir / 'epoch_3.pth')['meta']['epoch'] == 3
    assert torch.is_tensor(next(iter(safe_torch_load(work_dir / 'epoch_3.pth')['state_dict'].values())))


def _best_hook(work_dir):
    hook = HOOKS.build(dict(type='CheckpointHook', interval=1, save_best='accuracy', rule='greater'))
    hook.out_dir = str(work_dir)
    hook.file_backend = get_file_backend(hook.out_dir)
    hook._init_rule(hook.rules, hook.key_indicators)
    hook.best_ckpt_path = None
    hook.last_ckpt = None  # no periodic checkpoint yet: the best is the only file written
    return hook


def _best_files(work_dir):
    return sorted(p.name for p in work_dir.glob('best_*.pth'))


def test_new_best_is_written_before_the_old_best_is_removed(tmp_path):
    hook, hub = _best_hook(tmp_path), MessageHub.get_instance(f'best_{id(tmp_path)}')
    hook._save_best_checkpoint(FakeRunner(tmp_path, epoch=1, message_hub=hub), {'accuracy': 50.0})
    assert _best_files(tmp_path) == ['best_accuracy_epoch_1.pth']
    # the process dies while writing the new best: the old best must survive (mmengine removes it first)
    dying = FakeRunner(tmp_path, fail_at='best_accuracy_epoch_2.pth', epoch=2, message_hub=hub)
    with pytest.raises(RuntimeError, match='killed while writing best_accuracy_epoch_2.pth'):
        hook._save_best_checkpoint(dying, {'accuracy': 60.0})
    assert _best_files(tmp_path) == ['best_accuracy_epoch_1.pth']
    assert (
        safe_torch_load(tmp_path / 'best_accuracy_epoch_1.pth')['meta']['file'] == 'best_accuracy_epoch_1.pth'
    )
    # a successful new best replaces the old one
    hook2 = _best_hook(tmp_path)
    hook2.best_ckpt_path = str(tmp_path / 'best_accuracy_epoch_1.pth')
    hub.update_info('best_score', 50.0)
    hook2._save_best_checkpoint(FakeRunner(tmp_path, epoch=3, message_hub=hub), {'accuracy': 70.0})
    assert _best_files(tmp_path) == ['best_accuracy_epoch_3.pth']
    assert hub.get_info('best_ckpt') == str(tmp_path / 'best_accuracy_epoch_3.pth')
    assert hub.get_info('best_score') == 70.0
    # not better: nothing changes
    hook2._save_best_checkpoint(FakeRunner(tmp_path, epoch=4, message_hub=hub), {'accuracy': 65.0})
    assert _best_files(tmp_path) == ['best_accuracy_epoch_3.pth'] and hub.get_info('best_score') == 70.0


def test_crash_during_best_rename_keeps_old_best(tmp_path, monkeypatch):
    hook, hub = _best_hook(tmp_path), MessageHub.get_instance(f'best_rename_{id(tmp_path)}')
    hook._save_best_checkpoint(FakeRunner(tmp_path, epoch=1, message_hub=hub), {'accuracy': 50.0})

    def dying_replace(src, dst):
        raise KeyboardInterrupt('SIGINT during rename')

    monkeypatch.setattr(ckpt_io.os, 'replace', dying_replace)
    with pytest.raises(KeyboardInterrupt):
        hook._save_best_checkpoint(FakeRunner(tmp_path, epoch=2, message_hub=hub), {'accuracy': 60.0})
    monkeypatch.undo()
    assert _best_files(tmp_path) == ['best_accuracy_epoch_1.pth']
    assert hub.get_info('best_ckpt') == str(tmp_path / 'best_accuracy_epoch_1.pth')
