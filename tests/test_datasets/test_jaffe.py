"""JAFFE on fake folders in the distributed naming (``KA.AN1.39.tiff``)."""

import os.path as osp

import numpy as np
import pytest

from ferlab.datasets import DatasetFormatError
from ferlab.datasets.transforms.loading import ImageLoadError
from ferlab.registry import DATASETS
from ferlab.utils.errors import FerlabInputError
from tests.test_datasets.fake_formats import JAFFE_NAMES, make_jaffe, write_text

# RAF-DB order: Surprise 0, Fear 1, Disgust 2, Happiness 3, Sadness 4, Anger 5, Neutral 6.
# Sorted names of each subject: AN, DI, FE, HA (KL: HA1, HA2), NE, SA, SU.
KA = [5, 2, 1, 3, 6, 4, 0]
KL = [5, 2, 1, 3, 3, 6, 4, 0]
YM = [5, 2, 1, 3, 6, 4, 0]
LOAD = [dict(type='LoadImageFromFile')]


def build(root, **kw):
    return DATASETS.build(dict(type='JAFFE', data_root=str(root), **kw))


def test_labels_subjects_and_grayscale_images(tmp_path):
    root = make_jaffe(tmp_path / 'jaffedbase')
    write_text(osp.join(root, 'README'), ['JAFFE'])  # not a TIFF: skipped and counted
    ds = build(root, split='all', num_folds=3, pipeline=LOAD)
    assert len(ds) == 22 and ds.num_skipped == 1 and not ds.test_mode
    assert ds.classes == ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')
    assert ds.get_gt_labels().tolist() == KA + KL + YM
    assert [ds.get_data_info(i)['subject'] for i in range(len(ds))] == ['KA'] * 7 + ['KL'] * 8 + ['YM'] * 7
    for i in (0, 11, 21):
        sample = ds[i]
        name = osp.basename(sample['img_path'])
        img = sample['img']
        assert img.shape == (16, 16, 3)  # grayscale TIFF read as 3 equal channels
        assert (img == 10 * JAFFE_NAMES.index(name)).all()
    # another class order by name: FER2013 (Angry 0 ... Neutral 6)
    fer = build(root, split='all', num_folds=3, classes=('Angry', 'Disgust', 'Fear', 'Happy', 'Sad',
                                                         'Surprise', 'Neutral'))  # fmt: skip
    assert fer.get_gt_labels().tolist()[:7] == [0, 1, 2, 3, 6, 4, 5]


def test_subject_independent_folds(tmp_path):
    root = make_jaffe(tmp_path)
    seen = []
    for fold, (subject, labels) in enumerate((('KA', KA), ('KL', KL), ('YM', YM))):
        test = build(root, split='test', fold=fold, num_folds=3)
        train = build(root, split='train', fold=fold, num_folds=3)
        assert test.test_mode and not train.test_mode and test.test_subjects == (subject,)
        assert test.get_gt_labels().tolist() == labels
        test_subj = {test.get_data_info(i)['subject'] for i in range(len(test))}
        train_subj = {train.get_data_info(i)['subject'] for i in range(len(train))}
        assert test_subj == {subject} and subject not in train_subj and len(train) + len(test) == 22
        seen += [test.get_data_info(i)['img_path'] for i in range(len(test))]
    assert sorted(osp.basename(p) for p in seen) == sorted(JAFFE_NAMES)  # folds cover every image once
    two = build(root, split='test', fold=1, num_folds=2)  # sorted subjects dealt round-robin: KA, YM | KL
    assert two.test_subjects == ('KL',) and len(build(root, split='test', fold=0, num_folds=2)) == 14
    with pytest.raises(
        FerlabInputError, match='3 subjects .* cannot fill num_folds=10'
    ):  # one line from tools
        build(root)
    with pytest.raises(ValueError, match='0 <= fold < num_folds'):
        build(root, fold=3, num_folds=3)
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all'"):
        build(root, split='val')


@pytest.mark.parametrize(
    'bad, why',
    [('KA.XX1.40.tiff', 'code one of'), ('KA_AN1_39.tiff', 'code one of'), ('ka.AN1.39.tiff', 'subject')],
)
def test_bad_name_is_one_line_naming_the_file(tmp_path, bad, why):
    root = make_jaffe(tmp_path, names=('KA.AN1.39.tiff', bad))
    with pytest.raises(DatasetFormatError) as err:
        build(root, split='all', num_folds=2)
    msg = str(err.value)
    assert '\n' not in msg and osp.join(root, bad) in msg and why in msg and 'KA.AN1.39.tiff' in msg


