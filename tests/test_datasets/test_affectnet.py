import os.path as osp

import numpy as np
import pytest

from ferlab.datasets import AFFECTNET7_CLASSES, AFFECTNET8_CLASSES, DatasetFormatError
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import (
    AFFECTNET_HEADER,
    affectnet_row,
    write_affectnet_csv,
    write_affectnet_npy,
    write_text,
)

ROWS = [('689/a.jpg', 0), ('12/b.png', 7), ('3/c.jpg', 8), ('3/d.jpg', 9), ('3/e.jpg', 10), ('4/f.jpg', 6)]
LIST_DIR = 'Manually_Annotated_file_lists'


def build(root, **kw):
    return DATASETS.build(dict(type='AffectNet', data_root=str(root), **kw))


@pytest.mark.parametrize('num_classes, labels', [(7, [0, 6]), (8, [0, 7, 6])])
def test_csv_layout_protocols(tmp_path, num_classes, labels):
    write_affectnet_csv(str(tmp_path), 'training.csv', ROWS)
    ds = build(tmp_path, num_classes=num_classes)
    assert ds.classes == (AFFECTNET7_CLASSES if num_classes == 7 else AFFECTNET8_CLASSES)
    assert ds.get_gt_labels().tolist() == labels
    expected_drops = {8: 1, 9: 1, 10: 1} if num_classes == 8 else {7: 1, 8: 1, 9: 1, 10: 1}
    assert ds.num_dropped == expected_drops
    info = ds.get_data_info(0)
    assert info['img_path'] == osp.join(str(tmp_path), 'Manually_Annotated_Images', '689/a.jpg')
    assert info['valence'] == pytest.approx(0.1) and info['arousal'] == pytest.approx(-0.2)
    assert not ds.test_mode


def test_validation_csv_without_header_is_detected(tmp_path):
    write_affectnet_csv(str(tmp_path), 'validation.csv', ROWS, header=False)
    ds = build(tmp_path, split='val', num_classes=8, pipeline=[dict(type='LoadImageFromFile')])
    assert ds.get_gt_labels().tolist() == [0, 7, 6] and ds.test_mode
    assert ds[1]['img'].shape == (16, 16, 3)


@pytest.mark.parametrize(
    'lines, match',
    [
        (['subDirectory_filePath,face_x,expression'], r'training.csv, line 1: expected the header'),
        ([AFFECTNET_HEADER, 'a.jpg,1,2,3'], r'training.csv, line 2: expected 9 columns'),
        (
            [AFFECTNET_HEADER, affectnet_row('a.jpg', 11)],
            r'training.csv, line 2: expected an expression code',
        ),
        (
            [AFFECTNET_HEADER, affectnet_row('a.jpg', 1).replace(',0.1,', ',high,')],
            r'line 2: expected an integer expression and float valence, arousal',
        ),
        ([AFFECTNET_HEADER, affectnet_row('a.jpg', 8)], r'is empty'),
    ],
)
def test_csv_errors(tmp_path, lines, match):
    write_text(osp.join(str(tmp_path), LIST_DIR, 'training.csv'), lines)
    with pytest.raises(ValueError, match=match):
        build(tmp_path)


def test_missing_list_and_root(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'does not exist.*docs/datasets.md#affectnet'):
        build(tmp_path / 'AffectNet')
    with pytest.raises(FileNotFoundError, match=r'file list .*validation.csv'):
        build(tmp_path, split='val')
    with pytest.raises(ValueError, match='num_classes must be 7 or 8'):
        build(tmp_path, num_classes=6)


def test_npy_layout(tmp_path):
    write_affectnet_npy(str(tmp_path), 'val_set', [3, 7, 1])
    ds = build(tmp_path, split='val', layout='npy', num_classes=7)
    assert ds.get_gt_labels().tolist() == [3, 1]
    assert ds.num_dropped == {7: 1}
    info = ds.get_data_info(1)
    assert info['img_path'].endswith(osp.join('val_set', 'images', '2.jpg'))
    assert info['valence'] == pytest.approx(0.5) and info['arousal'] == pytest.approx(-0.5)
    ds8 = build(tmp_path, split='val', layout='npy', num_classes=8)
    assert ds8.get_gt_labels().tolist() == [3, 7, 1]


def test_npy_layout_errors(tmp_path):
    write_affectnet_npy(str(tmp_path), 'train_set', [3, 1], with_va=False)
    ann = tmp_path / 'train_set' / 'annotations'
    assert 'valence' not in build(tmp_path, layout='npy').get_data_info(0)
    np.save(ann / '1_exp.npy', np.array(['1', '2']))
    with pytest.raises(
        DatasetFormatError, match=r"1_exp.npy: expected a .npy holding one int value, got 'shape"
    ):
        build(tmp_path, layout='npy')
    (ann / '1_exp.npy').write_bytes(b'not npy')
    with pytest.raises(DatasetFormatError, match=r'1_exp.npy: expected a .npy holding one int'):
        build(tmp_path, layout='npy')
    (ann / '1_exp.npy').unlink()
    with pytest.raises(FileNotFoundError, match=r'annotation of 1.jpg .*1_exp.npy'):
        build(tmp_path, layout='npy')
    with pytest.raises(FileNotFoundError, match=r'folder .*val_set/images'):
        build(tmp_path, split='val', layout='npy')
