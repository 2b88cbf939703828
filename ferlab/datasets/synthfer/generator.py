"""SynthFER sampling: identities, AU prototypes with variation, nuisances, label noise, votes, clips.

Every random draw of sample ``i`` of split ``s`` comes from its own
``numpy.random.default_rng([seed, stream, split_code(s), i])``, so generation
is deterministic per ``(seed, split, index)``, independent of the order or
the process it runs in, and identical for any subset of indices.
Identities live in disjoint id ranges per split, so train / val / test share
no person.
"""

from __future__ import annotations

import gc
import math
from typing import Sequence

import numpy as np

from ..categories import canonical
from .expressions import (
    AU_INDEX,
    AU_LIST,
    BILATERAL_AUS,
    UNILATERAL,
    label_set_classes,
    other_au_sets,
    resolve_domain,
)
from .renderer import SKIN_TONES, FaceRenderer, Identity, Occluder, Pose, Scene, _clip01

SPLIT_CODES = {'train': 0, 'val': 1, 'test': 2}
#: id range of each split (identity id = split_code * ID_STRIDE + k); clips use the upper half.
ID_STRIDE = 10_000_000
_STREAM_SAMPLE, _STREAM_IDENTITY, _STREAM_NOISE, _STREAM_CLIP = 11, 13, 17, 19
_BILATERAL = np.array([au in BILATERAL_AUS for au in AU_LIST])
OCCLUDER_KINDS = ('none', 'hand', 'sunglasses', 'mask', 'object')
NUM_RATERS = 10


