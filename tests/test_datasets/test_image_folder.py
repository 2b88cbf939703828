import os.path as osp

import pytest

from ferlab.datasets import DatasetFormatError
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import write_image, write_text


def make_tree(root):
    for k, cls in enumerate(('sad', 'happy', 'angry')):
        write_image(osp.join(str(root), cls, f'{k}.jpg'), seed=k)
    write_image(osp.join(str(root), 'happy', 'x.PNG'), seed=9)
    write_text(osp.join(str(root), 'happy', 'notes.txt'), ['not an image'])


def test_sorted_folder_classes_by_default(tmp_path):
    make_tree(tmp_path)
    ds = DATASETS.build(dict(type='ImageFolderFER', data_root=str(tmp_path)))
    assert ds.classes == ('angry', 'happy', 'sad')
    assert ds.get_gt_labels().tolist() == [0, 1, 1, 2]
    assert ds.num_skipped == 1


def test_given_class_order_and_extensions(tmp_path):
    make_tree(tmp_path)
    ds = DATASETS.build(
        dict(
            type='ImageFolderFER',
            data_root=str(tmp_path),
            classes=('happy', 'sad', 'angry'),
            extensions=('jpg',),
            pipeline=[dict(type='LoadImageFromFile'), dict(type='PackFERInputs')],
        )
    )
    assert ds.classes == ('happy', 'sad', 'angry')
    assert ds.get_gt_labels().tolist() == [2, 0, 1]
    assert ds.num_skipped == 2  # x.PNG and notes.txt
    assert ds[0]['data_samples'].gt_label.tolist() == [2]


def test_errors(tmp_path):
    make_tree(tmp_path)
    with pytest.raises(
        DatasetFormatError, match=r"sad: expected a class folder named one of \('happy', 'angry'\)"
    ):
        DATASETS.build(dict(type='ImageFolderFER', data_root=str(tmp_path), classes=('happy', 'angry')))
    write_text(osp.join(str(tmp_path), 'stray.jpg'), ['x'])
    with pytest.raises(DatasetFormatError, match=r'stray.jpg: expected only class folders'):
        DATASETS.build(dict(type='ImageFolderFER', data_root=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match=r'data root .*missing.* does not exist.*#imagefolder'):
        DATASETS.build(dict(type='ImageFolderFER', data_root=str(tmp_path / 'missing')))
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(DatasetFormatError, match='one sub-folder per class'):
        DATASETS.build(dict(type='ImageFolderFER', data_root=str(empty)))
    (empty / 'happy').mkdir()
    with pytest.raises(ValueError, match='is empty'):
        DATASETS.build(dict(type='ImageFolderFER', data_root=str(empty)))
    with pytest.raises(ValueError, match='instead of label_map'):
        DATASETS.build(dict(type='ImageFolderFER', data_root=str(tmp_path), classes=('a',), label_map={0: 0}))