def test_empty_missing_and_unreadable(tmp_path):
    (tmp_path / 'empty').mkdir()
    write_text(str(tmp_path / 'empty' / 'README'), ['x'])
    with pytest.raises(DatasetFormatError, match=r'empty: expected the 213 JAFFE \.tiff images'):
        build(tmp_path / 'empty', split='all')
    with pytest.raises(FileNotFoundError, match=r'data root .*nowhere.* does not exist.*#jaffe'):
        build(tmp_path / 'nowhere')
    root = make_jaffe(tmp_path / 'j', names=JAFFE_NAMES[:7] + JAFFE_NAMES[15:])
    with open(osp.join(root, 'KA.AN1.39.tiff'), 'wb') as f:
        f.write(b'II*\x00 not a tiff')
    ds = build(root, split='all', num_folds=2, pipeline=LOAD)
    with pytest.raises(ImageLoadError, match=r'KA\.AN1\.39\.tiff'):
        ds[0]
    assert np.asarray(ds[1]['img']).shape == (16, 16, 3)


def test_docs_section(repo_root):
    text = open(osp.join(repo_root, 'docs', 'datasets.md'), encoding='utf-8').read()
    assert '<a id="jaffe"></a>' in text and DATASETS.get('JAFFE').DOCS_ANCHOR == 'jaffe'


def train_on_fake_tree(tmp_path, repo_root, dataset_cfg, root, sampler, extra=()):
    """Train ResNet-18 one epoch at 32 px with ``configs/_base_/datasets/<dataset_cfg>`` through tools/train.py."""
    from tools.train import main

    base = osp.join(repo_root, 'configs', '_base_')
    lines = [
        f"_base_ = ['{base}/models/resnet18.py', '{base}/datasets/{dataset_cfg}', "
        f"'{base}/schedules/sgd_40e.py', '{base}/default_runtime.py']",
        'model = dict(backbone=dict(pretrained=None))',
    ]
    if sampler == 'refinement':  # the ARBEx recipe, by base-variable reference as the docs say
        lines.append('train_dataloader = dict(sampler={{_base_.refinement_sampler}})')
    cfg = tmp_path / f'r18_{dataset_cfg}'
    cfg.write_text('\n'.join(lines) + '\n')
    opts = [f'data_root={root}', 'train_cfg.max_epochs=1', 'default_hooks.checkpoint.save_best=None']
    opts += ['default_hooks.logger.interval=1', 'train_dataloader.dataset.pipeline.1.scale=(40,40)']
    opts += ['train_dataloader.dataset.pipeline.2.size=32', *extra]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size=4', f'{loader}.num_workers=0']
    for loader in ('val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.pipeline.1.scale=(32,32)']
    if sampler == 'refinement':
        opts += ['train_dataloader.sampler.num_per_group=6', 'train_dataloader.sampler.num_per_class=2']
    return main([str(cfg), '--work-dir', str(tmp_path / 'work'), '--cfg-options', *opts])


@pytest.mark.e2e
@pytest.mark.parametrize('sampler', ['default', 'refinement'])
def test_base_config_trains_through_tools_train(tmp_path, repo_root, sampler):
    root = make_jaffe(tmp_path / 'jaffedbase', size=48)
    folds = [f'{k}.dataset.num_folds=3' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    runner = train_on_fake_tree(tmp_path, repo_root, 'jaffe.py', root, sampler, folds)
    train, val = runner.train_dataloader.dataset, runner.val_dataloader.dataset
    assert type(train).__name__ == 'JAFFE' and len(train) == 15 and len(val) == 7  # fold 0 holds out KA
    assert {val.get_data_info(i)['subject'] for i in range(7)} == {'KA'}
    if sampler == 'refinement':
        s = runner.train_dataloader.sampler
        assert type(s).__name__ == 'DataRefinementSampler' and s.group_key == 'subject'
        # KL (8 images) capped at 6, YM's 7 capped at 6: pool 12; 7 classes x 2 = 14 -> 4 batches
        assert s.last_stats['pool_size'] == 12 and len(s) == 14 and runner.iter == 4
    else:
        assert runner.iter == 4  # 15 images, batch 4
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log'), encoding='utf-8').read()
    assert 'Epoch(val) [1][2/2]' in log and 'accuracy' in log
