"""CPU-scale analogues of the MVT paper's Tables 1-3 on SynthFER, through ``tools/train.py`` and ``tools/test.py``.

    python tools/analysis_tools/mvt_sweeps.py --tables 3 2 1      # the evidence of docs/mvt.md#results
    python tools/analysis_tools/mvt_sweeps.py --seeds 0 --tables 3  # one seed (runs of one seed may run in parallel)
    python tools/analysis_tools/mvt_sweeps.py --quick               # smoke run (minutes), not evidence
    # stage-2 mask polarity (reuses the stage-1 checkpoints and the 'same' runs of the first command)
    python tools/analysis_tools/mvt_sweeps.py --tables 3 1 --stage2-mask same complement

Every run trains the shipped CPU config with ``tools/train.py`` (in-process,
``--cfg-options`` for the sweep's settings, ``randomness.deterministic=True``)
and evaluates its final checkpoint with ``tools/test.py`` (``FERMetric`` on the
clean test split; ``<run>/test/metrics.json``). The defaults are the evidence
standard: seeds 0 1 2, 2000 test images (one image = 0.05 points). It is a
SCALE-DOWN, not the paper's DeiT-S / 224 px setting:

* Data: SynthFER preset ``lab`` with background clutter (p = 0.9) and occluders
  (p = 0.4), colour, ``img_size`` px, ``num_train`` training images with
  ``noise`` symmetric label noise (``clean_label`` kept), ``num_test`` clean test
  images (data seed 0 for every run; the run seed drives initialisation,
  sampling and augmentation).
* Stage 1 (``configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py``): 1-block ViT-tiny
  generator (patch 8, width 64, 6x6 patches, from scratch) against a discriminator
  with the stage-2 classifier's architecture (ResNet-18 cut after stage 3),
  initialised from the same seed's baseline run (stands in for the paper's
  ImageNet-initialised D), Eq. 3 variance loss weighted by ``var_weight`` (10;
  with the paper's weight 1 G learns a uniform mask here), G lr ``lr_g``,
  ``epochs_mgn`` epochs, one checkpoint per (m, seed).
* Stage 2 (``configs/mvt/mvt_r18-48px-cpu_synthfer.py``): the frozen generator
  masks the images; the classifier is a from-scratch ResNet-18 cut after stage 3
  (not a ViT), ``epochs`` epochs; relabeling (delta = 0.2) from epoch
  ``relabel_start`` (0-based). ``--stage2-mask`` sets ``MVT.stage2_mask`` of the
  runs with MGN: ``same`` (``I * (1 - M_p)``, as in stage 1; the tool's default,
  the setting of Tables 1-3 in docs/mvt.md) and/or ``complement`` (``I * M_p``,
  paper Sec. 3.2; MVT's own default). Several values run each polarity on the
  same stage-1 checkpoints and add a paired "stage-2 mask polarity" table. Runs
  without MGN (the baseline and the relabel functions) train the same classifier
  as a plain ``FERClassifier`` with ``RelabelHook``
  (``configs/relabel/r18-48px-cpu_dynamic-relabel_synthfer.py``).

Runs per seed (all on the same noisy training set, evaluated on the clean test split):

* Table 1: mask ratio m in {0 (no MGN), 0.10, 0.15, 0.20}, no relabeling.
* Table 2: no MGN, relabeling with f in {constant (SCN), linear, quadratic, sigmoid}; also
  counts relabel events, events that restored the clean label, and the final share of wrong labels.
* Table 3: baseline (= Table 1 m=0) / +MGN (m=0.15) / +relabel (sigmoid) / both.

Every run writes ``<out>/runs/<name>.json`` with its metrics, the exact
``tools/train.py`` / ``tools/test.py`` commands, the torch version, the ferlab
commit and the sweep settings (so several invocations, e.g. one per seed, may
run in parallel on the same ``--out``). Finished runs are skipped when the tool
is started again; a finished run whose settings differ from the current ones
stops the tool (use another ``--out``). ``results.json`` and ``tables.md``
summarise the runs of the requested seeds: mean ± std over seeds (population
std, ddof 0), the per-seed values, and paired differences to the same seed's
baseline.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

STAGE1 = 'configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py'
STAGE2 = 'configs/mvt/mvt_r18-48px-cpu_synthfer.py'
# runs without MGN (baseline, relabel functions): the same classifier and data as a plain FERClassifier
PLAIN = 'configs/relabel/r18-48px-cpu_dynamic-relabel_synthfer.py'
F_KINDS = ('constant', 'linear', 'quadratic', 'sigmoid')
M_RATIOS = (0.10, 0.15, 0.20)
# the arguments that define a run's result (besides seed, m, f, polarity); stored with every run
SETTING_KEYS = ('img_size', 'num_train', 'num_test', 'noise', 'epochs_mgn', 'epochs', 'relabel_start', 'lr',
                'lr_g', 'var_weight', 'gamma', 'threads')  # fmt: skip


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        '--out', default=None, help='default work_dirs/mvt_sweeps (--quick: work_dirs/mvt_sweeps_quick)'
    )
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--tables', type=int, nargs='+', default=[1, 2, 3], choices=[1, 2, 3])
    p.add_argument('--img-size', type=int, default=48)
    p.add_argument('--num-train', type=int, default=1200)
    p.add_argument(
        '--num-test', type=int, default=2000, help='clean test images (2000: one image = 0.05 points)'
    )
    p.add_argument('--noise', type=float, default=0.2, help='symmetric label-noise rate of the training set')
    p.add_argument('--epochs-mgn', type=int, default=2)
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--relabel-start', type=int, default=4)
    p.add_argument('--lr', type=float, default=1e-3, help='AdamW lr of the classifier and of D')
    p.add_argument('--lr-g', type=float, default=3e-3, help='AdamW lr of the MGN generator')
    p.add_argument('--var-weight', type=float, default=10.0, help='weight of the Eq. 3 variance loss')
    p.add_argument('--gamma', type=float, default=0.9, help='ExponentialLR decay per epoch')
    p.add_argument('--threads', type=int, default=1, help='torch threads of this process')
    p.add_argument(
        '--stage2-mask',
        nargs='+',
        default=['same'],
        choices=['same', 'complement'],
        help="MVT.stage2_mask of the runs with MGN: 'same' = I*(1-M_p) (reported Tables 1-3), "
        "'complement' = I*M_p (paper Sec. 3.2)",
    )
    p.add_argument(
        '--quick', action='store_true', help='smoke run: 400 train / 200 test, 2+3 epochs (not evidence)'
    )
    p.add_argument(
        '--amp', action='store_true', help='pass --amp to tools/train.py and tools/test.py (bf16 on CPU)'
    )
    p.add_argument(
        '--summarise-only',
        action='store_true',
        help='train nothing: summarise the finished runs of the requested seeds and tables, list the missing ones',
    )
    a = p.parse_args(argv)
    if a.quick:
        a.num_train, a.num_test, a.epochs_mgn, a.epochs, a.relabel_start = 400, 200, 2, 3, 1
    if a.out is None:
        a.out = 'work_dirs/mvt_sweeps_quick' if a.quick else 'work_dirs/mvt_sweeps'
    a.argv = list(sys.argv[1:] if argv is None else argv)
    return a


def settings(a) -> dict:
    out = {k: getattr(a, k) for k in SETTING_KEYS}
    if getattr(a, 'amp', False):  # recorded only when set: fp32 records stay valid
        out['amp'] = True
    return out


def provenance() -> dict:
    """torch version and ferlab commit (``+dirty`` when tracked files differ from it)."""
    import torch

    def git(*cmd):
        try:
            return subprocess.run(
                ['git', '-C', ROOT, *cmd], capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return None

    commit = (git('rev-parse', 'HEAD') or 'unknown').strip()
    dirty = sorted(
        line[3:] for line in (git('status', '--porcelain', '--untracked-files=no') or '').splitlines()
    )
    return dict(
        torch=torch.__version__, ferlab_commit=commit + ('+dirty' if dirty else ''), dirty_files=dirty
    )


def data_options(a, seed: int) -> list[str]:
    cache = osp.abspath(osp.join(a.out, 'cache'))
    opts = []
    for loader, n in (
        ('train_dataloader', a.num_train),
        ('val_dataloader', a.num_test),
        ('test_dataloader', a.num_test),
    ):
        ds = f'{loader}.dataset'
        opts += [f'{loader}.num_workers=0', f'{ds}.num_samples={n}', f'{ds}.img_size={a.img_size}',
                 f'{ds}.seed=0', f'{ds}.cache_dir={cache}', f'{ds}.pipeline.1.scale=({a.img_size},{a.img_size})']  # fmt: skip
    opts.append(f'train_dataloader.dataset.label_noise.rate={a.noise}')
    opts += [f'randomness.seed={seed}', 'randomness.deterministic=True', f'param_scheduler.0.gamma={a.gamma}',
             'default_hooks.logger.interval=1000', 'log_level=WARNING']  # fmt: skip
    return opts


def generator_options(prefix: str, a) -> list[str]:
    return [f'{prefix}.img_size={a.img_size}']


def command(tool: str, *args: str, cfg_options: list[str]) -> tuple[list[str], str]:
    """``tools/<tool>`` arguments and the command line as typed in the repository root."""
    argv = [*args, '--cfg-options', *cfg_options]
    shown = [osp.relpath(x, ROOT) if osp.isabs(x) and x.startswith(ROOT + os.sep) else x for x in argv]
    return argv, shlex.join(['python', f'tools/{tool}', *shown])


def train(config: str, work: str, opts: list[str], amp: bool = False):
    """``tools/train.py CONFIG --work-dir WORK --no-validate [--amp] --cfg-options OPTS`` in-process.

    Returns:
        tuple: the finished Runner and the command line.
    """
    from tools.train import main as train_main

    argv, shown = command(
        'train.py',
        osp.join(ROOT, config),
        '--work-dir',
        work,
        '--no-validate',
        *(['--amp'] if amp else []),
        cfg_options=opts,
    )
    return train_main(argv), shown


def evaluate(config: str, checkpoint: str, work: str, opts: list[str], amp: bool = False) -> tuple[dict, str]:
    """``tools/test.py CONFIG CHECKPOINT --work-dir WORK/test [--amp] --cfg-options OPTS`` in-process.

    Returns:
        tuple: the scalar metrics ``tools/test.py`` wrote to ``WORK/test/metrics.json`` and the command line.
    """
    from tools.test import main as test_main

    test_dir = osp.join(work, 'test')
    argv, shown = command(
        'test.py',
        osp.join(ROOT, config),
        checkpoint,
        '--work-dir',
        test_dir,
        *(['--amp'] if amp else []),
        cfg_options=opts,
    )
    test_main(argv)
    with open(osp.join(test_dir, 'metrics.json'), encoding='utf-8') as f:
        return json.load(f), shown


def run_name(seed: int, m: float, f: str | None, polarity: str = 'same') -> str:
    """Runs with ``stage2_mask='same'`` (and all runs without MGN) carry no polarity in their name."""
    pol = f'_p{polarity}' if m and polarity != 'same' else ''
    return f'mvt_m{m:.2f}_f{f or "none"}{pol}_s{seed}'


def run_path(a, seed: int, m: float, f: str | None, polarity: str = 'same') -> str:
    return osp.join(a.out, 'runs', run_name(seed, m, f, polarity) + '.json')


def load_run(a, path: str) -> dict | None:
    """A finished run's record, or None; a record of other settings is an input error."""
    from ferlab.utils.errors import CliUsageError

    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        rec = json.load(f)
    if rec.get('settings') != settings(a):
        raise CliUsageError(
            f'{path}: a finished run with other settings ({rec.get("settings")}) than this sweep '
            f'({settings(a)}); use another --out'
        )
    return rec


