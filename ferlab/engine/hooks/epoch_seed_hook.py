"""Seed each epoch's randomness from ``(runner seed, epoch)``, so resume is exact for any ``num_workers``."""

from __future__ import annotations

from mmengine.dataset import ClassBalancedDataset, RepeatDataset
from mmengine.hooks import DistSamplerSeedHook
from mmengine.runner import BaseLoop, EpochBasedTrainLoop

from ferlab.datasets.seeding import epoch_seeds, seed_global_rngs
from ferlab.registry import HOOKS


def seedable_datasets(dataset, _depth: int = 0) -> tuple[list, list]:
    """The datasets under ``dataset`` that can seed per sample, and the others.

    Follows ``.datasets`` (ConcatDataset) and ``.dataset`` (RepeatDataset,
    ClassBalancedDataset ...) wrappers.

    Returns:
        ``(seedable, others)``: datasets with ``set_aug_seed`` and the leaves without.
    """
    if hasattr(dataset, 'set_aug_seed'):
        return [dataset], []
    children = list(getattr(dataset, 'datasets', ()) or ())
    if getattr(dataset, 'dataset', None) is not None:
        children.append(dataset.dataset)
    if not children or _depth >= 8:
        return [], [dataset]
    seedable, others = [], []
    for child in children:
        s, o = seedable_datasets(child, _depth + 1)
        seedable += s
        others += o
    return seedable, others


def _contains(dataset, types, _depth: int = 0) -> bool:
    if isinstance(dataset, types):
        return True
    children = list(getattr(dataset, 'datasets', ()) or ())
    if getattr(dataset, 'dataset', None) is not None:
        children.append(dataset.dataset)
    return _depth < 8 and any(_contains(c, types, _depth + 1) for c in children)


@HOOKS.register_module()
class EpochSeedHook(DistSamplerSeedHook):
    """mmengine's ``DistSamplerSeedHook`` plus per-epoch, per-sample seeding of all randomness.

    Before every training epoch ``e`` (after ``sampler.set_epoch(e)``):

    1. the main process's numpy, ``random`` and torch (CPU + CUDA) RNGs are
       seeded from ``(seed, e)`` (:func:`~ferlab.datasets.seeding.epoch_seeds`):
       dropout, drop-path and batch augmentations of epoch ``e`` no longer
       depend on what ran before it (validation, an earlier crash);
    2. every ferlab dataset of the training loader gets
       ``set_aug_seed(seed, e)``: sample ``idx`` is augmented from
       ``(seed, e, idx, draw)``, whichever worker or batch it lands in.

    Evaluation loaders get ``set_aug_seed(seed, 0)`` before each validation /
    test, so a random test-time pipeline is the same for every evaluation.
    ``seed`` is ``runner.seed``: ``randomness.seed``, or the seed mmengine
    drew for an unseeded run, which it stores in every checkpoint's meta and
    puts back on ``--resume``. A sampler built with the runner's pre-resume
    seed (the default) is switched to the checkpoint's seed as well.

    Together this makes a run killed in epoch ``k`` and resumed from
    ``epoch_{k-1}.pth`` bit-identical to an uninterrupted one for any
    ``num_workers``, persistent workers included, and each epoch draws fresh
    augmentations.

    Limits (logged as warnings): iteration-based loops keep mmengine's
    behaviour (no per-epoch seeding: the loop restarts its dataloader inside
    an iteration, out of a hook's reach); datasets without ``set_aug_seed``
    (not ferlab's) keep drawing from the worker's RNG; inside a
    ``RepeatDataset`` / ``ClassBalancedDataset`` the copies of a sample within
    one epoch share one augmentation (use more epochs, or
    ``ClassBalancedSampler``, which numbers its copies).
    """

    priority = 'VERY_HIGH'  # seed before any other hook's before_train_epoch draws

    def __init__(self) -> None:
        self._epoch_based = True
        self._warned: set[str] = set()

    def _warn_once(self, runner, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            runner.logger.warning(msg)

    def _seed_loader(self, runner, loader, epoch: int, split: str) -> None:
        dataset = getattr(loader, 'dataset', None)
        if dataset is None:
            return
        seedable, others = seedable_datasets(dataset)
        for ds in seedable:
            ds.set_aug_seed(runner.seed, epoch)
        if others:
            names = sorted({type(o).__name__ for o in others})
            self._warn_once(
                runner,
                f'others_{split}',
                f'EpochSeedHook: {split} dataset(s) {names} have no set_aug_seed; their augmentations '
                'draw from the worker RNG (not reproducible on resume, not independent of num_workers)',
            )
        if split == 'train' and _contains(dataset, (RepeatDataset, ClassBalancedDataset)):
            self._warn_once(
                runner,
                'repeat',
                'EpochSeedHook: the training set is wrapped in RepeatDataset/ClassBalancedDataset; the '
                'copies of a sample within one epoch get the same augmentation (raise max_epochs, or use '
                "sampler=dict(type='ClassBalancedSampler'), which gives each copy its own)",
            )

    def before_train(self, runner) -> None:
        self._epoch_based = isinstance(runner.train_loop, EpochBasedTrainLoop)
        if not self._epoch_based:
            self._warn_once(
                runner,
                'iter',
                f'EpochSeedHook: {type(runner.train_loop).__name__} is not epoch-based; augmentations '
                "draw from mmengine's worker seeds (resume is not exact). Use train_cfg=dict(by_epoch=True).",
            )

    def before_train_epoch(self, runner) -> None:
        super().before_train_epoch(runner)
        if not self._epoch_based:
            return
        seed_global_rngs(*epoch_seeds(runner.seed, runner.epoch))
        self._seed_loader(runner, runner.train_loop.dataloader, runner.epoch, 'train')

    def before_val_epoch(self, runner) -> None:
        self._seed_loader(runner, runner.val_loop.dataloader, 0, 'val')

    def before_test_epoch(self, runner) -> None:
        self._seed_loader(runner, runner.test_loop.dataloader, 0, 'test')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """On resume, move a sampler seeded with the runner's fresh seed to the checkpoint's seed.

        mmengine builds the training sampler (with ``seed=runner.seed``) before
        it reads the checkpoint; for an unseeded run that seed is a new random
        draw, while the run being resumed shuffled with the seed now in
        ``checkpoint['meta']['seed']``, which mmengine then restores on the
        runner but not on the sampler. ``load_from`` (weights only) is left alone.
        """
        resumed_seed = (checkpoint.get('meta') or {}).get('seed')
        loop = getattr(runner, '_train_loop', None)
        if not getattr(runner, '_resume', False) or resumed_seed is None or not isinstance(loop, BaseLoop):
            return
        loader = loop.dataloader
        sampler = getattr(loader, 'sampler', None)
        if not hasattr(sampler, 'seed') and hasattr(getattr(loader, 'batch_sampler', None), 'sampler'):
            sampler = loader.batch_sampler.sampler
        if getattr(sampler, 'seed', None) == runner.seed and resumed_seed != runner.seed:
            runner.logger.info(
                f'EpochSeedHook: sampler seed {sampler.seed} -> {resumed_seed} (from the checkpoint)'
            )
            sampler.seed = resumed_seed