def _empty_small_pages(shape: tuple, dtype=np.uint8) -> np.ndarray:
    """``np.empty(shape, dtype)`` whose large buffer is not advised for transparent huge pages.

    numpy marks arrays of 4 MiB and more ``MADV_HUGEPAGE``. With the common kernel setting
    ``transparent_hugepage/defrag=madvise`` every first touch of such a buffer may stall on
    memory compaction: filling a fresh 376 MB image buffer (10,000 images at 112 px) took 0.69 s
    of CPU against 0.24 s with ordinary pages on the development VM. An anonymous ``mmap``
    gets ordinary pages unless the system forces huge pages everywhere.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes < 4 << 20:
        return np.empty(shape, dtype)
    import mmap

    return np.frombuffer(mmap.mmap(-1, nbytes), dtype).reshape(shape)


def split_code(split: str) -> int:
    if split not in SPLIT_CODES:
        raise ValueError(f'SynthFER split must be one of {tuple(SPLIT_CODES)}, got {split!r}')
    return SPLIT_CODES[split]


class SynthFERGenerator:
    """Samples and renders SynthFER faces for one label set and domain.

    Args:
        label_set: Name in :data:`~.expressions.LABEL_SETS` (``'rafdb'``,
            ``'ferplus'``, ``'affectnet8'`` ...) or a tuple of class names;
            it fixes the class order of the labels.
        domain: Domain preset name or ``dict(preset=..., nuisance=...,
            expression=..., prototypes=...)`` (see :func:`resolve_domain`).
        img_size: Output size; ``None`` = the domain's (112 by default).
        seed: Base seed.
        samples_per_identity: Average number of images per person.
        class_probs: Class frequencies (label-set order); ``None`` = uniform.
    """

    def __init__(self, label_set='rafdb', domain='default', img_size: int | None = None, seed: int = 0,
                 samples_per_identity: int = 8, class_probs: Sequence[float] | None = None):  # fmt: skip
        self.classes = label_set_classes(label_set)
        self.canon = tuple(canonical(c) for c in self.classes)
        self.domain = resolve_domain(domain)
        self.nuis = self.domain['nuisance']
        self.expr = self.domain['expression']
        self.protos = self.domain['prototypes']
        missing = [c for c in self.canon if c not in self.protos]
        if missing:
            raise KeyError(f'no AU prototype for classes {missing}')
        self.img_size = int(img_size or self.nuis['img_size'])
        self.seed = int(seed)
        if samples_per_identity < 1:
            raise ValueError(f'samples_per_identity must be >= 1, got {samples_per_identity}')
        self.samples_per_identity = int(samples_per_identity)
        c = len(self.classes)
        p = np.full(c, 1.0 / c) if class_probs is None else np.asarray(class_probs, float)
        if p.shape != (c,) or (p < 0).any() or p.sum() <= 0:
            raise ValueError(f'class_probs must be {c} non-negative numbers, got {class_probs}')
        self.class_probs = p / p.sum()
        # ``rng.choice(C, p=class_probs)`` draws one double and searches this CDF (numpy's own
        # algorithm); doing it directly gives the same class and RNG state without choice()'s
        # per-call validation of p (~10 % of the per-sample sampling time).
        self._class_cdf = self.class_probs.cumsum()
        self._class_cdf /= self._class_cdf[-1]
        self.renderer = FaceRenderer(self.img_size)
        self._identities: dict[int, Identity] = {}
        self._proto_vecs = np.stack([self._proto_vector(n) for n in self.canon])
        self._confusion_weights: dict[int, np.ndarray] = {}

    # ----------------------------------------------------------------- pieces
    def _rng(self, stream: int, split: str, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream, split_code(split), int(index)])

    def _proto_vector(self, name: str) -> np.ndarray:
        v = np.zeros(len(AU_LIST))
        for au, w in self.protos[name].items():
            v[AU_INDEX[au]] = w
        return v

    def num_identities(self, n_samples: int) -> int:
        return max(1, math.ceil(n_samples / self.samples_per_identity))

    def identity(self, identity_id: int) -> Identity:
        """Appearance of person ``identity_id`` (depends only on seed and id)."""
        idn = self._identities.get(identity_id)
        if idn is None:
            if len(self._identities) > 100_000:
                self._identities.clear()
            rng = np.random.default_rng([self.seed, _STREAM_IDENTITY, int(identity_id)])
            idn = self._identities[identity_id] = self._sample_identity(rng)
        return idn

    def _sample_identity(self, rng: np.random.Generator) -> Identity:
        return Identity.sample(
            rng, self.nuis['skin_tones'], self.nuis['glasses_prob'], self.nuis['facial_hair_prob']
        )

    def sample_aus(self, name: str, rng: np.random.Generator, intensity: float | None = None):
        """AU intensities of expression ``name`` with EMFACS-prototype variation.

        Returns:
            ``(au_l, au_r, intensity)``: two ``(16,)`` arrays in [0, 1] and the global intensity.
        """
        e = self.expr
        n = len(AU_LIST)
        if intensity is None:
            lo, hi = e['low_intensity'] if rng.random() < e['low_intensity_prob'] else e['intensity']
            intensity = float(rng.uniform(lo, hi))
        proto = self._proto_vector(name) if name != 'other' else np.zeros(n)
        if name == 'other':  # an AU set outside every prototype (other_au_sets), kept whole
            sets = other_au_sets(self.protos)
            aus = [AU_INDEX[au] for au in sets[int(rng.integers(len(sets)))]]
            proto[aus] = rng.uniform(0.5, 1.0, len(aus))
        active = np.flatnonzero(proto)
        if active.size and name != 'other':
            drop = rng.random(active.size) < e['drop_au_prob']
            if drop.all():
                drop[rng.integers(active.size)] = False
            proto[active[drop]] = 0.0
        jit = rng.uniform(1 - e['au_jitter'], 1 + e['au_jitter'], n)
        v = proto * intensity * jit
        spont = (proto == 0) & (rng.random(n) < e['spontaneous_prob'])
        v[spont] = rng.uniform(0, e['spontaneous_max'], int(spont.sum()))
        asym = e['asymmetry']
        au_l = v * np.where(_BILATERAL, 1 + asym * rng.uniform(-1, 1, n), 1.0)
        au_r = v * np.where(_BILATERAL, 1 + asym * rng.uniform(-1, 1, n), 1.0)
        if name in UNILATERAL:
            weak = au_r if rng.random() < 0.5 else au_l
            for au in self.protos[name]:
                weak[AU_INDEX[au]] = rng.uniform(0, 0.08)
        return _clip01(au_l), _clip01(au_r), intensity

    def sample_pose(self, rng: np.random.Generator) -> Pose:
        nu = self.nuis
        return Pose(
            yaw=float(rng.uniform(-nu['yaw'], nu['yaw'])),
            roll=float(rng.uniform(-nu['roll'], nu['roll'])),
            scale=float(rng.uniform(*nu['scale'])),
            tx=float(rng.uniform(-nu['shift'], nu['shift'])),
            ty=float(rng.uniform(-nu['shift'], nu['shift'])),
        )

    def sample_scene(self, rng: np.random.Generator, occlusion: bool | None = None) -> Scene:
        """Background, occluder and photometric nuisances (``occlusion`` forces / forbids one)."""
        nu = self.nuis
        sc = Scene(bg_color=tuple(int(x) for x in rng.integers(0, 256, 3)),
                   bg_color2=tuple(int(x) for x in rng.integers(0, 256, 3)))  # fmt: skip
        if rng.random() < nu['clutter_prob']:
            for _ in range(int(rng.integers(2, 7))):
                kind = ('rect', 'circle', 'line')[int(rng.integers(3))]
                color = tuple(int(x) for x in rng.integers(0, 256, 3))
                sc.clutter.append((kind, color, *rng.uniform(0, 1, 4).tolist()))
        oc = nu['occlusion']
        if occlusion or (occlusion is None and rng.random() < oc['prob']):
            kind = oc['types'][int(rng.integers(len(oc['types'])))]
            part = {'sunglasses': 'eyes', 'mask': 'lower'}.get(kind) or oc['parts'][
                int(rng.integers(len(oc['parts'])))
            ]
            if kind == 'hand':
                tones = SKIN_TONES['all']
                color = tones[int(rng.integers(len(tones)))]
            elif kind == 'sunglasses':
                color = tuple(int(x) for x in rng.integers(0, 60, 3))
            elif kind == 'mask':
                color = ((235, 225, 215), (230, 200, 150), (60, 60, 60))[int(rng.integers(3))]
            else:
                color = tuple(int(x) for x in rng.integers(0, 256, 3))
            sc.occluder = Occluder(kind=kind, part=part, color=color, angle=float(rng.uniform(-40, 40)),
                                   size=float(rng.uniform(0.8, 1.2)), seed=int(rng.integers(2**31)))  # fmt: skip
        k = self.img_size / 112
        if rng.random() < nu['blur_prob']:
            sc.blur_sigma = float(rng.uniform(*nu['blur_sigma'])) * k
        if rng.random() < nu['noise_prob']:
            sc.noise_std = float(rng.uniform(*nu['noise_std']))
            sc.noise_seed = int(rng.integers(2**31))
        if rng.random() < nu['jpeg_prob']:
            sc.jpeg_quality = int(rng.integers(nu['jpeg_quality'][0], nu['jpeg_quality'][1] + 1))
        sc.gray = bool(rng.random() < nu['gray_prob'])
        if rng.random() < nu['illumination_prob']:
            s = nu['illumination_strength']
            sc.illumination = (float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, s)),
                               float(rng.uniform(1 - s / 2, 1 + s / 3)))  # fmt: skip
        return sc

    def votes(self, label: int, intensity: float, rng: np.random.Generator) -> np.ndarray:
        """``(C,)`` vote counts of :data:`NUM_RATERS` simulated annotators.

        A rater picks the rendered class with probability ``0.45 + 0.5 *
        intensity`` (0.8 for neutral), else a class drawn by AU-prototype
        similarity (fear <-> surprise, disgust <-> anger ...).
        """
        c = len(self.classes)
        p_ok = 0.8 if self.canon[label] == 'neutral' else 0.45 + 0.5 * min(1.0, intensity)
        w = self._confusion_weights.get(label)
        if w is None:  # depends on the label only: computed once per class
            pv = self._proto_vecs
            norms = np.linalg.norm(pv, axis=1) * np.linalg.norm(pv[label]) + 1e-6
            sim = (pv @ pv[label]) / norms
            sim[[i for i, n in enumerate(self.canon) if n == 'neutral']] = 0.5
            sim[label] = -np.inf
            w = np.exp(4 * sim)
            w /= w.sum()
            self._confusion_weights[label] = w
        probs = (1 - p_ok) * w
        probs[label] = p_ok
        return (
            rng.multinomial(NUM_RATERS, probs / probs.sum()).astype(np.int64)
            if c > 1
            else np.array([NUM_RATERS])
        )

    # ----------------------------------------------------------------- samples
    def sample(self, split: str, index: int, n_samples: int, render: bool = True) -> dict:
        """Render sample ``index`` of a split of ``n_samples`` images.

        Args:
            split: Split name.
            index: Sample index in the split.
            n_samples: Size of the split (it fixes the number of identities).
            render: ``False`` skips drawing (``img`` is ``None``); every other field, the
                landmarks included, is the same as when rendering (drawing uses no random draw).

        Returns:
            dict with ``img`` ``(H, W, 3)`` uint8 BGR, ``label`` (clean class),
            ``au_l``/``au_r``/``au`` ``(16,)``, ``identity`` id, ``occluder``
            (index in :data:`OCCLUDER_KINDS`), ``intensity``, ``votes`` ``(C,)``,
            ``landmarks`` ``(68, 2)`` iBUG 300-W pixel coordinates of the drawn face
            (:meth:`FaceRenderer.landmarks68`).
        """
        rng = self._rng(_STREAM_SAMPLE, split, index)
        label = int(self._class_cdf.searchsorted(rng.random(), side='right'))
        ident = split_code(split) * ID_STRIDE + int(rng.integers(self.num_identities(n_samples)))
        au_l, au_r, intensity = self.sample_aus(self.canon[label], rng)
        pose = self.sample_pose(rng)
        scene = self.sample_scene(rng)
        idn = self.identity(ident)
        img = self.renderer.render(idn, pose, au_l, au_r, scene) if render else None
        landmarks = self.renderer.landmarks68(idn, pose, au_l, au_r)
        return dict(img=img, label=label, au_l=au_l, au_r=au_r, au=np.maximum(au_l, au_r), identity=ident,
                    landmarks=landmarks, pose=np.array([pose.yaw, pose.roll, pose.scale, pose.tx, pose.ty]),
                    occluder=OCCLUDER_KINDS.index(scene.occluder.kind) if scene.occluder else 0,
                    intensity=intensity, votes=self.votes(label, intensity, rng))  # fmt: skip

    def generate(self, split: str, n_samples: int, indices: Sequence[int] | None = None,
                 num_workers: int = 0) -> dict:  # fmt: skip
        """Render a split; returns stacked arrays (``imgs`` ``(N, H, W, 3)``, ``labels`` ``(N,)`` ...).

        ``num_workers > 1`` renders chunks in forked processes; the result is
        identical (every sample has its own RNG).
        """
        idx = list(range(n_samples) if indices is None else indices)
        if num_workers > 1 and len(idx) >= 4 * num_workers:
            import multiprocessing as mp

            chunks = [idx[k::num_workers] for k in range(num_workers)]
            with mp.get_context('fork').Pool(num_workers) as pool:
                parts = pool.starmap(self.generate, [(split, n_samples, c) for c in chunks])
            order = np.argsort(np.concatenate(chunks), kind='stable')
            return {k: np.concatenate([p[k] for p in parts])[order] for k in parts[0]}
        # Write every sample straight into preallocated arrays: holding 10k per-sample
        # dicts and stacking them at the end cost ~25 % extra on 10k images (allocation
        # and cyclic-GC scans of the growing list), see docs/synthfer.md.
        size, n_aus = self.renderer.size, len(AU_LIST)
        fields = {  # output key: (key of sample(), per-sample shape, dtype)
            'imgs': ('img', (size, size, 3), np.uint8),
            'labels': ('label', (), np.int64),
            'aus': ('au', (n_aus,), np.float32),
            'au_l': ('au_l', (n_aus,), np.float32),
            'au_r': ('au_r', (n_aus,), np.float32),
            'identities': ('identity', (), np.int64),
            'occluders': ('occluder', (), np.int64),
            'intensities': ('intensity', (), np.float32),
            'votes': ('votes', (len(self.classes),), np.int64),
            'poses': ('pose', (5,), np.float32),
            'landmarks': ('landmarks', (68, 2), np.float32),
        }
        out = {
            key: _empty_small_pages((len(idx), *shape), dtype) for key, (_, shape, dtype) in fields.items()
        }
        gc_was_enabled = gc.isenabled()
        gc.disable()  # the renderer creates no reference cycles; avoids repeated full scans
        try:
            for j, i in enumerate(idx):
                one = self.sample(split, i, n_samples)
                for key, (name, _, _) in fields.items():
                    out[key][j] = one[name]
        finally:
            if gc_was_enabled:
                gc.enable()
        return out

    def landmarks(self, split: str, n_samples: int, indices: Sequence[int] | None = None) -> np.ndarray:
        """``(N, 68, 2)`` float32 landmarks of a split without rendering (equal to ``generate``'s)."""
        idx = list(range(n_samples) if indices is None else indices)
        out = np.empty((len(idx), 68, 2), np.float32)
        for j, i in enumerate(idx):
            out[j] = self.sample(split, i, n_samples, render=False)['landmarks']
        return out

    def apply_label_noise(self, labels: np.ndarray, split: str, noise: dict | None) -> np.ndarray:
        """Noisy copy of ``labels``: exactly ``round(rate * N)`` samples get another class.

        Args:
            labels: ``(N,)`` clean labels.
            split: Split name (the flipped subset depends on seed and split only).
            noise: ``dict(type='symmetric'|'pairwise', rate=0.3, pairs={'fear': 'surprise', ...})``.
                Symmetric: a uniformly drawn *other* class. Pairwise (class-conditional):
                the class each clean class is confused with
                (:data:`~.expressions.DEFAULT_NOISE_PAIRS` by default); classes without a
                partner in the label set flip symmetrically.
        """
        labels = np.asarray(labels, np.int64)
        if not noise or not noise.get('rate'):
            return labels.copy()
        from .expressions import DEFAULT_NOISE_PAIRS

        kind, rate = noise.get('type', 'symmetric'), float(noise['rate'])
        if kind not in ('symmetric', 'pairwise') or not 0 <= rate <= 1:
            raise ValueError(f"label_noise needs type 'symmetric'|'pairwise' and rate in [0, 1], got {noise}")
        c = len(self.classes)
        rng = self._rng(_STREAM_NOISE, split, 0)
        flip = rng.permutation(len(labels))[: int(round(rate * len(labels)))]
        out = labels.copy()
        offsets = rng.integers(1, c, len(flip))
        out[flip] = (labels[flip] + offsets) % c
        if kind == 'pairwise':
            pairs = {
                canonical(k): canonical(v) for k, v in (noise.get('pairs') or DEFAULT_NOISE_PAIRS).items()
            }
            for j in flip:
                dst = pairs.get(self.canon[labels[j]])
                if dst in self.canon and dst != self.canon[labels[j]]:
                    out[j] = self.canon.index(dst)
        return out

    # ------------------------------------------------------------------- video
    def clip(self, split: str, clip_index: int, length: int, unlabeled_prob: float = 0.3,
             label_threshold: float = 0.4) -> dict:  # fmt: skip
        """Render a clip of one person whose AUs follow onset-apex-offset trajectories.

        Segments of random expressions (onset 3-8, apex 4-12, offset 3-8 frames,
        raised-cosine ramps) alternate with neutral gaps; pose and lighting
        drift smoothly. Frame ``t`` is labelled with the segment's class where
        its envelope is >= ``label_threshold``, else neutral; with probability
        ``unlabeled_prob`` a contiguous stretch (5-20 % of the clip) is -1.

        Returns:
            dict: ``frames`` ``(T, H, W, 3)``, ``labels`` ``(T,)`` (-1 =
            unlabeled), ``aus`` ``(T, 16)``, ``envelope`` ``(T,)``, ``identity``.
        """
        if length < 1:
            raise ValueError(f'clip length must be >= 1, got {length}')
        rng = self._rng(_STREAM_CLIP, split, clip_index)
        ident = split_code(split) * ID_STRIDE + ID_STRIDE // 2 + int(clip_index)
        idn = self.identity(ident)
        neutral = self.canon.index('neutral') if 'neutral' in self.canon else 0
        au_l_t = np.zeros((length, len(AU_LIST)))
        au_r_t = np.zeros((length, len(AU_LIST)))
        labels = np.full(length, neutral, np.int64)
        env_all = np.zeros(length)
        base_l, base_r, _ = self.sample_aus('neutral', rng)
        t = int(rng.integers(0, 8))
        # Segments of every class but neutral ('other' too when the label set has it, as Aff-Wild2).
        expressive = [i for i, n in enumerate(self.canon) if n != 'neutral'] or [neutral]
        while t < length:
            cls = int(expressive[int(rng.integers(len(expressive)))])
            on, apex, off = int(rng.integers(3, 9)), int(rng.integers(4, 13)), int(rng.integers(3, 9))
            al, ar, _ = self.sample_aus(self.canon[cls], rng, intensity=float(rng.uniform(0.6, 1.0)))
            env = np.concatenate([0.5 - 0.5 * np.cos(np.linspace(0, math.pi, on + 1)[1:]), np.ones(apex),
                                  0.5 + 0.5 * np.cos(np.linspace(0, math.pi, off + 1)[1:])])  # fmt: skip
            seg = slice(t, min(length, t + len(env)))
            e = env[: seg.stop - seg.start]
            au_l_t[seg] = np.maximum(au_l_t[seg], e[:, None] * al)
            au_r_t[seg] = np.maximum(au_r_t[seg], e[:, None] * ar)
            labels[seg] = np.where(e >= label_threshold, cls, labels[seg])
            env_all[seg] = np.maximum(env_all[seg], e)
            t += len(env) + int(rng.integers(2, 10))
        au_l_t = np.clip(au_l_t + base_l * (1 - env_all[:, None]), 0, 1)
        au_r_t = np.clip(au_r_t + base_r * (1 - env_all[:, None]), 0, 1)
        if rng.random() < unlabeled_prob and length >= 5:
            k = max(1, int(length * rng.uniform(0.05, 0.2)))
            s = int(rng.integers(0, length - k + 1))
            labels[s : s + k] = -1
        p0, p1 = self.sample_pose(rng), self.sample_pose(rng)
        scene = self.sample_scene(rng, occlusion=False)
        occ_scene = self.sample_scene(rng)
        phase = rng.uniform(0, 2 * math.pi)
        frames = []
        for k in range(length):
            w = 0.5 - 0.5 * math.cos(math.pi * k / max(1, length - 1))
            pose = Pose(yaw=p0.yaw * (1 - w) + p1.yaw * w, roll=p0.roll * (1 - w) + p1.roll * w + 2 * math.sin(phase + k / 6),
                        scale=p0.scale, tx=p0.tx * (1 - w) + p1.tx * w, ty=p0.ty * (1 - w) + p1.ty * w)  # fmt: skip
            scene.occluder = occ_scene.occluder
            if scene.noise_std:
                scene.noise_seed = int(scene.noise_seed + 1)
            frames.append(self.renderer.render(idn, pose, au_l_t[k], au_r_t[k], scene))
        return dict(frames=np.stack(frames), labels=labels, aus=np.maximum(au_l_t, au_r_t).astype(np.float32),
                    au_l=au_l_t.astype(np.float32), au_r=au_r_t.astype(np.float32), envelope=env_all,
                    identity=ident)  # fmt: skip