def save_run(path: str, rec: dict) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(rec, f, indent=1)
    os.replace(tmp, path)


def baseline_checkpoint(a, seed: int) -> str:
    """The final checkpoint of this seed's baseline run (no MGN, no relabeling); runs it if missing."""
    ckpt = osp.join(a.out, run_name(seed, 0.0, None), f'epoch_{a.epochs}.pth')
    path = run_path(a, seed, 0.0, None)
    if not (osp.isfile(ckpt) and load_run(a, path)):
        save_run(path, stage2(a, seed, 0.0, None))
    return ckpt


def stage1(a, m: float, seed: int) -> str:
    """Train (or reuse) the stage-1 MGN for mask ratio ``m`` and ``seed``; returns its checkpoint."""
    work = osp.join(a.out, f'mgn_m{m:.2f}_s{seed}')
    ckpt = osp.join(work, f'epoch_{a.epochs_mgn}.pth')
    stats_path = osp.join(work, 'mgn_stats.json')
    if osp.isfile(ckpt) and load_run(a, stats_path):
        return ckpt
    opts = data_options(a, seed) + [f'train_cfg.max_epochs={a.epochs_mgn}', f'train_cfg.val_interval={a.epochs_mgn}',
                                    f'model.mask_ratio={m}', f'optim_wrapper.generator.optimizer.lr={a.lr_g}',
                                    f'model.var_loss.loss_weight={a.var_weight}',
                                    f'optim_wrapper.discriminator.optimizer.lr={a.lr}']  # fmt: skip
    opts += generator_options('model.generator', a)
    # D starts from this seed's baseline classifier (the paper starts D from ImageNet DeiT-S; a
    # from-scratch D stays at chance within the stage-1 budget and G then learns a uniform mask).
    opts.append(f'model.discriminator_checkpoint={baseline_checkpoint(a, seed)}')
    prov = provenance()  # the tree the run starts from
    t0 = time.time()
    runner, cmd = train(STAGE1, work, opts, amp=a.amp)
    hub = runner.message_hub
    stats = dict(seconds=time.time() - t0, command=cmd, settings=settings(a), **prov)
    for key in ('mask_area', 'mask_area_hard', 'acc_d_gen', 'acc_d_rand', 'loss_var', 'loss_area'):
        if f'train/{key}' in hub.log_scalars:  # mean over the last 20 iterations
            stats[key] = float(hub.get_scalar(f'train/{key}').mean(20))
    save_run(stats_path, stats)
    return ckpt


