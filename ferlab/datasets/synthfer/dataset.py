"""Registered SynthFER datasets: ``SynthFER`` (images) and ``SynthFERVideo`` (frames or clips)."""

from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
from typing import Sequence

import numpy as np
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS

from ..base_fer_dataset import BaseFERDataset
from .expressions import AU_LIST, label_set_classes
from .generator import OCCLUDER_KINDS, SynthFERGenerator, split_code

_MEMORY_CACHE: dict[str, dict] = {}
_MEMORY_CACHE_MAX = 6
DEFAULT_SIZES = dict(train=4000, val=700, test=700)


def _cache_key(kind: str, params: dict) -> str:
    blob = json.dumps(dict(params, kind=kind, version=1), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def _cached(kind: str, params: dict, make, cache_dir: str | None) -> dict:
    """Arrays made by ``make()``, cached in memory and optionally as ``<cache_dir>/synthfer_<key>.npz``."""
    key = _cache_key(kind, params)
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    path = osp.join(cache_dir, f'synthfer_{kind}_{key}.npz') if cache_dir else None
    if path and osp.isfile(path):
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    else:
        data = make()
        if path:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = path + f'.tmp{os.getpid()}.npz'
            np.savez(tmp, **data)
            os.replace(tmp, path)
    if len(_MEMORY_CACHE) >= _MEMORY_CACHE_MAX:
        _MEMORY_CACHE.pop(next(iter(_MEMORY_CACHE)))
    _MEMORY_CACHE[key] = data
    return data


class _SynthBase(BaseFERDataset):
    DOCS_ANCHOR = 'synthfer'

    def _init_generator(self, label_set, domain, img_size, seed, samples_per_identity, class_probs, split):
        split_code(split)
        self.split = split
        self.label_set = label_set
        self._native = tuple(label_set_classes(label_set))
        self.generator = SynthFERGenerator(
            label_set, domain, img_size, seed, samples_per_identity, class_probs
        )
        self.domain_name = self.generator.domain['name']
        self._gen_params = dict(classes=self._native, domain=self.generator.domain, img_size=self.generator.img_size,
                                seed=seed, spi=samples_per_identity, class_probs=self.generator.class_probs.tolist(),
                                split=split)  # fmt: skip

    def docs_hint(self) -> str:
        return 'see docs/synthfer.md'

    def check_root(self) -> None:  # generated in memory: no root needed
        return None


@DATASETS.register_module()
class SynthFER(_SynthBase):
    """Procedurally rendered facial-expression images (see docs/synthfer.md).

    Images are rendered on first use (deterministic per ``(seed, split,
    index)``) and cached in memory, and on disk when ``cache_dir`` is set.
    Data infos carry ``img`` ``(H, W, 3)`` uint8 BGR, ``gt_label`` (possibly
    noisy), ``clean_label``, ``au_label`` ``(16,)`` in
    :data:`~ferlab.datasets.synthfer.expressions.AU_LIST` order with
    ``au_mask`` (all true), ``gt_score`` (normalised votes of 10 simulated
    raters) when ``soft_labels``, ``domain``, ``identity``, ``occluder`` and
    ``landmarks`` ``(68, 2)`` float32 iBUG 300-W ``(x, y)`` pixel coordinates of the served
    image (:meth:`~.renderer.FaceRenderer.landmarks68`).

    Args:
        split: ``'train'``, ``'val'`` or ``'test'``; splits share no identities.
        num_samples: Images in the split (default 4000 / 700 / 700).
        label_set: Class order (``'rafdb'``, ``'fer2013'``, ``'ferplus'``,
            ``'affectnet7'``, ``'affectnet8'``, ``'affwild2'``, ``'affwild2_7'``
            or a tuple of names); labels are native in this order.
        domain: Domain preset (``'default'``, ``'lab'``, ``'wild'``,
            ``'fer2013'``, ``'alt_convention'``) or a dict with overrides.
        img_size: Output size (default: the domain's, 112).
        seed: Base seed.
        label_noise: ``dict(type='symmetric'|'pairwise', rate=0.3, pairs=None,
            splits=('train',))``; exactly ``round(rate * N)`` labels are changed
            in the listed splits; ``clean_label`` keeps the truth.
        soft_labels: Also serve ``gt_score`` (vote distributions); a sample
            relabeled with ``set_gt_label`` serves the one-hot of its new label
            instead (``ori_score`` keeps the votes).
        samples_per_identity: Mean images per person.
        class_probs: Class frequencies (label-set order); ``None`` = uniform.
        cache_dir: Optional folder for ``.npz`` caches keyed by all parameters.
        num_workers: Processes rendering the split on first use (same result for any value).
        **kwargs: :class:`BaseFERDataset` arguments (``pipeline``, ``classes``,
            ``label_map``, ``test_mode`` ...).
    """

    def __init__(self, split: str = 'train', num_samples: int | None = None, label_set='rafdb',
                 domain='default', img_size: int | None = None, seed: int = 0, label_noise: dict | None = None,
                 soft_labels: bool = False, samples_per_identity: int = 8,
                 class_probs: Sequence[float] | None = None, cache_dir: str | None = None, data_root: str = '',
                 num_workers: int = 0, **kwargs):  # fmt: skip
        self._init_generator(label_set, domain, img_size, seed, samples_per_identity, class_probs, split)
        self.num_samples = int(num_samples if num_samples is not None else DEFAULT_SIZES[split])
        if self.num_samples < 1:
            raise ValueError(f'SynthFER num_samples must be >= 1, got {num_samples}')
        self.label_noise = dict(label_noise) if label_noise else None
        self.soft_labels = soft_labels
        self.cache_dir = cache_dir
        self.num_workers = int(num_workers)
        kwargs.setdefault('test_mode', split != 'train')
        # native class order depends on label_set (the base class reads it from metainfo)
        kwargs['metainfo'] = dict(kwargs.get('metainfo') or {}, classes=self._native)
        super().__init__(data_root=data_root, **kwargs)

    def arrays(self) -> dict:
        """The rendered split as arrays (``imgs``, ``labels``, ``aus``, ``identities`` ...), cached."""
        params = dict(self._gen_params, n=self.num_samples)
        data = _cached(
            'img',
            params,
            lambda: self.generator.generate(self.split, self.num_samples, num_workers=self.num_workers),
            self.cache_dir,
        )
        if 'landmarks' not in data:  # a cache written without landmarks: recompute them, no rendering
            data['landmarks'] = self.generator.landmarks(self.split, self.num_samples)
        return data

    def load_annotations(self) -> list[dict]:
        data = self.arrays()
        clean = data['labels']
        noisy = clean
        noise = self.label_noise
        if noise and self.split in tuple(noise.get('splits', ('train',))):
            noise = {k: v for k, v in noise.items() if k != 'splits'}
            noisy = self.generator.apply_label_noise(clean, self.split, noise)
        votes = data['votes'].astype(np.float32)
        mask = np.ones(len(AU_LIST), bool)
        infos = []
        for i in range(len(clean)):
            info = dict(img=data['imgs'][i], gt_label=int(noisy[i]), clean_label=int(clean[i]),
                        au_label=data['aus'][i], au_mask=mask, domain=self.domain_name,
                        identity=int(data['identities'][i]), occluder=OCCLUDER_KINDS[int(data['occluders'][i])],
                        landmarks=data['landmarks'][i],
                        img_path=f'synthfer://{self.domain_name}/{self.split}/{i:06d}')  # fmt: skip
            if self.soft_labels:
                info['gt_score'] = votes[i] / votes[i].sum()
            infos.append(info)
        return infos

    def get_clean_labels(self) -> np.ndarray:
        """``(N,)`` clean labels in the served class order."""
        return np.array([self.get_data_info(i)['clean_label'] for i in range(len(self))], np.int64)


@DATASETS.register_module()
class SynthFERVideo(_SynthBase):
    """SynthFER clips: one person per clip, AUs on onset-apex-offset trajectories.

    Args:
        split: ``'train'``, ``'val'`` or ``'test'`` (identity-disjoint).
        num_clips: Number of videos.
        clip_len: Frames per video.
        mode: ``'frames'`` - one data info per labelled frame (``img``,
            ``video_id``, ``frame_idx``; unlabeled (-1) frames are skipped, as
            Aff-Wild2 loaders do, counted in ``num_unlabeled_skipped`` and
            logged); ``'clips'`` - one info per window of
            ``window`` consecutive frames (``imgs`` list, ``frame_labels``
            ``(T,)`` with -1 for unlabeled, ``gt_label`` of the last frame;
            windows whose last frame is unlabeled are dropped, counted and logged).
        window / stride: Window length and step in ``'clips'`` mode.
        label_set: Class order (default Aff-Wild2's 7 basic classes).
            ``'affwild2'`` is Aff-Wild2's 8-class order with ``Other`` (index 7):
            clips then also have Other segments, whose AUs form a set outside
            every prototype (:func:`~.expressions.other_au_sets`), as the
            Aff-Wild2 "Other" class holds expressions outside the basic seven.
        unlabeled_prob: Probability that a clip has a stretch of -1 frames.
        Others as in :class:`SynthFER`.
    """

    def __init__(self, split: str = 'train', num_clips: int = 8, clip_len: int = 48, mode: str = 'frames',
                 window: int = 8, stride: int = 4, label_set='affwild2_7', domain='default',
                 img_size: int | None = None, seed: int = 0, unlabeled_prob: float = 0.3,
                 samples_per_identity: int = 8, cache_dir: str | None = None, data_root: str = '',
                 **kwargs):  # fmt: skip
        if mode not in ('frames', 'clips'):
            raise ValueError(f"SynthFERVideo mode must be 'frames' or 'clips', got {mode!r}")
        if num_clips < 1 or clip_len < 1 or window < 1 or stride < 1:
            raise ValueError('SynthFERVideo needs num_clips, clip_len, window, stride >= 1')
        self._init_generator(label_set, domain, img_size, seed, samples_per_identity, None, split)
        self.num_clips, self.clip_len, self.mode = int(num_clips), int(clip_len), mode
        self.window, self.stride, self.unlabeled_prob = int(window), int(stride), float(unlabeled_prob)
        self.cache_dir = cache_dir
        kwargs.setdefault('test_mode', split != 'train')
        # native class order depends on label_set (the base class reads it from metainfo)
        kwargs['metainfo'] = dict(kwargs.get('metainfo') or {}, classes=self._native)
        super().__init__(data_root=data_root, **kwargs)

    def arrays(self) -> dict:
        """``frames`` ``(V, T, H, W, 3)``, ``labels`` ``(V, T)``, ``aus`` ``(V, T, 16)``, ``identities`` ``(V,)``."""
        params = dict(self._gen_params, clips=self.num_clips, len=self.clip_len, unl=self.unlabeled_prob)

        def make():
            clips = [
                self.generator.clip(self.split, c, self.clip_len, self.unlabeled_prob)
                for c in range(self.num_clips)
            ]
            return dict(frames=np.stack([c['frames'] for c in clips]), labels=np.stack([c['labels'] for c in clips]),
                        aus=np.stack([c['aus'] for c in clips]), identities=np.array([c['identity'] for c in clips]))  # fmt: skip

        return _cached('video', params, make, self.cache_dir)

    def video_id(self, clip: int) -> str:
        return f'synthfer_{self.split}_{clip:04d}'

    def load_annotations(self) -> list[dict]:
        data = self.arrays()
        mask = np.ones(len(AU_LIST), bool)
        infos = []
        skipped = 0  # unlabeled (-1) frames, or windows whose last frame is unlabeled
        for c in range(self.num_clips):
            vid, labels = self.video_id(c), data['labels'][c]
            if self.mode == 'frames':
                for t in range(self.clip_len):
                    if labels[t] < 0:
                        skipped += 1
                        continue
                    infos.append(dict(img=data['frames'][c, t], gt_label=int(labels[t]), clean_label=int(labels[t]),
                                      au_label=data['aus'][c, t], au_mask=mask, video_id=vid, frame_idx=t,
                                      domain=self.domain_name, img_path=f'synthfer://{vid}/{t + 1:05d}.jpg'))  # fmt: skip
            else:
                starts = range(0, max(1, self.clip_len - self.window + 1), self.stride)
                for s in starts:
                    e = min(self.clip_len, s + self.window)
                    if labels[e - 1] < 0:
                        skipped += 1
                        continue
                    infos.append(dict(imgs=list(data['frames'][c, s:e]), gt_label=int(labels[e - 1]),
                                      frame_labels=labels[s:e].copy(), au_label=data['aus'][c, e - 1], au_mask=mask,
                                      video_id=vid, frame_idx=e - 1, domain=self.domain_name,
                                      img_path=f'synthfer://{vid}/{e:05d}.jpg'))  # fmt: skip
        self.num_unlabeled_skipped = skipped
        if skipped:
            what = (
                'unlabeled (-1) frames'
                if self.mode == 'frames'
                else 'windows ending on an unlabeled (-1) frame'
            )
            MMLogger.get_current_instance().info(f'SynthFERVideo ({self.split}): skipped {skipped} {what}')
        return infos
