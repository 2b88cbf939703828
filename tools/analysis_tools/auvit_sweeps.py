"""AU-ViT joint-training evidence on SynthFER through ``tools/train.py`` and ``tools/test.py``
(docs/auvit.md#joint-training).

Three variants with the same model, schedule and target data, each a shipped CPU config of
``configs/auvit/`` plus the common ``--cfg-options`` of :func:`scale_options`:

* ``target``: ``auvit_ir18-tiny-64px-cpu_synthfer.py``, the target domain ``default`` alone;
* ``joint_fer``: ``auvit_ir18-tiny-64px-cpu_synthfer-fer.py``, + ``alt_convention`` images with
  their expression labels, mapped by class name (the Table I baseline);
* ``joint_au``: ``auvit_ir18-tiny-64px-cpu_synthfer-au.py``, + the same images with AU labels
  only, through the AU branch (AU-ViT, Table II).

Every ``(variant, seed)`` trains with ``randomness.deterministic=True`` and ``--no-validate``
and its final checkpoint is tested on the target domain's test split; ``OUT/results.json`` holds
one record per run (metrics of ``tools/test.py``'s ``metrics.json``, seconds, exact commands,
torch version, settings) and ``OUT/results.md`` the per-seed values, mean ± std (ddof 0) and the
per-seed differences to ``target``. Finished runs with the same settings are skipped, so an
interrupted sweep resumes::

    OMP_NUM_THREADS=1 python tools/analysis_tools/auvit_sweeps.py --seeds 0 1 2 --out work_dirs/auvit_sweeps
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from tools.analysis_tools.poster_sweeps import train_and_test  # noqa: E402

CONFIGS = {
    'target': 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer.py',
    'joint_fer': 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer-fer.py',
    'joint_au': 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer-au.py',
}
VARIANTS = tuple(CONFIGS)


def scale_options(
    variant: str, img_size: int, num_target: int, num_aux: int, epochs: int, num_test: int
) -> list[str]:
    """``--cfg-options`` that set the sweep's scale on :data:`CONFIGS` ``[variant]``."""
    if variant not in CONFIGS:
        raise KeyError(f'unknown variant {variant!r}; choose from {VARIANTS}')
    opts = [
        f'model.backbone.input_size={img_size}',
        f'val_dataloader.dataset.img_size={img_size}',
        f'test_dataloader.dataset.img_size={img_size}',
        f'test_dataloader.dataset.num_samples={num_test}',
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_interval={epochs}',
        f'param_scheduler.1.T_max={epochs}',
        f'param_scheduler.1.end={epochs}',
    ]
    if variant == 'target':
        return opts + [
            f'train_dataloader.dataset.img_size={img_size}',
            f'train_dataloader.dataset.num_samples={num_target}',
        ]
    return opts + [
        f'train_dataloader.dataset.sources.0.dataset.img_size={img_size}',
        f'train_dataloader.dataset.sources.0.dataset.num_samples={num_target}',
        f'train_dataloader.dataset.sources.1.dataset.img_size={img_size}',
        f'train_dataloader.dataset.sources.1.dataset.num_samples={num_aux}',
    ]


def _stat(values) -> str:
    v = np.asarray(values, float)
    return f'{v[0]:.2f}' if len(v) == 1 else f'{v.mean():.2f} ± {v.std():.2f}'


def summarise(results: list[dict]) -> str:
    base = {r['seed']: r for r in results if r['variant'] == 'target'}
    lines = ['| variant | seeds | accuracy (%) | per seed | Δ vs target per seed | mean Δ | mean class acc. (%) | train s |',
             '|---|---|---|---|---|---|---|---|']  # fmt: skip
    for v in VARIANTS:
        rs = sorted((r for r in results if r['variant'] == v), key=lambda r: r['seed'])
        if not rs:
            continue
        acc = [r['accuracy'] for r in rs]
        deltas = [r['accuracy'] - base[r['seed']]['accuracy'] for r in rs if r['seed'] in base]
        dtxt = ', '.join(f'{d:+.2f}' for d in deltas) if v != 'target' and deltas else '—'
        dmean = _stat(deltas) if v != 'target' and deltas else '—'
        lines.append(
            f'| {v} | {",".join(str(r["seed"]) for r in rs)} | {_stat(acc)} | {", ".join(f"{x:.2f}" for x in acc)} | '
            f'{dtxt} | {dmean} | {_stat([r["mean_class_accuracy"] for r in rs])} | '
            f'{np.mean([r["train_seconds"] for r in rs]):.0f} |'
        )
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='work_dirs/auvit_sweeps')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    p.add_argument('--img-size', type=int, default=48, help='input side (a multiple of 16)')
    p.add_argument('--num-target', type=int, default=400, help='target training images')
    p.add_argument('--num-aux', type=int, default=100, help='auxiliary training images')
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--num-test', type=int, default=2000, help='target test images')
    p.add_argument('--cfg-options', nargs='+', default=[], help='further key=value overrides for every run')
    return p.parse_args(argv)


def main(argv=None) -> list[dict]:
    import torch

    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    res_path = osp.join(a.out, 'results.json')
    state = json.load(open(res_path)) if osp.isfile(res_path) else dict(runs=[])

    def save():
        tmp = res_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, res_path)
        with open(osp.join(a.out, 'results.md'), 'w') as f:
            f.write(summarise(state['runs']))

    for seed in a.seeds:
        for v in a.variants:
            opts = [f'randomness.seed={seed}', 'randomness.deterministic=True',
                    *scale_options(v, a.img_size, a.num_target, a.num_aux, a.epochs, a.num_test),
                    *a.cfg_options]  # fmt: skip
            settings = dict(config=CONFIGS[v], options=opts)
            if any(
                r['variant'] == v and r['seed'] == seed and r['settings'] == settings for r in state['runs']
            ):
                continue
            rec = train_and_test(CONFIGS[v], osp.join(a.out, f'{v}_s{seed}'), opts, ['--no-validate'])
            m = rec['metrics']
            state['runs'] = [r for r in state['runs'] if not (r['variant'] == v and r['seed'] == seed)]
            state['runs'].append(dict(variant=v, seed=seed, accuracy=m['accuracy'],
                                      mean_class_accuracy=m['mean_class_accuracy'], settings=settings,
                                      torch=torch.__version__, **rec))  # fmt: skip
            save()
            print(f'{v} seed {seed}: accuracy {m["accuracy"]:.2f}, mean class {m["mean_class_accuracy"]:.2f} '
                  f'({rec["train_seconds"]:.0f} s)', flush=True)  # fmt: skip
    save()
    print(summarise(state['runs']))
    return state['runs']


if __name__ == '__main__':
    main()
