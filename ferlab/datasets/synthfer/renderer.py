"""Procedural face renderer of SynthFER (numpy + OpenCV primitives, no downloads).

A face is drawn from three parameter sets:

* :class:`Identity` - face shape, skin tone, eye spacing/size, brows, nose,
  lips, hair, optional glasses and facial hair (fixed per person);
* :class:`Pose` - yaw (approximated by a depth-dependent horizontal shift and
  foreshortening), roll, scale and translation;
* AU intensities in ``[0, 1]`` per side: ``au_l`` / ``au_r`` are ``(16,)``
  arrays in :data:`~.expressions.AU_LIST` order for the subject's left
  (image right) and right (image left) halves; midline AUs (9, 17, 23, 25,
  26) use the mean of both.

Each AU moves only the part it names (see :data:`AU_REGIONS`, canonical face
coordinates where the face spans ``x in [-1, 1]``, ``y in [-1.25, 1.25]``,
``y`` downwards); :meth:`FaceRenderer.au_region_mask` maps a region to pixels
for a given pose. All drawing happens directly at the target size with
sub-pixel (``shift=4``) anti-aliased primitives; the points of all primitives of a face are
mapped to pixels with one batched transform (about 1-1.4 ms per 112 px image on one core).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .expressions import AU_INDEX, AU_LIST

_SHIFT = 4
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA

#: Canonical-coordinate boxes ``(x0, y0, x1, y1)`` a change of each AU may touch.
AU_REGIONS: dict[int, tuple[float, float, float, float]] = {
    1: (-0.85, -0.85, 0.85, -0.18),
    2: (-0.85, -0.85, 0.85, -0.18),
    4: (-0.85, -0.85, 0.85, -0.18),
    5: (-0.65, -0.40, 0.65, 0.05),
    7: (-0.65, -0.40, 0.65, 0.05),
    6: (-0.90, -0.40, 0.90, 0.50),
    9: (-0.30, -0.30, 0.30, 0.48),
    10: (-0.60, 0.18, 0.60, 0.85),
    12: (-0.65, 0.20, 0.65, 0.95),
    14: (-0.65, 0.20, 0.65, 0.95),
    15: (-0.65, 0.20, 0.65, 0.95),
    20: (-0.65, 0.20, 0.65, 0.95),
    23: (-0.65, 0.20, 0.65, 0.95),
    25: (-0.65, 0.40, 0.65, 0.95),
    17: (-0.50, 0.50, 0.50, 1.20),
    26: (-1.15, 0.30, 1.15, 1.60),
}

SKIN_TONES = {
    'light': [(185, 205, 240), (170, 195, 235), (160, 185, 225), (175, 200, 230)],
    'dark': [(95, 125, 170), (70, 95, 140), (55, 75, 110), (110, 140, 185)],
}
SKIN_TONES['all'] = SKIN_TONES['light'] + SKIN_TONES['dark']
_HAIR = [(20, 20, 25), (30, 45, 70), (40, 70, 120), (60, 110, 170), (150, 150, 155), (15, 30, 40)]


@dataclass
class Identity:
    """Per-person appearance (all lengths in canonical face units)."""

    face_w: float = 0.95
    face_h: float = 1.25
    jaw: float = 2.2  # superellipse exponent of the lower face (2 = oval, > 2 = square)
    skin: tuple = (170, 195, 235)  # BGR
    hair_color: tuple = (30, 45, 70)
    hair_style: int = 1  # 0 short, 1 cap, 2 long, 3 bald
    hairline: float = -0.88
    eye_spacing: float = 1.0
    eye_size: float = 1.0
    iris_color: tuple = (60, 80, 90)
    gaze: float = 0.0
    brow_thickness: float = 0.05
    brow_height: float = 0.0
    brow_color: tuple = (30, 40, 55)
    nose_len: float = 1.0
    nose_width: float = 1.0
    lip_color: tuple = (100, 100, 190)
    lip_thickness: float = 1.0
    mouth_width: float = 1.0
    glasses: bool = False
    glasses_color: tuple = (20, 20, 20)
    facial_hair: int = 0  # 0 none, 1 mustache, 2 beard
    clothes: tuple = (120, 60, 40)

    @classmethod
    def sample(cls, rng: np.random.Generator, skin_tones: str = 'all', glasses_prob: float = 0.12,
               facial_hair_prob: float = 0.2) -> 'Identity':  # fmt: skip
        if skin_tones not in SKIN_TONES:
            raise KeyError(f'skin_tones must be one of {sorted(SKIN_TONES)}, got {skin_tones!r}')
        tones = SKIN_TONES[skin_tones]
        skin = np.array(tones[rng.integers(len(tones))], float) + rng.normal(0, 8, 3)
        lip = skin * np.array([0.6, 0.55, 0.85]) + rng.normal(0, 6, 3)
        hair = np.array(_HAIR[rng.integers(len(_HAIR))], float) + rng.normal(0, 6, 3)
        return cls(
            face_w=float(rng.uniform(0.85, 1.02)),
            face_h=float(rng.uniform(1.15, 1.32)),
            jaw=float(rng.uniform(1.8, 2.8)),
            skin=_col(skin),
            hair_color=_col(hair),
            hair_style=int(rng.integers(4)),
            hairline=float(rng.uniform(-0.98, -0.82)),
            eye_spacing=float(rng.uniform(0.9, 1.1)),
            eye_size=float(rng.uniform(0.85, 1.15)),
            iris_color=_col(rng.uniform(20, 130, 3)),
            gaze=float(rng.uniform(-0.03, 0.03)),
            brow_thickness=float(rng.uniform(0.035, 0.07)),
            brow_height=float(rng.uniform(-0.03, 0.03)),
            brow_color=_col(hair * 0.8),
            nose_len=float(rng.uniform(0.9, 1.1)),
            nose_width=float(rng.uniform(0.85, 1.2)),
            lip_color=_col(lip),
            lip_thickness=float(rng.uniform(0.8, 1.25)),
            mouth_width=float(rng.uniform(0.9, 1.1)),
            glasses=bool(rng.random() < glasses_prob),
            glasses_color=_col(rng.uniform(0, 90, 3)),
            facial_hair=int(rng.integers(1, 3)) if rng.random() < facial_hair_prob else 0,
            clothes=_col(rng.uniform(20, 230, 3)),
        )


@dataclass
class Pose:
    """Head pose: yaw/roll in degrees, scale (1 = default face size), shift in image fractions."""

    yaw: float = 0.0
    roll: float = 0.0
    scale: float = 1.0
    tx: float = 0.0
    ty: float = 0.0


@dataclass
class Occluder:
    """An occluder drawn over the face: ``kind`` in hand/sunglasses/mask/object, ``part`` where."""

    kind: str = 'object'
    part: str = 'mouth'
    color: tuple = (80, 160, 60)
    angle: float = 0.0
    size: float = 1.0
    seed: int = 0


@dataclass
class Scene:
    """Background and photometric nuisances of one image."""

    bg_color: tuple = (200, 200, 200)
    bg_color2: tuple = (150, 150, 150)
    clutter: list = field(default_factory=list)  # (kind, params...) tuples
    occluder: Occluder | None = None
    blur_sigma: float = 0.0
    noise_std: float = 0.0
    jpeg_quality: int = 0
    gray: bool = False
    illumination: tuple | None = None  # (angle, strength, gain)
    noise_seed: int = 0


def _col(c) -> tuple:
    return tuple(int(v) for v in np.clip(np.asarray(c, float), 0, 255))


def _blend(c, k: float, target=(0, 0, 0)) -> tuple:
    """Colour ``c`` moved a fraction ``k`` towards ``target`` (BGR tuples)."""
    return _blend_cached(tuple(c), float(k), tuple(target))


@functools.lru_cache(maxsize=8192)
def _blend_cached(c: tuple, k: float, target: tuple) -> tuple:
    return tuple(int(min(255.0, max(0.0, float(a) * (1 - k) + float(b) * k))) for a, b in zip(c, target))


# Constant arrays reused by every render (same values as computing them per call).
_CONTOUR_T = np.linspace(0, 2 * math.pi, 44, endpoint=False)
_CONTOUR_C, _CONTOUR_S = np.cos(_CONTOUR_T), np.sin(_CONTOUR_T)
_CONTOUR_SIGN_C, _CONTOUR_ABS_C = np.sign(_CONTOUR_C), np.abs(_CONTOUR_C)
_CONTOUR_SIGN_S, _CONTOUR_ABS_S = np.sign(_CONTOUR_S), np.abs(_CONTOUR_S)
_BROW_TAPER = np.linspace(1.0, 0.5, 7)[:, None]
_SIZE_CACHE: dict[tuple, np.ndarray] = {}


def _size_const(kind: str, n: int) -> np.ndarray:
    """Per-size constant vectors: the background ``'ramp'`` and the illumination ``'grid'``."""
    key = (kind, n)
    arr = _SIZE_CACHE.get(key)
    if arr is None:
        if kind == 'ramp':
            arr = np.linspace(0, 1, n, dtype=np.float32)[:, None, None]
        else:
            arr = np.linspace(-1, 1, n, dtype=np.float32)
        arr.setflags(write=False)
        arr = _SIZE_CACHE[key] = arr
    return arr


_BEZ_CACHE: dict[int, tuple[tuple[float, float, float], ...]] = {}
_ELL_CACHE: dict[tuple, np.ndarray] = {}  # (n, 2) [cos, sin]


def _bez(p0, p1, p2, n: int = 8) -> np.ndarray:
    """Quadratic Bezier from ``p0`` to ``p2`` that passes through ``p1`` at t=0.5. ``(n, 2)``.

    Evaluated on Python floats with the cached Bernstein weights: the same IEEE
    operations in the same order as the vectorised form ``w0 * p0 + w1 * ctrl +
    w2 * p2`` (bit-identical), at half its cost for these 5-9 point curves.
    """
    w = _BEZ_CACHE.get(n)
    if w is None:
        t = np.linspace(0, 1, n)
        w = _BEZ_CACHE[n] = tuple(zip(((1 - t) ** 2).tolist(), (2 * (1 - t) * t).tolist(), (t**2).tolist()))
    x0, y0 = float(p0[0]), float(p0[1])
    x2, y2 = float(p2[0]), float(p2[1])
    cx = 2 * float(p1[0]) - 0.5 * (x0 + x2)
    cy = 2 * float(p1[1]) - 0.5 * (y0 + y2)
    return np.array([(a * x0 + b * cx + c * x2, a * y0 + b * cy + c * y2) for a, b, c in w])


def _clip01(x: np.ndarray) -> np.ndarray:
    """``np.clip(x, 0, 1)`` for small arrays: same values, without ``np.clip``'s Python-level overhead."""
    return np.minimum(np.maximum(x, 0), 1)


