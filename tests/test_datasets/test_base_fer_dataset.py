import numpy as np
import pytest

from ferlab.datasets import (
    AFFECTNET8_CLASSES,
    RAFDB_CLASSES,
    canonical,
    name_label_map,
)
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import make_rafdb, write_affectnet_npy, write_ferplus_csv


def test_name_label_map_and_synonyms():
    assert canonical('Happy') == canonical('Happiness') == canonical('joy') == 'happiness'
    # AffectNet-8 -> RAF-DB: contempt has no counterpart
    m = name_label_map(AFFECTNET8_CLASSES, RAFDB_CLASSES)
    assert m == {0: 6, 1: 3, 2: 4, 3: 0, 4: 1, 5: 2, 6: 5, 7: -1}
    with pytest.raises(KeyError, match='unknown expression name'):
        canonical('bored')


def test_classes_reorders_by_name_and_drops_contempt(tmp_path):
    # AffectNet codes 0..7 (Neutral, Happy, Sad, Surprise, Fear, Disgust, Anger, Contempt)
    write_affectnet_npy(str(tmp_path), 'train_set', [0, 1, 7, 6, 3, 7])
    ds = DATASETS.build(
        dict(type='AffectNet', data_root=str(tmp_path), layout='npy', num_classes=8, classes=RAFDB_CLASSES)
    )
    assert ds.classes == RAFDB_CLASSES
    assert ds.native_classes == AFFECTNET8_CLASSES
    assert ds.get_gt_labels().tolist() == [6, 3, 5, 0]  # Neutral, Happiness, Anger, Surprise
    assert ds.num_dropped_by_label_map == 2


def test_explicit_label_map_dict(tmp_path):
    make_rafdb(tmp_path, train=(1, 4, 6, 7), write_images=False)
    # RAF-DB -> binary "positive vs other": Happiness -> 1, Neutral dropped, rest -> 0
    ds = DATASETS.build(
        dict(
            type='RAFDB',
            data_root=str(tmp_path),
            classes=('Other', 'Happiness'),
            label_map={0: 0, 1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: -1},
        )
    )
    assert ds.classes == ('Other', 'Happiness')
    assert ds.get_gt_labels().tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match='label_map needs classes'):
        DATASETS.build(dict(type='RAFDB', data_root=str(tmp_path), label_map={0: 0}))
    with pytest.raises(ValueError, match=r'label 5 outside 0..1'):
        DATASETS.build(dict(type='RAFDB', data_root=str(tmp_path), classes=('a', 'b'), label_map={0: 5}))


def test_gt_score_is_reordered_with_the_labels(tmp_path):
    votes = [0, 6, 0, 2, 0, 0, 0, 2, 0, 0]  # happiness 6, sadness 2, contempt 2
    write_ferplus_csv(str(tmp_path), [('Training', 'fer0000000.png', votes)])
    native = DATASETS.build(dict(type='FERPlus', data_root=str(tmp_path), label_mode='distribution'))
    np.testing.assert_allclose(native.get_data_info(0)['gt_score'], [0, 0.6, 0, 0.2, 0, 0, 0, 0.2])
    ds = DATASETS.build(
        dict(type='FERPlus', data_root=str(tmp_path), label_mode='distribution', classes=RAFDB_CLASSES)
    )
    info = ds.get_data_info(0)
    assert info['gt_label'] == RAFDB_CLASSES.index('Happiness')
    # contempt's mass has no counterpart; the rest is renormalised in RAF-DB order
    np.testing.assert_allclose(info['gt_score'], [0, 0, 0, 0.75, 0.25, 0, 0], rtol=1e-6)


def test_set_gt_label_and_label_state_round_trip(tmp_path):
    make_rafdb(tmp_path, write_images=False)
    ds = DATASETS.build(dict(type='RAFDB', data_root=str(tmp_path), split='train'))
    assert ds.get_gt_labels().tolist() == [4, 0, 3]
    ds.set_gt_label(1, 6)
    assert ds.get_gt_labels().tolist() == [4, 6, 3]
    info = ds.get_data_info(1)
    assert info['gt_label'] == 6 and info['ori_label'] == 0
    assert ds.get_cat_ids(1) == [6]
    state = ds.label_state_dict()
    fresh = DATASETS.build(dict(type='RAFDB', data_root=str(tmp_path), split='train'))
    fresh.load_label_state_dict(state)
    assert fresh.get_gt_labels().tolist() == [4, 6, 3]
    ds.reset_labels()
    assert ds.get_gt_labels().tolist() == [4, 0, 3]
    with pytest.raises(ValueError, match='outside 0..6'):
        ds.set_gt_label(0, 7)
    with pytest.raises(ValueError, match='dataset of 5 samples, this one has 3'):
        ds.load_label_state_dict(dict(overrides={}, length=5))
    test = DATASETS.build(dict(type='RAFDB', data_root=str(tmp_path), split='test'))
    with pytest.raises(RuntimeError, match='immutable'):
        test.set_gt_label(0, 1)
