"""Save and restore the training set's mutable labels with checkpoints, while training only."""

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

    Any component that relabels samples (SCN/MVT relabeling, ARBEx refinement)
    writes through ``dataset.set_gt_label``; this hook makes that state part
    of the checkpoint under ``checkpoint['label_state']`` so that ``--resume``
    continues with the same labels.

    It acts only while training. The training dataset is captured in
    ``before_train`` (the train loop has built it by then); outside training
    (``tools/test.py``, ``Runner.val``) the hook never touches
    ``runner.train_dataloader``, so evaluation neither builds nor needs the
    training split. A loaded checkpoint's label state is applied in
    ``before_train`` only if the run resumed from that checkpoint, i.e. the
    train loop continues from the checkpoint's iteration (mmengine's resume
    sets it from ``checkpoint['meta']['iter']``); ``load_from`` loads weights
    only and the training set serves its annotations. Validation and test sets
    are never touched.
    """

    priority = 'VERY_LOW'
    key = 'label_state'

    def __init__(self):
        self.dataset = None
        self._loaded: tuple[dict, int | None] | None = None

    def before_train(self, runner) -> None:
        ds = unwrap_dataset(runner.train_dataloader.dataset)
        self.dataset = ds if hasattr(ds, 'label_state_dict') else None
        if self._loaded is None:
            return
        state, ckpt_iter = self._loaded
        self._loaded = None
        resumed = ckpt_iter is not None and ckpt_iter > 0 and runner.iter == ckpt_iter
        if not resumed:
            if state.get('overrides'):
                runner.logger.info(
                    f'load_from loads weights only: the {len(state["overrides"])} relabeled training samples '
                    'of the checkpoint are not restored (use --resume to continue with them)'
                )
            return
        if self.dataset is None:
            raise TypeError(
                f'the checkpoint holds relabeled training labels but the training set '
                f'{type(unwrap_dataset(runner.train_dataloader.dataset)).__name__} has no load_label_state_dict'
            )
        self.dataset.load_label_state_dict(state)
        runner.logger.info(
            f'restored {len(state["overrides"])} relabeled training samples from the checkpoint'
        )

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.dataset is not None:
            checkpoint[self.key] = self.dataset.label_state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Only remembered here: whether this is a resume is known once the train loop starts.
        if self.key in checkpoint:
            self._loaded = (checkpoint[self.key], checkpoint.get('meta', {}).get('iter'))
