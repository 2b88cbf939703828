"""uint8 image augmentations for FER pipelines.

Every transform reads and writes ``results['img']`` — an ``(H, W, 3)`` BGR or
``(H, W)`` / ``(H, W, 1)`` gray ``uint8`` array — and keeps its dtype and
number of channels. Randomness comes from numpy's global RNG only, which
:meth:`~ferlab.datasets.BaseFERDataset.prepare_data` seeds per sample from
``(seed, epoch, index)`` (:mod:`ferlab.datasets.seeding`), so a pipeline's
output does not depend on the process, worker or batch that runs it.
Random parameters are drawn in methods decorated with mmcv's
``cache_randomness`` so that ``TransformBroadcaster`` can apply the same
draw to several images.

mmcv's ``RandomGrayscale`` is *not* re-used: it draws from Python's
``random`` module, turns an ``(H, W)`` image into ``(H, W, 1)``, drops to one
channel by default, weighs B, G and R equally and truncates instead of
rounding. ``RandomApply`` and ``RandomChoice`` are mmcv's wrappers with
argument checks, and their sub-transforms are built from ferlab's registry
(mmcv builds them from mmengine's root registry, which only finds ferlab
names while the default scope is ``'ferlab'``).
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence, Union

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import RandomApply as _MMCVRandomApply
from mmcv.transforms import RandomChoice as _MMCVRandomChoice
from mmcv.transforms.utils import cache_randomness

from ferlab.registry import TRANSFORMS

Number = Union[int, float]

#: ITU-R BT.601 luma weights in B, G, R order (as torchvision / PIL use in RGB order).
BGR_LUMA = np.array([0.114, 0.587, 0.299], dtype=np.float64)


# --------------------------------------------------------------------------- helpers
def check_image(img, name: str, color_only: bool = False) -> np.ndarray:
    """Check that ``img`` is a uint8 ``(H, W)`` or ``(H, W, C)`` array.

    Args:
        img: The value of ``results['img']``.
        name: Transform name for the error message.
        color_only: Accept only 1 or 3 channels (colour operations).

    Returns:
        ``img`` unchanged.

    Raises:
        TypeError: not a numpy array, or not uint8.
        ValueError: wrong number of dimensions / channels, or empty.
    """
    if not isinstance(img, np.ndarray):
        raise TypeError(f'{name} expects results["img"] to be a numpy array, got {type(img).__name__}')
    if img.dtype != np.uint8:
        raise TypeError(
            f'{name} expects a uint8 image (apply it before normalisation / PackFERInputs), got {img.dtype}'
        )
    if img.ndim not in (2, 3):
        raise ValueError(f'{name} expects an (H, W) or (H, W, C) image, got shape {img.shape}')
    if img.shape[0] == 0 or img.shape[1] == 0 or (img.ndim == 3 and img.shape[2] == 0):
        raise ValueError(f'{name} got an empty image of shape {img.shape}')
    if color_only and img.ndim == 3 and img.shape[2] not in (1, 3):
        raise ValueError(f'{name} expects 1 (gray) or 3 (BGR) channels, got shape {img.shape}')
    return img


def _check_prob(prob, name: str) -> float:
    if isinstance(prob, bool) or not isinstance(prob, numbers.Real) or not 0.0 <= float(prob) <= 1.0:
        raise ValueError(f'{name}: prob must be a number in [0, 1], got {prob!r}')
    return float(prob)


def _num_channels(img: np.ndarray) -> int:
    return 1 if img.ndim == 2 else img.shape[2]


def _fill_value(value, img: np.ndarray, name: str) -> np.ndarray:
    """Broadcastable fill (``()`` or ``(C,)``) for a number or a per-channel tuple."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size not in (1, _num_channels(img)):
        raise ValueError(
            f'{name}: fill value {value!r} does not match an image with {_num_channels(img)} channels'
        )
    if arr.size == 1 or img.ndim == 2:
        return np.uint8(arr[0])
    return arr.astype(np.uint8)


