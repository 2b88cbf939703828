"""End to end: a RAF-DB-format directory written by the test, trained and tested through the tools."""

import csv
import json
import os.path as osp

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix

from tests.utils import (
    make_fake_rafdb,
    recompute_test_scores,
    tiny_train_options,
    write_forced_class_checkpoint,
)

pytestmark = pytest.mark.e2e


def test_train_then_test_rafdb_baseline(tmp_path, repo_root):
    from tools.test import main as test_main
    from tools.train import main as train_main

    torch.set_num_threads(1)
    data_root = make_fake_rafdb(tmp_path / 'RAF-DB', n_train=8, n_test=7, size=32)
    config = osp.join(repo_root, 'configs', 'baseline', 'resnet18_rafdb.py')
    opts = tiny_train_options(data_root, max_epochs=1, batch_size=4, img_size=32)
    train_dir = str(tmp_path / 'train')
    runner = train_main([config, '--work-dir', train_dir, '--cfg-options', *opts])
    assert runner.train_dataloader.dataset.data_root == data_root
    ckpt = osp.join(train_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)

    test_dir = str(tmp_path / 'test')
    metrics = test_main([config, ckpt, '--work-dir', test_dir, '--cfg-options', *opts])
    # the same checkpoint evaluated without the Runner: identical accuracy and confusion matrix
    ref = recompute_test_scores(config, ckpt, opts)
    assert ref['gt'].tolist() == [1, 2, 3, 4, 5, 6, 0]  # make_fake_rafdb's labels after 8 training images
    assert float(metrics['accuracy']) == pytest.approx(ref['accuracy'], abs=1e-6)
    ref_cm = confusion_matrix(ref['gt'], ref['scores'].argmax(1), labels=list(range(7)))
    with open(osp.join(test_dir, 'metrics.json')) as f:
        saved = json.load(f)
    assert saved['accuracy'] == metrics['accuracy']
    assert 'mean_class_accuracy' in saved
    with open(osp.join(test_dir, 'confusion_matrix.csv')) as f:
        rows = list(csv.reader(f))
    # RAF-DB class names label the matrix; the 7 test images (one per class) are all counted
    assert 'Surprise' in rows[0] and 'Neutral' in rows[0]
    counts = np.array([[float(c) for c in r[1:]] for r in rows[1:]])
    np.testing.assert_array_equal(counts, ref_cm)  # rows = ground truth, columns = prediction
    with open(osp.join(test_dir, 'confusion_matrix.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'

    # a different checkpoint gives its own figures: a copy that always answers class 3 scores 1 of 7
    forced = write_forced_class_checkpoint(ckpt, tmp_path / 'class3.pth', 3)
    metrics3 = test_main([config, forced, '--work-dir', str(tmp_path / 'test3'), '--cfg-options', *opts])
    assert float(metrics3['accuracy']) == pytest.approx(100.0 / 7)
    expected_cm = np.zeros((7, 7))
    expected_cm[:, 3] = 1
    np.testing.assert_array_equal(np.asarray(metrics3['confusion_matrix']), expected_cm)