def _clip_u8(x: np.ndarray) -> np.ndarray:
    """``np.clip(x, 0, 255).astype(np.uint8)`` in place (same values, fewer temporaries)."""
    np.clip(x, 0, 255, out=x)  # one pass (3x faster than maximum + minimum)
    return x.astype(np.uint8)


def _ellipse_pts(cx, cy, rx, ry, n=24, a0=0.0, a1=2 * math.pi) -> np.ndarray:
    key = (n, a0, a1)
    cs = _ELL_CACHE.get(key)
    if cs is None:
        t = np.linspace(a0, a1, n)
        cs = _ELL_CACHE[key] = np.stack([np.cos(t), np.sin(t)], 1)
    out = cs * (rx, ry)  # the same element-wise products and sums as per-column updates
    out += (cx, cy)
    return out


class FaceRenderer:
    """Draws a face image from identity, pose, AU intensities and scene parameters.

    Args:
        size: Output side length in pixels (square image).
        batch_transforms: Queue the primitives of a face and map all their points to pixels
            with one matrix product (faster, bit-identical); ``False`` draws each primitive
            as soon as it is built (the reference path the tests compare against).
    """

    def __init__(self, size: int = 112, batch_transforms: bool = True):
        if size < 16:
            raise ValueError(f'SynthFER image size must be >= 16, got {size}')
        self.size = int(size)
        self.batch_transforms = bool(batch_transforms)
        self._queue: list | None = None  # primitives of the face being drawn (see ``_flush``)

    # ---------------------------------------------------------------- geometry
    def _matrix(self, pose: Pose) -> np.ndarray:
        s = self.size * 0.34 * pose.scale
        r = math.radians(pose.roll)
        c, si = math.cos(r) * s, math.sin(r) * s
        cx = self.size * (0.5 + pose.tx)
        cy = self.size * (0.53 + pose.ty)
        return np.array([[c, -si, cx], [si, c, cy]])

    def _set_pose(self, pose: Pose) -> None:
        """Cache the linear map ``(x, y, depth) -> pixel`` of ``pose`` (yaw: depth-dependent shift)."""
        yaw = math.radians(pose.yaw)
        m = self._matrix(pose)
        # x' = x cos(yaw) + 0.8 depth sin(yaw); pixel = m @ (x', y, 1)
        self._A = np.array([[m[0, 0] * math.cos(yaw), m[1, 0] * math.cos(yaw)], [m[0, 1], m[1, 1]]])
        self._D = np.array([m[0, 0], m[1, 0]]) * 0.8 * math.sin(yaw)
        self._b = m[:, 2].copy()
        self._pose = pose

    def _to_px(self, pts: np.ndarray, pose: Pose, depth: float | np.ndarray | None = None) -> np.ndarray:
        """Canonical ``(N, 2)`` points -> pixel coordinates ``(N, 2)`` under ``pose``."""
        pts = np.asarray(pts, float).reshape(-1, 2)
        if depth is None:
            x = pts[:, 0]
            depth = 0.45 * np.sqrt(np.maximum(1 - x * x, 0))
        out = pts @ self._A + self._b
        if isinstance(depth, np.ndarray):
            out += depth[:, None] * self._D
        elif depth:
            out += depth * self._D
        return out

    @staticmethod
    def _fix(px: np.ndarray) -> np.ndarray:
        return np.round(px * _ONE).astype(np.int32)

    def _fixed_px(self, pts, depth=None) -> np.ndarray:
        """``_fix(_to_px(pts, pose, depth))`` for the cached pose with fewer temporaries.

        The arithmetic (matrix product, depth shift, scaling, round-half-even) is the same as
        :meth:`_to_px` followed by :meth:`_fix`, so the pixels are bit-identical.
        """
        if type(pts) is not np.ndarray or pts.dtype != np.float64 or pts.ndim != 2:
            pts = np.asarray(pts, float).reshape(-1, 2)
        out = pts @ self._A
        out += self._b
        if depth is None:
            x = pts[:, 0]
            d = 1 - x * x
            np.maximum(d, 0, out=d)
            np.sqrt(d, out=d)
            d *= 0.45
            out += d[:, None] * self._D
        elif depth:
            out += depth * self._D
        out *= _ONE
        np.rint(out, out=out)
        return out.astype(np.int32)

    def _poly(self, img, pts, pose, color, depth=None) -> None:
        """Filled anti-aliased polygon (queued while :meth:`render` batches the transforms)."""
        if self._queue is not None:
            self._queue.append((np.asarray(pts, float).reshape(-1, 2), depth, color, 0))
        else:
            cv2.fillPoly(img, [self._fixed_px(pts, depth)], color, _AA, _SHIFT)

    def _line(self, img, pts, pose, color, width: float, depth=None) -> None:
        """Anti-aliased polyline of canonical width ``width`` (at least 1 px)."""
        w = max(1, int(round(width * self.size * 0.34 * pose.scale)))
        if self._queue is not None:
            self._queue.append((np.asarray(pts, float).reshape(-1, 2), depth, color, w))
        else:
            cv2.polylines(img, [self._fixed_px(pts, depth)], False, color, w, _AA, _SHIFT)

    def _flush(self, img: np.ndarray) -> None:
        """Draw the queued primitives in order with one batched canonical -> pixel transform.

        Row ``i`` of ``P @ A`` does not depend on the other rows, and the depth term and the
        fixed-point rounding are applied element-wise exactly as in :meth:`_fixed_px`, so the
        batched result is bit-identical to transforming every primitive on its own.
        """
        queue, self._queue = self._queue, None
        if not queue:
            return
        pts = np.concatenate([q[0] for q in queue])
        ends = np.cumsum([len(q[0]) for q in queue]).tolist()
        x = pts[:, 0]
        depth = 1 - x * x
        np.maximum(depth, 0, out=depth)
        np.sqrt(depth, out=depth)
        depth *= 0.45  # the default depth of a point on the face (``depth=None``)
        start = 0
        for (_, d, _, _), end in zip(queue, ends):
            if d is not None:
                depth[start:end] = d
            start = end
        out = pts @ self._A
        out += self._b
        out += depth[:, None] * self._D
        out *= _ONE
        np.rint(out, out=out)
        fixed = out.astype(np.int32)
        start = 0
        for (_, _, color, width), end in zip(queue, ends):
            seg = fixed[start:end]
            if width:
                cv2.polylines(img, [seg], False, color, width, _AA, _SHIFT)
            else:
                cv2.fillPoly(img, [seg], color, _AA, _SHIFT)
            start = end

    def au_region_mask(self, au: int, pose: Pose, side: str | None = None, margin_px: int = 2) -> np.ndarray:
        """``(H, W)`` bool mask of the pixels a change of ``au`` may touch under ``pose``.

        Args:
            au: FACS AU number.
            pose: Head pose the image was drawn with.
            side: ``'L'`` (subject's left = image right), ``'R'`` or ``None`` (both).
            margin_px: Dilation for anti-aliasing.
        """
        x0, y0, x1, y1 = AU_REGIONS[au]
        if side == 'L':
            x0 = max(x0, -0.12)
        elif side == 'R':
            x1 = min(x1, 0.12)
        xs, ys = np.linspace(x0, x1, 9), np.linspace(y0, y1, 9)
        pts = np.concatenate([np.stack([xs, np.full(9, y0)], 1), np.stack([np.full(9, x1), ys], 1),
                              np.stack([xs[::-1], np.full(9, y1)], 1), np.stack([np.full(9, x0), ys[::-1]], 1)])  # fmt: skip
        self._set_pose(pose)
        mask = np.zeros((self.size, self.size), np.uint8)
        # the union over the depths used for drawing (0 .. 0.6) covers the yaw shift of any part
        for depth in (0.0, 0.3, 0.6, None):
            cv2.fillPoly(mask, [np.round(self._to_px(pts, pose, depth)).astype(np.int32)], 1)
        if margin_px:
            mask = cv2.dilate(mask, np.ones((2 * margin_px + 1,) * 2, np.uint8))
        return mask.astype(bool)

    def landmarks68(self, idn: Identity, pose: Pose, au_l: np.ndarray | None = None,
                    au_r: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """``(68, 2)`` pixel coordinates of the iBUG 300-W points of the face :meth:`render` draws.

        The points are taken from the same canonical geometry as the drawing (same AU
        deformations, same per-primitive depth under yaw), in the iBUG order with the
        subject's right side (image left) first: jaw 0-16 (face contour at depth 0, ear to
        ear through the chin, lowered by AU26 as the contour is), brows 17-21 / 22-26 (brow
        centre line, outer -> inner / inner -> outer), nose bridge 27-30 (eye line to the tip
        ellipse, depths 0.55 -> 0.65), lower nose 31-35 (nostril outer edges, nostril bottoms,
        tip bottom), eyes 36-41 / 42-47 (the lid curves: corner, two upper-lid points at
        t = 1/3, 2/3, corner, two lower-lid points), outer lips 48-59 (corners 48 / 54, upper
        lip contour with the AU10 lift, lower lip contour), inner lips 60-67 (the same
        corners, upper / lower inner lip lines at the half-way points; AU25/26 open them).
        A pixel centre is an integer coordinate, as in the drawing; occluders do not hide
        points (they are annotated as if visible, as in AffectNet).

        Args:
            idn: Identity parameters.
            pose: Head pose.
            au_l: ``(16,)`` AU intensities of the subject's left side; ``None`` = neutral.
            au_r: ``(16,)`` AU intensities of the subject's right side; ``None`` = neutral.

        Returns:
            ``(68, 2)`` float64 ``(x, y)`` pixel coordinates.
        """
        zero = np.zeros(len(AU_LIST))
        au_l = zero if au_l is None else _clip01(np.asarray(au_l, float))
        au_r = zero if au_r is None else _clip01(np.asarray(au_r, float))
        if au_l.shape != (len(AU_LIST),) or au_r.shape != (len(AU_LIST),):
            raise ValueError(f'AU vectors must have shape ({len(AU_LIST)},), got {au_l.shape} / {au_r.shape}')
        left, right, mid = au_l.tolist(), au_r.tolist(), ((au_l + au_r) / 2).tolist()

        def a(au, sx):  # as in _draw_face: sx = +1 is the subject's left (image right)
            return left[AU_INDEX[au]] if sx > 0 else right[AU_INDEX[au]]

        def m(au):
            return mid[AU_INDEX[au]]

        self._set_pose(pose)
        fw, fh = idn.face_w, idn.face_h
        # jaw: the lower half of the superellipse contour (drawn at depth 0), AU26 lowers it
        t = np.linspace(math.pi * 0.98, math.pi * 0.02, 17)
        c, s = np.cos(t), np.sin(t)
        e = 2.0 / idn.jaw
        jx, jy = fw * np.sign(c) * np.abs(c) ** e, fh * np.abs(s) ** e
        jaw_drop = 0.16 * m(26)
        jy = np.where(jy > 0.35, jy + jaw_drop * (jy - 0.35) / (fh - 0.35), jy)
        jaw = self._to_px(np.stack([jx, jy], 1), pose, 0.0)
        # brows: the centre line of the drawn brow (same control points and AU terms)
        brows = []
        for sx in (-1, 1):
            k1, k2, k4 = a(1, sx), a(2, sx), a(4, sx)
            b = idn.brow_height
            inner = (sx * (0.13 - 0.05 * k4), -0.40 + b - 0.18 * k1 + 0.11 * k4)
            midp = (sx * 0.36, -0.47 + b - 0.06 * k1 - 0.11 * k2 + 0.08 * k4)
            outer = (sx * 0.6, -0.42 + b - 0.18 * k2 + 0.08 * k4)
            brows.append(_bez(outer, midp, inner, 5) if sx < 0 else _bez(inner, midp, outer, 5))
        brows = self._to_px(np.concatenate(brows), pose)
        # nose: bridge on the midline, lower nose from the nostrils and the tip ellipse
        L, nw, k9 = idn.nose_len, idn.nose_width, m(9)
        bridge_y = np.array(
            [-0.12, -0.12 + (0.28 * L + 0.12) / 3, -0.12 + 2 * (0.28 * L + 0.12) / 3, 0.28 * L]
        )
        bridge = self._to_px(np.stack([np.zeros(4), bridge_y], 1), pose, np.array([0.55, 0.55, 0.6, 0.65]))
        nx, ny = (0.075 + 0.015 * k9) * nw, (0.33 - 0.045 * k9) * L
        rx = 0.04 + 0.01 * k9
        lower_nose = np.array([[-nx - rx, ny], [-nx, ny + 0.022], [0.0, 0.28 * L + 0.06], [nx, ny + 0.022],
                               [nx + rx, ny]])  # fmt: skip
        lower_nose = self._to_px(lower_nose, pose, 0.55)
        # eyes: the lid curves of _eyes, upper lid image-left -> image-right corner, lower back
        eyes = []
        for sx in (-1, 1):
            k5, k6, k7 = a(5, sx), a(6, sx), a(7, sx)
            cx, cy = sx * 0.36 * idn.eye_spacing, -0.12
            hw = 0.17 * idn.eye_size
            up = max(0.012, 0.075 * idn.eye_size + 0.08 * k5 - 0.035 * k7 - 0.012 * k6)
            lo = max(0.006, 0.05 * idn.eye_size - 0.03 * k7 - 0.03 * k6)
            inner, outer = (cx - sx * hw, cy), (cx + sx * hw, cy + 0.005)
            p0, p1 = (outer, inner) if sx < 0 else (inner, outer)
            eyes.append(_bez(p0, (cx, cy - up), p1, 4))
            eyes.append(_bez(p1, (cx, cy + lo), p0, 4)[1:3])
        eyes = self._to_px(np.concatenate(eyes), pose)
        # mouth: corners and lip lines of _mouth
        y0 = 0.64
        lt = idn.lip_thickness * (1 - 0.5 * m(23))
        corners = {}
        for sx in (-1, 1):
            x = sx * 0.3 * idn.mouth_width
            x += sx * (0.09 * a(12, sx) - 0.04 * a(14, sx) + 0.11 * a(20, sx) - 0.06 * m(23))
            y = y0 - 0.14 * a(12, sx) - 0.015 * a(14, sx) + 0.12 * a(15, sx) + 0.02 * a(20, sx)
            corners[sx] = np.array([x, y])
        gap = 0.04 * m(25) + 0.26 * m(26)
        up_in, lo_in = y0, y0 + gap - 0.02 * m(17)
        up_top = up_in - 0.055 * lt
        lo_bot = lo_in + 0.07 * lt - 0.025 * m(17)

        def half(c, center_y, bow, n):  # corner -> centre, the half-curve of ``curve`` in _mouth
            return _bez(c, (c[0] * 0.5, 0.3 * c[1] + 0.7 * center_y - bow), (0.0, center_y), n)

        def lift(pts, amount):  # AU10 raises the upper lip per side, as in _mouth
            w = _clip01((pts[:, 0] + 0.1) / 0.2)
            out = pts.copy()
            out[:, 1] -= amount * (a(10, -1) * (1 - w) + a(10, 1) * w)
            return out

        cl, cr = corners[-1], corners[1]
        upper_out = lift(
            np.concatenate([half(cl, up_top, 0.01, 4)[1:], half(cr, up_top, 0.01, 4)[::-1][1:-1]]), 0.1
        )
        lower_out = np.concatenate([half(cr, lo_bot, 0.0, 4)[1:], half(cl, lo_bot, 0.0, 4)[::-1][1:-1]])
        upper_in = lift(np.concatenate([half(cl, up_in, 0.0, 3)[1:], half(cr, up_in, 0.0, 3)[1:2]]), 0.06)
        lower_in = np.concatenate([half(cr, lo_in, 0.0, 3)[1:], half(cl, lo_in, 0.0, 3)[1:2]])
        mouth = np.concatenate(
            [cl[None], upper_out, cr[None], lower_out, cl[None], upper_in, cr[None], lower_in]
        )
        mouth = self._to_px(mouth, pose)
        out = np.concatenate([jaw, brows, bridge, lower_nose, eyes, mouth])
        assert out.shape == (68, 2)
        return out

    # ---------------------------------------------------------------- drawing
    def render(self, idn: Identity, pose: Pose, au_l: np.ndarray, au_r: np.ndarray,
               scene: Scene | None = None) -> np.ndarray:  # fmt: skip
        """Draw one face.

        Args:
            idn: Identity parameters.
            pose: Head pose.
            au_l: ``(16,)`` AU intensities in [0, 1] of the subject's left side.
            au_r: ``(16,)`` AU intensities of the subject's right side.
            scene: Background and nuisances; ``None`` = plain grey background, no nuisances.

        Returns:
            ``(H, W, 3)`` uint8 BGR image.
        """
        au_l = _clip01(np.asarray(au_l, float))
        au_r = _clip01(np.asarray(au_r, float))
        if au_l.shape != (len(AU_LIST),) or au_r.shape != (len(AU_LIST),):
            raise ValueError(f'AU vectors must have shape ({len(AU_LIST)},), got {au_l.shape} / {au_r.shape}')
        scene = scene or Scene()
        self._set_pose(pose)
        n = self.size
        img = np.empty((n, n, 3), np.uint8)
        self._background(img, scene)
        self._queue = [] if self.batch_transforms else None
        try:
            self._draw_face(img, idn, pose, au_l, au_r, scene)
            self._flush(img)
        finally:
            self._queue = None
        return self._post(img, scene)

    def _draw_face(
        self, img, idn: Identity, pose: Pose, au_l: np.ndarray, au_r: np.ndarray, scene: Scene
    ) -> None:
        """Queue every primitive of the face, its accessories and the occluder, back to front."""
        # Python floats: the same IEEE values as the numpy scalars, with less per-use overhead.
        left, right, mid = au_l.tolist(), au_r.tolist(), ((au_l + au_r) / 2).tolist()

        def a(au, sx):  # intensity of ``au`` on image side sx (-1 = subject's right, +1 = left)
            return left[AU_INDEX[au]] if sx > 0 else right[AU_INDEX[au]]

        def m(au):
            return mid[AU_INDEX[au]]

        fw, fh = idn.face_w, idn.face_h
        skin = idn.skin
        jaw_drop = 0.16 * m(26)
        # hair behind the head, clothes, neck, ears
        if idn.hair_style != 3:
            hb = _ellipse_pts(0, -0.3, fw * 1.13, fh * 1.0, 28, math.pi, 2 * math.pi)
            if idn.hair_style == 2:  # long hair falls to the shoulders
                hb = np.concatenate([hb, [[fw * 1.13, 1.15], [-fw * 1.13, 1.15]]])
            self._poly(img, hb, pose, idn.hair_color, depth=-0.1)
        self._poly(img, [[-2.2, 2.4], [-1.9, 1.75], [-0.5, 1.55], [0.5, 1.55], [1.9, 1.75], [2.2, 2.4]], pose,
                   idn.clothes, depth=0.0)  # fmt: skip
        self._poly(img, [[-0.42, 0.5], [0.42, 0.5], [0.47, 1.7], [-0.47, 1.7]], pose, _blend(skin, 0.18), 0.0)
        for sx in (-1, 1):
            self._poly(
                img, _ellipse_pts(sx * fw * 0.98, -0.05, 0.13, 0.24, 12), pose, _blend(skin, 0.08), 0.0
            )
        # face contour (superellipse lower half; AU26 lowers the jaw)
        s = _CONTOUR_S
        e = np.where(s > 0, 2.0 / idn.jaw, 1.0)
        fx = fw * _CONTOUR_SIGN_C * _CONTOUR_ABS_C**e
        fy = fh * _CONTOUR_SIGN_S * _CONTOUR_ABS_S**e
        fy = np.where(fy > 0.35, fy + jaw_drop * (fy - 0.35) / (fh - 0.35), fy)
        face = np.stack([fx, fy], 1)
        self._poly(img, face, pose, skin, depth=0.0)
        if idn.facial_hair == 2:  # beard: band along the lower contour, follows the jaw
            low = face[(face[:, 1] > 0.45)]
            low = low[np.argsort(np.arctan2(low[:, 1], low[:, 0]))]
            inner = low * np.array([0.78, 1.0]) + np.array([0.0, -0.12])
            self._poly(img, np.concatenate([low, inner[::-1]]), pose, _blend(idn.hair_color, 0.1, skin), 0.1)
        # hair cap over the forehead (above the brow region)
        if idn.hair_style != 3:
            cap = _ellipse_pts(0, -0.3, fw * 1.05, fh * 0.97, 20, math.pi, 2 * math.pi)
            cap = np.concatenate([cap, [[fw * 0.9, idn.hairline], [0.2, idn.hairline - 0.05],
                                        [-0.3, idn.hairline + 0.02], [-fw * 0.9, idn.hairline]]])  # fmt: skip
            self._poly(img, cap, pose, idn.hair_color)
        # cheeks (AU6 raises them)
        for sx in (-1, 1):
            k = a(6, sx)
            self._poly(img, _ellipse_pts(sx * 0.5, 0.3 - 0.13 * k, 0.2, 0.12 - 0.02 * k, 14), pose,
                       _blend(skin, 0.06 + 0.18 * k, (90, 90, 230)))  # fmt: skip
        self._nose(img, idn, pose, m(9), au_l, au_r)
        self._eyes(img, idn, pose, a)
        self._brows(img, idn, pose, a)
        self._mouth(img, idn, pose, a, m, jaw_drop)
        if idn.glasses:
            gc = idn.glasses_color
            for sx in (-1, 1):
                cx = sx * 0.36 * idn.eye_spacing
                self._line(img, _ellipse_pts(cx, -0.1, 0.23, 0.15, 20), pose, gc, 0.025)
                self._line(img, [[sx * (0.36 * idn.eye_spacing + 0.23), -0.12], [sx * fw * 0.98, -0.15]], pose,
                           gc, 0.02)  # fmt: skip
            self._line(img, [[-0.36 * idn.eye_spacing + 0.23, -0.13], [0, -0.16],
                             [0.36 * idn.eye_spacing - 0.23, -0.13]], pose, gc, 0.02)  # fmt: skip
        if scene.occluder is not None:
            self._occluder(img, idn, pose, scene.occluder)

    def _background(self, img: np.ndarray, scene: Scene) -> None:
        n = self.size
        ramp = _size_const('ramp', n)
        c1 = np.asarray(scene.bg_color, np.float32)
        c2 = np.asarray(scene.bg_color2, np.float32)
        column = (c1 * (1 - ramp) + c2 * ramp).astype(np.uint8)  # (n, 1, 3): one colour per row
        # Nearest-neighbour widening copies the column into every pixel column; same pixels as
        # ``img[:] = column`` but ~4x faster than numpy's broadcast copy with a 3-wide inner axis.
        cv2.resize(column, (n, n), dst=img, interpolation=cv2.INTER_NEAREST)
        for item in scene.clutter:
            kind, color = item[0], item[1]
            p = np.asarray(item[2:], float) * n
            if kind == 'rect':
                cv2.rectangle(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), color, -1)
            elif kind == 'circle':
                cv2.circle(img, (int(p[0] * _ONE), int(p[1] * _ONE)), int(p[2] * _ONE / 2 + _ONE), color, -1,
                           _AA, _SHIFT)  # fmt: skip
            else:
                cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), color, max(1, n // 40), _AA)

    def _nose(self, img, idn, pose, k9, au_l, au_r) -> None:
        skin = idn.skin
        L = idn.nose_len
        shade = _blend(skin, 0.16)
        for sx in (-1, 1):
            self._line(img, [[sx * 0.06, -0.12], [sx * 0.08, 0.1], [sx * 0.1 * idn.nose_width, 0.26 * L]], pose,
                       shade, 0.025, depth=0.55)  # fmt: skip
        self._poly(img, _ellipse_pts(0, 0.28 * L, 0.09 * idn.nose_width, 0.06, 12), pose, _blend(skin, 0.05, (255,) * 3),
                   depth=0.65)  # fmt: skip
        for sx in (-1, 1):  # nostrils (AU9 lifts and flares them)
            self._poly(img, _ellipse_pts(sx * (0.075 + 0.015 * k9) * idn.nose_width, (0.33 - 0.045 * k9) * L,
                                         0.04 + 0.01 * k9, 0.022, 10), pose, _blend(skin, 0.55), depth=0.55)  # fmt: skip
        if k9 > 0.02:  # wrinkles across the bridge
            col = _blend(skin, 0.45 * k9)
            for y in (-0.08, -0.0, 0.08):
                self._line(img, _bez([-0.1, y + 0.02], [0, y - 0.01], [0.1, y + 0.02], 5), pose, col, 0.02,
                           depth=0.55)  # fmt: skip

    def _eyes(self, img, idn, pose, a) -> None:
        skin = idn.skin
        for sx in (-1, 1):
            k5, k6, k7 = a(5, sx), a(6, sx), a(7, sx)
            cx, cy = sx * 0.36 * idn.eye_spacing, -0.12
            hw = 0.17 * idn.eye_size
            up = max(0.012, 0.075 * idn.eye_size + 0.08 * k5 - 0.035 * k7 - 0.012 * k6)
            lo = max(0.006, 0.05 * idn.eye_size - 0.03 * k7 - 0.03 * k6)
            inner, outer = (cx - sx * hw, cy), (cx + sx * hw, cy + 0.005)
            upper = _bez(inner, (cx, cy - up), outer, 9)
            lower = _bez(outer, (cx, cy + lo), inner, 7)
            self._poly(img, np.concatenate([upper, lower]), pose, (235, 238, 240))
            r = 0.062 * idn.eye_size
            ry = min(r, 0.5 * (up + lo))
            icy = cy + 0.5 * (lo - up) * (1 - ry / r) if ry < r else cy
            self._poly(img, _ellipse_pts(cx + idn.gaze, icy, r, ry, 14), pose, idn.iris_color)
            self._poly(img, _ellipse_pts(cx + idn.gaze, icy, r * 0.45, ry * 0.45, 10), pose, (15, 15, 15))
            self._line(img, upper, pose, (25, 25, 30), 0.022)
            self._line(img, lower, pose, _blend(skin, 0.3), 0.012)
            if k6 > 0.02:  # crow's feet
                col = _blend(skin, 0.4 * k6)
                ox = cx + sx * (hw + 0.04)
                for dy in (-0.04, 0.0, 0.045):
                    self._line(img, [[ox, cy + dy * 0.6], [ox + sx * 0.08, cy + dy * 1.6]], pose, col, 0.012)

    def _brows(self, img, idn, pose, a) -> None:
        skin = idn.skin
        for sx in (-1, 1):
            k1, k2, k4 = a(1, sx), a(2, sx), a(4, sx)
            b = idn.brow_height
            inner = np.array([sx * (0.13 - 0.05 * k4), -0.40 + b - 0.18 * k1 + 0.11 * k4])
            midp = np.array([sx * 0.36, -0.47 + b - 0.06 * k1 - 0.11 * k2 + 0.08 * k4])
            outer = np.array([sx * 0.6, -0.42 + b - 0.18 * k2 + 0.08 * k4])
            c = _bez(inner, midp, outer, 7)
            th = idn.brow_thickness * _BROW_TAPER
            self._poly(
                img, np.concatenate([c - [0, 1] * th / 2, (c + [0, 1] * th / 2)[::-1]]), pose, idn.brow_color
            )
            if k4 > 0.02:  # glabellar furrow
                self._line(
                    img, [[sx * 0.05, -0.4], [sx * 0.045, -0.26]], pose, _blend(skin, 0.45 * k4), 0.015
                )

    def _mouth(self, img, idn, pose, a, m, jaw_drop) -> None:
        skin = idn.skin
        y0 = 0.64
        lt = idn.lip_thickness * (1 - 0.5 * m(23))
        corners = {}
        for sx in (-1, 1):
            x = sx * 0.3 * idn.mouth_width
            x += sx * (0.09 * a(12, sx) - 0.04 * a(14, sx) + 0.11 * a(20, sx) - 0.06 * m(23))
            y = y0 - 0.14 * a(12, sx) - 0.015 * a(14, sx) + 0.12 * a(15, sx) + 0.02 * a(20, sx)
            corners[sx] = np.array([x, y])
        cl, cr = corners[-1], corners[1]
        gap = 0.04 * m(25) + 0.26 * m(26)
        up_in = y0
        lo_in = y0 + gap - 0.02 * m(17)
        up_top = up_in - 0.055 * lt
        lo_bot = lo_in + 0.07 * lt - 0.025 * m(17)

        def curve(center_y: float, bow: float = 0.0) -> np.ndarray:
            """Lip line from the image-right corner to the image-left one through (0, center_y);
            each half depends only on its own corner, so one-sided AUs stay on their side."""
            halves = []
            for c in (cr, cl):
                mid = (c[0] * 0.5, 0.3 * c[1] + 0.7 * center_y - bow)
                halves.append(_bez(c, mid, (0.0, center_y), 5))
            return np.concatenate([halves[0], halves[1][::-1][1:]])

        def lift(pts: np.ndarray, amount: float) -> np.ndarray:
            """AU10 raises the upper lip per side (blended across the midline)."""
            # 0 on the image left, 1 on the image right
            w = _clip01((pts[:, 0] + 0.1) / 0.2)
            k = a(10, -1) * (1 - w) + a(10, 1) * w
            out = pts.copy()  # x - 0 == x: only y changes, as in pts - [0, amount * k]
            out[:, 1] -= amount * k
            return out

        upper_in = lift(curve(up_in), 0.06)
        upper_out = lift(curve(up_top, 0.01)[::-1], 0.1)
        lower_in = curve(lo_in)[::-1]
        lower_out = curve(lo_bot)
        # nasolabial folds deepen with AU10 / AU12
        for sx in (-1, 1):
            k = 0.08 + 0.35 * a(10, sx) + 0.25 * a(12, sx)
            cx = corners[sx]
            self._line(img, _bez([sx * 0.15, 0.3], [sx * 0.31 + 0.5 * (cx[0] - sx * 0.3), 0.46 - 0.06 * a(10, sx)],
                                 cx + [sx * 0.06, -0.02], 6), pose, _blend(skin, k), 0.018)  # fmt: skip
        if gap > 0.004:
            self._poly(img, np.concatenate([upper_in[::-1], lower_in[::-1][::-1]]), pose, (40, 25, 70))
            teeth_h = min(0.05, gap)
            self._poly(
                img, np.concatenate([upper_in, (upper_in + [0, teeth_h])[::-1]]), pose, (225, 230, 235)
            )
        self._poly(img, np.concatenate([upper_out, upper_in[1:-1]]), pose, idn.lip_color)
        self._poly(
            img, np.concatenate([lower_in, lower_out[1:-1]]), pose, _blend(idn.lip_color, 0.08, (255,) * 3)
        )
        self._line(img, upper_in if gap <= 0.004 else upper_in[1:-1], pose, _blend(idn.lip_color, 0.5), 0.012)
        for sx in (-1, 1):
            k14 = a(14, sx)
            if k14 > 0.02:  # dimple
                cx = corners[sx]
                self._line(img, [[cx[0] + sx * 0.04, cx[1] - 0.04], [cx[0] + sx * 0.05, cx[1] + 0.03]], pose,
                           _blend(skin, 0.45 * k14), 0.018)  # fmt: skip
        k17 = m(17)
        if k17 > 0.02:  # chin boss wrinkles
            col = _blend(skin, 0.35 * k17)
            cy = lo_bot + 0.15 + jaw_drop * 0.6
            self._line(img, _bez([-0.15, cy + 0.03], [0, cy - 0.02], [0.15, cy + 0.03], 6), pose, col, 0.02)
            self._line(img, _bez([-0.08, cy + 0.1], [0, cy + 0.08], [0.08, cy + 0.1], 5), pose, col, 0.015)
        if idn.facial_hair == 1:  # mustache follows the upper lip
            mu = upper_out + [0, -0.015]
            self._poly(img, np.concatenate([mu, (mu - [0, 0.06])[::-1]]), pose, idn.hair_color)

    def _occluder(self, img, idn, pose, occ: Occluder) -> None:
        anchors = {
            'eyes': (0.0, -0.12), 'mouth': (0.0, 0.68), 'nose': (0.0, 0.2), 'left': (0.5, 0.1),
            'right': (-0.5, 0.1), 'forehead': (0.0, -0.7), 'chin': (0.0, 1.0),
        }  # fmt: skip
        rng = np.random.default_rng(occ.seed)
        part = occ.part
        if part == 'random' or part not in anchors:
            ax, ay = rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 1.0)
        else:
            ax, ay = anchors[part]
        sz = occ.size
        if occ.kind == 'sunglasses':
            for sx in (-1, 1):
                self._poly(
                    img, _ellipse_pts(sx * 0.36 * idn.eye_spacing, -0.1, 0.25, 0.17, 16), pose, occ.color
                )
            self._line(img, [[-0.12, -0.14], [0.12, -0.14]], pose, occ.color, 0.04)
        elif occ.kind == 'mask':
            fw = idn.face_w
            pts = [[-fw * 0.92, 0.1], [-0.2, 0.02], [0, 0.05], [0.2, 0.02], [fw * 0.92, 0.1], [fw * 0.8, 0.9],
                   [0.3, 1.18], [-0.3, 1.18], [-fw * 0.8, 0.9]]  # fmt: skip
            self._poly(img, np.asarray(pts), pose, occ.color)
            for y in (0.35, 0.6):
                self._line(img, [[-0.7, y], [0.7, y]], pose, _blend(occ.color, 0.15), 0.015)
        elif occ.kind == 'hand':
            ang = math.radians(occ.angle)
            rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
            palm = _ellipse_pts(0, 0.25, 0.38 * sz, 0.32 * sz, 16)
            shapes = [palm]
            for i, fx in enumerate((-0.27, -0.09, 0.09, 0.27)):
                ln = (0.45 + 0.08 * (i in (1, 2))) * sz
                shapes.append(np.array([[fx * sz - 0.075 * sz, 0.15], [fx * sz + 0.075 * sz, 0.15],
                                        [fx * sz + 0.07 * sz, -ln], [fx * sz - 0.07 * sz, -ln]]))  # fmt: skip
            col = occ.color
            for sh in shapes:
                self._poly(img, sh @ rot.T + [ax, ay], pose, col)
            for fx in (-0.18, 0.0, 0.18):
                self._line(img, np.array([[fx * sz, 0.1], [fx * sz, -0.3 * sz]]) @ rot.T + [ax, ay], pose,
                           _blend(col, 0.25), 0.012)  # fmt: skip
        else:  # random object: polygon, disc or bar
            shape = int(rng.integers(3))
            if shape == 0:
                k = int(rng.integers(3, 7))
                ang = np.sort(rng.uniform(0, 2 * math.pi, k))
                rad = rng.uniform(0.2, 0.45, k) * sz
                pts = np.stack([ax + rad * np.cos(ang), ay + rad * np.sin(ang)], 1)
            elif shape == 1:
                pts = _ellipse_pts(ax, ay, 0.32 * sz, 0.32 * sz, 18)
            else:
                ang = math.radians(occ.angle)
                d = np.array([math.cos(ang), math.sin(ang)])
                nrm = np.array([-d[1], d[0]]) * 0.12 * sz
                c0, c1 = np.array([ax, ay]) - d * 0.9, np.array([ax, ay]) + d * 0.9
                pts = np.array([c0 + nrm, c1 + nrm, c1 - nrm, c0 - nrm])
            self._poly(img, pts, pose, occ.color)

    def _post(self, img: np.ndarray, scene: Scene) -> np.ndarray:
        if scene.illumination is not None:
            ang, strength, gain = scene.illumination
            n = self.size
            g = _size_const('grid', n)
            field_ = math.cos(ang) * g[None, :] + math.sin(ang) * g[:, None]
            field_ *= strength
            field_ += 1
            field_ *= gain
            out = img.astype(np.float32)
            # Same float32 products as ``out *= field_[:, :, None]``; a contiguous 3-channel
            # field avoids numpy's slow broadcast over the 3-wide inner axis.
            cv2.multiply(out, cv2.merge((field_, field_, field_)), dst=out)
            img = _clip_u8(out)
        if scene.blur_sigma > 0:
            img = cv2.GaussianBlur(img, (0, 0), scene.blur_sigma)
        if scene.noise_std > 0:
            noise = np.random.default_rng(scene.noise_seed).normal(0, scene.noise_std, img.shape[:2] + (1,))
            out = img.astype(np.float32)
            noise = noise.astype(np.float32)  # (H, W, 1): the same value on every channel
            cv2.add(out, cv2.merge((noise, noise, noise)), dst=out)
            img = _clip_u8(out)
        if scene.gray:
            img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        if scene.jpeg_quality > 0:
            ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, int(scene.jpeg_quality)])
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        return img