def _check_fill(value, name: str, what: str):
    """A fill value: a number in [0, 255] or a tuple of them."""
    vals = value if isinstance(value, (tuple, list)) else (value,)
    if len(vals) == 0 or any(
        isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v <= 255 for v in vals
    ):
        raise ValueError(f'{name}: {what} must be a number in [0, 255] or a tuple of them, got {value!r}')
    return tuple(vals) if isinstance(value, (tuple, list)) else value


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _restore_shape(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """OpenCV drops a trailing channel axis of size 1; put it back."""
    return out.reshape(like.shape) if out.shape != like.shape and out.size == like.size else out


def _range(value, name: str, what: str, center: float = 1.0, bound: tuple = (0.0, float('inf'))):
    """torchvision-style ``x`` -> ``[center - x, center + x]`` (clipped) or ``(min, max)``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f'{name}: {what} must be non-negative, got {value!r}')
        lo, hi = max(center - float(value), bound[0]), center + float(value)
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    ):
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ValueError(f'{name}: {what} must be a number or a (min, max) pair, got {value!r}')
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(
            f'{name}: {what} range must satisfy {bound[0]} <= min <= max <= {bound[1]}, got {(lo, hi)}'
        )
    return lo, hi


def _gray(img: np.ndarray) -> np.ndarray:
    """Float luma of a BGR ``(H, W, 3)`` image."""
    return img.astype(np.float64) @ BGR_LUMA


# --------------------------------------------------------------------------- wrappers
def _build_list(transforms, name: str, allow_empty: bool = False) -> list:
    """Build dict entries of ``transforms`` (one transform or a list) from ferlab's registry."""
    if isinstance(transforms, dict) or callable(transforms):
        transforms = [transforms]
    if not isinstance(transforms, (list, tuple)) or (len(transforms) == 0 and not allow_empty):
        raise TypeError(
            f'{name}: transforms must be a transform (dict or callable) or a non-empty list of them'
        )
    out = []
    for t in transforms:
        if isinstance(t, dict):
            out.append(TRANSFORMS.build(t))
        elif callable(t):
            out.append(t)
        else:
            raise TypeError(
                f'{name}: a transform must be a config dict or a callable, got {type(t).__name__}'
            )
    return out


@TRANSFORMS.register_module()
class RandomApply(_MMCVRandomApply):
    """Apply a list of transforms with probability ``prob`` (mmcv's, checked).

    Args:
        transforms: A transform config / callable, or a list of them, applied
            in order. Config dicts are built from ferlab's registry (so ferlab
            names work under any default scope; unknown names fall back to
            mmengine / mmcv).
        prob: Probability of applying them, in ``[0, 1]``.
    """

    def __init__(self, transforms, prob: float = 0.5):
        super().__init__(_build_list(transforms, 'RandomApply'), _check_prob(prob, 'RandomApply'))


@TRANSFORMS.register_module()
class RandomChoice(_MMCVRandomChoice):
    """Apply one randomly chosen sub-pipeline (mmcv's, checked).

    Args:
        transforms: A list of candidates; each is a transform (config dict or
            callable) or a list of them (``[]`` = leave the sample as is).
            Config dicts are built from ferlab's registry.
        prob: Probabilities of the candidates (non-negative, summing to 1
            within 1e-6); uniform if ``None``.
    """

    def __init__(self, transforms, prob: Sequence[float] | None = None):
        if not isinstance(transforms, (list, tuple)) or len(transforms) == 0:
            raise TypeError('RandomChoice: transforms must be a non-empty list of candidates')
        candidates = [_build_list(t, 'RandomChoice', allow_empty=True) for t in transforms]
        if prob is not None:
            if not isinstance(prob, (list, tuple)) or len(prob) != len(candidates):
                raise ValueError(
                    f'RandomChoice: prob must be a list of {len(candidates)} numbers, got {prob!r}'
                )
            p = np.asarray(prob, dtype=np.float64)
            if (p < 0).any() or abs(p.sum() - 1.0) > 1e-6:
                raise ValueError(f'RandomChoice: prob must be non-negative and sum to 1, got {list(prob)}')
            prob = [float(x) for x in p / p.sum()]
        super().__init__(candidates, None)
        self.prob = prob

    def __repr__(self) -> str:
        return f'{type(self).__name__}(transforms={self.transforms}, prob={self.prob})'


# --------------------------------------------------------------------------- transforms
@TRANSFORMS.register_module()
class RandomErasing(BaseTransform):
    """Erase a random rectangle (Zhong et al. 2020; torchvision semantics).

    With probability ``prob``, up to ``max_attempts`` times: draw a target
    area ``uniform(*scale) * H * W`` and an aspect ratio (``h / w``)
    log-uniformly from ``ratio``; if the rectangle fits, erase it at a random
    position and stop. If no attempt fits, the image is unchanged.

    Args:
        prob: Probability of erasing, in ``[0, 1]``.
        scale: ``(min, max)`` area of the rectangle as a fraction of the
            image, ``0 < min <= max <= 1``.
        ratio: ``(min, max)`` aspect ratio, ``0 < min <= max``.
        value: Fill: a number in ``[0, 255]``, a per-channel tuple (in the
            image's BGR order), or ``'random'`` (uniform random uint8 noise
            per pixel and channel).
        max_attempts: Rectangles tried before giving up (torchvision: 10).
    """

    def __init__(
        self,
        prob: float = 0.5,
        scale: tuple[float, float] = (0.02, 0.33),
        ratio: tuple[float, float] = (0.3, 3.3),
        value: Union[Number, Sequence[Number], str] = 0,
        max_attempts: int = 10,
    ):
        self.prob = _check_prob(prob, 'RandomErasing')
        if not (isinstance(scale, (tuple, list)) and len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1):
            raise ValueError(
                f'RandomErasing: scale must be (min, max) with 0 < min <= max <= 1, got {scale!r}'
            )
        if not (isinstance(ratio, (tuple, list)) and len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f'RandomErasing: ratio must be (min, max) with 0 < min <= max, got {ratio!r}')
        if isinstance(value, str):
            if value != 'random':
                raise ValueError(f"RandomErasing: value must be a number, a tuple or 'random', got {value!r}")
        else:
            value = _check_fill(value, 'RandomErasing', 'value')
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f'RandomErasing: max_attempts must be a positive int, got {max_attempts!r}')
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)
        self.value = value
        self.max_attempts = max_attempts

    @cache_randomness
    def _get_box(self, h: int, w: int):
        """``(top, left, height, width)`` or ``None`` (not applied / nothing fits)."""
        if np.random.rand() >= self.prob:
            return None
        area = h * w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(self.max_attempts):
            target = area * np.random.uniform(*self.scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            eh = int(round(math.sqrt(target * aspect)))
            ew = int(round(math.sqrt(target / aspect)))
            if not (0 < eh < h and 0 < ew < w):
                continue
            top = int(np.random.randint(0, h - eh + 1))
            left = int(np.random.randint(0, w - ew + 1))
            return top, left, eh, ew
        return None

    def transform(self, results: dict) -> dict:
        img = check_image(results['img'], 'RandomErasing')
        box = self._get_box(*img.shape[:2])
        if box is None:
            return results
        top, left, eh, ew = box
        img = img.copy()
        if self.value == 'random':
            patch_shape = (eh, ew) + img.shape[2:]
            img[top : top + eh, left : left + ew] = np.random.randint(0, 256, patch_shape, dtype=np.uint8)
        else:
            img[top : top + eh, left : left + ew] = _fill_value(self.value, img, 'RandomErasing')
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(prob={self.prob}, scale={self.scale}, ratio={self.ratio}, '
            f'value={self.value!r}, max_attempts={self.max_attempts})'
        )


@TRANSFORMS.register_module()
class ColorJitter(BaseTransform):
    """Randomly change brightness, contrast, saturation and hue (torchvision semantics).

    Each non-zero component draws a factor and the four adjustments are
    applied in a random order, each rounding and clipping to uint8:

    - brightness ``b``: ``img * b``;
    - contrast ``c``: ``c * img + (1 - c) * mean(gray(img))``;
    - saturation ``s``: ``s * img + (1 - s) * gray(img)``;
    - hue ``h``: the HSV hue is rotated by ``h`` of a full turn.

    Gray images (one channel) get brightness and contrast only.

    Args:
        brightness: ``x`` -> factor in ``[max(0, 1 - x), 1 + x]``, or
            ``(min, max)`` with ``0 <= min <= max``.
        contrast: As ``brightness``.
        saturation: As ``brightness``.
        hue: ``x`` in ``[0, 0.5]`` -> shift in ``[-x, x]``, or ``(min, max)``
            with ``-0.5 <= min <= max <= 0.5``.
    """

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
        self.brightness = _range(brightness, 'ColorJitter', 'brightness')
        self.contrast = _range(contrast, 'ColorJitter', 'contrast')
        self.saturation = _range(saturation, 'ColorJitter', 'saturation')
        self.hue = _range(hue, 'ColorJitter', 'hue', center=0.0, bound=(-0.5, 0.5))

    @staticmethod
    def _active(rng: tuple, neutral: float) -> bool:
        return rng != (neutral, neutral)

    @cache_randomness
    def _get_params(self) -> list[tuple[str, float]]:
        """The (operation, factor) list in the order of application."""
        ops = []
        for i in np.random.permutation(4):
            name, rng, neutral = [
                ('brightness', self.brightness, 1.0),
                ('contrast', self.contrast, 1.0),
                ('saturation', self.saturation, 1.0),
                ('hue', self.hue, 0.0),
            ][i]
            if self._active(rng, neutral):
                ops.append((name, float(np.random.uniform(*rng))))
        return ops

    @staticmethod
    def adjust(img: np.ndarray, op: str, factor: float) -> np.ndarray:
        """Apply one adjustment to a uint8 image (gray images skip saturation / hue)."""
        color = img.ndim == 3 and img.shape[2] == 3
        if op == 'brightness':
            return _to_uint8(img.astype(np.float64) * factor)
        if op == 'contrast':
            mean = _gray(img).mean() if color else img.astype(np.float64).mean()
            return _to_uint8(factor * img.astype(np.float64) + (1.0 - factor) * mean)
        if not color:
            return img
        if op == 'saturation':
            gray = _gray(img)[..., None]
            return _to_uint8(factor * img.astype(np.float64) + (1.0 - factor) * gray)
        if op == 'hue':
            hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)
            shift = int(round(factor * 256)) % 256
            hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 256).astype(np.uint8)
            return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)
        raise ValueError(f'unknown ColorJitter operation {op!r}')

    def transform(self, results: dict) -> dict:
        img = check_image(results['img'], 'ColorJitter', color_only=True)
        for op, factor in self._get_params():
            img = self.adjust(img, op, factor)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(brightness={self.brightness}, contrast={self.contrast}, '
            f'saturation={self.saturation}, hue={self.hue})'
        )


