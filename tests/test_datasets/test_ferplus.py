import csv
import os.path as osp

import numpy as np
import pytest

from ferlab.datasets import FERPLUS_CLASSES, DatasetFormatError
from ferlab.datasets.ferplus import ferplus_target
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import write_ferplus_csv, write_ferplus_folder

#: votes: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
CLEAR_HAPPY = [0, 8, 1, 0, 0, 0, 1, 0, 0, 0]  # majority happiness
SPLIT_VOTE = [4, 0, 0, 4, 0, 0, 0, 0, 2, 0]  # 40/40/20: no majority
TOP_UNKNOWN = [0, 2, 0, 0, 0, 0, 0, 0, 8, 0]  # top vote unknown: dropped
SINGLES = [1, 1, 1, 1, 1, 1, 1, 0, 0, 3]  # singles removed -> NF only: dropped
SURPRISE = [0, 0, 6, 0, 0, 0, 4, 0, 0, 0]  # 60% surprise
CONTEMPT = [3, 0, 0, 0, 0, 0, 0, 7, 0, 0]


def build(root, **kw):
    return DATASETS.build(dict(type='FERPlus', data_root=str(root), **kw))


@pytest.mark.parametrize(
    'votes, label',
    [(CLEAR_HAPPY, 1), (SPLIT_VOTE, None), (TOP_UNKNOWN, None), (SINGLES, None), (SURPRISE, 2)],
)
def test_majority_protocol(votes, label):
    out = ferplus_target(np.array(votes), 'majority')
    assert (out[0] if out else None) == label


def test_single_votes_are_removed_before_the_majority_test():
    # happiness 5 of 10 is not > 50 %, but after dropping the 3 single votes 5/7 is
    votes = np.array([0, 5, 1, 1, 1, 2, 0, 0, 0, 0])
    assert ferplus_target(votes, 'majority') == (1, None)


def test_csv_layout_splits_protocol_and_images(tmp_path):
    rows = [
        ('Training', 'fer0000000.png', CLEAR_HAPPY),
        ('Training', '', CLEAR_HAPPY),  # empty name: skipped
        ('Training', 'fer0000002.png', SPLIT_VOTE),
        ('Training', 'fer0000003.png', CONTEMPT),
        ('PublicTest', 'fer0000004.png', SURPRISE),
        ('PrivateTest', 'fer0000005.png', TOP_UNKNOWN),
        ('PrivateTest', 'fer0000006.png', CLEAR_HAPPY),
    ]
    write_ferplus_csv(str(tmp_path), rows)
    train = build(tmp_path, pipeline=[dict(type='LoadImageFromFile'), dict(type='PackFERInputs')])
    assert train.classes == FERPLUS_CLASSES
    assert train.get_gt_labels().tolist() == [1, 7]
    assert train.num_skipped_no_name == 1 and train.num_excluded == 1
    assert not train.test_mode
    info = train.get_data_info(1)
    assert info['img'].shape == (48, 48) and info['img'].dtype == np.uint8 and info['img'][0, 0] == 3
    out = train[0]
    assert out['inputs'].shape == (3, 48, 48)  # gray converted to BGR
    val = build(tmp_path, split='val')
    assert val.get_gt_labels().tolist() == [2] and val.test_mode
    test = build(tmp_path, split='test')
    assert test.get_gt_labels().tolist() == [1] and test.num_excluded == 1


def test_distribution_mode(tmp_path):
    write_ferplus_csv(
        str(tmp_path),
        [
            ('Training', 'a.png', SPLIT_VOTE),
            ('Training', 'b.png', TOP_UNKNOWN),
            ('Training', 'c.png', SURPRISE),
        ],
    )
    ds = build(tmp_path, label_mode='distribution')
    assert len(ds) == 2 and ds.num_excluded == 1
    first = ds.get_data_info(0)
    np.testing.assert_allclose(first['gt_score'], [0.5, 0, 0, 0.5, 0, 0, 0, 0])
    assert first['gt_label'] == 0
    second = ds.get_data_info(1)
    np.testing.assert_allclose(second['gt_score'], [0, 0, 0.6, 0, 0, 0, 0.4, 0])
    assert second['gt_label'] == 2
    pipe = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]
    sample = build(tmp_path, label_mode='distribution', pipeline=pipe)[1]['data_samples']
    assert sample.gt_score.shape == (8,)


