"""Smooth predicting (SP) over the frames of one video (CFC-SP, Xue et al., Eq. 1).

Each per-frame feature or logit vector is enhanced by the mean of its temporal
neighbourhood:

.. math::

    f'_i = f_i + \\operatorname{mean}(f_{i-w/2}, \\dots, f_{i+w/2})

Rules this implementation fixes (the paper gives only Eq. 1 and Fig. 1):

* **Window.** ``half = w // 2``; the centred window holds the frames whose
  frame index lies in ``[t_i - half, t_i + half]``. For odd ``w`` that is ``w``
  frame indices (Fig. 1: ``w = 5`` covers ``I_{i-2} ... I_{i+2}``); for even
  ``w`` it is ``w + 1`` (Eq. 1 read literally, ``i - w/2 ... i + w/2``).
* **Off.** ``w = 0`` returns the input unchanged (no ``f + f`` doubling).
  ``w = 1`` gives ``2 f_i`` (argmax unchanged).
* **Edges.** The window is truncated to the frames that exist: the mean is taken
  over the frames inside the window, never padded with zeros or repeated edge
  frames, so the first and last frames are averaged over fewer neighbours.
* **Gaps.** Windows are defined on the frame index ``t_i`` (``frame_idx``), not
  on the position in the list: a video with frames 1, 2, 10 and ``w = 4`` averages
  frame 2 with frame 1 only. Without ``frame_idx`` positions ``0 ... T-1`` are used.
  Unsorted ``frame_idx`` is sorted internally and the output returned in the input
  order; a repeated frame index is a ``ValueError``.
* **Causal.** ``causal=True`` (streaming) uses past frames only, over the same
  span as the centred window: ``[t_i - 2 * half, t_i]``.

Both forms run in O(T·D) with cumulative sums and binary search (window bounds
by ``searchsorted``), accumulated in float64; the cost does not depend on ``w``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from ferlab.registry import MODELS


def _check_window(window) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise ValueError(f'SmoothPredicting: window must be an int >= 0 (0 = off), got {window!r}')
    return int(window)


def _bounds(t_sorted, half: int, causal: bool, searchsorted):
    lo_val = t_sorted - (2 * half if causal else half)
    hi_val = t_sorted if causal else t_sorted + half
    return searchsorted(t_sorted, lo_val, 'left'), searchsorted(t_sorted, hi_val, 'right')


def smooth_predicting(
    feats,
    window: int,
    frame_idx=None,
    causal: bool = False,
) -> np.ndarray:
    """Apply Eq. 1 to one video's per-frame vectors (numpy form).

    Args:
        feats (array-like): ``(T, D)`` or ``(T,)`` per-frame features, logits or scores.
        window (int): Window size ``w``; 0 returns a copy of ``feats``.
        frame_idx (array-like, optional): ``(T,)`` integer frame indices of the
            rows; ``None`` means ``0 ... T-1``. Need not be sorted; must be unique.
        causal (bool): Past frames only (``[t - 2·(w//2), t]``). Defaults to False.

    Returns:
        np.ndarray: ``feats``' shape; float64 for integer input, else ``feats``' dtype.
    """
    window = _check_window(window)
    x = np.asarray(feats)
    if x.ndim not in (1, 2):
        raise ValueError(f'smooth_predicting: feats must be (T, D) or (T,), got shape {x.shape}')
    out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    num = x.shape[0]
    if window == 0 or num == 0:
        return x.astype(out_dtype, copy=True)
    t = _frame_index_np(frame_idx, num)
    order = np.argsort(t, kind='stable')
    t_sorted = t[order]
    if np.any(t_sorted[1:] == t_sorted[:-1]):
        dup = t_sorted[1:][t_sorted[1:] == t_sorted[:-1]][0]
        raise ValueError(f'smooth_predicting: frame index {int(dup)} occurs more than once in one video')
    xs = x[order].astype(np.float64).reshape(num, -1)
    csum = np.concatenate([np.zeros((1, xs.shape[1])), np.cumsum(xs, axis=0)], axis=0)
    lo, hi = _bounds(t_sorted, window // 2, causal, lambda a, v, side: np.searchsorted(a, v, side=side))
    smoothed = xs + (csum[hi] - csum[lo]) / (hi - lo)[:, None]
    out = np.empty_like(smoothed)
    out[order] = smoothed
    return out.reshape(x.shape).astype(out_dtype)


def _frame_index_np(frame_idx, num: int) -> np.ndarray:
    if frame_idx is None:
        return np.arange(num, dtype=np.int64)
    t = np.asarray(frame_idx)
    if t.shape != (num,):
        raise ValueError(f'smooth_predicting: frame_idx must have shape ({num},), got {t.shape}')
    if not np.issubdtype(t.dtype, np.integer):
        if not np.all(np.equal(np.mod(t, 1), 0)):
            raise ValueError('smooth_predicting: frame_idx must hold integers')
    return t.astype(np.int64)


@MODELS.register_module()
class SmoothPredicting(nn.Module):
    """Smooth predicting module, Eq. 1 of CFC-SP (torch form; see the module docstring).

    Args:
        window (int): Window size ``w`` in frames; 0 disables smoothing.
            The paper's best value on Aff-Wild2 is 256 (about 8 s at 30 fps).
        causal (bool): Use past frames only (streaming). Defaults to False.

    Example:
        >>> sp = MODELS.build(dict(type='SmoothPredicting', window=4))
        >>> out = sp(torch.randn(10, 8), frame_idx=torch.arange(10))  # (10, 8)
    """

    def __init__(self, window: int = 256, causal: bool = False) -> None:
        super().__init__()
        self.window = _check_window(window)
        self.causal = bool(causal)

    def extra_repr(self) -> str:
        return f'window={self.window}, causal={self.causal}'

    def forward(self, feats: torch.Tensor, frame_idx: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Smooth one video.

        Args:
            feats (Tensor): ``(T, D)`` or ``(T,)`` per-frame vectors of one video.
            frame_idx (Tensor, optional): ``(T,)`` integer frame indices; ``None`` means
                ``0 ... T-1``. Need not be sorted; must be unique.

        Returns:
            Tensor: ``feats``' shape and dtype (differentiable w.r.t. ``feats``).
        """
        if feats.dim() not in (1, 2):
            raise ValueError(
                f'SmoothPredicting: feats must be (T, D) or (T,), got shape {tuple(feats.shape)}'
            )
        num = feats.shape[0]
        if self.window == 0 or num == 0:
            return feats
        if frame_idx is None:
            t = torch.arange(num, device=feats.device)
        else:
            t = torch.as_tensor(frame_idx, device=feats.device)
            if t.shape != (num,):
                raise ValueError(
                    f'SmoothPredicting: frame_idx must have shape ({num},), got {tuple(t.shape)}'
                )
            if t.is_floating_point():
                if not torch.equal(t, t.round()):
                    raise ValueError('SmoothPredicting: frame_idx must hold integers')
            t = t.long()
        t_sorted, order = torch.sort(t, stable=True)
        if num > 1 and bool((t_sorted[1:] == t_sorted[:-1]).any()):
            dup = t_sorted[1:][t_sorted[1:] == t_sorted[:-1]][0]
            raise ValueError(f'SmoothPredicting: frame index {int(dup)} occurs more than once in one video')
        xs = feats[order].reshape(num, -1)
        acc_dtype = torch.float64 if xs.device.type != 'mps' else torch.float32
        csum = torch.cat([xs.new_zeros((1, xs.shape[1]), dtype=acc_dtype), xs.to(acc_dtype).cumsum(0)], 0)
        lo, hi = _bounds(
            t_sorted, self.window // 2, self.causal, lambda a, v, side: torch.searchsorted(a, v, side=side)
        )
        mean = ((csum[hi] - csum[lo]) / (hi - lo).unsqueeze(1).to(acc_dtype)).to(xs.dtype)
        out = torch.empty_like(xs)
        out[order] = xs + mean
        return out.reshape(feats.shape)
