"""EmotioNet loader: 16 AU columns, 999 masked, one-line errors on bad lines."""

import numpy as np
import pytest

from ferlab.datasets import DatasetFormatError
from ferlab.datasets.au_vocabulary import map_aus
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import write_emotionet

ROWS = [
    ('N_0000000001_00001.jpg', [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0]),  # AU1, 6, 12, 25
    ('sub/N_0000000002_00001.jpg', [999, 999, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 999]),  # AU4, 9
    ('N_0000000003_00001.jpg', [999] * 16),  # nothing annotated: skipped and counted
]


def build(root, **kw):
    pipe = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]
    return DATASETS.build(dict(type='EmotioNet', data_root=str(root), pipeline=pipe, **kw))


def test_values_and_mask(tmp_path):
    write_emotionet(tmp_path, ROWS)
    ds = build(tmp_path)
    assert len(ds) == 2 and ds.num_unlabeled == 1
    assert ds.metainfo['au_names'] == (
        'AU01', 'AU02', 'AU04', 'AU05', 'AU06', 'AU09', 'AU10', 'AU12',
        'AU15', 'AU17', 'AU18', 'AU20', 'AU24', 'AU25', 'AU26', 'AU28',
    )  # fmt: skip
    first, second = ds.get_data_info(0), ds.get_data_info(1)
    on = [ds.metainfo['au_names'][k] for k in np.flatnonzero(first['gt_aus'])]
    assert on == ['AU01', 'AU06', 'AU12', 'AU25'] and first['gt_au_mask'].tolist() == [1.0] * 16
    assert second['img_path'].endswith('images/sub/N_0000000002_00001.jpg')
    assert second['gt_au_mask'].tolist() == [0, 0] + [1] * 13 + [0]
    assert second['gt_aus'][[0, 1, 15]].tolist() == [0, 0, 0]  # 999 is not a value
    sample = ds[1]['data_samples']
    assert sample.gt_aus.shape == (16,) and sample.gt_au_mask.sum() == 13 and 'gt_label' not in sample
    # to AU-ViT's 21: AU4 and AU9 known positives; AU1/AU2 (999) and AU7 (not in EmotioNet) masked
    v, m = map_aus(second['gt_aus'], second['gt_au_mask'], ds.metainfo['au_names'], 'rafau')
    assert (
        v[[2, 6]].tolist() == [1, 1] and m[[0, 1, 5]].tolist() == [0, 0, 0] and m.sum() == 13
    )  # AU28 (999 here) is not among the 21


@pytest.mark.parametrize(
    'line, want',
    [
        ('a.jpg 1 0 0', "line 2: expected .*17 fields, got '4 fields'"),
        ('a.jpg ' + ' '.join(['0'] * 15) + ' x', "integers, got 'x'"),
        ('a.jpg ' + ' '.join(['0'] * 15) + ' 2', r'0, 1 or 999 for AU28 \(value 16\), got 2'),
        ('a.jpg -1 ' + ' '.join(['0'] * 15), r'for AU1 \(value 1\), got -1'),
        ('noext ' + ' '.join(['0'] * 16), "an image file name first, got 'noext'"),
    ],
)
def test_bad_lines(tmp_path, line, want):
    write_emotionet(tmp_path, [ROWS[0], line])
    with pytest.raises(
        DatasetFormatError, match=r'train.txt, line 2: expected .*' + want.split('expected .*')[-1]
    ):
        build(tmp_path)


def test_missing_file_and_classes(tmp_path):
    with pytest.raises(FileNotFoundError, match='EmotioNet label list'):
        build(tmp_path)
    with pytest.raises(ValueError, match='AU labels only'):
        build(tmp_path, classes=('Happy',))