def test_folders_layout(tmp_path):
    write_ferplus_folder(
        str(tmp_path),
        'FER2013Valid',
        [('fer0028638.png', SURPRISE), ('fer0028639.png', SPLIT_VOTE), ('fer0028640.png', CONTEMPT)],
    )
    ds = build(tmp_path, split='val', layout='folders')
    assert ds.get_gt_labels().tolist() == [2, 7]
    assert ds.get_data_info(0)['img_path'] == osp.join(str(tmp_path), 'FER2013Valid', 'fer0028638.png')
    with open(tmp_path / 'FER2013Valid' / 'label.csv') as f:
        assert next(csv.reader(f))[1] == '(0, 0, 48, 48)'
    ds = build(tmp_path, split='val', layout='folders', pipeline=[dict(type='LoadImageFromFile')])
    assert ds[1]['img'].shape == (48, 48, 3)
    with pytest.raises(FileNotFoundError, match=r'label.csv .*FER2013Train.*docs/datasets.md#ferplus'):
        build(tmp_path, split='train', layout='folders')


def test_folders_layout_bad_rows(tmp_path):
    write_ferplus_folder(str(tmp_path), 'FER2013Test', [('fer1.png', SURPRISE)])
    path = tmp_path / 'FER2013Test' / 'label.csv'
    path.write_text('Image name,box,neutral\n' + path.read_text())
    with pytest.raises(DatasetFormatError, match=r'label.csv, line 1: expected header-less rows'):
        build(tmp_path, split='test', layout='folders')
    path.write_text('fer1.png,"(0, 0, 48, 48)",1,2,3,4,5,6,7,8,9,-1\n')
    with pytest.raises(DatasetFormatError, match=r'label.csv, line 1: expected 10 non-negative vote counts'):
        build(tmp_path, split='test', layout='folders')


def _rewrite(path, edit):
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    edit(rows)
    with open(path, 'w', newline='') as f:
        csv.writer(f).writerows(rows)


def test_csv_errors_name_file_line_and_expectation(tmp_path):
    rows = [('Training', 'a.png', CLEAR_HAPPY), ('Training', 'b.png', SURPRISE)]
    old, new = str(tmp_path / 'fer2013.csv'), str(tmp_path / 'fer2013new.csv')

    def check(edit_file, edit, match):
        write_ferplus_csv(str(tmp_path), rows)
        _rewrite(edit_file, edit)
        with pytest.raises(DatasetFormatError, match=match):
            build(tmp_path)

    def bad_header(r):
        r[0][1] = 'Image'

    check(new, bad_header, r"fer2013new.csv, line 1: expected the header 'Usage,Image name,neutral")

    def bad_old_header(r):
        r[0] = ['label', 'pixels', 'Usage']

    check(old, bad_old_header, r"fer2013.csv, line 1: expected the header 'emotion,pixels,Usage'")

    def short_pixels(r):
        r[2][1] = '1 2 3'

    check(old, short_pixels, r'fer2013.csv, line 3: expected 2304 space-separated integers in 0..255')

    def bad_votes(r):
        r[1][4] = 'x'

    check(new, bad_votes, r'fer2013new.csv, line 2: expected 10 integer vote counts')

    def misaligned(r):
        r[2][0] = 'PublicTest'

    check(new, misaligned, r"fer2013new.csv, line 3: expected Usage 'Training' as in .*not row-aligned")

    def dropped_row(r):
        del r[2]

    check(new, dropped_row, r'fer2013new.csv, line 3: expected as many rows as .*fer2013.csv')

    write_ferplus_csv(str(tmp_path), rows)
    _rewrite(old, lambda r: r[1].__setitem__(2, 'Train'))
    _rewrite(new, lambda r: r[1].__setitem__(0, 'Train'))
    with pytest.raises(DatasetFormatError, match=r"fer2013new.csv, line 2: expected Usage in \('Training'"):
        build(tmp_path)
    (tmp_path / 'fer2013.csv').unlink()
    with pytest.raises(FileNotFoundError, match=r'FER2013 csv .*fer2013.csv.*docs/datasets.md#ferplus'):
        build(tmp_path)
