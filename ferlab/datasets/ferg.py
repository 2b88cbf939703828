"""FERG-DB (Facial Expression Research Group 2D database, Aneja et al.)."""

from __future__ import annotations

import os
import os.path as osp
import re

import numpy as np
from mmengine.logging import MMLogger

from ferlab.registry import DATASETS

from .base_fer_dataset import BaseFERDataset, DatasetFormatError
from .categories import RAFDB_CLASSES, canonical
from .jaffe import SplitArgumentError

#: The six stylised characters (top-level folders of ``FERG_DB_256``).
FERG_CHARACTERS = ('aia', 'bonnie', 'jules', 'malcolm', 'mery', 'ray')
#: Expression names in the FERG-DB file names.
FERG_EXPRESSIONS = ('anger', 'disgust', 'fear', 'joy', 'neutral', 'sadness', 'surprise')
#: ``<character>_<expression>_<n>.png``, e.g. ``aia_anger_1.png``.
FERG_NAME = re.compile(r'^(?P<char>[a-z]+)_(?P<expr>[a-z]+)_(?P<n>\d+)\.png$')


def stratified_test_mask(keys: list, names: list[str], test_ratio: float, seed: int) -> np.ndarray:
    """``(N,)`` bool: ``round(test_ratio · n)`` test samples in every cell of equal ``keys``.

    Within a cell the samples are ordered by ``names`` and permuted by a
    generator seeded with ``seed`` (one generator, cells in sorted order), so
    the split depends only on the file names and the seed, not on the file
    system's listing order.
    """
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(keys), dtype=bool)
    cells: dict = {}
    for i, k in enumerate(keys):
        cells.setdefault(k, []).append(i)
    for k in sorted(cells):
        members = sorted(cells[k], key=lambda i: names[i])
        n_test = int(round(test_ratio * len(members)))
        for j in rng.permutation(len(members))[:n_test]:
            mask[members[j]] = True
    return mask


@DATASETS.register_module()
class FERG(BaseFERDataset):
    """FERG-DB: 55,767 rendered faces of 6 characters, read from ``FERG_DB_256`` as distributed.

    Layout (found by a recursive search for ``*.png`` under each character)::

        <data_root>/<character>/<character>_<expression>/<character>_<expression>_<n>.png
        # e.g. FERG_DB_256/aia/aia_anger/aia_anger_1.png

    Characters: aia, bonnie, jules, malcolm, mery, ray; expressions: anger,
    disgust, fear, joy, neutral, sadness, surprise. The class is read from the
    file name, the character (data info ``subject``) too, and it must match
    the top-level folder. Labels are in the RAF-DB order (Surprise, Fear,
    Disgust, Happiness, Sadness, Anger, Neutral; 'joy' ≡ Happiness by name,
    :func:`~ferlab.datasets.categories.canonical`); ``classes=`` gives another
    order. A ``.png`` with another name pattern, an unknown expression or a
    character other than its folder's is an error naming the file; other
    files are skipped, counted in ``num_skipped`` and logged.

    Split. FERG-DB ships no split and the ARBEx paper gives none; ferlab uses a
    seeded stratified split: in every (character, expression) cell,
    ``round(test_ratio · n)`` images (ordered by name, permuted with ``seed``)
    form ``'test'`` and the rest ``'train'``; ``'all'`` is everything.

    Args:
        data_root: The ``FERG_DB_256`` folder.
        split: ``'train'``, ``'test'`` or ``'all'``.
        test_ratio: Fraction of every cell in the test split, in (0, 1).
        seed: Seed of the split.
        **kwargs: :class:`BaseFERDataset` arguments.
    """

    METAINFO = dict(classes=RAFDB_CLASSES)
    DOCS_ANCHOR = 'ferg-db'

    def __init__(
        self, data_root: str, split: str = 'train', test_ratio: float = 0.1, seed: int = 0, **kwargs
    ):
        if split not in ('train', 'test', 'all'):
            raise SplitArgumentError(f"FERG split must be 'train', 'test' or 'all', got {split!r}")
        if not 0.0 < test_ratio < 1.0:
            raise SplitArgumentError(f'FERG: test_ratio must be in (0, 1), got {test_ratio}')
        self.split, self.test_ratio, self.seed = split, float(test_ratio), int(seed)
        self.num_skipped = 0
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(data_root=data_root, **kwargs)

    def load_annotations(self) -> list[dict]:
        root = self.data_root
        target = {canonical(c): i for i, c in enumerate(RAFDB_CLASSES)}
        expr_label = {e: target[canonical(e)] for e in FERG_EXPRESSIONS}
        infos, skipped = [], 0
        for top in sorted(os.listdir(root)):
            top_path = osp.join(root, top)
            if not osp.isdir(top_path):
                skipped += 1
                continue
            if top not in FERG_CHARACTERS:
                raise DatasetFormatError(
                    top_path, None, f'a character folder named one of {FERG_CHARACTERS}', top
                )
            for dirpath, dirnames, filenames in os.walk(top_path):
                dirnames.sort()
                for name in sorted(filenames):
                    path = osp.join(dirpath, name)
                    if not name.lower().endswith('.png'):
                        skipped += 1
                        continue
                    m = FERG_NAME.match(name)
                    if m is None or m['expr'] not in expr_label or m['char'] != top:
                        raise DatasetFormatError(
                            path, None,
                            f'a FERG-DB name {top}_<expression>_<n>.png with expression one of '
                            f'{FERG_EXPRESSIONS} (e.g. {top}_anger_1.png)', name,
                        )  # fmt: skip
                    infos.append(dict(img_path=path, gt_label=expr_label[m['expr']], subject=top))
        if not infos:
            raise DatasetFormatError(
                root, None, 'FERG_DB_256/<character>/.../<character>_<expression>_<n>.png images', 'none'
            )
        self.num_skipped = skipped
        logger = MMLogger.get_current_instance()
        characters = len({d['subject'] for d in infos})
        logger.info(
            f'FERG: {len(infos)} images of {characters} characters under {root} (the database has 55,767 of 6)'
        )
        if skipped:
            logger.info(f'FERG: skipped {skipped} files under {root} that are not .png images')
        if self.split == 'all':
            return infos
        test = stratified_test_mask(
            [(d['subject'], d['gt_label']) for d in infos],
            [osp.basename(d['img_path']) for d in infos],
            self.test_ratio,
            self.seed,
        )
        return [d for d, t in zip(infos, test) if t == (self.split == 'test')]
