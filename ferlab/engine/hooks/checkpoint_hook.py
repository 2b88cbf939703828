"""CheckpointHook whose every write is atomic and whose rotation never loses the newest state."""

from __future__ import annotations

import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook as MMCheckpointHook

from ferlab.registry import HOOKS
from ferlab.utils.checkpoint import atomic_write_bytes


@HOOKS.register_module()
class CheckpointHook(MMCheckpointHook):
    """mmengine's ``CheckpointHook`` with two safety changes (same arguments).

    Registered under the same name in ferlab's ``HOOKS``, so
    ``default_hooks=dict(checkpoint=dict(type='CheckpointHook', ...))`` under
    ``default_scope='ferlab'`` builds this class.

    1. ``work_dir/last_checkpoint`` (the pointer ``--resume`` follows) is
       written through temp file + fsync + rename. mmengine 0.10.7 writes it
       with a plain ``open(..., 'w')``: a crash during that write leaves an
       empty or partial pointer and ``--resume`` cannot find the checkpoint.
    2. With ``max_keep_ckpts``, the oldest checkpoint is removed *after* the
       new one has been written (mmengine removes it before saving, so a crash
       during the save leaves one checkpoint fewer than asked for).
    3. With ``save_best``, a new best checkpoint is written first and the old
       best removed afterwards (mmengine removes the old best, then saves: a
       crash in between leaves no best checkpoint at all). The message hub's
       ``best_score`` / ``best_ckpt`` change only once the new file is on disk.

    The checkpoint files themselves are written atomically by ferlab's local
    file backend (:func:`ferlab.utils.checkpoint.register_checkpoint_io`).
    """

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        stale = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            # the same step may be saved twice (latest + best): only rotate once
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():  # sharded saves: only rank 0 owns the files below
            return
        atomic_write_bytes(str(self.last_ckpt).encode('utf-8'), osp.join(runner.work_dir, 'last_checkpoint'))
        if stale is not None:
            self._remove_checkpoint(
                self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(stale))
            )

    def _remove_checkpoint(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed-style checkpoint directories
            self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best:
            return
        step = runner.epoch if self.by_epoch else runner.iter
        ckpt_filename = self.filename_tmpl.format(step)
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])

        updated = False
        single = len(self.key_indicators) == 1
        for key_indicator, rule in zip(self.key_indicators, self.rules):
            score_key = 'best_score' if single else f'best_score_{key_indicator}'
            ckpt_key = 'best_ckpt' if single else f'best_ckpt_{key_indicator}'
            old_path = self.best_ckpt_path if single else self.best_ckpt_path_dict[key_indicator]
            best = runner.message_hub.get_info(score_key, self.init_value_map[rule])
            score = metrics[key_indicator]
            if score is None or not self.is_better_than[key_indicator](score, best):
                continue
            updated = True
            name = f'best_{key_indicator}_{ckpt_filename}'.replace('/', '_')
            new_path = self.file_backend.join_path(self.out_dir, name)
            runner.save_checkpoint(
                self.out_dir,
                filename=name,
                file_client_args=self.file_client_args,
                save_optimizer=False,
                save_param_scheduler=False,
                meta=meta,
                by_epoch=False,
                backend_args=self.backend_args,
            )
            # the new best is on disk: now publish it and drop the old one
            runner.message_hub.update_info(score_key, score)
            runner.message_hub.update_info(ckpt_key, new_path)
            if single:
                self.best_ckpt_path = new_path
            else:
                self.best_ckpt_path_dict[key_indicator] = new_path
            runner.logger.info(
                f'The best checkpoint with {score:0.4f} {key_indicator} at {step} is saved to {name}.'
            )
            if old_path and old_path != new_path and is_main_process():
                self._remove_checkpoint(old_path)
                runner.logger.info(f'The previous best checkpoint {old_path} is removed')

        # Re-save the periodic checkpoint so that its message hub names the new best
        # (mmengine does the same: resuming must be able to remove the current best).
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)
