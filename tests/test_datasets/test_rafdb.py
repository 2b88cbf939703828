import os.path as osp

import numpy as np
import pytest

from ferlab.datasets import RAFDB_CLASSES, DatasetFormatError
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import RAFDB_LIST as LIST
from tests.test_datasets.fake_formats import make_rafdb, write_text


def build(root, **kw):
    return DATASETS.build(dict(type='RAFDB', data_root=str(root), **kw))


def test_train_and_test_split_labels_and_paths(tmp_path):
    make_rafdb(tmp_path)
    train = build(tmp_path, split='train')
    test = build(tmp_path, split='test')
    assert train.classes == RAFDB_CLASSES
    assert train.get_gt_labels().tolist() == [4, 0, 3]
    assert test.get_gt_labels().tolist() == [0, 1, 2, 3, 6]
    assert test.test_mode and not train.test_mode
    info = train.get_data_info(0)
    assert info['img_path'].endswith('basic/Image/aligned/train_00001_aligned.jpg')
    assert info['sample_idx'] == 0
    original = build(tmp_path, split='test', aligned=False)
    assert original.get_data_info(0)['img_path'].endswith('basic/Image/original/test_0001.jpg')


def test_pipeline_output(tmp_path):
    make_rafdb(tmp_path)
    ds = build(tmp_path, split='train', pipeline=[dict(type='LoadImageFromFile'), dict(type='PackFERInputs')])
    out = ds[1]
    assert out['inputs'].shape == (3, 16, 16)
    assert out['data_samples'].gt_label.tolist() == [0]


def test_occlusion_and_pose_subset_lists(tmp_path):
    make_rafdb(tmp_path)
    # occlusion list: "test_0003_aligned <0-based label> <occlusion type>"
    write_text(str(tmp_path / 'rafdb_occlusion_list.txt'), ['test_0003_aligned 2 4', 'test_0005_aligned 6 1'])
    occ = build(tmp_path, split='test', subset_file='rafdb_occlusion_list.txt')
    assert [osp.basename(d['img_path']) for d in (occ.get_data_info(i) for i in range(len(occ)))] == [
        'test_0003_aligned.jpg',
        'test_0005_aligned.jpg',
    ]
    assert occ.get_gt_labels().tolist() == [2, 6]
    # pose lists: "<0-based label>/test_XXXX_aligned.jpg"
    write_text(str(tmp_path / 'val_raf_db_list_45.txt'), ['1/test_0002_aligned.jpg'])
    pose = build(tmp_path, split='test', subset_file=str(tmp_path / 'val_raf_db_list_45.txt'))
    assert len(pose) == 1 and pose.get_gt_labels().tolist() == [1]


def test_subset_label_mismatch_and_unknown_image(tmp_path):
    make_rafdb(tmp_path)
    write_text(str(tmp_path / 'occ.txt'), ['test_0003_aligned 5 4'])
    with pytest.raises(DatasetFormatError, match=r'occ.txt, line 1: expected label 2'):
        build(tmp_path, split='test', subset_file='occ.txt')
    write_text(str(tmp_path / 'pose.txt'), ['0/test_0009_aligned.jpg'])
    with pytest.raises(DatasetFormatError, match=r'pose.txt, line 1: expected an image listed'):
        build(tmp_path, split='test', subset_file='pose.txt')
    with pytest.raises(FileNotFoundError, match='subset list'):
        build(tmp_path, split='test', subset_file='nope.txt')


@pytest.mark.parametrize(
    'line, expected',
    [
        ('train_00009.jpg 8', 'a label in 1..7'),
        ('train_00009.jpg 0', 'a label in 1..7'),
        ('train_00009.jpg', '"<name>.jpg <label 1..7>"'),
        ('train_00009.jpg x', '"<name>.jpg <label 1..7>"'),
        ('val_0001.jpg 3', 'a name starting with train_ or test_'),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, expected):
    make_rafdb(tmp_path)
    path = tmp_path / LIST
    path.write_text(path.read_text() + line + '\n')
    with pytest.raises(DatasetFormatError) as err:
        build(tmp_path, split='train')
    assert f'list_patition_label.txt, line 9: expected {expected}' in str(err.value)


def test_missing_root_list_and_empty_split(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"data root '.*nowhere' does not exist.*docs/datasets.md#raf-db"
    ):
        build(tmp_path / 'nowhere')
    tmp_path.joinpath('basic').mkdir()
    with pytest.raises(FileNotFoundError, match='label list .*list_patition_label.txt'):
        build(tmp_path)
    make_rafdb(tmp_path, train=(), write_images=False)
    with pytest.raises(ValueError, match='is empty'):
        build(tmp_path, split='train')
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        build(tmp_path, split='val')


def test_missing_image_fails_at_load_naming_it(tmp_path):
    make_rafdb(tmp_path, write_images=False)
    ds = build(tmp_path, split='train', pipeline=[dict(type='LoadImageFromFile')])
    with pytest.raises(OSError, match='train_00001_aligned.jpg.* does not exist'):
        ds[0]
    assert np.all(ds.get_gt_labels() == [4, 0, 3])
