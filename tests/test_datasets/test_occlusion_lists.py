"""Occlusion/pose test subsets (Challenge-condition-FER-dataset formats) as filters of RAF-DB, FERPlus, AffectNet."""

import numpy as np
import pytest

from ferlab.datasets import DatasetFormatError
from ferlab.datasets.condition_subset import read_condition_list
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import (
    make_rafdb,
    write_affectnet_csv,
    write_condition_list,
    write_ferplus_csv,
)

PIPE = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]


def subset(inner, list_file, **kw):
    return DATASETS.build(dict(type='ConditionSubset', dataset=inner, list_file=list_file, **kw))


def test_rafdb_occlusion_and_pose_lists(tmp_path):
    root = make_rafdb(tmp_path, train=(1,), test=(4, 1, 7, 5, 4))  # test labels 0-based: 3, 0, 6, 4, 3
    occ = write_condition_list(tmp_path / 'rafdb_occlusion_list.txt',
                               ['test_0001_aligned 3 4', 'test_0004_aligned 4 3', 'test_0001_aligned 3 4'],
                               crlf=True)  # fmt: skip
    inner = dict(type='RAFDB', data_root=root, split='test', pipeline=PIPE)
    ds = subset(inner, occ)
    assert len(ds) == 2 and ds.num_duplicates == 1  # the released list repeats a line too
    assert ds.get_gt_labels().tolist() == [3, 4] and ds.classes[3] == 'Happiness'
    assert ds.get_data_info(1)['img_path'].endswith('test_0004_aligned.jpg')
    assert ds.get_data_info(0)['condition_tag'] == 4 and ds.get_data_info(1)['condition_tag'] == 3
    assert ds[1]['data_samples'].gt_label.tolist() == [4]
    pose = write_condition_list(
        tmp_path / 'val_raf_db_list_45.txt', ['6/test_0003_aligned.jpg', '3/test_0005_aligned.jpg']
    )
    ds = subset(inner, pose)
    assert ds.get_gt_labels().tolist() == [6, 3] and ds.get_data_info(0)['condition_tag'] is None


def test_ferplus_occlusion_list(tmp_path):
    # votes: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
    rows = [('PrivateTest', 'fer0000000.png', [0, 9, 1, 0, 0, 0, 0, 0, 0, 0]),  # happiness (1)
            ('PrivateTest', 'fer0000001.png', [8, 0, 2, 0, 0, 0, 0, 0, 0, 0]),  # neutral (0)
            ('PrivateTest', 'fer0000002.png', [0, 0, 0, 0, 0, 0, 10, 0, 0, 0]),  # fear (6)
            ('Training', 'fer0000003.png', [10, 0, 0, 0, 0, 0, 0, 0, 0, 0])]  # fmt: skip
    write_ferplus_csv(str(tmp_path), rows)
    lst = write_condition_list(tmp_path / 'jianfei_occlusion_list.txt',
                               ['6_fer0000002.png 8 2', '1_fer0000000.png 8 0'], crlf=True)  # fmt: skip
    ds = subset(dict(type='FERPlus', data_root=str(tmp_path), split='test', pipeline=[]), lst)
    assert ds.get_gt_labels().tolist() == [1, 6]  # split order, not list order
    assert [ds.get_data_info(i)['condition_tag'] for i in range(2)] == [0, 2]
    pose = write_condition_list(
        tmp_path / 'pose_30_ferplus_list.txt', ['0/fer0000001.jpg']
    )  # .jpg in the list
    assert subset(
        dict(type='FERPlus', data_root=str(tmp_path), split='test'), pose
    ).get_gt_labels().tolist() == [0]


def test_affectnet_occlusion_list_seven_classes(tmp_path):
    h = ['bc9ad400db82eca1882b11c9603348fb3e92f5b0d67391ac22a1bc79', 'a0d5a9a7e4ae3551ee469d70a10bf34fb97fd05408be7d7ae4e9b82d',
         '32f20d2162df12e73caa1060481403860a4e422c8a54bfebb4036302']  # fmt: skip
    write_affectnet_csv(
        str(tmp_path), 'validation.csv', [(f'12/{h[0]}.jpg', 0), (f'7/{h[1]}.jpg', 7), (f'3/{h[2]}.jpg', 6)]
    )
    lst = write_condition_list(
        tmp_path / 'occlusion_affectnet_list.txt', [f'val/0/{h[0]}/', f'val/7/{h[1]}/', f'val/6/{h[2]}/']
    )
    inner7 = dict(type='AffectNet', data_root=str(tmp_path), split='val', num_classes=7)
    with pytest.raises(DatasetFormatError, match=r'line 2: expected a label in 0..6'):
        subset(inner7, lst)  # AffectNet-7's native order has no code 7: name the list's order
    ds = subset(inner7, lst, list_classes='affectnet')
    assert ds.get_gt_labels().tolist() == [0, 6] and ds.num_outside == 1  # the Contempt line
    ds8 = subset(dict(inner7, num_classes=8), lst)
    assert ds8.get_gt_labels().tolist() == [0, 7, 6]
    pose45 = write_condition_list(
        tmp_path / 'pose_45_affectnet_list.txt', [f'6/{h[2]}/8.jpg', f'0/{h[0]}/8.jpg']
    )
    assert subset(dict(inner7, num_classes=8), pose45).get_gt_labels().tolist() == [0, 6]


