"""OpenFace 2 pseudo-AUs attached to FER datasets: per image and per video, masks, bad CSVs."""

import os.path as osp

import numpy as np
import pytest

from ferlab.datasets import DatasetFormatError
from ferlab.datasets.au_vocabulary import OPENFACE_C_AUS, OPENFACE_R_AUS
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import (
    AFFWILD2_HEADER,
    make_rafdb,
    openface_header,
    write_affwild2_au,
    write_openface_csv,
    write_text,
)

PIPE = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]


def rafdb_with_csvs(root):
    make_rafdb(root, train=(5, 1, 4), test=(1,))
    csvs = osp.join(str(root), 'openface')
    write_openface_csv(
        osp.join(csvs, 'train_00001_aligned.csv'), [dict(r={12: 3.2, 6: 1.5}, c={12: 1, 6: 1})]
    )
    write_openface_csv(  # two faces: the more confident second row is used
        osp.join(csvs, 'train_00002_aligned.csv'),
        [
            dict(face=0, confidence=0.4, r={4: 4.0}, c={4: 1}),
            dict(face=1, confidence=0.9, r={1: 0.7}, c={28: 1}),
        ],
    )
    # train_00003 has no CSV: OpenFace found no face
    return csvs


def build(root, csvs, split='train', **kw):
    inner = dict(type='RAFDB', data_root=str(root), split=split, pipeline=PIPE)
    return DATASETS.build(dict(type='OpenFaceAUs', dataset=inner, csv_root=csvs, **kw))


def test_header_has_leading_spaces():
    header = openface_header()
    assert header[:3] == ['face', ' confidence', ' gaze_0_x'] and ' AU01_r' in header and ' AU45_c' in header


def test_per_image_presence_and_intensity(tmp_path):
    csvs = rafdb_with_csvs(tmp_path)
    ds = build(tmp_path, csvs)  # kind='c'
    assert ds.metainfo['au_names'] == tuple(f'AU{a:02d}' for a in OPENFACE_C_AUS)
    assert ds.metainfo['classes'][0] == 'Surprise' and ds.num_missing == 1
    info = ds.get_data_info(0)
    assert info['gt_label'] == 4 and info['gt_au_mask'].tolist() == [1.0] * 18
    on = lambda v: [OPENFACE_C_AUS[k] for k in np.flatnonzero(v)]  # noqa: E731
    assert on(info['gt_aus']) == [6, 12]
    assert on(ds.get_data_info(1)['gt_aus']) == [28]  # the confident face, not AU4 of face 0
    third = ds.get_data_info(2)
    assert third['gt_au_mask'].tolist() == [0.0] * 18 and third['gt_label'] == 3  # masked, label kept
    sample = ds[0]['data_samples']
    assert sample.gt_label.tolist() == [4] and sample.gt_aus.shape == (18,) and sample.gt_au_mask.sum() == 18
    assert ds.get_gt_labels().tolist() == [4, 0, 3] and len(ds) == 3  # forwarded to RAFDB

    r = build(tmp_path, csvs, kind='r')
    got = dict(zip(OPENFACE_R_AUS, r.get_data_info(0)['gt_aus'].tolist()))
    assert got[12] == pytest.approx(3.2) and got[6] == pytest.approx(1.5) and got[1] == 0.0
    t = build(tmp_path, csvs, kind='r', threshold=2.0, aus=('AU12', 6, 'AU01_r'))
    assert t.metainfo['au_names'] == ('AU12', 'AU06', 'AU01')
    assert t.get_data_info(0)['gt_aus'].tolist() == [1.0, 0.0, 0.0]
    assert t.get_data_info(1)['gt_aus'].tolist() == [0.0, 0.0, 0.0]  # 0.7 < 2


def test_options_rejected(tmp_path):
    csvs = rafdb_with_csvs(tmp_path)
    with pytest.raises(ValueError, match='writes no AUxx_r column for AUs \\[28\\]'):
        build(tmp_path, csvs, kind='r', aus=(28,))
    with pytest.raises(ValueError, match="needs kind='r'"):
        build(tmp_path, csvs, threshold=1.0)
    with pytest.raises(FileNotFoundError, match='csv_root'):
        build(tmp_path, str(tmp_path / 'nope'))
    with pytest.raises(ValueError, match='needs video_id and frame_idx'):
        build(tmp_path, csvs, per='video')


