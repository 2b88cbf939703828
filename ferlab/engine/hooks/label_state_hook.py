"""Save and restore the training set's mutable labels with checkpoints."""

from __future__ import annotations

from mmengine.hooks import Hook

from ferlab.registry import HOOKS


def unwrap_dataset(dataset):
    """Follow ``.dataset`` wrappers (RepeatDataset, ClassBalancedDataset…) to the labelled set."""
    seen = 0
    while not hasattr(dataset, 'label_state_dict') and hasattr(dataset, 'dataset') and seen < 8:
        dataset, seen = dataset.dataset, seen + 1
    return dataset


@HOOKS.register_module()
class LabelStateHook(Hook):
    """Put the training set's label overrides into every checkpoint and restore them on resume.

    Any component that relabels samples (MVT/SCN relabeling, ARBEx refinement)
    writes through ``dataset.set_gt_label``; this hook makes that state part
    of the checkpoint under ``checkpoint['label_state']`` so that ``--resume``
    continues with the same labels. Validation and test sets are never touched.
    """

    priority = 'VERY_LOW'
    key = 'label_state'

    def _dataset(self, runner):
        loader = runner.train_dataloader if hasattr(runner, '_train_loop') and runner._train_loop else None
        if loader is None or isinstance(loader, dict):
            return None
        ds = unwrap_dataset(loader.dataset)
        return ds if hasattr(ds, 'label_state_dict') else None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        ds = self._dataset(runner)
        if ds is not None:
            checkpoint[self.key] = ds.label_state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        ds = self._dataset(runner)
        if ds is not None and self.key in checkpoint:
            ds.load_label_state_dict(checkpoint[self.key])
            runner.logger.info(
                f'restored {len(checkpoint[self.key]["overrides"])} relabeled training samples '
                'from the checkpoint'
            )
