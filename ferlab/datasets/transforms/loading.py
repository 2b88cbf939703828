"""Image loading with clear errors."""

from __future__ import annotations

import os.path as osp

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from ferlab.registry import TRANSFORMS


class ImageLoadError(OSError):
    """An image file is missing, unreadable or truncated."""


def _truncated(data: bytes, path: str) -> bool:
    ext = osp.splitext(path)[1].lower()
    if ext in ('.jpg', '.jpeg'):
        if data.rstrip(b'\x00').endswith(b'\xff\xd9'):
            return False
        # Some encoders append bytes after the end-of-image marker; the file is
        # complete as long as an EOI follows the last start-of-scan marker.
        return data.rfind(b'\xff\xd9') < max(data.rfind(b'\xff\xda'), 0) or b'\xff\xd9' not in data
    if ext == '.png':
        return b'IEND' not in data[-16:]
    return False


def read_image(path: str, color_type: str = 'color') -> np.ndarray:
    """Decode an image file to ``(H, W, 3)`` BGR (or ``(H, W)`` gray) uint8.

    Raises:
        ImageLoadError: the file is missing, cannot be decoded, or is a
            truncated JPEG/PNG (OpenCV would silently return a partial image).
    """
    if not osp.isfile(path):
        raise ImageLoadError(f'image file {path!r} does not exist')
    with open(path, 'rb') as f:
        data = f.read()
    if not data:
        raise ImageLoadError(f'image file {path!r} is empty')
    if _truncated(data, path):
        raise ImageLoadError(f'image file {path!r} is truncated (no end-of-image marker)')
    flag = cv2.IMREAD_GRAYSCALE if color_type == 'grayscale' else cv2.IMREAD_COLOR
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if img is None:
        raise ImageLoadError(f'image file {path!r} could not be decoded (not an image or corrupt)')
    return img


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results['img_path']`` into ``results['img']`` (BGR uint8).

    Unlike mmcv's transform of the same name, a missing, corrupt or truncated
    file raises :class:`ImageLoadError` naming the file, instead of failing
    later inside another transform. If ``results`` already holds ``img``
    (in-memory datasets such as SynthFER) it is kept.

    Args:
        color_type: ``'color'`` (3-channel BGR) or ``'grayscale'``.
    """

    def __init__(self, color_type: str = 'color'):
        if color_type not in ('color', 'grayscale'):
            raise ValueError(f"color_type must be 'color' or 'grayscale', got {color_type!r}")
        self.color_type = color_type

    def transform(self, results: dict) -> dict:
        if results.get('img') is None:
            results['img'] = read_image(results['img_path'], self.color_type)
        elif self.color_type == 'color' and results['img'].ndim == 2:
            results['img'] = cv2.cvtColor(results['img'], cv2.COLOR_GRAY2BGR)
        results['ori_shape'] = results['img'].shape[:2]
        results['img_shape'] = results['img'].shape[:2]
        return results
