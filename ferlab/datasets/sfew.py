"""SFEW 2.0 (Static Facial Expressions in the Wild, Dhall et al.)."""

from __future__ import annotations

import os.path as osp

from ferlab.registry import DATASETS
from ferlab.utils.errors import InputFileNotFoundError

from .base_fer_dataset import BaseFERDataset
from .categories import SFEW_CLASSES
from .image_folder import scan_class_folders

SPLIT_DIRS = {'train': 'Train/Train_Aligned_Faces', 'val': 'Val/Val_Aligned_Faces'}


@DATASETS.register_module()
class SFEW(BaseFERDataset):
    """SFEW 2.0 aligned faces, read from the folders exactly as distributed.

    Layout under ``data_root``::

        Train/Train_Aligned_Faces/<Class>/<Movie>_<frame>_<n>.png
        Val/Val_Aligned_Faces/<Class>/...

    Class order (the folder names, alphabetical): Angry, Disgust, Fear,
    Happy, Neutral, Sad, Surprise. A folder with another name is an error;
    non-image files are skipped, counted in ``num_skipped`` and logged. The
    test labels are not public: ``'val'`` is the evaluation split.

    Args:
        data_root: SFEW 2.0 root.
        split: ``'train'`` or ``'val'``.
        **kwargs: :class:`BaseFERDataset` arguments.
    """

    METAINFO = dict(classes=SFEW_CLASSES)
    DOCS_ANCHOR = 'sfew'

    def __init__(self, data_root: str, split: str = 'train', **kwargs):
        if split not in SPLIT_DIRS:
            raise ValueError(f"SFEW split must be 'train' or 'val', got {split!r}")
        self.split = split
        self.num_skipped = 0
        kwargs.setdefault('test_mode', split == 'val')
        super().__init__(data_root=data_root, **kwargs)

    def load_annotations(self) -> list[dict]:
        split_dir = osp.join(self.data_root, SPLIT_DIRS[self.split])
        if not osp.isdir(split_dir):
            raise InputFileNotFoundError(
                f'SFEW: split folder {split_dir!r} does not exist; {self.docs_hint()}.'
            )
        data_list, self.num_skipped = scan_class_folders(
            split_dir, SFEW_CLASSES, ('.png', '.jpg', '.jpeg'), 'SFEW'
        )
        return data_list
