"""MultiSourceDataset: unified labels across sources, masks, by-name class maps, joint loading."""

import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from ferlab.registry import DATA_SAMPLERS, DATASETS
from tests.test_datasets.fake_formats import write_image, write_text

SYNTH_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26)  # SynthFER au_label order
RAFAU_21 = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27)
PIPE = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]
FLIP = [dict(type='LoadImageFromFile'), dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PackFERInputs')]  # fmt: skip


def synth(n, domain='default', label_set='rafdb', seed=0):
    return dict(type='SynthFER', split='train', num_samples=n, img_size=32, domain=domain,
                label_set=label_set, seed=seed, pipeline=PIPE)  # fmt: skip


def test_fer_target_with_au_auxiliary_fields_in_model_order():
    ds = DATASETS.build(dict(
        type='MultiSourceDataset', au_names='rafau',
        sources=[dict(dataset=synth(12)),
                 dict(dataset=synth(8, domain='alt_convention', seed=1), au_names=SYNTH_AUS, au_threshold=0.3)],
    ))  # fmt: skip
    assert ds.source_sizes == (12, 8) and len(ds) == 20
    assert ds.metainfo['au_names'][:3] == ('AU01', 'AU02', 'AU04') and len(ds.au_names) == 21
    target = DATASETS.build(synth(12))
    aux = DATASETS.build(synth(8, domain='alt_convention', seed=1))
    for i in range(12):  # target: its own label, every AU unknown
        out = ds[i]['data_samples']
        assert out.gt_label.item() == target.get_data_info(i)['gt_label']
        assert torch.equal(out.gt_au_mask, torch.zeros(21)) and torch.equal(out.gt_aus, torch.zeros(21))
        assert out.source == 0 and out.sample_idx == i and 'au_label' not in out
    for j in range(8):  # auxiliary: no expression label, SynthFER's 16 AUs placed by number
        out = ds[12 + j]['data_samples']
        raw = aux.get_data_info(j)['au_label']
        assert out.gt_label.item() == -1 and out.source == 1
        for k, au in enumerate(RAFAU_21):
            if au in SYNTH_AUS:
                assert out.gt_au_mask[k] == 1
                assert out.gt_aus[k] == float(raw[SYNTH_AUS.index(au)] >= 0.3)
            else:  # AU16, 18, 22, 24, 27: not drawn by SynthFER -> unknown, not negative
                assert out.gt_au_mask[k] == 0 and out.gt_aus[k] == 0
        assert torch.equal(ds[12 + j]['inputs'], aux[j]['inputs'])  # the source's own pipeline


def test_fer_plus_fer_maps_classes_by_name_and_drops_unlabelled():
    ds = DATASETS.build(dict(
        type='MultiSourceDataset',
        sources=[dict(dataset=synth(10)), dict(dataset=synth(40, label_set='ferplus', seed=2), labels='expression')],
    ))  # fmt: skip
    assert ds.au_names is None
    rafdb = ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')
    ferplus = ('Neutral', 'Happiness', 'Surprise', 'Sadness', 'Anger', 'Disgust', 'Fear', 'Contempt')
    aux = DATASETS.build(synth(40, label_set='ferplus', seed=2))
    native = [aux.get_data_info(i)['gt_label'] for i in range(40)]
    contempt = sum(1 for v in native if ferplus[v] == 'Contempt')
    assert contempt > 0 and ds.num_dropped == [0, contempt] and ds.source_sizes == (10, 40 - contempt)
    expect = [rafdb.index(ferplus[v]) for v in native if ferplus[v] != 'Contempt']
    got = [ds[10 + j]['data_samples'].gt_label.item() for j in range(40 - contempt)]
    assert got == expect
    assert ds.get_gt_labels().tolist()[10:] == expect
    assert 'gt_aus' not in ds[0]['data_samples']


def write_rafau(root):
    lines = ['0001.jpg 1+2+L12', '0002.jpg null', '0003.jpg 4+R25+43']
    write_text(osp.join(root, 'RAFAU_label.txt'), lines)
    for k in range(1, 4):
        write_image(osp.join(root, 'aligned', f'{k:04d}_aligned.jpg'), size=32, seed=k)


def test_rafau_auxiliary_reads_au_names_from_metainfo(tmp_path):
    write_rafau(str(tmp_path))
    ds = DATASETS.build(dict(
        type='MultiSourceDataset', au_names=(12, 1, 43),
        sources=[dict(dataset=synth(4)),
                 dict(dataset=dict(type='RAFAU', data_root=str(tmp_path), pipeline=PIPE))],
    ))  # fmt: skip
    # model AUs (AU12, AU01, AU43); RAF-AU's default list has no AU43 -> masked
    rows = [ds[4 + j]['data_samples'] for j in range(3)]
    assert [r.gt_aus.tolist() for r in rows] == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert [r.gt_au_mask.tolist() for r in rows] == [[1, 1, 0]] * 3
    assert all(r.gt_label.item() == -1 for r in rows)


class IntensityAUs:
    """A minimal AU-only source: OpenFace-style intensities (0-5) of AU06 and AU12."""

    HAS_EXPRESSION = False
    metainfo = dict(au_names=('AU06', 'AU12'))

    def __init__(self, rows):
        self.rows = [np.asarray(r, np.float32) for r in rows]

    def __len__(self):
        return len(self.rows)

    def get_data_info(self, i):
        return dict(gt_aus=self.rows[i], gt_au_mask=np.ones(len(self.rows[i]), np.float32), img_path=f'x{i}')


def test_bad_sources_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match='names no AU list.*au_names'):
        DATASETS.build(
            dict(type='MultiSourceDataset', sources=[dict(dataset=synth(4)), dict(dataset=synth(4))])
        )
    intensities = IntensityAUs([[0.0, 3.0], [1.0, 0.5]])
    with pytest.raises(ValueError, match=r'sample 0 .*AU targets must lie in \[0, 1\].*au_threshold'):
        DATASETS.build(
            dict(type='MultiSourceDataset', sources=[dict(dataset=synth(4)), dict(dataset=intensities)])
        )
    ds = DATASETS.build(dict(type='MultiSourceDataset',
                             sources=[dict(dataset=synth(4)), dict(dataset=intensities, au_threshold=0.7)]))  # fmt: skip
    assert ds.get_data_info(4)['gt_aus'].tolist() == [0, 1] and ds.get_data_info(5)['gt_aus'].tolist() == [
        1,
        0,
    ]
    with pytest.raises(ValueError, match=r'expected 2 AU values .*got shape \(3,\)'):
        DATASETS.build(dict(type='MultiSourceDataset',
                            sources=[dict(dataset=synth(4)), dict(dataset=IntensityAUs([[0, 1, 2]]))]))  # fmt: skip
    write_rafau(str(tmp_path))
    rafau = dict(type='RAFAU', data_root=str(tmp_path), pipeline=PIPE)
    with pytest.raises(ValueError, match="has no expression labels; use labels=\\('au',\\)"):
        DATASETS.build(dict(type='MultiSourceDataset', sources=[dict(dataset=synth(4)),
                            dict(dataset=rafau, labels='expression')]))  # fmt: skip
    with pytest.raises(ValueError, match='labels must be a non-empty subset'):
        DATASETS.build(dict(type='MultiSourceDataset', sources=[dict(dataset=synth(4), labels='emotion')]))
    with pytest.raises(ValueError, match='unknown keys'):
        DATASETS.build(dict(type='MultiSourceDataset', sources=[dict(dataset=synth(4), ratio=4)]))


