"""Aff-Wild2 AU loader: 12 columns, -1 masked, skipped frames counted, one-line errors."""

import numpy as np
import pytest

from ferlab.datasets import DatasetFormatError
from ferlab.datasets.au_vocabulary import map_aus
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import write_affwild2_au

#          AU1 2  4  6  7 10 12 15 23 24 25 26
VID_A = [[0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0],  # frame 1: AU6, 12, 25
         [-1] * 12,  # frame 2: invalid -> skipped
         [1, 1, -1, 0, 0, 0, 0, 0, 0, -1, 0, 1],  # frame 3: AU1, 2, 26; AU4, AU24 unknown
         [0] * 12]  # frame 4: no image -> skipped  # fmt: skip
PIPE = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]


def build(root, **kw):
    return DATASETS.build(dict(type='AffWild2AU', data_root=str(root), pipeline=PIPE, **kw))


def test_values_masks_and_skips(tmp_path):
    write_affwild2_au(tmp_path, {'10-60-1280x720_right': VID_A, 'b': [[0] * 12]},
                      frames_with_images={'10-60-1280x720_right': [1, 2, 3], 'b': [1]})  # fmt: skip
    ds = build(tmp_path)
    assert len(ds) == 3 and ds.num_unannotated == 1 and ds.num_missing_images == 1
    names = ds.metainfo['au_names']
    assert names[:4] == ('AU01', 'AU02', 'AU04', 'AU06') and len(names) == 12
    f1, f3 = ds.get_data_info(0), ds.get_data_info(1)
    assert (f1['video_id'], f1['frame_idx'], f3['frame_idx']) == ('10-60-1280x720_right', 1, 3)
    assert f1['img_path'].endswith('cropped_aligned/10-60-1280x720_right/00001.jpg')
    assert [names[k] for k in np.flatnonzero(f1['gt_aus'])] == ['AU06', 'AU12', 'AU25']
    assert [names[k] for k in np.flatnonzero(f3['gt_aus'])] == ['AU01', 'AU02', 'AU26']
    assert [names[k] for k in np.flatnonzero(f3['gt_au_mask'] == 0)] == ['AU04', 'AU24']
    sample = ds[1]['data_samples']
    assert sample.gt_au_mask.sum() == 10 and 'gt_label' not in sample and sample.frame_idx == 3
    # onto AU-ViT's 21: AU4/AU24 (-1) and AU5/9/14/16/17/18/20/22/27 (not in Aff-Wild2) are masked
    v, m = map_aus(f3['gt_aus'], f3['gt_au_mask'], names, 'rafau')
    assert m.sum() == 10 and v.sum() == 3
    with pytest.raises(RuntimeError, match='AU labels only'):
        ds.get_gt_labels()


def test_editions_and_split(tmp_path):
    write_affwild2_au(tmp_path, {'v': [[0] * 12]}, folder='AU_Detection_Challenge/Validation_Set')
    ds = build(tmp_path, split='val')
    assert len(ds) == 1 and ds.test_mode
    with pytest.raises(FileNotFoundError, match='no train AU annotation folder'):
        build(tmp_path, split='train')


@pytest.mark.parametrize(
    'row, want',
    [
        ('0,1,0', "line 2: expected 12 comma-separated values .*got '0,1,0'"),
        ('0,1,0,0,0,0,0,0,0,0,0,x', "line 2: expected integers 0, 1 or -1, got 'x'"),
        ('0,1,0,0,0,0,0,0,0,0,0,2', 'line 2: expected 0, 1 or -1 for AU26, got 2'),
    ],
)
def test_bad_rows(tmp_path, row, want):
    write_affwild2_au(tmp_path, {'v': [row]})
    with pytest.raises(DatasetFormatError, match=r'v.txt, ' + want):
        build(tmp_path)


def test_bad_header(tmp_path):
    write_affwild2_au(tmp_path, {'v': [[0] * 12]})
    path = tmp_path / 'AU_Set/Train_Set/v.txt'
    path.write_text(path.read_text().replace('AU26', 'AU27'))
    with pytest.raises(DatasetFormatError, match=r"v.txt, line 1: expected the header 'AU1,AU2,.*AU26', got"):
        build(tmp_path)
