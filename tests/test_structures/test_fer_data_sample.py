"""FERDataSample: setters, formats, metainfo and device moves."""

import numpy as np
import pytest
import torch

from ferlab.structures import FERDataSample, format_label, format_score


def test_gt_label_from_int_numpy_tensor_and_list():
    assert FERDataSample().set_gt_label(3).gt_label.tolist() == [3]
    assert FERDataSample().set_gt_label(np.int64(2)).gt_label.dtype == torch.long
    assert FERDataSample().set_gt_label(torch.tensor(5)).gt_label.shape == (1,)
    assert FERDataSample().set_gt_label([1]).gt_label.tolist() == [1]
    assert FERDataSample().set_gt_label(np.array([4])).gt_label.tolist() == [4]


def test_setters_chain_and_types():
    s = (
        FERDataSample()
        .set_gt_label(1)
        .set_gt_score([0.2, 0.8])
        .set_pred_score(torch.tensor([0.1, 0.9]))
        .set_pred_label(1)
    )
    assert s.gt_score.dtype == torch.float32 and s.gt_score.tolist() == pytest.approx([0.2, 0.8])
    assert s.pred_label.tolist() == [1]
    assert s.pred_score.shape == (2,)


def test_au_label_and_mask():
    s = FERDataSample().set_au_label([1, 0, 1])
    assert s.au_label.dtype == torch.float32 and s.au_mask.dtype == torch.bool
    assert s.au_mask.all()
    s = FERDataSample().set_au_label(np.array([0.5, 0.0, 1.0]), mask=[1, 0, 1])
    assert s.au_mask.tolist() == [True, False, True]
    assert s.au_label.tolist() == [0.5, 0.0, 1.0]


def test_video_metainfo_and_dict_access():
    s = FERDataSample(metainfo=dict(video_id='clip_07', frame_idx=12, sample_idx=3))
    s.set_gt_label(0)
    assert s.video_id == 'clip_07' and s.frame_idx == 12 and s.sample_idx == 3
    assert 'gt_label' in s and 'pred_score' not in s
    assert s.to_dict()['video_id'] == 'clip_07'


def test_gt_score_length_checked_against_num_classes():
    s = FERDataSample(metainfo=dict(num_classes=3))
    with pytest.raises(ValueError, match='expected 3'):
        s.set_gt_score([0.5, 0.5])


def test_bad_values_raise_type_error():
    with pytest.raises(TypeError, match='class label'):
        format_label('happy')
    with pytest.raises(TypeError, match='class label'):
        format_label(1.5)
    with pytest.raises(TypeError, match='score vector'):
        format_score('0.5')


def test_to_device_and_clone_keep_fields():
    s = FERDataSample().set_gt_label(2).set_au_label([1.0, 0.0])
    moved = s.to('cpu')
    assert moved.gt_label.tolist() == [2] and moved.au_mask.tolist() == [True, True]
    c = s.clone()
    c.set_gt_label(0)
    assert s.gt_label.tolist() == [2]
