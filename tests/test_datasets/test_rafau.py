import os.path as osp

import numpy as np
import pytest

from ferlab.datasets import RAFAU_AUS, DatasetFormatError
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import write_image, write_text


def make_rafau(root, lines):
    write_text(osp.join(str(root), 'RAFAU_label.txt'), lines)
    for line in lines:
        stem = line.split()[0].split('.')[0]
        write_image(osp.join(str(root), 'aligned', f'{stem.zfill(4)}_aligned.jpg'), size=8)


def test_multi_hot_au_labels(tmp_path):
    make_rafau(tmp_path, ['0001.jpg 1+2+4+L12', '0002.jpg null', '0003.jpg R6+T26+B27+43'])
    pipe = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]
    ds = DATASETS.build(dict(type='RAFAU', data_root=str(tmp_path), pipeline=pipe))
    assert len(RAFAU_AUS) == 21 and ds.metainfo['au_names'][:3] == ('AU01', 'AU02', 'AU04')
    first = ds.get_data_info(0)
    assert first['img_path'].endswith(osp.join('aligned', '0001_aligned.jpg'))
    on = [RAFAU_AUS[i] for i in np.flatnonzero(first['gt_aus'])]
    assert on == [1, 2, 4, 12]
    assert not ds.get_data_info(1)['gt_aus'].any()
    third = [RAFAU_AUS[i] for i in np.flatnonzero(ds.get_data_info(2)['gt_aus'])]
    assert third == [6, 26, 27] and ds.num_ignored_aus == 1  # AU43 is not among the 21
    sample = ds[0]['data_samples']
    assert sample.gt_aus.shape == (21,) and sample.gt_au_mask.tolist() == [1.0] * 21
    assert 'gt_label' not in sample
    with pytest.raises(RuntimeError, match='AU labels only'):
        ds.get_gt_labels()
    with pytest.raises(RuntimeError, match='AU labels only'):
        ds.get_cat_ids(0)
    with pytest.raises(RuntimeError, match='AU labels only'):
        ds.set_gt_label(0, 1)


def test_au_list_options(tmp_path):
    make_rafau(tmp_path, ['1.jpg 1+2+4+L12'])
    ds = DATASETS.build(dict(type='RAFAU', data_root=str(tmp_path), num_aus=(12, 43, 1)))
    assert ds.get_data_info(0)['gt_aus'].tolist() == [1.0, 0.0, 1.0]
    assert ds.get_data_info(0)['img_path'].endswith('0001_aligned.jpg')
    ds = DATASETS.build(dict(type='RAFAU', data_root=str(tmp_path), num_aus=3))
    assert ds.metainfo['au_names'] == ('AU01', 'AU02', 'AU04')
    with pytest.raises(ValueError, match='num_aus must be in 1..21'):
        DATASETS.build(dict(type='RAFAU', data_root=str(tmp_path), num_aus=30))


@pytest.mark.parametrize(
    'line, got',
    [
        ('0001.jpg 1+X2', "'X2'"),
        ('0001.jpg', "'0001.jpg'"),
        ('0001.png 1', "'0001.png 1'"),
        ('0001.jpg 1++2', "''"),
    ],
)
def test_malformed_lines(tmp_path, line, got):
    make_rafau(tmp_path, ['0002.jpg 4', line])
    with pytest.raises(DatasetFormatError, match=rf'RAFAU_label.txt, line 2: expected .*got {got}'):
        DATASETS.build(dict(type='RAFAU', data_root=str(tmp_path)))
