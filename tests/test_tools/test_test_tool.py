"""``tools/test.py CONFIG CHECKPOINT|latest [--out preds.pkl]`` after a short training run."""

from __future__ import annotations

import json
import os
import pickle

import pytest

from tests.utils import REPO_ROOT, make_fake_rafdb, tiny_train_options

CONFIG = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
N_TEST = 6


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    from tools.train import main

    root = tmp_path_factory.mktemp('test_tool')
    data_root = make_fake_rafdb(root / 'data', n_train=8, n_test=N_TEST, size=32)
    work_dir = root / 'work'
    opts = tiny_train_options(data_root, max_epochs=2, batch_size=4) + ['experiment_name=test_tool_train']
    main([CONFIG, '--work-dir', str(work_dir), '--no-validate', '--cfg-options', *opts])
    return dict(data_root=data_root, work_dir=work_dir, opts=tiny_train_options(data_root, batch_size=4))


def test_latest_with_out(trained, tmp_path):
    from tools.test import main

    out = tmp_path / 'preds.pkl'
    work_dir = trained['work_dir']
    metrics = main(
        [CONFIG, 'latest', '--work-dir', str(work_dir), '--out', str(out), '--cfg-options', *trained['opts']]
    )
    assert 0.0 <= metrics['accuracy'] <= 100.0
    saved = json.loads((work_dir / 'metrics.json').read_text())
    assert saved['accuracy'] == pytest.approx(float(metrics['accuracy']))
    assert (work_dir / 'confusion_matrix.csv').is_file()
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == N_TEST
    assert {int(p['sample_idx']) for p in preds} == set(range(N_TEST))
    assert all(len(p['pred_score']) == 7 and int(p['pred_label']) in range(7) for p in preds)


def test_latest_resolves_last_checkpoint(trained, tmp_path):
    from tools.test import resolve_checkpoint

    work_dir = trained['work_dir']
    assert resolve_checkpoint('latest', str(work_dir)) == str(work_dir / 'epoch_2.pth')
    explicit = str(work_dir / 'epoch_1.pth')
    assert resolve_checkpoint(explicit, str(work_dir)) == explicit
    with pytest.raises(FileNotFoundError, match='last_checkpoint'):
        resolve_checkpoint('latest', str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))
    with pytest.raises(FileNotFoundError, match='gone.pth'):
        resolve_checkpoint('latest', str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text('')
    with pytest.raises(FileNotFoundError, match='empty'):
        resolve_checkpoint('latest', str(tmp_path))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        resolve_checkpoint(str(tmp_path / 'missing.pth'), str(tmp_path))


def test_out_must_be_pkl(trained, tmp_path):
    from tools.test import main

    with pytest.raises(ValueError, match='.pkl'):
        main([CONFIG, 'latest', '--work-dir', str(trained['work_dir']), '--out', str(tmp_path / 'p.json')])
