"""Index-building time and memory of the ``AffWild2`` loader on an Aff-Wild2-sized tree.

``python tools/analysis_tools/affwild2_index_benchmark.py [--tree DIR] [--videos 558] [--frames 2800000]``

Generates (once; reused when ``--tree`` already holds one) the EXPR annotation
files of ``--videos`` videos with ``--frames`` frames in all (lengths drawn
around the mean, as in the real EXPR set: 558 videos, about 2.8 M frames),
about 10 % of them unannotated (-1), and ``cropped_aligned/<video>/`` folders
holding an empty file per frame image (about 2 % of the frames have none, as
faces the cropper missed). No pixels are written. Then builds the train split
index in a fresh process (``--repeat`` times) and prints, as JSON, the build
time, the process peak RSS minus the RSS after imports (``index_rss_mb``: what
the index build adds) and the time of one ``get_data_info``; with
``--tracemalloc`` one more build under tracemalloc (slower, so not timed)
gives the peak Python-heap memory of the build (Python objects and numpy arrays).
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from ferlab.datasets.categories import AFFWILD2_CLASSES  # noqa: E402
from ferlab.utils.cli import run_tool  # noqa: E402

MARKER = 'benchmark_tree.json'

_CHILD = r"""
import json, resource, sys, time, tracemalloc
sys.path.insert(0, {repo!r})
from ferlab.registry import DATASETS
import ferlab.datasets  # noqa: F401
def rss_mb():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) / 1024
base = rss_mb()
if {trace}:
    tracemalloc.start()
t0 = time.perf_counter()
ds = DATASETS.build(dict(type='AffWild2', data_root={root!r}, split='train'))
n = len(ds)
out = dict(samples=n, build_s=time.perf_counter() - t0)
if {trace}:
    out['tracemalloc_peak_mb'] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.update(rss_after_imports_mb=base, peak_rss_mb=peak, index_rss_mb=peak - base, rss_after_build_mb=rss_mb())
    step = max(1, n // 1000)
    t1 = time.perf_counter()
    for i in range(0, n, step):
        ds.get_data_info(i)
    out['get_data_info_us'] = (time.perf_counter() - t1) / len(range(0, n, step)) * 1e6
    out.update(num_unannotated=ds.num_unannotated, num_missing_images=ds.num_missing_images)
print(json.dumps(out))
"""


def make_tree(root: str, videos: int, frames: int, seed: int = 0) -> dict:
    """Write the annotation txt files and empty frame files; returns the tree's figures."""
    rng = np.random.default_rng(seed)
    if frames < videos:
        raise ValueError(f'--frames ({frames}) must be at least --videos ({videos})')
    weights = rng.uniform(0.2, 1.8, size=videos)  # lengths 0.2x to 1.8x the mean
    lengths = np.maximum(1, np.floor(weights / weights.sum() * frames)).astype(np.int64)
    while lengths.sum() != frames:  # exact total: spread the rounding over the longest videos
        diff = int(frames - lengths.sum())
        order = np.argsort(-lengths)[: abs(diff)]
        lengths[order] += 1 if diff > 0 else -1
    ann = osp.join(root, 'EXPR_Set', 'Train_Set')
    os.makedirs(ann, exist_ok=True)
    header = ','.join(AFFWILD2_CLASSES)
    stats = dict(videos=videos, frames=int(lengths.sum()), unannotated=0, without_image=0)
    for v, num in enumerate(lengths):
        name = f'{v:03d}-{30 + v % 7}-1280x720' + ('_left' if v % 11 == 0 else '')
        labels = rng.integers(0, len(AFFWILD2_CLASSES), size=num)
        labels[rng.random(num) < 0.1] = -1
        has_img = rng.random(num) >= 0.02
        with open(osp.join(ann, name + '.txt'), 'w', encoding='utf-8') as f:
            f.write(header + '\n' + '\n'.join(map(str, labels.tolist())) + '\n')
        frame_dir = osp.join(root, 'cropped_aligned', name)
        os.makedirs(frame_dir, exist_ok=True)
        for k in np.flatnonzero(has_img) + 1:
            os.close(os.open(osp.join(frame_dir, f'{k:05d}.jpg'), os.O_CREAT | os.O_WRONLY, 0o644))
        stats['unannotated'] += int((labels == -1).sum())
        stats['without_image'] += int(((labels >= 0) & ~has_img).sum())
    with open(osp.join(root, MARKER), 'w', encoding='utf-8') as f:
        json.dump(stats, f)
    return stats


def main(argv=None):
    p = argparse.ArgumentParser(description='AffWild2 index build time and memory at full size')
    p.add_argument(
        '--tree', help='tree folder (generated if it has no benchmark tree; default: a temp folder)'
    )
    p.add_argument('--videos', type=int, default=558)
    p.add_argument('--frames', type=int, default=2_800_000)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--repeat', type=int, default=1, help='index builds, each in a fresh process')
    p.add_argument(
        '--tracemalloc', action='store_true', help='one more build under tracemalloc (Python heap peak)'
    )
    args = p.parse_args(argv)
    root = args.tree or tempfile.mkdtemp(prefix='affwild2_bench_')
    marker = osp.join(root, MARKER)
    if osp.isfile(marker):
        with open(marker, encoding='utf-8') as f:
            tree = json.load(f)
    else:
        tree = make_tree(root, args.videos, args.frames, args.seed)
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    runs = []
    for trace in [False] * args.repeat + [True] * args.tracemalloc:  # tracemalloc slows the build: untimed
        proc = subprocess.run(
            [sys.executable, '-c', _CHILD.format(repo=repo, root=root, trace=trace)],
            capture_output=True,
            text=True,
            env=dict(os.environ, OMP_NUM_THREADS='1'),
        )
        if proc.returncode:
            raise RuntimeError(f'index build failed:\n{proc.stderr[-3000:]}')
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    result = dict(tree=dict(tree, root=root), runs=runs)
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    run_tool(main, __file__)
