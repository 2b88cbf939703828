import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault('OMP_NUM_THREADS', '1')


@pytest.fixture(autouse=True, scope='session')
def _ferlab_scope():
    from ferlab.utils import register_all_modules

    register_all_modules()
    yield


@pytest.fixture
def repo_root():
    return ROOT
