from mmcv.transforms import CenterCrop, Normalize, RandomResize

from ferlab.registry import TRANSFORMS

from .formatting import PackFERInputs
from .landmarks import IBUG68_FLIP_INDEX, FaceBoxCrop, RandomFlip, Resize, hflip_landmarks
from .loading import ImageLoadError, LoadImageFromFile, read_image
from .processing import (  # noqa: F401
    ColorJitter,
    GaussianBlur,
    RandomApply,
    RandomChoice,
    RandomCrop,
    RandomErasing,
    RandomGrayscale,
    RandomRotate,
)

# Re-register mmcv's generic transforms under the ferlab scope so that
# ``type='Resize'`` resolves with ``default_scope='ferlab'``; RandomFlip and Resize are
# the landmark-aware subclasses of mmcv's (transforms/landmarks.py).
for _t in (CenterCrop, Normalize, RandomFlip, RandomResize, Resize):
    TRANSFORMS.register_module(module=_t)

__all__ = [
    'FaceBoxCrop', 'IBUG68_FLIP_INDEX', 'ImageLoadError', 'LoadImageFromFile', 'PackFERInputs', 'RandomFlip',
    'Resize', 'hflip_landmarks', 'read_image',
]  # fmt: skip