GOOD = ', '.join(['0', '0.9'] + ['0.1', '2.0'] + ['0.00'] * 17 + ['0'] * 18)


@pytest.mark.parametrize(
    'mutate, line, want',
    [
        (
            lambda h: h,
            ', '.join(GOOD.split(', ')[:-1]),
            'line 2: expected 39 columns as in the header, got 38',
        ),
        (lambda h: h, GOOD.replace('0.9', 'abc', 1), "line 2: expected numbers, got 'abc'"),
        (
            lambda h: [c.replace('AU45_r', 'AU99_r') for c in h],
            GOOD,
            'line 1: expected OpenFace 2 AU columns',
        ),
        (
            lambda h: [c.replace('AU12_c', 'AU12_x') for c in h],
            GOOD,
            r'line 1: expected the AU columns .*AU12_c',
        ),
        (lambda h: h, GOOD[: -len('0')] + '0.5', 'line 2: expected 0 or 1 for AU45_c, got 0.5'),
    ],
)
def test_bad_csv(tmp_path, mutate, line, want):
    csvs = rafdb_with_csvs(tmp_path)
    write_text(osp.join(csvs, 'train_00003_aligned.csv'), [','.join(mutate(openface_header())), line])
    with pytest.raises(DatasetFormatError, match=r'train_00003_aligned.csv, ' + want):
        build(tmp_path, csvs)


def test_bad_intensity(tmp_path):
    csvs = rafdb_with_csvs(tmp_path)
    write_openface_csv(osp.join(csvs, 'train_00003_aligned.csv'), [dict(r={9: 7.5})])
    with pytest.raises(
        DatasetFormatError, match=r'line 2: expected an intensity in 0..5 for AU09_r, got 7.5'
    ):
        build(tmp_path, csvs, kind='r')


def test_per_video_frames(tmp_path):
    # an Aff-Wild2 EXPR tree (frames 1-4 of one video) + one OpenFace CSV per video with a frame column
    write_affwild2_au(tmp_path, {'vid1': [[0] * 12] * 4})  # writes cropped_aligned/vid1/0000k.jpg
    write_text(osp.join(str(tmp_path), 'EXPR_Set/Train_Set/vid1.txt'), [AFFWILD2_HEADER, '4', '1', '-1', '2'])
    csvs = osp.join(str(tmp_path), 'openface')
    rows = [
        dict(frame=1, r={12: 2.5}),
        dict(frame=2, r={4: 1.0}, success=0),
        dict(frame=3, r={1: 4.0}),
        dict(frame=1, confidence=0.3, r={12: 0.5}),
    ]  # a second, less confident face in frame 1
    write_openface_csv(osp.join(csvs, 'vid1.csv'), rows, video=True)  # frame 4 has no row
    inner = dict(type='AffWild2', data_root=str(tmp_path), split='train', pipeline=PIPE)
    ds = DATASETS.build(dict(type='OpenFaceAUs', dataset=inner, csv_root=csvs, per='video', kind='r'))
    assert [ds.get_data_info(i)['frame_idx'] for i in range(len(ds))] == [1, 2, 4]  # frame 3 unannotated
    i12 = OPENFACE_R_AUS.index(12)
    assert (
        ds.get_data_info(0)['gt_aus'][i12] == pytest.approx(2.5) and ds.get_data_info(0)['gt_au_mask'].all()
    )
    assert not ds.get_data_info(1)['gt_au_mask'].any() and ds.num_failed == 1  # success = 0
    assert not ds.get_data_info(2)['gt_au_mask'].any() and ds.num_missing == 1  # no row for frame 4
    write_text(osp.join(csvs, 'vid1.csv'), [','.join(openface_header()), GOOD])  # image CSV: no frame column
    with pytest.raises(DatasetFormatError, match="vid1.csv, line 1: expected a 'frame' column"):
        DATASETS.build(dict(type='OpenFaceAUs', dataset=inner, csv_root=csvs, per='video'))


