"""SCN / MVT relabeling of suspected mislabeled training samples.

* SCN (Wang et al., CVPR 2020), MVT Eq. 5: relabel to ``l_max`` if ``P_max - P_gt > delta``.
* MVT dynamic relabeling (Li et al., ICASSP 2022), Eq. 6:
  relabel if ``P_max - P_gt > f(P_gt) + delta`` with ``f >= 0`` monotone increasing.
"""

from __future__ import annotations

import math

import torch
from mmengine.dist import all_gather_object, get_world_size
from mmengine.hooks import Hook

from ferlab.registry import HOOKS

from .label_state_hook import unwrap_dataset


class RelabelThreshold:
    """The dynamic part ``f(P_gt)`` of Eq. 6.

    The paper names four shapes (Fig. 5a) without publishing their formulas;
    ferlab's documented, configurable forms (all ``f(0) ~ 0``, non-negative,
    monotone increasing on ``[0, 1]``):

    * ``'constant'``: ``f(p) = 0`` — SCN's fixed threshold, Eq. 5.
    * ``'linear'``: ``f(p) = scale * p``.
    * ``'quadratic'``: ``f(p) = scale * p^2``.
    * ``'sigmoid'``: ``f(p) = scale * (s(k (p - c)) - s(-k c))`` with ``s`` the
      logistic function, steepness ``k`` and centre ``c`` (shifted so ``f(0) = 0``).

    Defaults: ``scale=1``, ``steepness=10``, ``center=0.5``.
    """

    KINDS = ('constant', 'linear', 'quadratic', 'sigmoid')

    def __init__(
        self, kind: str = 'sigmoid', scale: float = 1.0, steepness: float = 10.0, center: float = 0.5
    ):
        if kind not in self.KINDS:
            raise ValueError(f'relabel threshold f must be one of {self.KINDS}, got {kind!r}')
        if scale < 0 or steepness <= 0:
            raise ValueError(f'need scale >= 0 and steepness > 0 so that f is non-negative and increasing, '
                             f'got scale={scale}, steepness={steepness}')  # fmt: skip
        self.kind, self.scale, self.steepness, self.center = kind, scale, steepness, center

    def __call__(self, p_gt: torch.Tensor) -> torch.Tensor:
        if self.kind == 'constant':
            return torch.zeros_like(p_gt)
        if self.kind == 'linear':
            return self.scale * p_gt
        if self.kind == 'quadratic':
            return self.scale * p_gt**2
        offset = 1.0 / (1.0 + math.exp(self.steepness * self.center))
        return self.scale * (torch.sigmoid(self.steepness * (p_gt - self.center)) - offset)

    def __repr__(self) -> str:
        return f'RelabelThreshold({self.kind!r}, scale={self.scale}, steepness={self.steepness}, center={self.center})'


