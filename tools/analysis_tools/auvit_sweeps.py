"""AU-ViT joint-training evidence on SynthFER through ``tools/train.py`` and ``tools/test.py``
(docs/auvit.md#results).

Every variant is a shipped CPU config of ``configs/auvit/`` plus the common ``--cfg-options`` of
:func:`scale_options` (and, for the ablations, one setting of :data:`VARIANT_SPECS`):

* ``target``: ``auvit_ir18-tiny-64px-cpu_synthfer.py``, the target domain ``default`` alone;
* ``joint_fer``: ``auvit_ir18-tiny-64px-cpu_synthfer-fer.py``, + ``alt_convention`` images with
  their expression labels, mapped by class name (the Table I baseline);
* ``joint_au``: ``auvit_ir18-tiny-64px-cpu_synthfer-au.py``, + the same images with AU labels
  only, through the AU branch (AU-ViT, Table II): 7 regions, symmetric maxout, tap after block 2;
* ``au_tap1`` / ``au_tap3``: the tap after block 1 / 3 (Fig. 9); ``au_regions1`` /
  ``au_regions2``: the 1- / 2-region splits (Fig. 10/11); ``au_no_maxout``: the left/right
  regions averaged instead of max-ed; ``au_token``: an AU token (:class:`IRViTAUToken`) in place of
  the AU branch (Table VIII).

``target``, ``joint_au`` and ``au_no_maxout`` are also tested on
``auvit_ir18-tiny-64px-cpu_synthfer_half-occluded-test.py`` (a hand over one eye and cheek on every
test face). Every ``(variant, seed)`` trains with ``randomness.deterministic=True`` and
``--no-validate``; its final checkpoint is tested on the target domain's test split.
``OUT/results.json`` holds one record per run (metrics of ``tools/test.py``'s ``metrics.json``,
seconds, exact commands, torch version, settings) and ``OUT/results.md`` per-seed values,
mean ± std (ddof 0) and the per-seed differences to :data:`REFERENCE`. Finished runs with the same
settings are skipped, so an interrupted sweep resumes::

    OMP_NUM_THREADS=1 python tools/analysis_tools/auvit_sweeps.py --amp --seeds 0 1 2 --out work_dirs/auvit_sweeps

Runs made in parallel (one ``--out`` folder each) are combined with ``--merge DIR ...``.
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

from tools.analysis_tools.poster_sweeps import run_test, train_and_test  # noqa: E402

CONFIGS = {
    'target': 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer.py',
    'joint_fer': 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer-fer.py',
    'joint_au': 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer-au.py',
}
#: The half-face-occluded test set (``target``'s model and test split, a hand over one eye and cheek).
OCCLUDED_TEST = 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer_half-occluded-test.py'

#: The same test faces with their rendered AUs as labels (``tools/test.py`` adds AUMetric's F1).
AU_TEST = 'configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer_au-test.py'

#: ``variant: (CONFIGS key, extra --cfg-options, also tested on OCCLUDED_TEST)``. The ablations are
#: ``joint_au`` (7 regions + symmetric maxout, AU tap after block 2 of 3) with one setting changed.
VARIANT_SPECS = {
    'target': ('target', (), True),
    'joint_fer': ('joint_fer', (), False),
    'joint_au': ('joint_au', (), True),
    'au_tap1': ('joint_au', ('model.backbone.au_tap=1',), False),
    'au_tap3': ('joint_au', ('model.backbone.au_tap=3',), False),
    'au_regions1': ('joint_au', ('model.backbone.au_branch.regions=1',), False),
    'au_regions2': ('joint_au', ('model.backbone.au_branch.regions=2',), False),
    'au_no_maxout': ('joint_au', ('model.backbone.au_branch.pair_reduce=mean',), True),
    'au_token': ('joint_au', ('model.backbone.type=IRViTAUToken',), False),
}
VARIANTS = tuple(VARIANT_SPECS)


def scale_options(
    variant: str, img_size: int, num_target: int, num_aux: int, epochs: int, num_test: int
) -> list[str]:
    """``--cfg-options`` that set the sweep's scale (and the ablation) of ``variant``."""
    if variant not in VARIANT_SPECS:
        raise KeyError(f'unknown variant {variant!r}; choose from {VARIANTS}')
    base, extra, _ = VARIANT_SPECS[variant]
    opts = [
        *extra,
        f'model.backbone.input_size={img_size}',
        f'val_dataloader.dataset.img_size={img_size}',
        f'test_dataloader.dataset.img_size={img_size}',
        f'test_dataloader.dataset.num_samples={num_test}',
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_interval={epochs}',
        f'param_scheduler.1.T_max={epochs}',
        f'param_scheduler.1.end={epochs}',
    ]
    if base == 'target':
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