@pytest.mark.e2e
def test_synthfer_openface_export_round_trip_and_training(tmp_path, repo_root):
    """make_synthfer --openface -> OpenFaceAUs reads the rendered AUs back exactly; tools/train.py trains on it."""
    import torch

    from ferlab.datasets.synthfer.expressions import AU_LIST
    from ferlab.datasets.synthfer.generator import SynthFERGenerator
    from ferlab.utils.checkpoint import safe_torch_load
    from tools.dataset_converters.make_synthfer import main as export
    from tools.train import main as train_main

    torch.set_num_threads(1)
    out = tmp_path / 'synth'
    export(
        [str(out), '--formats', 'rafdb', '--num-train', '12', '--num-test', '4', '--openface', '--seed', '3']
    )
    root, csvs = str(out / 'rafdb'), str(out / 'rafdb' / 'openface')
    header = open(osp.join(csvs, 'train_00001_aligned.csv')).readline().rstrip('\n').split(',')
    assert header[:3] == ['face', ' confidence', ' AU01_r'] and header[-1] == ' AU45_c'
    # the oracle: the generator's own intensities for the same seed and split, in [0, 1]
    aus = SynthFERGenerator('rafdb', 'default', 100, 3).generate('train', 12)['aus']
    r = build(root, csvs, kind='r')
    c = build(root, csvs, kind='c')
    assert r.num_missing == c.num_missing == 0 and len(r) == 12
    for i in range(12):
        stem = osp.basename(r.get_data_info(i)['img_path'])
        k = int(stem[len('train_') : len('train_00001')]) - 1
        got_r = dict(zip(OPENFACE_R_AUS, r.get_data_info(i)['gt_aus'].tolist()))
        got_c = dict(zip(OPENFACE_C_AUS, c.get_data_info(i)['gt_aus'].tolist()))
        for j, au in enumerate(AU_LIST):
            assert got_r[au] == pytest.approx(round(5 * float(aus[k, j]), 2), abs=1e-6), (stem, au)
            assert got_c[au] == float(aus[k, j] >= 0.3), (stem, au)
        assert got_r[45] == got_c[45] == got_c[28] == 0.0  # not rendered
    assert sum(c.get_data_info(i)['gt_aus'].sum() for i in range(12)) > 0

    # a few iterations of tools/train.py of a ResNet-18 classifier on the pseudo-AU RAF-DB
    pipe = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)), dict(type='PackFERInputs')]
    cfg = tmp_path / 'r18_rafdb_openface.py'
    cfg.write_text(
        f'_base_ = [{osp.join(repo_root, "configs", "baseline", "resnet18_rafdb.py")!r}]\n'
        f'_pipe = {pipe!r}\n'
        "_inner = dict(type='RAFDB', data_root=" + repr(root) + ", split='train', pipeline=_pipe)\n"
        'train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(\n'
        "    _delete_=True, type='OpenFaceAUs', dataset=_inner, csv_root=" + repr(csvs) + ", kind='r'))\n"
        'val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,\n'
        '    dataset=dict(data_root=' + repr(root) + ', pipeline=_pipe))\n'
        'test_dataloader = val_dataloader\n'
        'train_cfg = dict(max_epochs=1)\n'
        'default_hooks = dict(logger=dict(interval=1), checkpoint=dict(save_best=None))\n'
    )
    runner = train_main([str(cfg), '--work-dir', str(tmp_path / 'work')])
    ds = runner.train_dataloader.dataset
    assert type(ds).__name__ == 'OpenFaceAUs' and ds.metainfo['au_names'][0] == 'AU01'
    batch = next(iter(runner.train_dataloader))
    assert all(s.gt_aus.shape == (17,) and s.gt_au_mask.sum() == 17 for s in batch['data_samples'])
    ckpt = safe_torch_load(str(tmp_path / 'work' / 'epoch_1.pth'))
    assert tuple(ckpt['meta']['dataset_meta']['au_names']) == ds.metainfo['au_names']  # saved with the model


