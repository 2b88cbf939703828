"""``randomness=dict(seed=..., deterministic=True)`` makes training bit-reproducible."""

from __future__ import annotations

import itertools
import os

import pytest
import torch

from ferlab.utils import safe_torch_load
from tests.utils import REPO_ROOT, make_fake_rafdb, tiny_train_options

CONFIG = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
_RUN_IDS = itertools.count()


@pytest.fixture(autouse=True)
def _restore_global_determinism():
    """deterministic=True flips process-wide torch flags: put them back for other tests."""
    algos = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    rng = torch.get_rng_state()
    yield
    torch.use_deterministic_algorithms(algos, warn_only=warn_only)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
    torch.set_rng_state(rng)


def _train_weights(tmp_path, data_root, name, seed):
    from tools.train import main

    work_dir = tmp_path / name
    opts = tiny_train_options(data_root, max_epochs=1, batch_size=4)
    # Shuffled sampler + RandomFlip (both in the config) make the seed matter.
    opts += [
        f'randomness.seed={seed}',
        'randomness.deterministic=True',
        f'experiment_name=det_{next(_RUN_IDS)}',
    ]
    main([CONFIG, '--work-dir', str(work_dir), '--no-validate', '--cfg-options', *opts])
    return safe_torch_load(work_dir / 'epoch_1.pth')


def test_same_seed_gives_bit_identical_weights(tmp_path):
    data_root = make_fake_rafdb(tmp_path / 'data', n_train=12, n_test=2, size=32)
    a = _train_weights(tmp_path, data_root, 'a', seed=123)
    b = _train_weights(tmp_path, data_root, 'b', seed=123)
    c = _train_weights(tmp_path, data_root, 'c', seed=7)
    assert a['meta']['seed'] == b['meta']['seed'] == 123
    assert set(a['state_dict']) == set(b['state_dict'])
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), f'{key} differs between two seed-123 runs'
    for group_a, group_b in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        assert torch.equal(group_a['momentum_buffer'], group_b['momentum_buffer'])
    # Control: another seed gives other weights, so the comparison above can fail.
    assert any(not torch.equal(v, c['state_dict'][k]) for k, v in a['state_dict'].items())
