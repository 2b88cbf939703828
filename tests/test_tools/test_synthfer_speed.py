import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the benchmark script in a subprocess

ROOT = Path(__file__).resolve().parents[2]


def test_synthfer_speed_script_reports_ratio():
    out = subprocess.run(
        [sys.executable, str(ROOT / 'tools/analysis_tools/synthfer_speed.py'), '--num', '20', '--size', '48',
         '--repeats', '2', '--target', '1000'],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert out.count('repeat ') == 2 and '20 images 48px default' in out
    ratio = float(out.split('= ')[-1].split(' ')[0])
    assert 0 < ratio < 1 and out.rstrip().endswith('-> met')


def test_synthfer_speed_rejects_bad_count():
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools/analysis_tools/synthfer_speed.py'), '--num', '0'],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode != 0 and '--num and --repeats must be >= 1' in proc.stderr
