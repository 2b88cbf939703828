"""An in-memory synthetic FER dataset registered into ferlab's DATASETS."""

from __future__ import annotations

import numpy as np

from ferlab.datasets.base_fer_dataset import BaseFERDataset
from ferlab.registry import DATASETS


@DATASETS.register_module()
class ExampleRandomFaces(BaseFERDataset):
    """Random uint8 "faces" whose class is visible as a bright square.

    Needs no files: every sample carries its image in ``data_info['img']``
    (``(H, W, 3)`` uint8 BGR), which ferlab's ``LoadImageFromFile`` keeps.
    The class ``k`` lights up cell ``k`` of a 3×3 grid, so a small network
    can learn it within a few hundred iterations.

    Args:
        num_samples: Number of samples.
        img_size: Image side in pixels (≥ 9).
        seed: RNG seed; the same seed gives the same samples.
        **kwargs: :class:`BaseFERDataset` arguments (``pipeline``, ``test_mode``,
            ``classes``...). ``data_root`` is not needed.
    """

    METAINFO = dict(classes=('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral'))
    DOCS_ANCHOR = ''

    def __init__(self, num_samples: int = 64, img_size: int = 32, seed: int = 0, **kwargs):
        if num_samples <= 0:
            raise ValueError(f'ExampleRandomFaces num_samples must be positive, got {num_samples}')
        if img_size < 9:
            raise ValueError(f'ExampleRandomFaces img_size must be >= 9, got {img_size}')
        self.num_samples = num_samples
        self.img_size = img_size
        self.seed = seed
        super().__init__(**kwargs)

    def load_annotations(self) -> list[dict]:
        rng = np.random.default_rng(self.seed)
        n_cls = len(self.native_classes)
        cell = self.img_size // 3
        out = []
        for _ in range(self.num_samples):
            label = int(rng.integers(n_cls))
            img = rng.integers(0, 96, size=(self.img_size, self.img_size, 3), dtype=np.uint8)
            r, c = divmod(label, 3)
            img[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] += 128
            out.append(dict(img=img, gt_label=label))
        return out
