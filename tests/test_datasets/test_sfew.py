import os.path as osp

import pytest

from ferlab.datasets import SFEW_CLASSES, DatasetFormatError
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import write_image, write_text


def make_sfew(root, split='Train', classes=('Angry', 'Happy', 'Surprise')):
    base = osp.join(str(root), split, f'{split}_Aligned_Faces')
    for k, cls in enumerate(classes):
        write_image(osp.join(base, cls, f'Movie_{k:03d}_1.png'), seed=k)
        write_image(osp.join(base, cls, f'Movie_{k:03d}_2.png'), seed=k + 10)
    return base


def test_train_and_val_splits(tmp_path):
    base = make_sfew(tmp_path)
    write_text(osp.join(base, 'Happy', 'Thumbs.db'), ['x'])  # not an image: skipped and counted
    make_sfew(tmp_path, 'Val', ('Disgust', 'Neutral'))
    train = DATASETS.build(
        dict(type='SFEW', data_root=str(tmp_path), pipeline=[dict(type='LoadImageFromFile')])
    )
    assert train.classes == SFEW_CLASSES
    assert train.get_gt_labels().tolist() == [0, 0, 3, 3, 6, 6]
    assert train.num_skipped == 1 and not train.test_mode
    assert train[2]['img_path'].endswith(osp.join('Train_Aligned_Faces', 'Happy', 'Movie_001_1.png'))
    val = DATASETS.build(dict(type='SFEW', data_root=str(tmp_path), split='val'))
    assert val.get_gt_labels().tolist() == [1, 1, 4, 4] and val.test_mode


def test_unknown_folder_missing_split_and_root(tmp_path):
    make_sfew(tmp_path, classes=('Angry', 'Contempt'))
    with pytest.raises(DatasetFormatError, match=r"Contempt: expected a class folder named one of \('Angry'"):
        DATASETS.build(dict(type='SFEW', data_root=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match=r'split folder .*Val/Val_Aligned_Faces.*#sfew'):
        DATASETS.build(dict(type='SFEW', data_root=str(tmp_path), split='val'))
    with pytest.raises(FileNotFoundError, match=r'data root .*SFEW.* does not exist'):
        DATASETS.build(dict(type='SFEW', data_root=str(tmp_path / 'SFEW')))
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        DATASETS.build(dict(type='SFEW', data_root=str(tmp_path), split='test'))