def relabel_decision(
    scores: torch.Tensor, labels: torch.Tensor, delta: float, f: RelabelThreshold
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 5/6 on a batch.

    Args:
        scores: ``(B, C)`` class probabilities.
        labels: ``(B,)`` the labels currently served (``l_org``).
        delta: Lower limit of the threshold.
        f: The dynamic threshold.

    Returns:
        ``(relabel, new_labels)``: ``(B,)`` bool and ``(B,)`` long (``l_max`` where
        relabeled, else ``l_org``).
    """
    if scores.dim() != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(
            f'need (B, C) scores and (B,) labels, got {tuple(scores.shape)}, {tuple(labels.shape)}'
        )
    labels = labels.long().to(scores.device)
    p_max, l_max = scores.max(dim=1)
    p_gt = scores.gather(1, labels[:, None]).squeeze(1)
    relabel = (p_max - p_gt) > (f(p_gt) + delta)
    return relabel, torch.where(relabel, l_max, labels)


def gather_relabels(decisions: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Collect the relabel decisions of all ranks, in rank order.

    Args:
        decisions: This rank's ``(sample_idx, new_label, clean_label)`` triples
            (``clean_label = -1`` when the sample carries none).

    Returns:
        The concatenation of every rank's list (rank 0 first), identical on all
        ranks; ``decisions`` itself in a single process (no communication).
    """
    if get_world_size() <= 1:
        return list(decisions)
    gathered = all_gather_object([tuple(int(v) for v in d) for d in decisions])
    return [tuple(d) for rank_list in gathered for d in rank_list]


def apply_relabels(dataset, decisions: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Write ``decisions`` into ``dataset`` in order (a later decision for the same index wins).

    Args:
        dataset: Unwrapped training set with ``set_gt_label``.
        decisions: ``(sample_idx, new_label, clean_label)`` triples, ``clean_label = -1`` if unknown.

    Returns:
        ``(count, with_clean, correct)``: relabel events, events whose sample
        carries a clean label, and events whose new label equals it.
    """
    count = with_clean = correct = 0
    for idx, label, clean in decisions:
        dataset.set_gt_label(int(idx), int(label))
        count += 1
        if clean >= 0:
            with_clean += 1
            correct += int(clean == label)
    return count, with_clean, correct


def sync_and_apply_relabels(dataset, decisions: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """:func:`gather_relabels` then :func:`apply_relabels`: every rank ends with the same overrides.

    Must be called by all ranks at the same point (it is a collective when the
    world size exceeds 1). Returns the global ``(count, with_clean, correct)``.
    """
    return apply_relabels(dataset, gather_relabels(decisions))


@HOOKS.register_module()
class RelabelHook(Hook):
    """Relabel training samples after each optimiser step (SCN Eq. 5 / MVT Eq. 6), for any classifier.

    Scores. The hook uses the probabilities of the training forward itself: the
    model's ``train_step`` returns, besides its scalar ``log_vars``, the batch's data
    samples as ``outputs.data_samples`` (mmengine passes ``outputs`` to
    ``after_train_iter``), each carrying ``sample_idx``, the served ``gt_label`` and
    ``train_score`` ``(C,)``, the softmax of the logits the loss was computed on.
    :class:`ferlab.models.FERClassifier` (and so every classifier built on it, MVT
    included) with a :class:`~ferlab.models.heads.ClsHead`-based head does this
    (``ClsHead.set_train_scores``); a model that does not is refused at the first
    training iteration with a ``TypeError`` naming what is missing.

    Decisions. From epoch ``start_epoch`` on (0-based; SCN and MVT: 10), after every
    training iteration the batch's scores are compared with the served labels and
    each relabeled sample's label is overwritten in the unwrapped training dataset
    (captured when training starts) with ``dataset.set_gt_label(sample_idx, l_max)``;
    the dataset serves it from the next time it is loaded (a sample with a soft
    target then serves the one-hot of its new label, see
    :meth:`~ferlab.datasets.BaseFERDataset.get_data_info`). In distributed training
    every rank decides on its own shard, the ``(sample_idx, new_label)`` decisions of
    all ranks are gathered after each iteration (``all_gather_object``) and applied on
    every rank in rank order, so all ranks hold identical overrides and rank 0's
    checkpoint holds all of them. ``LabelStateHook`` saves the overrides in
    checkpoints, so ``--resume`` keeps them. Validation and test sets are never touched.

    Per epoch it logs (global over ranks) ``relabel/count`` (relabel events), ``relabel/total``
    (samples whose served label differs from the annotation) and, when samples
    carry ``clean_label`` (SynthFER), ``relabel/correct`` (events whose new label
    equals the clean label). :attr:`history` keeps these per epoch.

    Args:
        start_epoch: First epoch (0-based) that relabels.
        delta: ``delta`` of Eq. 5/6 (paper: 0.2).
        threshold: ``f`` as a kind string or a dict for :class:`RelabelThreshold`
            (``'constant'`` = SCN).
    """

    priority = 'LOW'

    def __init__(self, start_epoch: int = 10, delta: float = 0.2, threshold: str | dict = 'sigmoid'):
        if start_epoch < 0:
            raise ValueError(f'start_epoch must be >= 0, got {start_epoch}')
        if not 0.0 <= delta < 1.0:
            raise ValueError(f'delta must be in [0, 1), got {delta}')
        self.start_epoch = start_epoch
        self.delta = delta
        self.f = RelabelThreshold(**threshold) if isinstance(threshold, dict) else RelabelThreshold(threshold)
        self.history: list[dict] = []
        self.dataset = None
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.count = 0
        self.correct = 0
        self.with_clean = 0

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        if loader.num_workers > 0 and getattr(loader, 'persistent_workers', False):
            raise ValueError(
                'RelabelHook writes labels into the training dataset of the main process; persistent '
                'dataloader workers keep stale copies. Set train_dataloader.persistent_workers=False.'
            )
        ds = unwrap_dataset(loader.dataset)
        if not hasattr(ds, 'set_gt_label'):
            raise TypeError(
                f'RelabelHook needs a training dataset with set_gt_label, got {type(ds).__name__}'
            )
        self.dataset = ds

    def before_train_epoch(self, runner) -> None:
        self._reset_counts()

    @staticmethod
    def _published_samples(outputs) -> list:
        samples = getattr(outputs, 'data_samples', None)
        if not samples or any('train_score' not in s for s in samples):
            raise TypeError(
                'RelabelHook needs the per-sample training probabilities: the train_step outputs must carry '
                'outputs.data_samples with train_score (C,) on every sample, as FERClassifier with a '
                f'ClsHead-based head publishes them; got outputs of type {type(outputs).__name__}'
                + ('' if samples is None else ' whose samples lack train_score')
            )
        if any('sample_idx' not in s.metainfo for s in samples):
            raise KeyError('RelabelHook needs sample_idx in every data sample (PackFERInputs meta_keys)')
        return samples

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        samples = self._published_samples(outputs)  # checked from the first iteration on
        if runner.epoch < self.start_epoch:
            return
        scores = torch.stack([s.train_score for s in samples]).float()
        labels = torch.cat([s.gt_label for s in samples])
        relabel, new = relabel_decision(scores, labels, self.delta, self.f)
        local = []
        for k in relabel.nonzero().flatten().tolist():
            clean = samples[k].metainfo.get('clean_label')
            local.append((int(samples[k].sample_idx), int(new[k]), -1 if clean is None else int(clean)))
        count, with_clean, correct = sync_and_apply_relabels(self.dataset, local)
        self.count += count
        self.with_clean += with_clean
        self.correct += correct

    def after_train_epoch(self, runner) -> None:
        ds = self.dataset
        state = ds.label_state_dict()['overrides']
        total = 0
        for i, lbl in state.items():
            info = ds.get_data_info(i)
            total += int(lbl != int(info.get('ori_label', info['gt_label'])))
        rec = dict(epoch=runner.epoch + 1, count=self.count, total=total)
        if self.with_clean:
            rec['correct'] = self.correct
        runner.message_hub.update_scalar('train/relabel/count', self.count)
        runner.message_hub.update_scalar('train/relabel/total', total)
        msg = f'relabel epoch {runner.epoch + 1}: {self.count} relabels ({self.f.kind}, delta={self.delta})'
        if self.with_clean:
            runner.message_hub.update_scalar('train/relabel/correct', self.correct)
            msg += f', {self.correct} to the clean label'
        msg += f'; {total} training labels now differ from the annotation'
        self.history.append(rec)
        runner.logger.info(msg)
