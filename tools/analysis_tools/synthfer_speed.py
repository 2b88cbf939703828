"""SynthFER generation speed on one core.

``python tools/analysis_tools/synthfer_speed.py [--num 10000] [--size 112]
[--domain default] [--label-set rafdb] [--repeats 3] [--target 10]``

Renders ``--num`` images of the train split with one thread
(``cv2.setNumThreads(1)``, run under ``OMP_NUM_THREADS=1``; pin the process
with ``taskset -c 0`` for a strict one-core figure) in one
``SynthFERGenerator.generate`` call, ``--repeats`` times, each with a fresh
generator (so no identity is cached from a previous repetition). Prints the
process CPU time and the wall time of every repetition, their minimum and
median, and the ratio median CPU time / ``--target`` seconds (the project's
speed target: 10,000 images at 112x112 in at most 10 s on one core, i.e. a
ratio <= 1).
"""

from __future__ import annotations

import argparse
import statistics
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--num', type=int, default=10_000, help='images per repetition')
    parser.add_argument('--size', type=int, default=112, help='output size in pixels')
    parser.add_argument('--domain', default='default', help='SynthFER domain preset')
    parser.add_argument('--label-set', default='rafdb', help='label set / class order')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--target', type=float, default=10.0, help='target seconds for --num images')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.num < 1 or args.repeats < 1:
        raise SystemExit('--num and --repeats must be >= 1')
    import cv2

    cv2.setNumThreads(1)
    from ferlab.datasets.synthfer import SynthFERGenerator

    cpu, wall = [], []
    for r in range(args.repeats):
        gen = SynthFERGenerator(args.label_set, args.domain, args.size, seed=args.seed)
        t_cpu, t_wall = time.process_time(), time.perf_counter()
        data = gen.generate('train', args.num)
        cpu.append(time.process_time() - t_cpu)
        wall.append(time.perf_counter() - t_wall)
        assert data['imgs'].shape == (args.num, args.size, args.size, 3)
        print(f'repeat {r}: {args.num} images {args.size}px {args.domain}: '
              f'cpu {cpu[-1]:.2f} s  wall {wall[-1]:.2f} s  ({1000 * cpu[-1] / args.num:.3f} ms/img cpu)',
              flush=True)  # fmt: skip
    med = statistics.median(cpu)
    ratio = med / args.target
    print(f'cpu min {min(cpu):.2f} s  median {med:.2f} s | wall min {min(wall):.2f} s  '
          f'median {statistics.median(wall):.2f} s')  # fmt: skip
    print(
        f'ratio median-cpu / target ({args.target:g} s) = {ratio:.4g} -> {"met" if ratio <= 1 else "NOT met"}'
    )
    return dict(cpu=cpu, wall=wall, median_cpu=med, ratio=ratio)


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
