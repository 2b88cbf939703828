"""``tools/test.py CONFIG CHECKPOINT|latest [--out preds.pkl]`` after a short training run.

The metrics and the ``--out`` dump are checked against an evaluation of the same checkpoint
that bypasses the Runner (:func:`tests.utils.recompute_test_scores`), and against checkpoints
whose predictions are known by hand (:func:`tests.utils.write_forced_class_checkpoint`).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.utils import (
    REPO_ROOT,
    make_fake_rafdb,
    read_prediction_dump,
    recompute_test_scores,
    tiny_train_options,
    write_forced_class_checkpoint,
)

pytestmark = pytest.mark.e2e

CONFIG = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
N_TRAIN, N_TEST = 8, 6
# make_fake_rafdb: labels cycle 1..7 over train then test names; 0-based classes of the test split
TEST_LABELS = [(N_TRAIN + k) % 7 for k in range(N_TEST)]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    from tools.train import main

    root = tmp_path_factory.mktemp('test_tool')
    data_root = make_fake_rafdb(root / 'data', n_train=N_TRAIN, n_test=N_TEST, size=32)
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
    ref = recompute_test_scores(CONFIG, work_dir / 'epoch_2.pth', trained['opts'])
    assert ref['gt'].tolist() == TEST_LABELS
    dump = read_prediction_dump(out)
    assert dump['idx'].tolist() == list(range(N_TEST))
    assert dump['gt'].tolist() == TEST_LABELS
    # the dump holds the scores of epoch_2.pth (the 'latest' checkpoint), not of any other weights
    np.testing.assert_allclose(dump['scores'], ref['scores'], atol=1e-5)
    assert dump['labels'].tolist() == ref['scores'].argmax(1).tolist()
    assert float(metrics['accuracy']) == pytest.approx(ref['accuracy'], abs=1e-6)
    saved = json.loads((work_dir / 'metrics.json').read_text())
    assert saved['accuracy'] == pytest.approx(float(metrics['accuracy']))
    assert (work_dir / 'confusion_matrix.csv').is_file()


def test_other_checkpoints_give_their_own_metrics(trained, tmp_path):
    """epoch_1 vs epoch_2, and two copies forced to one class: each evaluates to its own weights."""
    from tools.test import main

    work_dir = trained['work_dir']

    def run(ckpt, name):
        out = tmp_path / f'{name}.pkl'
        metrics = main([CONFIG, str(ckpt), '--work-dir', str(tmp_path / name), '--out', str(out),
                        '--cfg-options', *trained['opts']])  # fmt: skip
        return float(metrics['accuracy']), read_prediction_dump(out)

    acc1, dump1 = run(work_dir / 'epoch_1.pth', 'e1')
    ref1 = recompute_test_scores(CONFIG, work_dir / 'epoch_1.pth', trained['opts'])
    np.testing.assert_allclose(dump1['scores'], ref1['scores'], atol=1e-5)
    assert acc1 == pytest.approx(ref1['accuracy'], abs=1e-6)
    ref2 = recompute_test_scores(CONFIG, work_dir / 'epoch_2.pth', trained['opts'])
    assert np.abs(ref1['scores'] - ref2['scores']).max() > 1e-4  # the two epochs are different models

    # By hand: a model that always answers class c scores 100 * (share of test labels equal to c).
    present, absent = TEST_LABELS[0], next(c for c in range(7) if c not in TEST_LABELS)
    for cls, expected in ((present, 100.0 / N_TEST), (absent, 0.0)):
        ckpt = write_forced_class_checkpoint(work_dir / 'epoch_2.pth', tmp_path / f'c{cls}.pth', cls)
        acc, dump = run(ckpt, f'c{cls}')
        assert acc == pytest.approx(expected)
        assert set(dump['labels'].tolist()) == {cls}


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
