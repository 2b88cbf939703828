"""The data sample that travels with every image through ferlab."""

from __future__ import annotations

from numbers import Number
from typing import Sequence, Union

import numpy as np
import torch
from mmengine.structures import BaseDataElement

LabelLike = Union[torch.Tensor, np.ndarray, Sequence[Number], Number]


def format_label(value: LabelLike) -> torch.Tensor:
    """Convert an int / sequence / array / tensor label to a 1-D ``LongTensor``."""
    if isinstance(value, torch.Tensor):
        out = value.long()
    elif isinstance(value, np.ndarray):
        out = torch.from_numpy(value).long()
    elif isinstance(value, Sequence) and not isinstance(value, str):
        out = torch.tensor(list(value), dtype=torch.long)
    elif isinstance(value, (int, np.integer)):
        out = torch.tensor([int(value)], dtype=torch.long)
    else:
        raise TypeError(f'cannot interpret {type(value).__name__} {value!r} as a class label')
    return out.reshape(-1)


def format_score(value: LabelLike) -> torch.Tensor:
    """Convert a score vector to a 1-D ``FloatTensor``."""
    if isinstance(value, torch.Tensor):
        out = value.float()
    elif isinstance(value, np.ndarray):
        out = torch.from_numpy(np.asarray(value, dtype=np.float32))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        out = torch.tensor(list(value), dtype=torch.float32)
    else:
        raise TypeError(f'cannot interpret {type(value).__name__} {value!r} as a score vector')
    return out.reshape(-1)


class FERDataSample(BaseDataElement):
    """Annotations and predictions of one face (or one video frame).

    Data fields (tensors):
        gt_label: ``(1,)`` long, the served class index (after relabeling).
        gt_score: ``(C,)`` float, a soft label / vote distribution (optional).
        au_label: ``(A,)`` float, AU occurrence or intensity (optional).
        au_mask: ``(A,)`` bool, which entries of ``au_label`` are annotated.
        gt_aus: ``(A,)`` float, AU labels (0/1 or intensity) in the order of the
            dataset's ``metainfo['au_names']`` (AU-labelled datasets; see
            :mod:`ferlab.datasets.au_vocabulary`).
        gt_au_mask: ``(A,)`` float, 1 = the AU is annotated, 0 = unknown.
        pred_label: ``(1,)`` long, the predicted class.
        pred_score: ``(C,)`` float, class probabilities.
        pred_au: ``(A,)`` float, AU probabilities (AU heads).

    Meta fields: ``sample_idx`` (index of the stored sample in its dataset),
    ``img_path``, ``ori_shape``, ``img_shape``, ``video_id``, ``frame_idx``,
    ``domain``, ``clean_label`` (SynthFER's noise-free label, for analysis).
    """

    def set_gt_label(self, value: LabelLike) -> 'FERDataSample':
        self.set_field(format_label(value), 'gt_label', dtype=torch.Tensor)
        return self

    def set_gt_score(self, value: LabelLike) -> 'FERDataSample':
        score = format_score(value)
        if hasattr(self, 'num_classes') and len(score) != self.num_classes:
            raise ValueError(f'gt_score has {len(score)} classes, expected {self.num_classes}')
        self.set_field(score, 'gt_score', dtype=torch.Tensor)
        return self

    def set_au_label(self, value: LabelLike, mask: LabelLike | None = None) -> 'FERDataSample':
        au = format_score(value)
        self.set_field(au, 'au_label', dtype=torch.Tensor)
        au_mask = torch.ones_like(au, dtype=torch.bool) if mask is None else format_score(mask) > 0
        self.set_field(au_mask, 'au_mask', dtype=torch.Tensor)
        return self

    def set_gt_aus(self, value: LabelLike, mask: LabelLike | None = None) -> 'FERDataSample':
        """Set ``gt_aus`` ``(A,)`` and ``gt_au_mask`` ``(A,)`` (float, 1 = known; default all known)."""
        aus = format_score(value)
        au_mask = torch.ones_like(aus) if mask is None else (format_score(mask) != 0).float()
        if au_mask.shape != aus.shape:
            raise ValueError(f'gt_au_mask has {len(au_mask)} entries, gt_aus {len(aus)}')
        self.set_field(aus, 'gt_aus', dtype=torch.Tensor)
        self.set_field(au_mask, 'gt_au_mask', dtype=torch.Tensor)
        return self

    def set_pred_label(self, value: LabelLike) -> 'FERDataSample':
        self.set_field(format_label(value), 'pred_label', dtype=torch.Tensor)
        return self

    def set_pred_score(self, value: torch.Tensor) -> 'FERDataSample':
        self.set_field(format_score(value), 'pred_score', dtype=torch.Tensor)
        return self
