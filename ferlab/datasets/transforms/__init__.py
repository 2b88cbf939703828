from mmcv.transforms import CenterCrop, Normalize, RandomFlip, RandomResize, Resize

from ferlab.registry import TRANSFORMS

from .formatting import PackFERInputs
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
# ``type='Resize'`` resolves with ``default_scope='ferlab'``.
for _t in (CenterCrop, Normalize, RandomFlip, RandomResize, Resize):
    TRANSFORMS.register_module(module=_t)

__all__ = ['ImageLoadError', 'LoadImageFromFile', 'PackFERInputs', 'read_image']