def other_test_options(opts: list[str], wrapped: bool = False) -> list[str]:
    """A run's options for another test config: no training keys; ``wrapped`` moves the test-set
    keys into the one source of :data:`AU_TEST`'s ``MultiSourceDataset``."""
    out = [o for o in opts if not o.startswith('train_dataloader.')]
    if wrapped:
        out = [
            o.replace('test_dataloader.dataset.', 'test_dataloader.dataset.sources.0.dataset.', 1)
            for o in out
        ]
    return out


def has_au_training(variant: str) -> bool:
    """Whether the variant trains an AU output (its AU F1 on :data:`AU_TEST` is recorded)."""
    return VARIANT_SPECS[variant][0] == 'joint_au'


#: The run each variant is compared with, seed by seed (the paper's comparisons).
REFERENCE = {
    v: ('target' if v in ('joint_fer', 'joint_au') else 'joint_au') for v in VARIANTS if v != 'target'
}


#: ``key: (column name, second column key or None)`` of the summary tables.
_TABLE_KEYS = {
    'accuracy': ('accuracy (%)', 'mean_class_accuracy'),
    'occluded_accuracy': ('accuracy (%)', 'occluded_mean_class_accuracy'),
    'au_mean_f1': ('AU mean F1 (%)', None),
    'au_mean_auc': ('AU mean ROC AUC (%)', None),
}


def _table(results: list[dict], variants, key: str, title: str) -> list[str]:
    by = {(r['variant'], r['seed']): r for r in results if r.get(key) is not None}
    name, second = _TABLE_KEYS[key]
    lines = [f'**{title}**', '',
             f'| variant | seeds | {name} | per seed | reference | Δ per seed | mean Δ | mean class acc. (%) | train s |',
             '|---|---|---|---|---|---|---|---|---|']  # fmt: skip
    rows = 0
    for v in variants:
        rs = sorted((r for (rv, _), r in by.items() if rv == v), key=lambda r: r['seed'])
        if not rs:
            continue
        rows += 1
        acc = [r[key] for r in rs]
        ref = REFERENCE.get(v)
        deltas = [r[key] - by[(ref, r['seed'])][key] for r in rs if (ref, r['seed']) in by]
        dtxt = ', '.join(f'{d:+.2f}' for d in deltas) if deltas else '—'
        lines.append(
            f'| {v} | {",".join(str(r["seed"]) for r in rs)} | {_stat(acc)} | {", ".join(f"{x:.2f}" for x in acc)} | '
            f'{ref or "—"} | {dtxt} | {_stat(deltas) if deltas else "—"} | '
            f'{_stat([r[second] for r in rs]) if second else "—"} | {np.mean([r["train_seconds"] for r in rs]):.0f} |'
        )
    return lines + [''] if rows else []


def summarise(results: list[dict]) -> str:
    """Markdown tables: clean test accuracy, then the half-face-occluded test; Δ per seed vs :data:`REFERENCE`."""
    lines = _table(results, VARIANTS, 'accuracy', 'Target test split (clean)')
    lines += _table(
        results, VARIANTS, 'occluded_accuracy', 'Target test split with a hand over one eye and cheek'
    )
    lines += _table(
        results,
        VARIANTS,
        'au_mean_f1',
        'AU detection on the target test split (rendered AUs >= 0.3 present): F1 at p >= 0.5',
    )
    lines += _table(
        results, VARIANTS, 'au_mean_auc', 'AU detection on the target test split: ROC AUC (50 = chance)'
    )
    return '\n'.join(lines)


