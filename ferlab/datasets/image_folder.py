"""Generic ``<root>/<class>/<image>`` FER datasets."""

from __future__ import annotations

import os
import os.path as osp
from typing import Sequence

from mmengine.logging import MMLogger

from ferlab.registry import DATASETS

from .base_fer_dataset import BaseFERDataset, DatasetFormatError

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


def scan_class_folders(
    root: str, classes: Sequence[str], extensions: Sequence[str], owner: str
) -> tuple[list[dict], int]:
    """List ``root/<class>/*`` images with the index of their folder in ``classes``.

    Args:
        root: Folder holding one sub-folder per class.
        classes: Class order; every sub-folder must be one of them.
        extensions: Lower-case image extensions to keep; other files are skipped.
        owner: Dataset name used in errors.

    Returns:
        ``(data_list, num_skipped)``: data infos sorted by path, and the number
        of non-image files skipped.

    Raises:
        DatasetFormatError: a sub-folder whose name is not a class, or a file
            directly in ``root``.
    """
    index = {c: i for i, c in enumerate(classes)}
    data_list, skipped = [], 0
    for entry in sorted(os.listdir(root)):
        path = osp.join(root, entry)
        if not osp.isdir(path):
            if entry.startswith('.'):
                continue
            raise DatasetFormatError(path, None, f'only class folders {tuple(classes)} in {root}', entry)
        if entry not in index:
            raise DatasetFormatError(path, None, f'a class folder named one of {tuple(classes)}', entry)
        for name in sorted(os.listdir(path)):
            if osp.splitext(name)[1].lower() not in extensions:
                skipped += 1
                continue
            data_list.append(dict(img_path=osp.join(path, name), gt_label=index[entry]))
    if skipped:
        MMLogger.get_current_instance().info(
            f'{owner}: skipped {skipped} files under {root} without an image extension {tuple(extensions)}'
        )
    return data_list, skipped


@DATASETS.register_module()
class ImageFolderFER(BaseFERDataset):
    """Images sorted into one folder per class: ``<data_root>/<class>/*.jpg``.

    Class order: ``classes`` if given (every folder must be one of them),
    else the sorted folder names. Files without an image extension are
    skipped, counted in ``num_skipped`` and logged. To use another class
    order, list the folder names in that order in ``classes``.

    Args:
        data_root: Folder of class folders.
        classes: Class names = folder names, in label order.
        extensions: Image extensions to read (case-insensitive).
        **kwargs: :class:`BaseFERDataset` arguments except ``label_map``.
    """

    DOCS_ANCHOR = 'imagefolder'

    def __init__(
        self,
        data_root: str,
        classes: Sequence[str] | None = None,
        extensions: Sequence[str] = IMG_EXTENSIONS,
        **kwargs,
    ):
        if kwargs.get('label_map') is not None:
            raise ValueError(
                'ImageFolderFER: give the class order as classes=(folder names) instead of label_map'
            )
        self.extensions = tuple(e.lower() if e.startswith('.') else '.' + e.lower() for e in extensions)
        self.num_skipped = 0
        if classes is None:
            if not osp.isdir(data_root):
                self.data_root = data_root
                self.check_root()
            classes = sorted(d for d in os.listdir(data_root) if osp.isdir(osp.join(data_root, d)))
            if not classes:
                raise DatasetFormatError(data_root, None, 'one sub-folder per class', 'no sub-folders')
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        metainfo['classes'] = tuple(classes)
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)

    def load_annotations(self) -> list[dict]:
        data_list, self.num_skipped = scan_class_folders(
            self.data_root, self.classes, self.extensions, type(self).__name__
        )
        return data_list
