"""ABAW EXPR submission files: one ``<video>.txt`` per video of an annotation folder.

Format (the challenge's)::

    image_location,Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other
    <video>/00001.jpg,<label>
    <video>/00002.jpg,<label>
    ...

one row for every frame the video's annotation file lists (line ``k + 1`` ↔
frame ``k``, 1-indexed, the Aff-Wild2 convention ``AffWild2`` follows for
``frame_idx``), including frames without a predicted image (no face crop,
unannotated or skipped).

Fill rule: a frame without a prediction takes the label of the nearest frame
of the same video that has one (by frame index; on a tie the earlier frame).
A video listed in the annotation folder without any prediction, or a predicted
video missing from it, is an error naming the video.
"""

from __future__ import annotations

import os
import os.path as osp
from typing import Sequence

import numpy as np

from ferlab.datasets.categories import AFFWILD2_CLASSES
from ferlab.utils.errors import FerlabInputError, InputFileNotFoundError

SUBMISSION_HEADER = 'image_location,' + ','.join(AFFWILD2_CLASSES)


def count_annotated_frames(path: str) -> int:
    """Number of frame lines of an Aff-Wild2 annotation txt (header excluded, blank lines at the end ignored)."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return max(len(lines) - 1, 0)


def nearest_fill(pred_frames: np.ndarray, pred_labels: np.ndarray, num_frames: int) -> tuple[np.ndarray, int]:
    """Labels of frames ``1 ... num_frames`` from the predicted frames (sorted, unique) by the fill rule.

    Returns:
        ``((num_frames,) labels, number of frames filled from a neighbour)``.
    """
    frames = np.arange(1, num_frames + 1)
    pos = np.searchsorted(pred_frames, frames)
    left = np.clip(pos - 1, 0, len(pred_frames) - 1)
    right = np.clip(pos, 0, len(pred_frames) - 1)
    take_right = np.abs(pred_frames[right] - frames) < np.abs(frames - pred_frames[left])
    src = np.where(take_right, right, left)
    filled = int((pred_frames[src] != frames).sum())
    return pred_labels[src], filled


def write_abaw_submission(
    out_dir: str,
    ann_dir: str,
    video_ids: Sequence[str],
    starts: np.ndarray,
    frame_idx: np.ndarray,
    pred: np.ndarray,
) -> dict:
    """Write one submission file per annotation file of ``ann_dir``.

    Args:
        out_dir: Output folder (created).
        ann_dir: Folder of the split's ``<video>.txt`` files (labels or -1).
        video_ids: ``(V,)`` predicted videos; video ``v`` owns rows ``starts[v]:starts[v + 1]``.
        starts: ``(V + 1,)`` row offsets.
        frame_idx: ``(N,)`` 1-indexed frame indices, sorted within each video.
        pred: ``(N,)`` predicted class indices (Aff-Wild2 order).

    Returns:
        dict: ``num_videos``, ``num_rows`` and ``num_filled`` (rows taken from a neighbour).
    """
    if not osp.isdir(ann_dir):
        raise InputFileNotFoundError(f'ABAW submission: annotation folder {ann_dir!r} does not exist')
    txts = sorted(f for f in os.listdir(ann_dir) if f.endswith('.txt'))
    if not txts:
        raise FerlabInputError(f'ABAW submission: no <video>.txt file in {ann_dir!r}')
    index = {str(v): i for i, v in enumerate(video_ids)}
    listed = {osp.splitext(t)[0] for t in txts}
    extra = sorted(set(index) - listed)
    if extra:
        raise FerlabInputError(
            f'ABAW submission: {len(extra)} predicted videos have no annotation file in {ann_dir!r}, '
            f'e.g. {extra[0]!r}'
        )
    pred = np.asarray(pred, dtype=np.int64)
    frame_idx = np.asarray(frame_idx, dtype=np.int64)
    os.makedirs(out_dir, exist_ok=True)
    rows_total = filled_total = 0
    for txt in txts:
        video = osp.splitext(txt)[0]
        if video not in index:
            raise FerlabInputError(
                f'ABAW submission: video {video!r} ({osp.join(ann_dir, txt)}) has no predicted frame; '
                'evaluate the whole split'
            )
        v = index[video]
        s, e = int(starts[v]), int(starts[v + 1])
        num = count_annotated_frames(osp.join(ann_dir, txt))
        labels, filled = nearest_fill(frame_idx[s:e], pred[s:e], num)
        rows = [f'{video}/{k:05d}.jpg,{int(lab)}' for k, lab in enumerate(labels, 1)]
        path = osp.join(out_dir, txt)
        tmp = path + f'.tmp{os.getpid()}'
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(SUBMISSION_HEADER + '\n' + ''.join(r + '\n' for r in rows))
        os.replace(tmp, path)
        rows_total += num
        filled_total += filled
    return dict(num_videos=len(txts), num_rows=rows_total, num_filled=filled_total)


def configure_abaw_submission(cfg, out_dir: str) -> dict:
    """Make ``cfg``'s test evaluation also write ABAW submission files to ``out_dir``.

    The test dataset must be an ``AffWild2`` dataset (its ``data_root``,
    ``split`` and ``ann_dir`` locate the annotation files whose frames the files
    cover). The first ``VideoMetric`` of ``cfg.test_evaluator`` writes them from
    its smoothed predictions (``submission_from``); without one, a
    ``VideoMetric(window=0)`` is added and writes the per-frame predictions.

    Returns:
        dict: The ``VideoMetric`` config that writes the files.
    """
    from ferlab.datasets.affwild2 import find_expr_ann_dir

    dataset = cfg.test_dataloader.dataset
    if dataset.get('type') not in ('AffWild2', 'ferlab.AffWild2'):
        raise FerlabInputError(
            f'--abaw-submission needs an AffWild2 test dataset (test_dataloader.dataset.type), got '
            f'{dataset.get("type")!r}'
        )
    ann_dir = find_expr_ann_dir(
        dataset.get('data_root', ''), dataset.get('split', 'train'), dataset.get('ann_dir')
    )
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
    evaluators = list(evaluators)
    video = [e for e in evaluators if e.get('type') in ('VideoMetric', 'ferlab.VideoMetric')]
    if video:
        metric = video[0]
        metric.update(submission_dir=out_dir, ann_dir=ann_dir)
    else:
        metric = dict(
            type='VideoMetric', window=0, submission_dir=out_dir, ann_dir=ann_dir, prefix='submission'
        )
        evaluators.append(metric)
    cfg.test_evaluator = evaluators
    return metric
