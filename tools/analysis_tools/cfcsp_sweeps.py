"""CFC-SP evidence sweeps on SynthFERVideo in the Aff-Wild2 format (docs/cfcsp.md, Results).

Usage::

    python tools/analysis_tools/cfcsp_sweeps.py [--seeds 0 1 2] [--root work_dirs/cfcsp_sweeps]
        [--out docs/cfcsp_sweeps] [--summarise-only]

For every seed, through ``tools/train.py`` / ``tools/test.py`` and the shipped CPU configs
(``configs/cfcsp/*-48px-cpu_synthfervideo.py``, ``randomness.seed=<seed>``, deterministic):

1. trains the flat 8-class baseline, the ResNet-18 and MobileNetV3-Small coarse nets and the
   ResNet-18 negative net (a run whose checkpoint exists is kept: the sweep resumes);
2. tests the baseline (VideoMetric: ``macro_f1`` = baseline, ``sp/macro_f1`` = + SP);
3. assembles and tests the three cascades (coarse R18 / MNv3-S / their ensemble, negative R18):
   ``macro_f1`` = + C-F, ``sp/macro_f1`` = both, ``sp_w<w>/macro_f1`` = the window sweep.

Writes ``results.json`` (every run's metrics and settings) and ``tables.md`` (mean ± sd over
seeds) into ``--out``. The data must exist first (command in
``configs/cfcsp/_base_/cpu_synthfervideo.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = 'configs/cfcsp/{}-48px-cpu_synthfervideo.py'
TRAIN = ('cfcsp-baseline_r18', 'cfcsp-coarse_r18', 'cfcsp-coarse_mnv3s', 'cfcsp-negative_r18')
CASCADES = {  # name: (config, coarse checkpoint option(s))
    'cascade_r18': ('cfcsp_cascade-r18_neg-r18', ['coarse_r18']),
    'cascade_mnv3s': ('cfcsp_cascade-mnv3s_neg-r18', ['coarse_mnv3s']),
    'cascade_ens': ('cfcsp_cascade-ens-r18-mnv3s_neg-r18', ['coarse_r18', 'coarse_mnv3s']),
}
#: Paper windows (Table 4) and the ones used here: w / 16 (docs/cfcsp.md says why).
PAPER_WINDOWS = (0, 32, 64, 128, 256, 512)
SCALE = 16


def run(cmd: list[str], log: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    t = time.time()
    with open(log, 'w', encoding='utf-8') as f:
        code = subprocess.call([sys.executable, *cmd], cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=env)
    print(f'  {" ".join(cmd[:2])} -> rc {code}, {time.time() - t:.0f} s (log {log})', flush=True)
    if code:
        raise RuntimeError(f'{cmd} failed (rc {code}); see {log}')


def ckpt(root: str, name: str) -> str:
    return osp.join(root, name, 'epoch_1.pth')


def seed_runs(seed: int, root: str) -> dict:
    """Train what is missing for ``seed``, test everything; returns ``{run: metrics}``."""
    root = osp.join(root, f'seed{seed}')
    os.makedirs(root, exist_ok=True)
    opts = [f'randomness.seed={seed}', 'randomness.deterministic=True']
    for name in TRAIN:
        if not osp.isfile(ckpt(root, name)):
            run(['tools/train.py', CFG.format(name), '--work-dir', osp.join(root, name), '--cfg-options', *opts],
                osp.join(root, f'{name}.train.log'))  # fmt: skip
    out = {}
    base = CFG.format('cfcsp-baseline_r18')
    run(['tools/test.py', base, ckpt(root, 'cfcsp-baseline_r18'), '--work-dir', osp.join(root, 'test_baseline')],
        osp.join(root, 'test_baseline.log'))  # fmt: skip
    out['baseline'] = json.load(open(osp.join(root, 'test_baseline', 'metrics.json')))
    for name, (cfg, coarse) in CASCADES.items():
        cfg = CFG.format(cfg)
        neg = f'model.negative_checkpoint={ckpt(root, "cfcsp-negative_r18")}'
        if name == 'cascade_ens':
            paths = ','.join(repr(ckpt(root, f'cfcsp-{c}')) for c in coarse)
            parts = [neg, f'model.coarse.checkpoints=[{paths}]']
        else:
            parts = [neg, f'model.coarse_checkpoint={ckpt(root, "cfcsp-" + coarse[0])}']
        assembled = osp.join(root, f'{name}.pth')
        run(['tools/model_converters/assemble_cascade.py', cfg, assembled, '--cfg-options', *parts],
            osp.join(root, f'{name}.assemble.log'))  # fmt: skip
        run(['tools/test.py', cfg, assembled, '--work-dir', osp.join(root, f'test_{name}')],
            osp.join(root, f'test_{name}.log'))  # fmt: skip
        out[name] = json.load(open(osp.join(root, f'test_{name}', 'metrics.json')))
    return out


def mean_sd(values) -> str:
    v = np.asarray(values, dtype=float)
    return f'{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.2f}'


def tables(results: dict) -> str:
    seeds = sorted(results, key=int)
    get = lambda run, key: [results[s][run][key] for s in seeds]  # noqa: E731
    lines = [f'Seeds {", ".join(seeds)}; macro-F1 (%) over the 8 classes, mean ± sd (ddof=1).', '']
    n, v = (int(results[seeds[0]]['baseline'][k]) for k in ('num_frames', 'num_videos'))
    lines += [f'{n} labelled validation frames in {v} videos.', '']
    lines += ['Table 1 analogue (SP w = 16 frames)', '', '| method | macro-F1 | per seed |', '|---|---|---|']
    rows = [('baseline (flat ResNet-18)', 'baseline', 'macro_f1'), ('+ SP', 'baseline', 'sp/macro_f1'),
            ('+ C-F (cascade)', 'cascade_r18', 'macro_f1'), ('both (CFC-SP)', 'cascade_r18', 'sp/macro_f1')]  # fmt: skip
    base = np.array(get('baseline', 'macro_f1'))
    lines[-2:] = ['| method | macro-F1 | per seed | minus baseline, per seed |', '|---|---|---|---|']
    for label, run_, key in rows:
        v = get(run_, key)
        d = np.array(v) - base
        lines.append(f'| {label} | {mean_sd(v)} | {", ".join(f"{x:.2f}" for x in v)} | '
                     f'{mean_sd(d)} ({", ".join(f"{x:+.2f}" for x in d)}) |')  # fmt: skip
    lines += ['', 'Table 4 analogue (cascade R18 → R18; paper w → w / 16 frames)', '',
              '| paper w | w here | macro-F1 | per seed |', '|---|---|---|---|']  # fmt: skip
    for w in PAPER_WINDOWS:
        k = w // SCALE
        key = 'sp/macro_f1' if k == 16 else f'sp_w{k}/macro_f1'
        v = get('cascade_r18', key)
        lines.append(f'| {w} | {k} | {mean_sd(v)} | {", ".join(f"{x:.2f}" for x in v)} |')
    lines += ['', 'Table 2 analogue (coarse net; negative net ResNet-18 throughout)', '',
              '| coarse net | no SP | SP w = 16 |', '|---|---|---|']  # fmt: skip
    for label, run_ in (('ResNet-18', 'cascade_r18'), ('MobileNetV3-S', 'cascade_mnv3s'),
                        ('ensemble R18 + MNv3-S (sum of softmax)', 'cascade_ens')):  # fmt: skip
        lines.append(f'| {label} | {mean_sd(get(run_, "macro_f1"))} | {mean_sd(get(run_, "sp/macro_f1"))} |')
    d = np.array(get('cascade_ens', 'sp/macro_f1')) - np.maximum(
        get('cascade_r18', 'sp/macro_f1'), get('cascade_mnv3s', 'sp/macro_f1')
    )
    lines += [
        '',
        f'ensemble minus the better single coarse net (SP): {mean_sd(d)} ({", ".join(f"{x:+.2f}" for x in d)})',
    ]
    return '\n'.join(lines) + '\n'


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--root', default='work_dirs/cfcsp_sweeps')
    p.add_argument('--out', default='docs/cfcsp_sweeps')
    p.add_argument('--summarise-only', action='store_true', help='tables of the recorded runs only')
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    path = osp.join(args.out, 'results.json')
    record = json.load(open(path)) if osp.isfile(path) else dict(settings={}, runs={})
    if not args.summarise_only:
        import torch

        for seed in args.seeds:
            print(f'seed {seed}', flush=True)
            record['runs'][str(seed)] = seed_runs(seed, args.root)
            record['settings'] = dict(torch=torch.__version__, threads=1, deterministic=True, sp_scale=SCALE,
                                      configs=[CFG.format(n) for n in TRAIN] +
                                      [CFG.format(c) for c, _ in CASCADES.values()])  # fmt: skip
            with open(path + '.tmp', 'w', encoding='utf-8') as f:
                json.dump(record, f, indent=1, sort_keys=True)
            os.replace(path + '.tmp', path)
    if record['runs']:
        text = tables(record['runs'])
        with open(osp.join(args.out, 'tables.md'), 'w', encoding='utf-8') as f:
            f.write(text)
        print(text)
    return record


if __name__ == '__main__':
    main()
