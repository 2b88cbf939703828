"""FERG-DB on fake ``FERG_DB_256`` trees in the distributed naming (``aia/aia_anger/aia_anger_1.png``)."""

import os.path as osp
from collections import Counter

import pytest

from ferlab.datasets import DatasetFormatError
from ferlab.datasets.transforms.loading import ImageLoadError
from ferlab.registry import DATASETS
from ferlab.utils.errors import FerlabInputError
from tests.test_datasets.fake_formats import make_ferg, write_image, write_text

# RAF-DB order: Surprise 0, Fear 1, Disgust 2, Happiness 3, Sadness 4, Anger 5, Neutral 6.
# Sorted expression folders: anger, disgust, fear, joy, neutral, sadness, surprise.
PER_CHARACTER = [5, 5, 2, 2, 1, 1, 3, 3, 6, 6, 4, 4, 0, 0]
LOAD = [dict(type='LoadImageFromFile')]


def build(root, **kw):
    return DATASETS.build(dict(type='FERG', data_root=str(root), **kw))


def test_labels_subjects_recursive_glob_and_images(tmp_path):
    root = make_ferg(tmp_path / 'FERG_DB_256')
    write_text(osp.join(root, 'aia', 'aia_joy', 'Thumbs.db'), ['x'])  # not a PNG: skipped and counted
    write_text(osp.join(root, 'README.txt'), ['x'])
    write_image(osp.join(root, 'ray', 'extra', 'deeper', 'ray_joy_7.png'))  # found at any depth
    ds = build(root, split='all', pipeline=LOAD)
    assert ds.classes == ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')
    assert ds.num_skipped == 2 and len(ds) == 29
    assert ds.get_gt_labels().tolist() == PER_CHARACTER + [3] + PER_CHARACTER  # ray/extra sorts first
    subjects = [ds.get_data_info(i)['subject'] for i in range(len(ds))]
    assert subjects == ['aia'] * 14 + ['ray'] * 15
    sample = ds[0]
    assert sample['img_path'] == osp.join(root, 'aia', 'aia_anger', 'aia_anger_1.png')
    assert sample['img'].shape == (16, 16, 3)
    fer = build(
        root, split='all', classes=('Angry', 'Disgust', 'Fear', 'Happy', 'Sad', 'Surprise', 'Neutral')
    )
    assert fer.get_gt_labels().tolist()[:14:2] == [0, 1, 2, 3, 6, 4, 5]  # joy = Happy by name


def test_seeded_stratified_split(tmp_path):
    root = make_ferg(tmp_path, counts={('aia', 'joy'): 10, ('aia', 'fear'): 4, ('mery', 'joy'): 7})
    test = build(root, split='test', test_ratio=0.3)
    train = build(root, split='train', test_ratio=0.3)
    assert test.test_mode and not train.test_mode

    def cells(ds):
        return Counter((ds.get_data_info(i)['subject'], int(ds.get_gt_labels()[i])) for i in range(len(ds)))

    # round(0.3 n) of every (character, expression) cell: 3 of 10, 1 of 4, 2 of 7
    assert cells(test) == {('aia', 3): 3, ('aia', 1): 1, ('mery', 3): 2}
    assert cells(train) == {('aia', 3): 7, ('aia', 1): 3, ('mery', 3): 5}
    paths = lambda ds: {ds.get_data_info(i)['img_path'] for i in range(len(ds))}  # noqa: E731
    assert not paths(test) & paths(train) and len(paths(test) | paths(train)) == 21
    assert paths(build(root, split='test', test_ratio=0.3)) == paths(test)  # same seed, same split
    others = [paths(build(root, split='test', test_ratio=0.3, seed=s)) for s in (1, 2, 3)]
    assert any(p != paths(test) for p in others)
    with pytest.raises(FerlabInputError, match=r'test_ratio must be in \(0, 1\)'):  # one line from tools
        build(root, test_ratio=1.0)
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all'"):
        build(root, split='val')


@pytest.mark.parametrize(
    'rel, why',
    [
        ('aia/aia_joy/aia_happy_1.png', 'expression one of'),
        ('aia/aia_joy/ray_joy_1.png', 'aia_<expression>_<n>.png'),
        ('aia/aia_joy/aia-joy-1.png', 'aia_<expression>_<n>.png'),
        ('bob/bob_joy/bob_joy_1.png', 'character folder named one of'),
    ],
)
def test_bad_name_is_one_line_naming_the_file(tmp_path, rel, why):
    root = make_ferg(tmp_path, counts={('aia', 'anger'): 1})
    write_image(osp.join(root, rel))
    with pytest.raises(DatasetFormatError) as err:
        build(root, split='all')
    msg = str(err.value)
    bad = osp.join(root, rel) if not rel.startswith('bob') else osp.join(root, 'bob')
    assert '\n' not in msg and msg.startswith(bad + ': expected') and why in msg


def test_empty_missing_and_unreadable(tmp_path):
    (tmp_path / 'empty' / 'aia').mkdir(parents=True)
    with pytest.raises(DatasetFormatError, match=r'empty: expected FERG_DB_256/<character>/'):
        build(tmp_path / 'empty', split='all')
    with pytest.raises(FileNotFoundError, match=r'data root .*nowhere.* does not exist.*#ferg-db'):
        build(tmp_path / 'nowhere')
    root = make_ferg(tmp_path / 'f', counts={('aia', 'anger'): 2})
    bad = osp.join(root, 'aia', 'aia_anger', 'aia_anger_1.png')
    with open(bad, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n truncated')
    ds = build(root, split='all', pipeline=LOAD)
    with pytest.raises(ImageLoadError, match=r'aia_anger_1\.png'):
        ds[0]
    assert ds[1]['img'].shape == (16, 16, 3)


def test_docs_section(repo_root):
    text = open(osp.join(repo_root, 'docs', 'datasets.md'), encoding='utf-8').read()
    assert '<a id="ferg-db"></a>' in text and DATASETS.get('FERG').DOCS_ANCHOR == 'ferg-db'


@pytest.mark.e2e
@pytest.mark.parametrize('sampler', ['default', 'refinement'])
def test_base_config_trains_through_tools_train(tmp_path, repo_root, sampler):
    from tests.test_datasets.test_jaffe import train_on_fake_tree

    root = make_ferg(tmp_path / 'FERG_DB_256', size=48)
    ratio = [f'{k}.dataset.test_ratio=0.5' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    runner = train_on_fake_tree(tmp_path, repo_root, 'ferg.py', root, sampler, ratio)
    train, val = runner.train_dataloader.dataset, runner.val_dataloader.dataset
    assert type(train).__name__ == 'FERG' and len(train) == 14 and len(val) == 14
    if sampler == 'refinement':
        s = runner.train_dataloader.sampler
        # aia and ray: 7 training images each, capped at N = 6: pool 12; 7 classes x M = 2: 14
        assert (
            s.group_key == 'subject' and s.last_stats['num_groups'] == 2 and s.last_stats['pool_size'] == 12
        )
        assert len(s) == 14
    assert runner.iter == 4  # 14 samples, batch 4
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log'), encoding='utf-8').read()
    assert 'Epoch(val) [1][4/4]' in log and 'accuracy' in log