def stage2(a, seed: int, m: float, f: str | None, polarity: str = 'same') -> dict:
    """One stage-2 run (MGN with ratio ``m`` and ``stage2_mask=polarity`` if ``m > 0``; relabeling with ``f`` if given)."""
    from ferlab.engine.hooks import RelabelHook, unwrap_dataset

    name = run_name(seed, m, f, polarity)
    work = osp.join(a.out, name)
    opts = data_options(a, seed) + [f'train_cfg.max_epochs={a.epochs}', f'train_cfg.val_interval={a.epochs}',
                                    f'optim_wrapper.optimizer.lr={a.lr}']  # fmt: skip
    mgn = {}
    if m:
        ckpt = stage1(a, m, seed)
        opts += generator_options('model.mgn', a) + [
            f'model.mgn_checkpoint={ckpt}',
            f'model.stage2_mask={polarity}',
        ]
        with open(osp.join(osp.dirname(ckpt), 'mgn_stats.json'), encoding='utf-8') as fh:
            mgn = json.load(fh)
    if f:
        opts += [f'custom_hooks.1.threshold={f}', f'custom_hooks.1.start_epoch={a.relabel_start}']
    else:  # an unreachable start epoch: the hook never relabels
        opts.append('custom_hooks.1.start_epoch=100000')
    config = STAGE2 if m else PLAIN
    prov = provenance()  # the tree the run starts from
    t0 = time.time()
    runner, train_cmd = train(config, work, opts, amp=a.amp)
    seconds = time.time() - t0
    hook = next(h for h in runner.hooks if isinstance(h, RelabelHook))
    ds = unwrap_dataset(runner.train_dataloader.dataset)
    clean = ds.get_clean_labels()
    annotated = np.array(
        [ds.get_data_info(i).get('ori_label', ds.get_data_info(i)['gt_label']) for i in range(len(ds))]
    )
    served = ds.get_gt_labels()
    metrics, test_cmd = evaluate(config, osp.join(work, f'epoch_{a.epochs}.pth'), work, opts, amp=a.amp)
    rec = dict(name=name, seed=seed, m=m, f=f, stage2_mask=polarity if m else None, acc=float(metrics['accuracy']),
               mean_class_acc=float(metrics['mean_class_accuracy']), macro_f1=float(metrics.get('macro_f1', 'nan')),
               metrics=metrics, seconds=seconds, settings=settings(a), **prov,
               commands=dict(train=train_cmd, test=test_cmd, **({'stage1': mgn['command']} if m else {})))  # fmt: skip
    rec.update(
        relabel_events=int(sum(h['count'] for h in hook.history)),
        relabel_correct=int(sum(h.get('correct', 0) for h in hook.history)),
        wrong_before=int((annotated != clean).sum()),
        wrong_after=int((served != clean).sum()),
        changed=int((served != annotated).sum()),
        fixed=int(((annotated != clean) & (served == clean)).sum()),
        broken=int(((annotated == clean) & (served != clean)).sum()),
    )
    rec.update(
        {
            f'mgn_{k}': v
            for k, v in mgn.items()
            if k not in ('command', 'settings', 'torch', 'ferlab_commit', 'dirty_files')
        }
    )
    return rec


