"""CFC-SP label groups: the coarse / negative maps round-trip and work through ``label_map='<group>'``."""

import pytest

from ferlab.datasets.categories import (
    AFFWILD2_CLASSES,
    AFFWILD2_TO_COARSE,
    AFFWILD2_TO_NEGATIVE,
    CFCSP_COARSE_CLASSES,
    CFCSP_NEGATIVE_CLASSES,
    RAFDB_CLASSES,
    resolve_label_group,
)
from ferlab.registry import DATASETS
from tests.test_datasets.test_affwild2 import make_video

# written out by hand from the paper (Sec. 3.2) and the Aff-Wild2 order
# Neutral, Anger, Disgust, Fear, Happiness, Sadness, Surprise, Other
HAND_COARSE = {'Neutral': 'Neutral', 'Anger': 'Negative', 'Disgust': 'Negative', 'Fear': 'Negative',
               'Happiness': 'Happiness', 'Sadness': 'Negative', 'Surprise': 'Surprise', 'Other': 'Other'}  # fmt: skip
HAND_NEGATIVE = {'Anger': 'Anger', 'Disgust': 'Disgust', 'Fear': 'Fear', 'Sadness': 'Sadness'}


def test_maps_match_the_hand_written_groups():
    assert AFFWILD2_TO_COARSE == (0, 4, 4, 4, 1, 4, 2, 3)
    assert AFFWILD2_TO_NEGATIVE == (-1, 0, 1, 2, -1, 3, -1, -1)
    for i, name in enumerate(AFFWILD2_CLASSES):
        assert CFCSP_COARSE_CLASSES[AFFWILD2_TO_COARSE[i]] == HAND_COARSE[name]
        j = AFFWILD2_TO_NEGATIVE[i]
        assert (CFCSP_NEGATIVE_CLASSES[j] if j >= 0 else None) == HAND_NEGATIVE.get(name)


def test_round_trip_coarse_then_negative_recovers_every_class():
    neg = CFCSP_COARSE_CLASSES.index('Negative')
    for y in range(8):
        c = AFFWILD2_TO_COARSE[y]
        name = CFCSP_NEGATIVE_CLASSES[AFFWILD2_TO_NEGATIVE[y]] if c == neg else CFCSP_COARSE_CLASSES[c]
        assert AFFWILD2_CLASSES.index(name) == y
        assert (AFFWILD2_TO_NEGATIVE[y] >= 0) == (c == neg)  # the negative group is exactly 'Negative'


def test_resolve_by_name_for_another_class_order():
    classes, m = resolve_label_group('affwild2_coarse', RAFDB_CLASSES)
    assert classes == CFCSP_COARSE_CLASSES
    # RAF-DB: Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral
    assert m == {0: 2, 1: 4, 2: 4, 3: 1, 4: 4, 5: 4, 6: 0}
    _, m = resolve_label_group('affwild2_negative', RAFDB_CLASSES)
    assert m == {0: -1, 1: 2, 2: 1, 3: -1, 4: 3, 5: 0, 6: -1}
    with pytest.raises(KeyError, match='unknown label group'):
        resolve_label_group('coarse', AFFWILD2_CLASSES)


def _affwild2(tmp_path, **kw):
    labels = [0, 1, 2, 3, 4, 5, 6, 7, -1, 5, 4]
    make_video(tmp_path, 'EXPR_Set/Training_Set', 'vid', labels, frames=range(1, len(labels) + 1))
    return DATASETS.build(dict(type='AffWild2', data_root=str(tmp_path), **kw))


def test_dataset_label_map_by_group_name(tmp_path):
    full = _affwild2(tmp_path)
    coarse = _affwild2(tmp_path, label_map='affwild2_coarse')
    assert coarse.classes == CFCSP_COARSE_CLASSES
    assert coarse.get_gt_labels().tolist() == [0, 4, 4, 4, 1, 4, 2, 3, 4, 1]
    assert coarse.num_dropped_by_label_map == 0
    negative = _affwild2(tmp_path, label_map='affwild2_negative')
    assert negative.classes == CFCSP_NEGATIVE_CLASSES
    assert negative.get_gt_labels().tolist() == [0, 1, 2, 3, 3]
    # Neutral, Happiness, Surprise, Other, Happiness are outside the group: dropped and counted
    assert negative.num_dropped_by_label_map == 5
    frames = [negative.get_data_info(i)['frame_idx'] for i in range(len(negative))]
    assert frames == [2, 3, 4, 6, 10]
    assert len(full) == 10
    with pytest.raises(ValueError, match='contradict the label group'):
        _affwild2(tmp_path, label_map='affwild2_negative', classes=CFCSP_COARSE_CLASSES)
