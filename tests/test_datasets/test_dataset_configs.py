"""Every baseline config builds its datasets (and sampler) from a fake directory in the real layout."""

import os.path as osp

import pytest
from mmengine.config import Config

from ferlab.registry import DATA_SAMPLERS, DATASETS
from ferlab.utils import apply_cfg_options
from tests.test_datasets.fake_formats import (
    make_rafdb,
    write_affectnet_csv,
    write_ferplus_csv,
    write_image,
)

HAPPY = [0, 9, 1, 0, 0, 0, 0, 0, 0, 0]


def fake_rafdb(root):
    make_rafdb(root, train=(1, 4), test=(7,))


def fake_ferplus(root):
    write_ferplus_csv(
        root,
        [
            ('Training', 'fer0.png', HAPPY),
            ('PublicTest', 'fer1.png', HAPPY),
            ('PrivateTest', 'fer2.png', HAPPY),
        ],
    )


def fake_affectnet(root):
    write_affectnet_csv(root, 'training.csv', [('1/a.jpg', 1), ('1/b.jpg', 6), ('1/c.jpg', 7)])
    write_affectnet_csv(root, 'validation.csv', [('2/a.jpg', 0), ('2/b.jpg', 7)], header=False)


def fake_sfew(root):
    write_image(osp.join(root, 'Train/Train_Aligned_Faces/Happy/m_1_1.png'))
    write_image(osp.join(root, 'Val/Val_Aligned_Faces/Sad/m_2_1.png'))


CASES = {
    'resnet18_rafdb': (fake_rafdb, 7, (2, 1, 1)),
    'resnet18_ferplus': (fake_ferplus, 8, (1, 1, 1)),
    'resnet18_affectnet7': (fake_affectnet, 7, (2, 1, 1)),
    'resnet18_affectnet8': (fake_affectnet, 8, (3, 2, 2)),
    'resnet18_sfew': (fake_sfew, 7, (1, 1, 1)),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_baseline_config_builds_datasets(tmp_path, repo_root, name):
    make, num_classes, lengths = CASES[name]
    make(str(tmp_path))
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'baseline', f'{name}.py'))
    default_root = cfg.data_root
    assert cfg.model.head.num_classes == num_classes
    with pytest.raises(FileNotFoundError) as err:  # the default root does not exist here
        DATASETS.build(cfg.train_dataloader.dataset)
    assert repr(osp.abspath(default_root)) in str(err.value) and 'docs/datasets.md#' in str(err.value)
    apply_cfg_options(cfg, {'data_root': str(tmp_path)})
    got = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = DATASETS.build(cfg[key].dataset)
        assert ds.data_root == str(tmp_path) and ds.num_classes == num_classes
        assert ds.test_mode == (key != 'train_dataloader')
        got.append(len(ds))
    assert tuple(got) == lengths
    train = DATASETS.build(cfg.train_dataloader.dataset)
    sampler = DATA_SAMPLERS.build(cfg.train_dataloader.sampler, default_args=dict(dataset=train, seed=0))
    assert len(list(sampler)) == len(train)
    if name.startswith('resnet18_affectnet'):
        assert cfg.train_dataloader.sampler.type == 'ClassBalancedSampler'


@pytest.mark.parametrize(
    'name', ['RAFDB', 'FERPlus', 'AffectNet', 'SFEW', 'AffWild2', 'RAFAU', 'ImageFolderFER']
)
def test_docs_anchor_exists(repo_root, name):
    cls = DATASETS.get(name)
    with open(osp.join(repo_root, 'docs', 'datasets.md'), encoding='utf-8') as f:
        text = f.read()
    assert cls.DOCS_ANCHOR and f'<a id="{cls.DOCS_ANCHOR}"></a>' in text