def summarise(results: list[dict], a, meta: dict | None = None) -> str:
    """Markdown tables: mean ± std over seeds (population std, ddof 0), per-seed values in seed order."""

    def per_seed(values, fmt):
        return ', '.join(f'{v:{fmt}}' for v in values)

    def stat(rows, key='acc', fmt='.2f', seeds=True):
        v = np.array([r[key] for r in sorted(rows, key=lambda r: r['seed'])], float)
        text = f'{v.mean():{fmt}} ± {v.std():{fmt}}' if len(v) > 1 else f'{v.mean():{fmt}}'
        return f'{text} ({per_seed(v, fmt)})' if seeds and len(v) > 1 else text

    def pick(m, f, polarity='same'):
        return [
            r
            for r in results
            if abs(r['m'] - m) < 1e-9 and r['f'] == f and (not m or r['stage2_mask'] == polarity)
        ]

    polarities = [p for p in a.stage2_mask if any(r['m'] and r['stage2_mask'] == p for r in results)] or [
        'same'
    ]

    base = {r['seed']: r['acc'] for r in pick(0.0, None)}

    def paired(d):
        if not d:
            return '-'
        if len(d) == 1:
            return f'{d[0]:+.2f}'
        return f'{np.mean(d):+.2f} ± {np.std(d):.2f} ({per_seed(d, "+.2f")})'

    def delta(rows):
        """Paired difference to the same seed's baseline: mean ± std (per-seed values)."""
        return paired(
            [r['acc'] - base[r['seed']] for r in sorted(rows, key=lambda r: r['seed']) if r['seed'] in base]
        )

    seeds = sorted({r['seed'] for r in results})
    out = [f'SynthFER preset lab, clutter p=0.9, occluders p=0.4, {a.img_size} px, {a.num_train} train '
           f'({a.noise:.0%} symmetric noise) / {a.num_test} clean test (one image = {100 / a.num_test:.2f} points). '
           f'Stage 1: ViT-tiny generator (1 block) vs ResNet-18/3-stage D, {a.epochs_mgn} epochs. Stage 2: '
           f'ResNet-18 (3 stages), {a.epochs} epochs, lr {a.lr}, relabel from epoch {a.relabel_start}. '
           f'randomness.deterministic=True, fp32, {a.threads} thread(s). Seeds {seeds}; accuracy (%) of '
           f'tools/test.py (FERMetric) on the clean test split, mean ± std over seeds (population std, ddof 0) '
           f'and the per-seed values in seed order; Δ = paired difference to the same seed\'s baseline.']  # fmt: skip
    if meta:
        out += [
            '',
            f'torch {meta["torch"]}, ferlab commit {meta["ferlab_commit"]}; command: `{meta["command"]}`',
        ]
        if meta.get('missing_runs'):
            out += ['', f'Not run: {", ".join(meta["missing_runs"])}.']
    out.append('')
    for pol in polarities:
        out += [f'Table 1 (mask ratio m, no relabeling; stage-2 mask {pol})', '',
                '| m | accuracy | Δ vs baseline | realised mask area | patches with M_p > 0.5 | D acc. (gen. masks) |',
                '|---|---|---|---|---|---|']  # fmt: skip
        for m in (0.0,) + M_RATIOS:
            rows = pick(m, None, pol)
            if rows:
                area = stat(rows, 'mgn_mask_area', '.3f', False) if m else '-'
                hard = stat(rows, 'mgn_mask_area_hard', '.3f', False) if m else '-'
                dacc = stat(rows, 'mgn_acc_d_gen', '.2f', False) if m else '-'
                out.append(f'| {m:.2f} | {stat(rows)} | {delta(rows)} | {area} | {hard} | {dacc} |')
        out.append('')
    out += ['Table 2 (relabel function f, no MGN)', '',
            '| f | accuracy | Δ vs baseline | relabel events | events to the clean label | wrong labels before → after | fixed / broken |',
            '|---|---|---|---|---|---|---|']  # fmt: skip
    for f in (None,) + F_KINDS:
        rows = pick(0.0, f)
        if rows:
            out.append(f'| {f or "none"} | {stat(rows)} | {delta(rows)} | {stat(rows, "relabel_events", ".1f", False)} | '
                       f'{stat(rows, "relabel_correct", ".1f", False)} | {stat(rows, "wrong_before", ".0f", False)} → '
                       f'{stat(rows, "wrong_after", ".1f", False)} | {stat(rows, "fixed", ".1f", False)} / '
                       f'{stat(rows, "broken", ".1f", False)} |')  # fmt: skip
    for pol in polarities:
        out += ['', f'Table 3 (components; MGN m = 0.15, relabel f = sigmoid; stage-2 mask {pol})', '',
                '| MGN | relabel | accuracy | Δ vs baseline |', '|---|---|---|---|']  # fmt: skip
        for m, f in ((0.0, None), (0.15, None), (0.0, 'sigmoid'), (0.15, 'sigmoid')):
            rows = pick(m, f, pol)
            if rows:
                out.append(f'| {"✓" if m else "✗"} | {"✓" if f else "✗"} | {stat(rows)} | {delta(rows)} |')
    if len(polarities) > 1:
        out += ['', 'Stage-2 mask polarity (same stage-1 checkpoints; Δ = complement − same, paired by seed)', '',
                '| m | relabel f | same: I⊙(1−M_p) | complement: I⊙M_p | Δ complement − same | '
                'complement Δ vs baseline |', '|---|---|---|---|---|---|']  # fmt: skip
        for m, f in [(m, None) for m in M_RATIOS] + [(0.15, 'sigmoid')]:
            same = {r['seed']: r for r in pick(m, f, 'same')}
            comp = {r['seed']: r for r in pick(m, f, 'complement')}
            seeds_both = sorted(set(same) & set(comp))
            if not seeds_both:
                continue
            d = [comp[s]['acc'] - same[s]['acc'] for s in seeds_both]
            rows_s, rows_c = [same[s] for s in seeds_both], [comp[s] for s in seeds_both]
            out.append(f'| {m:.2f} | {f or "none"} | {stat(rows_s)} | {stat(rows_c)} | {paired(d)} | {delta(rows_c)} |')  # fmt: skip
    secs = [r['seconds'] for r in results]
    if secs:
        out += [
            '',
            f'{len(secs)} stage-2 runs, {np.mean(secs):.0f} s of training each on average (stage-1 runs and '
            'evaluation not included).',
        ]
    return '\n'.join(out) + '\n'