def test_docs_sections(repo_root):
    import os.path as osp

    from ferlab.registry import DATASETS

    text = open(osp.join(repo_root, 'docs', 'datasets.md'), encoding='utf-8').read()
    anchors = [DATASETS.get('EmotioNet').DOCS_ANCHOR, DATASETS.get('AffWild2AU').DOCS_ANCHOR]
    anchors += ['au-labels', 'openface-pseudo-aus', 'occlusion-and-pose-subsets']  # named in error messages
    for anchor in anchors:
        assert f'<a id="{anchor}"></a>' in text, anchor


def test_strict_errors_and_lenient_counts(tmp_path):
    root = make_rafdb(tmp_path, train=(1,), test=(4, 1))
    inner = dict(type='RAFDB', data_root=root, split='test')
    bad_label = write_condition_list(tmp_path / 'a.txt', ['test_0001_aligned 3 4', 'test_0002_aligned 5 1'])
    with pytest.raises(
        DatasetFormatError, match=r"a.txt, line 2: expected label 'Anger' as the split has \('Surprise'"
    ):
        subset(inner, bad_label)
    missing = write_condition_list(tmp_path / 'b.txt', ['test_0001_aligned 3 4', '2/test_0099_aligned.jpg'])
    with pytest.raises(
        DatasetFormatError, match=r"b.txt, line 2: expected an image of the split named 'test_0099'"
    ):
        subset(inner, missing)
    lenient = subset(inner, missing, strict=False)
    assert len(lenient) == 1 and lenient.num_missing == 1
    assert subset(inner, bad_label, strict=False).num_mismatched == 1
    garbage = write_condition_list(tmp_path / 'c.txt', ['test_0001_aligned 3 4', 'test_0002_aligned,3'])
    with pytest.raises(
        DatasetFormatError, match=r"c.txt, line 2: expected .*pose lists\), got 'test_0002_aligned,3'"
    ):
        read_condition_list(garbage)
    with pytest.raises(FileNotFoundError, match='ConditionSubset: list'):
        subset(inner, 'nope.txt')
    none = write_condition_list(tmp_path / 'd.txt', ['0/test_0099_aligned.jpg'])
    with pytest.raises(ValueError, match='no sample of the split is listed'):
        subset(inner, none, strict=False)


@pytest.mark.e2e
def test_occlusion_subset_through_tools_test(tmp_path, repo_root):
    """A shipped config's test split filtered by an occlusion list: tools/test.py scores only the listed
    images, equal to a per-sample recomputation."""
    import os.path as osp

    import torch
    from mmengine.config import Config

    from tests.utils import make_fake_rafdb, recompute_test_scores
    from tools.test import main as test_main

    torch.set_num_threads(1)
    root = make_fake_rafdb(tmp_path / 'raf', n_train=7, n_test=7, size=16)  # test labels 1..7 -> 0-based
    labels = {}
    with open(osp.join(root, 'basic/EmoLabel/list_patition_label.txt')) as f:
        for line in f:
            name, lab = line.split()
            labels[name[: -len('.jpg')]] = int(lab) - 1
    listed = ['test_0002', 'test_0005', 'test_0006']
    occ = write_condition_list(tmp_path / 'rafdb_occlusion_list.txt',
                               [f'{s}_aligned {labels[s]} 1' for s in listed], crlf=True)  # fmt: skip
    base = osp.join(repo_root, 'configs', 'baseline', 'resnet18_rafdb.py')
    cfg = tmp_path / 'r18_rafdb_occlusion.py'
    cfg.write_text(
        f'_base_ = [{base!r}]\n'
        f'data_root = {root!r}\n'
        "_pipe = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(16, 16)), dict(type='PackFERInputs')]\n"
        'test_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(\n'
        f"    _delete_=True, type='ConditionSubset', list_file={occ!r},\n"
        "    dataset=dict(type='RAFDB', data_root=data_root, split='test', pipeline=_pipe)))\n"
    )
    torch.manual_seed(0)
    from ferlab.registry import MODELS

    model = MODELS.build(Config.fromfile(str(cfg)).model)
    ckpt = tmp_path / 'r18.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(ckpt))
    metrics = test_main([str(cfg), str(ckpt), '--work-dir', str(tmp_path / 'test')])
    ref = recompute_test_scores(cfg, ckpt)
    assert ref['gt'].tolist() == [labels[s] for s in listed]
    assert [osp.basename(p) for p in ref['img_paths']] == [f'{s}_aligned.jpg' for s in listed]
    assert float(metrics['accuracy']) == pytest.approx(ref['accuracy'], abs=1e-6)
    assert int(np.asarray(metrics['confusion_matrix']).sum()) == 3