@TRANSFORMS.register_module()
class RandomRotate(BaseTransform):
    """Rotate by a random angle about the image centre, keeping the size.

    Positive angles rotate counter-clockwise (as torchvision and OpenCV);
    corners uncovered by the rotation are filled with ``border_value``.

    Args:
        degrees: ``d`` -> angle in ``[-d, d]``, or ``(min, max)``.
        prob: Probability of rotating, in ``[0, 1]``.
        border_value: Fill: a number in ``[0, 255]`` or a per-channel tuple.
        interpolation: ``'nearest'``, ``'bilinear'``, ``'bicubic'``,
            ``'area'`` or ``'lanczos'``.
    """

    INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')

    def __init__(self, degrees=10.0, prob: float = 0.5, border_value=0, interpolation: str = 'bilinear'):
        if isinstance(degrees, numbers.Real) and not isinstance(degrees, bool):
            if degrees < 0:
                raise ValueError(f'RandomRotate: degrees must be non-negative, got {degrees!r}')
            degrees = (-float(degrees), float(degrees))
        elif (
            isinstance(degrees, (tuple, list))
            and len(degrees) == 2
            and all(isinstance(d, numbers.Real) and not isinstance(d, bool) for d in degrees)
            and degrees[0] <= degrees[1]
        ):
            degrees = (float(degrees[0]), float(degrees[1]))
        else:
            raise ValueError(f'RandomRotate: degrees must be a number or a (min, max) pair, got {degrees!r}')
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(
                f'RandomRotate: interpolation must be one of {self.INTERPOLATIONS}, got {interpolation!r}'
            )
        self.degrees = degrees
        self.prob = _check_prob(prob, 'RandomRotate')
        self.border_value = _check_fill(border_value, 'RandomRotate', 'border_value')
        self.interpolation = interpolation

    @cache_randomness
    def _get_angle(self):
        """The angle in degrees, or ``None`` if not applied."""
        if np.random.rand() >= self.prob:
            return None
        return float(np.random.uniform(*self.degrees))

    def transform(self, results: dict) -> dict:
        img = check_image(results['img'], 'RandomRotate')
        angle = self._get_angle()
        if angle is None:
            return results
        border = self.border_value
        if isinstance(border, tuple):
            if len(border) not in (1, _num_channels(img)):
                raise ValueError(
                    f'RandomRotate: border_value {border!r} does not match an image with {_num_channels(img)} channels'
                )
            border = tuple(float(b) for b in border) if len(border) > 1 else float(border[0])
        # mmcv.imrotate: positive = clockwise, so negate for counter-clockwise.
        out = mmcv.imrotate(img, -angle, border_value=border, interpolation=self.interpolation)
        results['img'] = _restore_shape(out, img)
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(degrees={self.degrees}, prob={self.prob}, '
            f'border_value={self.border_value}, interpolation={self.interpolation!r})'
        )


