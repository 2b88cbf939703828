"""ABAW EXPR submission files: ``tools/test.py --abaw-submission`` and ``tools/misc/abaw_submission.py``."""

from __future__ import annotations

import os
import os.path as osp
import pickle

import numpy as np
import pytest

from ferlab.evaluation.abaw import SUBMISSION_HEADER, nearest_fill, write_abaw_submission
from ferlab.utils.errors import FerlabInputError
from tests.test_datasets.fake_formats import AFFWILD2_HEADER, write_image, write_text
from tests.utils import REPO_ROOT

ANN = 'EXPR_Set/Validation_Set'
#: video -> (labels per annotation line, 1-indexed frames with an image)
VIDEOS = {
    'v1-30-640x360': ([0, -1, 4, 4, 6, 1, -1, 7, 3], [1, 2, 3, 5, 8, 9]),
    'v2_left': ([5, 5, 2, 2, 2], [2, 4]),
    'v3_right': ([-1, -1, -1, 0], [1, 2, 3, 4]),
}


def test_nearest_fill_by_hand():
    labels, filled = nearest_fill(np.array([2, 5, 9]), np.array([0, 1, 2]), 11)
    # frame 7 is 2 from both 5 and 9: the earlier frame wins
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2] and filled == 8


def test_writer_rows_and_errors(tmp_path):
    ann = tmp_path / 'ann'
    write_text(str(ann / 'a.txt'), [AFFWILD2_HEADER, '1', '2', '-1', '3', ''])  # trailing blank line
    write_text(str(ann / 'b.txt'), [AFFWILD2_HEADER, '0'])
    out = tmp_path / 'sub'
    stats = write_abaw_submission(str(out), str(ann), ['a', 'b'], np.array([0, 2, 3]), [1, 4, 1], [6, 2, 5])
    assert (out / 'a.txt').read_text().splitlines() == [
        SUBMISSION_HEADER, 'a/00001.jpg,6', 'a/00002.jpg,6', 'a/00003.jpg,2', 'a/00004.jpg,2',
    ]  # fmt: skip
    assert (out / 'b.txt').read_text().splitlines() == [SUBMISSION_HEADER, 'b/00001.jpg,5']
    assert stats == dict(num_videos=2, num_rows=5, num_filled=2)
    with pytest.raises(FerlabInputError, match=r'video .b. .* has no predicted frame'):
        write_abaw_submission(str(out), str(ann), ['a'], np.array([0, 1]), [1], [0])
    with pytest.raises(FerlabInputError, match=r"no annotation file .* e\.g\. 'c'"):
        write_abaw_submission(
            str(out), str(ann), ['a', 'b', 'c'], np.array([0, 1, 2, 3]), [1, 1, 1], [0, 0, 0]
        )


def make_tree(root):
    for video, (labels, frames) in VIDEOS.items():
        write_text(osp.join(str(root), ANN, f'{video}.txt'), [AFFWILD2_HEADER] + [str(x) for x in labels])
        for k in frames:
            write_image(osp.join(str(root), 'cropped_aligned', video, f'{k:05d}.jpg'), size=8, seed=k)


CONFIG = """
_base_ = ['{base}']
model = dict(head=dict(num_classes=8))
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)), dict(type='PackFERInputs')]
test_dataloader = dict(batch_size=3, num_workers=0,
                       dataset=dict(_delete_=True, type='AffWild2', data_root='{root}', split='val',
                                    pipeline=test_pipeline))
"""
SP_EVALUATOR = "test_evaluator = dict(_delete_=True, type='VideoMetric', window=4)\n"


@pytest.fixture(scope='module')
def model_run(tmp_path_factory):
    import torch
    from mmengine.config import Config

    from ferlab.registry import MODELS
    from ferlab.utils import atomic_save

    root = tmp_path_factory.mktemp('abaw')
    make_tree(root / 'data')
    config = root / 'cfg.py'
    base = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
    config.write_text(CONFIG.format(base=base, root=root / 'data'))
    (root / 'cfg_sp.py').write_text(CONFIG.format(base=base, root=root / 'data') + SP_EVALUATOR)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    ckpt = root / 'model.pth'
    atomic_save({'state_dict': model.state_dict(), 'meta': {}}, str(ckpt))
    return dict(root=root, config=str(config), config_sp=str(root / 'cfg_sp.py'), ckpt=str(ckpt))


def predicted(dump_path, window):
    """Per-video predictions from the --out dump: direct-loop Eq. 1 on log scores, argmax."""
    with open(dump_path, 'rb') as f:
        dump = pickle.load(f)
    out = {}
    for video in VIDEOS:
        rows = sorted((int(d['frame_idx']), np.log(np.asarray(d['pred_score'], np.float64)))
                      for d in dump if d['video_id'] == video)  # fmt: skip
        labels = {}
        for t, s in rows:
            if window:
                s = s + np.mean([o for u, o in rows if abs(u - t) <= window // 2], axis=0)
            labels[t] = int(np.argmax(s))
        out[video] = labels
    return out


def expected_rows(video, labels):
    num = len(VIDEOS[video][0])
    frames = sorted(labels)
    rows = [SUBMISSION_HEADER]
    for k in range(1, num + 1):
        nearest = min(frames, key=lambda t: (abs(t - k), t))  # nearest predicted frame, earlier on a tie
        rows.append(f'{video}/{k:05d}.jpg,{labels[nearest]}')
    return rows


@pytest.mark.e2e
@pytest.mark.parametrize('window', [0, 4])
def test_test_tool_writes_one_row_per_annotated_frame(model_run, tmp_path, window):
    from tools.misc.abaw_submission import main as offline
    from tools.test import main

    sub, dump = tmp_path / 'sub', tmp_path / 'preds.pkl'
    # window 0: the config's FERMetric, plus the VideoMetric(window=0) the option adds; 4: the config's VideoMetric
    config = model_run['config'] if window == 0 else model_run['config_sp']
    metrics = main([config, model_run['ckpt'], '--work-dir', str(tmp_path / 'w'), '--out', str(dump),
                    '--abaw-submission', str(sub)])  # fmt: skip
    assert ('submission/macro_f1' if window == 0 else 'sp/macro_f1') in metrics
    assert sorted(os.listdir(sub)) == sorted(f'{v}.txt' for v in VIDEOS)
    preds = predicted(dump, window)
    # frames predicted = annotated frames with an image (the dataset skips -1 and missing images)
    for video, (labels, frames) in VIDEOS.items():
        assert sorted(preds[video]) == [k for k in frames if labels[k - 1] >= 0]
        rows = (sub / f'{video}.txt').read_text().splitlines()
        assert len(rows) == 1 + len(labels)
        assert rows == expected_rows(video, preds[video])
    # the offline tool re-writes the same files from the dump
    again = tmp_path / 'again'
    offline([str(dump), str(model_run['root'] / 'data' / ANN), str(again), '--window', str(window)])
    for video in VIDEOS:
        assert (again / f'{video}.txt').read_text() == (sub / f'{video}.txt').read_text()


def test_test_tool_refuses_a_non_affwild2_dataset():
    from mmengine.config import ConfigDict

    from ferlab.evaluation.abaw import configure_abaw_submission

    cfg = ConfigDict(test_dataloader=dict(dataset=dict(type='RAFDB')), test_evaluator=dict(type='FERMetric'))
    with pytest.raises(FerlabInputError, match="needs an AffWild2 test dataset .* got 'RAFDB'"):
        configure_abaw_submission(cfg, 'out')