def plan_runs(tables) -> list[tuple[float, str | None]]:
    """The (m, f) stage-2 runs the requested tables need, without duplicates, in execution order."""
    plan = []  # Table 3 first (it shares its runs with Tables 1 and 2), then the rest of Tables 1 and 2
    if 3 in tables:
        plan += [(0.0, None), (0.15, None), (0.0, 'sigmoid'), (0.15, 'sigmoid')]
    if 1 in tables:
        plan += [(0.0, None)] + [(m, None) for m in M_RATIOS]
    if 2 in tables:
        plan += [(0.0, None)] + [(0.0, f) for f in F_KINDS]
    return list(dict.fromkeys(plan))


def main(argv=None) -> list[dict]:
    """Run the missing runs of the requested tables and seeds; returns their records (seed, then plan order)."""
    a = parse_args(argv)
    runs_dir = osp.join(a.out, 'runs')
    os.makedirs(runs_dir, exist_ok=True)
    import torch

    torch.set_num_threads(a.threads)
    from ferlab.utils import register_all_modules

    register_all_modules()
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    plan = plan_runs(a.tables)
    results, missing = [], []
    for seed in a.seeds:
        for m, f in plan:
            for pol in a.stage2_mask if m else ['same']:
                path = run_path(a, seed, m, f, pol)
                rec = load_run(a, path)
                if rec is None and a.summarise_only:
                    missing.append(run_name(seed, m, f, pol))
                    continue
                if rec is None:
                    rec = stage2(a, seed, m, f, pol)
                    print(json.dumps({k: v for k, v in rec.items() if k != 'metrics'}), flush=True)
                    save_run(path, rec)
                results.append(rec)
    meta = dict(
        command=shlex.join(['python', 'tools/analysis_tools/mvt_sweeps.py', *a.argv]),
        settings=settings(a),
        seeds=a.seeds,
        tables=a.tables,
        stage2_mask=a.stage2_mask,
        spread='std over seeds (population, ddof 0)',
        missing_runs=missing,
        **provenance(),
    )
    with open(osp.join(a.out, 'results.json'), 'w', encoding='utf-8') as f:
        json.dump(dict(meta=meta, runs=results), f, indent=1)
    table = summarise(results, a, meta)
    with open(osp.join(a.out, 'tables.md'), 'w', encoding='utf-8') as f:
        f.write(table)
    print(table)
    return results


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