@pytest.mark.e2e
def test_synthfer_video_openface_export_round_trip(tmp_path):
    """make_synthfer --formats affwild2 --openface: per-video CSVs give every annotated frame its rendered AUs;
    AffWild2AU reads the AU_Set files of the same export as the 0.3-thresholded intensities."""
    from ferlab.datasets.au_vocabulary import AFFWILD2_AUS
    from ferlab.datasets.synthfer.expressions import AU_INDEX
    from ferlab.datasets.synthfer.generator import SynthFERGenerator
    from tools.dataset_converters.make_synthfer import main as export

    out = tmp_path / 'synth'
    export(
        [
            str(out),
            '--formats',
            'affwild2',
            '--videos',
            '2',
            '1',
            '--frames',
            '10',
            '--openface',
            '--seed',
            '2',
        ]
    )
    root = str(out / 'affwild2')
    gen = SynthFERGenerator('affwild2', 'default', 112, 2)
    clips = {f'synth0{c:03d}-112x112': gen.clip('train', c, 10)['aus'] for c in range(2)}
    inner = dict(type='AffWild2', data_root=root, split='train')
    ds = DATASETS.build(dict(type='OpenFaceAUs', dataset=inner, csv_root=osp.join(root, 'openface'), per='video',
                             kind='r'))  # fmt: skip
    assert ds.num_missing == ds.num_failed == 0 and len(ds) > 0
    au_ds = DATASETS.build(dict(type='AffWild2AU', data_root=root, split='train'))
    assert len(au_ds) == 20  # every frame has AU labels (the EXPR split skips unannotated ones)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        aus = clips[info['video_id']][info['frame_idx'] - 1]
        got = dict(zip(OPENFACE_R_AUS, info['gt_aus'].tolist()))
        for au, j in AU_INDEX.items():
            assert got[au] == pytest.approx(round(5 * float(aus[j]), 2), abs=1e-6)
    for i in range(len(au_ds)):
        info = au_ds.get_data_info(i)
        aus = clips[info['video_id']][info['frame_idx'] - 1]
        want = [float(a in AU_INDEX and aus[AU_INDEX[a]] >= 0.3) for a in AFFWILD2_AUS]
        assert info['gt_aus'].tolist() == want and info['gt_au_mask'].all()


def test_wrapping_a_filtered_split_keeps_each_sample_its_own_aus(tmp_path):
    """OpenFaceAUs over ConditionSubset: sample k's AUs are those of the k-th listed image."""
    make_rafdb(tmp_path, train=(1,), test=(4, 1, 7))
    csvs = osp.join(str(tmp_path), 'openface')
    for k, au in ((1, 4), (2, 12), (3, 26)):
        write_openface_csv(osp.join(csvs, f'test_{k:04d}_aligned.csv'), [dict(c={au: 1})])
    write_text(osp.join(str(tmp_path), 'occ.txt'), ['test_0003_aligned 6 1', 'test_0002_aligned 0 2'])
    inner = dict(type='ConditionSubset', list_file='occ.txt',
                 dataset=dict(type='RAFDB', data_root=str(tmp_path), split='test', pipeline=PIPE))  # fmt: skip
    ds = DATASETS.build(dict(type='OpenFaceAUs', dataset=inner, csv_root=csvs))
    on = [[OPENFACE_C_AUS[k] for k in np.flatnonzero(ds.get_data_info(i)['gt_aus'])] for i in range(len(ds))]
    assert on == [[12], [26]] and ds.get_gt_labels().tolist() == [0, 6]
    assert ds[1]['data_samples'].gt_aus[OPENFACE_C_AUS.index(26)] == 1


@pytest.mark.e2e
@pytest.mark.parametrize(
    'option, fix_csv, want',
    [
        ("kind='c'", True, r"train_00003_aligned.csv, line 2: expected numbers, got 'abc'$"),
        ("kind='x'", False, r"OpenFaceAUs kind must be 'c' \(presence\) or 'r' \(intensity\), got 'x'$"),
    ],
)
def test_bad_input_is_one_line_from_tools_train(tmp_path, repo_root, option, fix_csv, want):
    import os
    import re
    import subprocess
    import sys

    csvs = rafdb_with_csvs(tmp_path)
    if fix_csv:
        write_text(
            osp.join(csvs, 'train_00003_aligned.csv'),
            [','.join(openface_header()), GOOD.replace('0.9', 'abc', 1)],
        )
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        f'_base_ = [{osp.join(repo_root, "configs", "baseline", "resnet18_rafdb.py")!r}]\n'
        f'train_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(_delete_=True, '
        f"type='OpenFaceAUs', {option}, csv_root={csvs!r}, dataset=dict(type='RAFDB', data_root={str(tmp_path)!r})))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    env.pop('FERLAB_DEBUG', None)
    cmd = [
        sys.executable,
        osp.join(repo_root, 'tools', 'train.py'),
        str(cfg),
        '--work-dir',
        str(tmp_path / 'w'),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert lines[-1].startswith('tools/train.py: error: ') and re.search(want, lines[-1]), lines[-1]
