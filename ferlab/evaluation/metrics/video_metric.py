"""Per-video evaluation with smooth predicting: the ABAW EXPR metric before and after SP."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ferlab.models.utils.smooth_predicting import smooth_predicting
from ferlab.registry import METRICS

from .single_label import confusion_matrix, per_class_stats

SMOOTH_ON = ('logit', 'score')
DECISIONS = ('argmax', 'cascade')
MACRO_OVER = ('all', 'present')


def _scalar(value, what: str, sample) -> object:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f'VideoMetric: {what} must be one value per frame, got shape {tuple(value.shape)}'
            )
        return value.item()
    if isinstance(value, np.ndarray):
        return value.reshape(-1)[0].item()
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f'VideoMetric: {what} must be one value per frame, got {value!r}')
        return value[0]
    return value


@METRICS.register_module()
class VideoMetric(BaseMetric):
    """Frame-level macro-F1 / accuracy of video frames, before and after smooth predicting.

    Every data sample must carry ``pred_score`` ``(C,)``, ``video_id`` and
    ``frame_idx`` (the ``AffWild2`` and ``SynthFERVideo`` datasets set both);
    ``gt_label`` is optional (-1 or absent = unlabelled: smoothed over, never
    counted). Once the split is collected the frames are grouped by video and
    ordered by frame index (so batch composition, sample order, ``num_workers``
    and the number of ranks change no result), each video's scores are smoothed
    by :func:`~ferlab.models.utils.smooth_predicting.smooth_predicting` (CFC-SP
    Eq. 1, windows on frame indices, truncated at the clip edges), and the
    figures are computed over all labelled frames of the split.

    Keys (percentages): ``macro_f1``, ``accuracy``, ``f1/<class>`` from the
    per-frame predictions; ``sp/macro_f1``, ``sp/accuracy``, ``sp/f1/<class>``
    after smoothing with ``window``; ``sp_w<w>/macro_f1`` and
    ``sp_w<w>/accuracy`` for each of ``extra_windows`` (a window sweep in one
    run); ``num_frames`` / ``num_videos`` counted.

    ``macro_f1`` is the ABAW EXPR metric: the mean F1 of the ``C`` classes
    (``macro_over='all'``; a class without frames nor predictions scores 0,
    ``sklearn.metrics.f1_score(average='macro', labels=range(C),
    zero_division=0)``); ``macro_over='present'`` averages over the classes in
    the ground truth or the predictions (scikit-learn's default label set).

    Distributed evaluation: mmengine gathers the ranks' results
    (``collect_results``) and drops the sampler's padding; frames that still
    occur more than once (same ``video_id`` and ``frame_idx``) are merged into
    one (mean score; their labels must agree) and counted in the log, so each
    frame is counted once.

    Args:
        window (int): SP window ``w`` in frames (0 = off: the ``sp/`` keys then
            equal the raw ones). The paper's best on Aff-Wild2 is 256.
        causal (bool): Past frames only (streaming SP).
        extra_windows (Sequence[int]): Further windows reported as ``sp_w<w>/``.
        smooth_on (str): ``'logit'`` (paper: SP on logits) smooths
            ``log(pred_score)``, which for a softmax score differs from the logits
            by a per-frame constant and so gives the same smoothed argmax as the
            logits; ``'score'`` smooths the scores themselves.
        macro_over (str): ``'all'`` (ABAW) or ``'present'``.
        decision (str): How a frame's (smoothed) scores become a label:
            ``'argmax'``, or ``'cascade'``: the CFC-SP coarse-to-fine rule on
            the 8-class scores of a ``CascadeClassifier``
            (:func:`~ferlab.models.classifiers.cascade_decision`; equals the
            model's ``pred_label`` on unsmoothed frames). Needs
            ``smooth_on='score'`` (the rule sums probabilities).
        num_classes (int, optional): ``C``; defaults to the dataset's classes.
        submission_dir (str, optional): Also write ABAW submission files there
            (:func:`ferlab.evaluation.abaw.write_abaw_submission`); needs ``ann_dir``.
            ``tools/test.py --abaw-submission DIR`` sets both.
        ann_dir (str, optional): Folder of the split's ``<video>.txt`` annotation
            files; every frame they list gets a row.
        submission_from (str): ``'sp'`` (smoothed, default) or ``'raw'`` predictions.
        collect_device (str): Where results are gathered in distributed runs.
        prefix (str, optional): Key prefix.
    """

    default_prefix = ''

    def __init__(
        self,
        window: int = 256,
        causal: bool = False,
        extra_windows: Sequence[int] = (),
        smooth_on: str = 'logit',
        macro_over: str = 'all',
        decision: str = 'argmax',
        num_classes: int | None = None,
        submission_dir: str | None = None,
        ann_dir: str | None = None,
        submission_from: str = 'sp',
        collect_device: str = 'cpu',
        prefix: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        for w in (window, *extra_windows):
            if isinstance(w, bool) or not isinstance(w, int) or w < 0:
                raise ValueError(f'VideoMetric: windows must be ints >= 0, got {w!r}')
        if smooth_on not in SMOOTH_ON:
            raise ValueError(f'VideoMetric: smooth_on must be one of {SMOOTH_ON}, got {smooth_on!r}')
        if macro_over not in MACRO_OVER:
            raise ValueError(f'VideoMetric: macro_over must be one of {MACRO_OVER}, got {macro_over!r}')
        if decision not in DECISIONS:
            raise ValueError(f'VideoMetric: decision must be one of {DECISIONS}, got {decision!r}')
        if decision == 'cascade' and smooth_on != 'score':
            raise ValueError("VideoMetric: decision='cascade' sums probabilities; it needs smooth_on='score'")
        self.decision = decision
        if submission_from not in ('sp', 'raw'):
            raise ValueError(f"VideoMetric: submission_from must be 'sp' or 'raw', got {submission_from!r}")
        if submission_dir is not None and ann_dir is None:
            raise ValueError('VideoMetric: submission_dir needs ann_dir (the split annotation folder)')
        self.window, self.causal = window, bool(causal)
        self.extra_windows = tuple(extra_windows)
        self.smooth_on, self.macro_over = smooth_on, macro_over
        self.num_classes = num_classes
        self.submission_dir, self.ann_dir, self.submission_from = submission_dir, ann_dir, submission_from

    # ------------------------------------------------------------------ collect
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            missing = [k for k in ('pred_score', 'video_id', 'frame_idx') if k not in s]
            if missing:
                raise KeyError(
                    f'VideoMetric needs {missing} in every data sample (a video dataset such as AffWild2 or '
                    f'SynthFERVideo in frames mode sets video_id / frame_idx; run the model in predict mode)'
                )
            gt = s.get('gt_label')
            frame = _scalar(s['frame_idx'], 'frame_idx', s)
            if isinstance(frame, float) and not frame.is_integer():
                raise ValueError(f'VideoMetric: frame_idx must be an integer, got {frame!r}')
            self.results.append(
                dict(
                    video_id=str(_scalar(s['video_id'], 'video_id', s)),
                    frame_idx=int(frame),
                    gt_label=-1 if gt is None else int(_scalar(gt, 'gt_label', s)),
                    pred_score=torch.as_tensor(s['pred_score']).detach().float().cpu().numpy().reshape(-1),
                )
            )

    # ------------------------------------------------------------------ compute
    def gather_videos(self, results: list[dict]) -> dict:
        """Order the frames by ``(video_id, frame_idx)`` and merge duplicates.

        Returns:
            dict: ``video_ids`` ``(V,)``, ``starts`` ``(V + 1,)`` row offsets,
            ``frame_idx`` ``(N,)``, ``gt`` ``(N,)``, ``scores`` ``(N, C)`` float64.
        """
        if not results:
            raise ValueError('VideoMetric got no frames: is the evaluation dataloader empty?')
        shapes = {r['pred_score'].shape for r in results}
        if len(shapes) != 1:
            raise ValueError(f'VideoMetric: every pred_score must have the same shape, got {sorted(shapes)}')
        vids = np.array([r['video_id'] for r in results])
        frames = np.array([r['frame_idx'] for r in results], dtype=np.int64)
        gt = np.array([r['gt_label'] for r in results], dtype=np.int64)
        scores = np.stack([r['pred_score'] for r in results]).astype(np.float64)
        uniq, vid_inv = np.unique(vids, return_inverse=True)
        order = np.lexsort((frames, vid_inv))
        vid_inv, frames, gt, scores = vid_inv[order], frames[order], gt[order], scores[order]
        new = np.ones(len(order), bool)
        new[1:] = (vid_inv[1:] != vid_inv[:-1]) | (frames[1:] != frames[:-1])
        num_dup = int((~new).sum())
        if num_dup:
            group = np.cumsum(new) - 1
            first = np.flatnonzero(new)
            if np.any(gt != gt[first][group]):
                bad = int(np.flatnonzero(gt != gt[first][group])[0])
                raise ValueError(
                    f'VideoMetric: frame {int(frames[bad])} of video {uniq[vid_inv[bad]]!r} occurs more than '
                    f'once with different labels'
                )
            counts = np.bincount(group).astype(np.float64)
            merged = np.zeros((len(first), scores.shape[1]))
            np.add.at(merged, group, scores)
            scores = merged / counts[:, None]
            vid_inv, frames, gt = vid_inv[first], frames[first], gt[first]
            MMLogger.get_current_instance().info(
                f'VideoMetric: merged {num_dup} repeated frames (same video_id and frame_idx)'
            )
        starts = np.searchsorted(vid_inv, np.arange(len(uniq) + 1))
        return dict(video_ids=uniq, starts=starts, frame_idx=frames, gt=gt, scores=scores)

    def smooth(self, videos: dict, window: int) -> np.ndarray:
        """``(N, C)`` SP-smoothed ``smooth_on`` values of every frame, video by video."""
        values = videos['scores']
        if self.smooth_on == 'logit':
            if (values < 0).any():
                raise ValueError(
                    "VideoMetric: smooth_on='logit' takes log(pred_score), but pred_score has negative "
                    "values; use smooth_on='score'"
                )
            values = np.log(np.maximum(values, 1e-30))
        if window == 0:
            return values
        out = np.empty_like(values)
        starts = videos['starts']
        for v in range(len(videos['video_ids'])):
            s, e = starts[v], starts[v + 1]
            out[s:e] = smooth_predicting(values[s:e], window, videos['frame_idx'][s:e], causal=self.causal)
        return out

    def decide(self, values: np.ndarray) -> np.ndarray:
        """``(N,)`` labels of ``(N, C)`` (smoothed) values by ``decision``."""
        if self.decision == 'argmax':
            return values.argmax(1)
        from ferlab.models.classifiers.cascade import cascade_decision

        return cascade_decision(torch.from_numpy(np.ascontiguousarray(values))).numpy()

    def class_names(self, n: int) -> list[str]:
        classes = (self.dataset_meta or {}).get('classes')
        return list(classes) if classes and len(classes) == n else [str(i) for i in range(n)]

    def figures(self, pred: np.ndarray, gt: np.ndarray, n: int) -> dict:
        """Macro-F1, accuracy and per-class F1 (percent) of labelled frames."""
        cm = confusion_matrix(pred, gt, n)
        f1 = per_class_stats(cm)['f1']
        if self.macro_over == 'all':
            used = np.ones(n, bool)
        else:
            used = (cm.sum(0) + cm.sum(1)) > 0
        out = dict(
            macro_f1=100.0 * float(f1[used].mean()),
            accuracy=100.0 * float(np.trace(cm)) / max(int(cm.sum()), 1),
        )
        for name, value in zip(self.class_names(n), f1):
            out[f'f1/{name}'] = 100.0 * float(value)
        return out

    def compute_metrics(self, results: list[dict]) -> dict:
        videos = self.gather_videos(results)
        c = videos['scores'].shape[1]
        n = self.num_classes or len((self.dataset_meta or {}).get('classes', ())) or c
        if c != n:
            raise ValueError(f'VideoMetric: model predicts {c} classes but the dataset has {n}')
        gt = videos['gt']
        if (gt >= n).any():
            raise ValueError(f'VideoMetric: ground-truth label {int(gt[gt >= n][0])} is outside [0, {n})')
        valid = gt >= 0
        raw_pred = self.decide(videos['scores'])
        sp_pred = self.decide(self.smooth(videos, self.window))
        if self.submission_dir is not None:
            from ferlab.evaluation.abaw import write_abaw_submission

            pred = sp_pred if self.submission_from == 'sp' else raw_pred
            write_abaw_submission(
                self.submission_dir,
                self.ann_dir,
                videos['video_ids'],
                videos['starts'],
                videos['frame_idx'],
                pred,
            )
        out: dict = dict(num_frames=int(valid.sum()), num_videos=len(videos['video_ids']))
        if not valid.any():
            if self.submission_dir is None:
                raise ValueError('VideoMetric: no labelled frame (every gt_label is -1 or missing)')
            return out
        out.update(self.figures(raw_pred[valid], gt[valid], n))
        out.update({f'sp/{k}': v for k, v in self.figures(sp_pred[valid], gt[valid], n).items()})
        for w in self.extra_windows:
            fig = self.figures(self.decide(self.smooth(videos, w))[valid], gt[valid], n)
            out[f'sp_w{w}/macro_f1'], out[f'sp_w{w}/accuracy'] = fig['macro_f1'], fig['accuracy']
        return out
