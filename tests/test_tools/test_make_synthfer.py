"""make_synthfer.py writes the real formats; ferlab's real loaders read them back with the same labels."""

import os.path as osp

import numpy as np
import pytest

from ferlab.datasets.categories import RAFAU_AUS
from ferlab.registry import DATASETS
from tools.dataset_converters.make_synthfer import main, majority_votes, rafau_code


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp('synthfer_export')
    manifest = main([str(out), '--num-train', '14', '--num-val', '6', '--num-test', '8', '--num-au', '10',
                     '--videos', '2', '1', '--frames', '16', '--seed', '1'])  # fmt: skip
    return out, manifest


@pytest.mark.slow
def test_rafdb_round_trip(exported):
    out, man = exported
    labels = man['rafdb']['labels']
    for split in ('train', 'test'):
        ds = DATASETS.build(dict(type='RAFDB', data_root=str(out / 'rafdb'), split=split))
        stems = [
            osp.basename(ds.get_data_info(i)['img_path'])[: -len('_aligned.jpg')] for i in range(len(ds))
        ]
        assert len(stems) == (14 if split == 'train' else 8)
        assert ds.get_gt_labels().tolist() == [labels[s] for s in stems]
        assert tuple(man['rafdb']['classes']) == ds.classes
    img = DATASETS.build(dict(type='RAFDB', data_root=str(out / 'rafdb'), split='test',
                              pipeline=[dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]))[0]  # fmt: skip
    assert tuple(img['inputs'].shape) == (3, 100, 100)


@pytest.mark.slow
@pytest.mark.parametrize('layout', ['csv', 'folders'])
def test_ferplus_round_trip(exported, layout):
    out, man = exported
    labels, votes = man['ferplus']['labels'], man['ferplus']['votes']
    for split, n in (('train', 14), ('val', 6), ('test', 8)):
        ds = DATASETS.build(dict(type='FERPlus', data_root=str(out / 'ferplus'), split=split, layout=layout))
        names = [osp.basename(ds.get_data_info(i)['img_path']) for i in range(len(ds))]
        assert len(names) == n  # the rows without image name are skipped, none excluded by the protocol
        assert ds.get_gt_labels().tolist() == [labels[f'{split}/{x}'] for x in names]
    dist = DATASETS.build(dict(type='FERPlus', data_root=str(out / 'ferplus'), split='train', layout=layout,
                               label_mode='distribution'))  # fmt: skip
    info = dist.get_data_info(0)
    v = np.array(votes[f'train/{osp.basename(info["img_path"])}'], float)
    np.testing.assert_allclose(info['gt_score'], v / v.sum(), atol=1e-6)


def test_majority_votes_survive_the_protocol():
    rng = np.random.default_rng(0)
    for label in range(8):
        for raw in (
            np.array([1, 1, 1, 1, 1, 1, 1, 3]),
            np.array([0, 4, 4, 0, 0, 2, 0, 0]),
            np.eye(8, dtype=int)[label] * 10,
        ):
            v = majority_votes(raw, label, rng)
            kept = np.where(v > 1, v, 0)
            assert v.sum() == 10 and kept.argmax() == label and 2 * kept[label] > kept.sum()


@pytest.mark.slow
@pytest.mark.parametrize('num_classes', [7, 8])
def test_affectnet_round_trip(exported, num_classes):
    out, man = exported
    labels = man['affectnet']['labels']
    for split, n in (('train', 14), ('val', 6)):
        ds = DATASETS.build(dict(type='AffectNet', data_root=str(out / 'affectnet'), split=split,
                                 num_classes=num_classes))  # fmt: skip
        root = str(out / 'affectnet' / 'Manually_Annotated_Images') + '/'
        got = {
            ds.get_data_info(i)['img_path'].replace(root, ''): int(ds.get_gt_labels()[i])
            for i in range(len(ds))
        }
        want = {
            k.split('/', 1)[1]: v for k, v in labels.items() if k.startswith(split + '/') and v < num_classes
        }
        assert got == want  # codes 8 / 10 rows (and 7 for AffectNet-7) are dropped by the loader
        if num_classes == 8:
            assert len(ds) == n


@pytest.mark.slow
def test_affwild2_and_rafau_round_trip(exported):
    out, man = exported
    ds = DATASETS.build(dict(type='AffWild2', data_root=str(out / 'affwild2'), split='train'))
    want = [(vid.split('/', 1)[1], t + 1, lab) for vid, labs in sorted(man['affwild2']['labels'].items())
            if vid.startswith('train/') for t, lab in enumerate(labs) if lab >= 0]  # fmt: skip
    got = sorted((ds.get_data_info(i)['video_id'], ds.get_data_info(i)['frame_idx'], int(ds.get_gt_labels()[i]))
                 for i in range(len(ds)))  # fmt: skip
    assert got == sorted(want)
    au = DATASETS.build(dict(type='RAFAU', data_root=str(out / 'rafau')))
    codes = man['rafau']['aus']
    for i in range(len(au)):
        info = au.get_data_info(i)
        name = osp.basename(info['img_path'])[:4]
        expected = set() if codes[name] == 'null' else {int(c.lstrip('LR')) for c in codes[name].split('+')}
        got = {RAFAU_AUS[k] for k in np.flatnonzero(np.asarray(info['gt_aus']) > 0.5)}
        assert got == expected


def test_rafau_code_sides():
    from ferlab.datasets.synthfer.expressions import AU_INDEX

    left, right = np.zeros(16), np.zeros(16)
    left[AU_INDEX[12]] = 0.9  # subject's left only
    left[AU_INDEX[26]] = right[AU_INDEX[26]] = 0.5
    left[AU_INDEX[1]] = right[AU_INDEX[1]] = 0.1  # below threshold
    assert rafau_code(left, right) == 'L12+26'
    assert rafau_code(np.zeros(16), np.zeros(16)) == 'null'