def _au_test(checkpoint: str, work: str, opts: list[str], amp) -> dict:
    """AUMetric's mean F1 (and per AU) of ``checkpoint`` on :data:`AU_TEST`."""
    res = run_test(
        AU_TEST, checkpoint, osp.join(work, 'test_au'), other_test_options(opts, wrapped=True), amp
    )
    m = res['metrics']
    return dict(au_mean_f1=m['au_mean_f1'], au_f1={k.removeprefix('au_f1/'): v for k, v in m.items() if k.startswith('au_f1/')},
                au_mean_auc=m.get('au_mean_auc'), au_auc={k.removeprefix('au_auc/'): v for k, v in m.items() if k.startswith('au_auc/')},
                au_command=res['command'])  # fmt: skip


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='work_dirs/auvit_sweeps')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    p.add_argument('--img-size', type=int, default=64, help='input side (a multiple of 16)')
    p.add_argument('--num-target', type=int, default=2000, help='target training images')
    p.add_argument('--num-aux', type=int, default=500, help='auxiliary training images')
    p.add_argument('--epochs', type=int, default=6)
    p.add_argument('--num-test', type=int, default=2000, help='target test images')
    p.add_argument('--amp', action='store_true', help='train and test with bf16 autocast (--amp)')
    p.add_argument(
        '--merge',
        nargs='+',
        metavar='DIR',
        help='train nothing: combine the results.json of these sweep folders (e.g. runs made in parallel) '
        'into OUT/results.json and OUT/results.md (a later folder wins on the same variant and seed)',
    )
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

    if a.merge:
        merged = {}
        for folder in a.merge:
            for r in json.load(open(osp.join(folder, 'results.json')))['runs']:
                merged[(r['variant'], r['seed'])] = r
        state['runs'] = [merged[k] for k in sorted(merged, key=lambda k: (VARIANTS.index(k[0]), k[1]))]
        save()
        print(summarise(state['runs']))
        return state['runs']
    amp = ['--amp'] if a.amp else []
    for seed in a.seeds:
        for v in a.variants:
            opts = [f'randomness.seed={seed}', 'randomness.deterministic=True',
                    *scale_options(v, a.img_size, a.num_target, a.num_aux, a.epochs, a.num_test),
                    *a.cfg_options]  # fmt: skip
            config, occluded = CONFIGS[VARIANT_SPECS[v][0]], VARIANT_SPECS[v][2]
            settings = dict(config=config, options=opts, **(dict(amp=True) if a.amp else {}))
            work = osp.join(a.out, f'{v}_s{seed}')
            done = [
                r
                for r in state['runs']
                if r['variant'] == v and r['seed'] == seed and r['settings'] == settings
            ]
            if done:
                if has_au_training(v) and 'au_mean_auc' not in done[0]:
                    done[0].update(_au_test(done[0]['checkpoint'], work, opts, amp))
                    save()
                continue
            rec = train_and_test(config, work, opts, ['--no-validate', *amp], amp)
            m = rec['metrics']
            extra = {}
            if occluded:
                # the same checkpoint on the occluded test split (the training options do not apply)
                occ = run_test(
                    OCCLUDED_TEST,
                    rec['checkpoint'],
                    osp.join(work, 'test_occluded'),
                    other_test_options(opts),
                    amp,
                )
                extra = dict(occluded_accuracy=occ['metrics']['accuracy'],
                             occluded_mean_class_accuracy=occ['metrics']['mean_class_accuracy'],
                             occluded_command=occ['command'])  # fmt: skip
            if has_au_training(v):
                extra.update(_au_test(rec['checkpoint'], work, opts, amp))
            state['runs'] = [r for r in state['runs'] if not (r['variant'] == v and r['seed'] == seed)]
            state['runs'].append(dict(variant=v, seed=seed, accuracy=m['accuracy'],
                                      mean_class_accuracy=m['mean_class_accuracy'], settings=settings,
                                      torch=torch.__version__, **extra, **rec))  # fmt: skip
            save()
            occ_txt = (
                f', half-occluded {extra["occluded_accuracy"]:.2f}' if 'occluded_accuracy' in extra else ''
            )
            occ_txt += (
                f', AU mean F1 {extra["au_mean_f1"]:.2f} / AUC {extra["au_mean_auc"]:.2f}'
                if 'au_mean_f1' in extra
                else ''
            )
            print(f'{v} seed {seed}: accuracy {m["accuracy"]:.2f}{occ_txt}, mean class {m["mean_class_accuracy"]:.2f} '
                  f'({rec["train_seconds"]:.0f} s)', flush=True)  # fmt: skip
    save()
    print(summarise(state['runs']))
    return state['runs']


if __name__ == '__main__':
    main()