def test_ratio_batches_through_a_dataloader():
    ds = DATASETS.build(dict(
        type='MultiSourceDataset', au_names='rafau',
        sources=[dict(dataset=synth(16)), dict(dataset=synth(6, domain='alt_convention'), au_names=SYNTH_AUS,
                                              au_threshold=0.3)],
    ))  # fmt: skip
    bs = DATA_SAMPLERS.build(dict(type='RatioBatchSampler', ratios=(3, 1), seed=0),
                             default_args=dict(dataset=ds, batch_size=8))  # fmt: skip
    loader = DataLoader(ds, batch_sampler=bs, collate_fn=pseudo_collate)
    batches = list(loader)
    assert len(batches) == 16 // 6
    for b in batches:
        sources = [s.source for s in b['data_samples']]
        assert sources == [0] * 6 + [1] * 2
        labels = torch.cat([s.gt_label for s in b['data_samples']])
        assert (labels[:6] >= 0).all() and (labels[6:] == -1).all()
        masks = torch.stack([s.gt_au_mask for s in b['data_samples']])
        assert masks[:6].sum() == 0 and (masks[6:].sum(1) == 16).all()


def test_soft_labels_follow_the_class_map():
    """A source's vote distribution is served in the model's class order (by name), not its own."""
    soft = dict(synth(30, label_set='ferplus', seed=2), soft_labels=True)
    ds = DATASETS.build(dict(type='MultiSourceDataset',
                             sources=[dict(dataset=synth(4)), dict(dataset=soft, labels='expression')]))  # fmt: skip
    rafdb = ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')
    ferplus = ('Neutral', 'Happiness', 'Surprise', 'Sadness', 'Anger', 'Disgust', 'Fear', 'Contempt')
    aux = DATASETS.build(soft)
    kept = [i for i in range(30) if ferplus[aux.get_data_info(i)['gt_label']] != 'Contempt']
    for j, i in enumerate(kept):
        votes = aux.get_data_info(i)['gt_score']
        expect = np.array([votes[ferplus.index(c)] for c in rafdb])
        expect = expect / expect.sum()
        got = ds[4 + j]['data_samples'].gt_score.numpy()
        assert got.shape == (7,) and np.allclose(got, expect, atol=1e-6)
        assert ds.get_data_info(4 + j)['gt_score'].shape == (7,)


@pytest.mark.slow
def test_same_batches_for_any_num_workers():
    ds = DATASETS.build(dict(
        type='MultiSourceDataset', au_names='rafau',
        sources=[dict(dataset=dict(synth(12), pipeline=FLIP)), dict(dataset=dict(synth(4, domain='alt_convention'), pipeline=FLIP), au_names=SYNTH_AUS,
                                              au_threshold=0.3)],
    ))  # fmt: skip
    ds.set_aug_seed(0, 0)
    runs = []
    for workers in (0, 2):
        bs = DATA_SAMPLERS.build(dict(type='RatioBatchSampler', ratios=(3, 1), seed=0),
                                 default_args=dict(dataset=ds, batch_size=4))  # fmt: skip
        loader = DataLoader(ds, batch_sampler=bs, collate_fn=pseudo_collate, num_workers=workers)
        runs.append(
            [(torch.stack(b['inputs']), torch.stack([s.gt_aus for s in b['data_samples']])) for b in loader]
        )
    assert len(runs[0]) == len(runs[1]) == 4
    for (x0, a0), (x1, a1) in zip(*runs):
        assert torch.equal(x0, x1) and torch.equal(a0, a1)