@TRANSFORMS.register_module()
class RandomGrayscale(BaseTransform):
    """Convert to gray with probability ``prob``, keeping the channel count.

    A BGR image becomes ``round(0.114 B + 0.587 G + 0.299 R)`` in all three
    channels (torchvision's ``RandomGrayscale``); gray images are unchanged.

    Args:
        prob: Probability of converting, in ``[0, 1]``.
    """

    def __init__(self, prob: float = 0.1):
        self.prob = _check_prob(prob, 'RandomGrayscale')

    @cache_randomness
    def _apply(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        img = check_image(results['img'], 'RandomGrayscale', color_only=True)
        if self._apply() and img.ndim == 3 and img.shape[2] == 3:
            gray = _to_uint8(_gray(img))
            results['img'] = np.repeat(gray[..., None], 3, axis=2)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class GaussianBlur(BaseTransform):
    """Gaussian blur with a random sigma (torchvision semantics, reflect border).

    Args:
        kernel_size: Odd positive int, or ``(height, width)`` of odd positive
            ints.
        sigma: ``s`` (fixed) or ``(min, max)`` with ``0 < min <= max``;
            drawn uniformly per image.
        prob: Probability of blurring, in ``[0, 1]`` (torchvision's
            transform always blurs; wrap it in ``RandomApply`` or set
            ``prob=1.0`` for that).
    """

    def __init__(self, kernel_size=3, sigma=(0.1, 2.0), prob: float = 0.5):
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, numbers.Integral) else kernel_size
        if not (
            isinstance(ks, (tuple, list))
            and len(ks) == 2
            and all(
                isinstance(k, numbers.Integral) and not isinstance(k, bool) and k > 0 and k % 2 == 1
                for k in ks
            )
        ):
            raise ValueError(
                f'GaussianBlur: kernel_size must be an odd positive int or a pair of them, got {kernel_size!r}'
            )
        if isinstance(sigma, numbers.Real) and not isinstance(sigma, bool):
            sigma = (float(sigma), float(sigma))
        if not (
            isinstance(sigma, (tuple, list))
            and len(sigma) == 2
            and all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in sigma)
            and 0 < sigma[0] <= sigma[1]
        ):
            raise ValueError(
                f'GaussianBlur: sigma must be positive, or (min, max) with 0 < min <= max, got {sigma!r}'
            )
        self.kernel_size = (int(ks[0]), int(ks[1]))
        self.sigma = (float(sigma[0]), float(sigma[1]))
        self.prob = _check_prob(prob, 'GaussianBlur')

    @cache_randomness
    def _get_sigma(self):
        """Sigma, or ``None`` if not applied."""
        if np.random.rand() >= self.prob:
            return None
        return float(np.random.uniform(*self.sigma))

    def transform(self, results: dict) -> dict:
        img = check_image(results['img'], 'GaussianBlur')
        sigma = self._get_sigma()
        if sigma is None:
            return results
        kh, kw = self.kernel_size
        if img.ndim == 3 and img.shape[2] > 4:
            out = np.stack(
                [cv2.GaussianBlur(img[..., c], (kw, kh), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
                 for c in range(img.shape[2])],
                axis=2,
            )  # fmt: skip
        else:
            out = cv2.GaussianBlur(img, (kw, kh), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
        results['img'] = _restore_shape(out, img)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(kernel_size={self.kernel_size}, sigma={self.sigma}, prob={self.prob})'


@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """Pad, then crop a random ``size`` window (torchvision ``RandomCrop``).

    Args:
        size: Output ``s`` (square) or ``(height, width)``.
        padding: ``None``; ``p`` on all sides; ``(left/right, top/bottom)``;
            or ``(left, top, right, bottom)``. Non-negative ints.
        pad_if_needed: Pad an image smaller than ``size`` up to ``size``
            (after ``padding``) instead of raising.
        pad_val: Fill for ``padding_mode='constant'``: a number in
            ``[0, 255]`` or a per-channel tuple.
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` (without
            repeating the edge) or ``'symmetric'`` (repeating it).
    """

    PADDING_MODES = ('constant', 'edge', 'reflect', 'symmetric')

    def __init__(
        self, size, padding=None, pad_if_needed: bool = False, pad_val=0, padding_mode: str = 'constant'
    ):
        size = (size, size) if isinstance(size, numbers.Integral) else size
        if not (
            isinstance(size, (tuple, list))
            and len(size) == 2
            and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in size)
        ):
            raise ValueError(f'RandomCrop: size must be a positive int or (height, width), got {size!r}')
        if padding is not None:
            pads = (padding,) if isinstance(padding, numbers.Integral) else padding
            if not (
                isinstance(pads, (tuple, list))
                and len(pads) in (1, 2, 4)
                and all(isinstance(p, numbers.Integral) and not isinstance(p, bool) and p >= 0 for p in pads)
            ):
                raise ValueError(
                    'RandomCrop: padding must be a non-negative int, (left/right, top/bottom) or '
                    f'(left, top, right, bottom), got {padding!r}'
                )
            if len(pads) == 1:
                padding = (pads[0],) * 4
            elif len(pads) == 2:
                padding = (pads[0], pads[1], pads[0], pads[1])
            else:
                padding = tuple(pads)
            padding = tuple(int(p) for p in padding)
        if padding_mode not in self.PADDING_MODES:
            raise ValueError(
                f'RandomCrop: padding_mode must be one of {self.PADDING_MODES}, got {padding_mode!r}'
            )
        self.size = (int(size[0]), int(size[1]))
        self.padding = padding
        self.pad_if_needed = bool(pad_if_needed)
        self.pad_val = _check_fill(pad_val, 'RandomCrop', 'pad_val')
        self.padding_mode = padding_mode

    def pad(self, img: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
        """Pad ``img`` on each side with ``padding_mode``."""
        if not (left or top or right or bottom):
            return img
        h, w = img.shape[:2]
        if self.padding_mode == 'constant':
            out = np.empty((h + top + bottom, w + left + right) + img.shape[2:], dtype=img.dtype)
            out[...] = _fill_value(self.pad_val, img, 'RandomCrop')
            out[top : top + h, left : left + w] = img
            return out
        if self.padding_mode == 'reflect' and (max(top, bottom) >= h or max(left, right) >= w):
            raise ValueError(
                f"RandomCrop: padding_mode='reflect' needs padding smaller than the image, "
                f'got image {h}x{w} with padding (l, t, r, b)={(left, top, right, bottom)}'
            )
        width = ((top, bottom), (left, right)) + ((0, 0),) * (img.ndim - 2)
        return np.pad(img, width, mode=self.padding_mode)

    @cache_randomness
    def _get_offset(self, h: int, w: int) -> tuple[int, int]:
        th, tw = self.size
        return int(np.random.randint(0, h - th + 1)), int(np.random.randint(0, w - tw + 1))

    def transform(self, results: dict) -> dict:
        img = check_image(results['img'], 'RandomCrop')
        if self.padding is not None:
            img = self.pad(img, *self.padding)
        th, tw = self.size
        h, w = img.shape[:2]
        if self.pad_if_needed and (h < th or w < tw):
            dh, dw = max(th - h, 0), max(tw - w, 0)
            img = self.pad(img, dw, dh, dw, dh)
            h, w = img.shape[:2]
        if h < th or w < tw:
            raise ValueError(
                f'RandomCrop: crop size {self.size} is larger than the (padded) image {(h, w)}; '
                'resize first, add padding or set pad_if_needed=True'
            )
        top, left = self._get_offset(h, w)
        results['img'] = np.ascontiguousarray(img[top : top + th, left : left + tw])
        results['img_shape'] = (th, tw)
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(size={self.size}, padding={self.padding}, '
            f'pad_if_needed={self.pad_if_needed}, pad_val={self.pad_val}, padding_mode={self.padding_mode!r})'
        )
