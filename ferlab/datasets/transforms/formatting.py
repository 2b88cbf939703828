"""Packing transform outputs into model inputs."""

from __future__ import annotations

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ferlab.registry import TRANSFORMS
from ferlab.structures import FERDataSample

DEFAULT_META_KEYS = (
    'sample_idx', 'img_path', 'ori_shape', 'img_shape', 'flip', 'video_id', 'frame_idx',
    'domain', 'clean_label', 'ori_label', 'source',
)  # fmt: skip


def to_chw_uint8(img: np.ndarray) -> torch.Tensor:
    """``(H, W)`` or ``(H, W, C)`` array → contiguous ``(C, H, W)`` tensor (dtype kept)."""
    if img.ndim == 2:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@TRANSFORMS.register_module()
class PackFERInputs(BaseTransform):
    """Pack an image and its annotations into ``dict(inputs, data_samples)``.

    ``inputs`` is the image as a ``(C, H, W)`` tensor in its loaded dtype
    (uint8 for file/SynthFER images) — the data preprocessor converts and
    normalises on the model's device. A clip (``results['imgs']``, a list of
    ``(H, W, C)`` frames) becomes ``(T, C, H, W)``.

    Annotations packed into :class:`FERDataSample`: ``gt_label``,
    ``gt_score``, ``au_label`` (+ ``au_mask``), ``gt_aus`` (+ ``gt_au_mask``), ``gt_landmarks`` ``(68, 2)`` float from
    ``results['landmarks']`` (pixel coordinates of the packed image); ``meta_keys`` present in
    ``results`` become metainfo.
    """

    def __init__(self, meta_keys: tuple[str, ...] = DEFAULT_META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        if 'imgs' in results:
            inputs = torch.stack([to_chw_uint8(f) for f in results['imgs']])
        else:
            inputs = to_chw_uint8(results['img'])
        sample = FERDataSample()
        if results.get('gt_label') is not None:
            sample.set_gt_label(results['gt_label'])
        if results.get('gt_score') is not None:
            sample.set_gt_score(results['gt_score'])
        if results.get('au_label') is not None:
            sample.set_au_label(results['au_label'], results.get('au_mask'))
        if results.get('gt_aus') is not None:
            sample.set_gt_aus(results['gt_aus'], results.get('gt_au_mask'))
        if results.get('landmarks') is not None:  # (K, 2) pixel coordinates of the packed image
            lm = torch.as_tensor(np.asarray(results['landmarks'], np.float32)).reshape(-1, 2)
            sample.set_field(lm, 'gt_landmarks', dtype=torch.Tensor)
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
