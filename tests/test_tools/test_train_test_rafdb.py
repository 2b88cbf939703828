"""End to end: a RAF-DB-format directory written by the test, trained and tested through the tools."""

import csv
import json
import os.path as osp

import torch

from tests.utils import make_fake_rafdb, tiny_train_options


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
    assert 0.0 <= metrics['accuracy'] <= 100.0
    with open(osp.join(test_dir, 'metrics.json')) as f:
        saved = json.load(f)
    assert saved['accuracy'] == metrics['accuracy']
    assert 'mean_class_accuracy' in saved
    with open(osp.join(test_dir, 'confusion_matrix.csv')) as f:
        rows = list(csv.reader(f))
    # RAF-DB class names label the matrix; the 7 test images (one per class) are all counted
    assert 'Surprise' in rows[0] and 'Neutral' in rows[0]
    counts = [float(c) for r in rows[1:] for c in r[1:]]
    assert sum(counts) == 7
    with open(osp.join(test_dir, 'confusion_matrix.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
