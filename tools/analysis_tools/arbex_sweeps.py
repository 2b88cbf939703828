"""ARBEx evidence on SynthFER with injected label noise through ``tools/train.py`` and ``tools/test.py``
(docs/arbex.md#results).

CPU analogues of the paper's ablations, each run a shipped config plus ``--cfg-options``:

* ``linear``: ARBEx against its trunk with a plain linear head (``configs/arbex/r18-48px-cpu_synthfer_linear.py``,
  the same ResNet-18, data and schedule), both at 20 % symmetric label noise;
* ``table1``: number of anchors per class K ∈ {0 (no anchors), 1, 4, 8, 10, 20} at 20 % noise;
* ``table2``: K ∈ {0, 10} × noise {0, 20, 40} %;
* ``table4``: anchor-loss weight λ_a ∈ {0, 0.01, 1, 100} at K = 10, 20 % noise.

A run is named by its settings (``k10_n20`` = K 10, 20 % noise, λ_a 1; ``k10_n20_la0.01``;
``linear_n20``), so a setting shared by two tables is trained once. ARBEx runs use
``configs/arbex/arbex_r18-48px-cpu_synthfer.py`` with ``model.head.num_anchors``,
``model.head.lambda_anchor`` and ``train_dataloader.dataset.label_noise.rate`` set explicitly. Every
run trains with ``randomness.seed=<seed>``, ``randomness.deterministic=True`` and ``--no-validate``,
then its final checkpoint (``last_checkpoint``) is evaluated by ``tools/test.py`` on the clean test
split (``FERMetric``: accuracy; macro precision/recall/F1 from its ``confusion_matrix.csv``) with
``--out preds.pkl``; for ARBEx runs the accuracy of the primary distribution l (``primary_score`` of
the dump, before reliability balancing) is read from that dump too. Studies run in the order given
(default: linear, table1, table2, table4), all seeds of a study before the next, so the first
studies are complete if time runs out::

    OMP_NUM_THREADS=1 python tools/analysis_tools/arbex_sweeps.py --seeds 0 1 2 --out work_dirs/arbex_sweeps

Output: ``OUT/<run>_s<seed>/`` (work dir of the run: checkpoint, logs, ``test/metrics.json``),
``OUT/results.json`` (one record per run: metrics, primary accuracy, iterations, seconds, exact
commands, settings, torch version) and ``OUT/results.md`` (the four tables, mean ± std over seeds
with ddof 0 and the per-seed values; differences paired by seed). Runs already in ``results.json``
with the same settings are skipped, so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import pickle
import shlex
import subprocess
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

ARBEX_CONFIG = 'configs/arbex/arbex_r18-48px-cpu_synthfer.py'
LINEAR_CONFIG = 'configs/arbex/r18-48px-cpu_synthfer_linear.py'
TABLE1_K = (0, 1, 4, 8, 10, 20)
TABLE2_K = (0, 10)
TABLE2_NOISE = (0, 20, 40)
TABLE4_LAMBDA = (0.0, 0.01, 1.0, 100.0)
#: The ARBEx setting compared with the linear head and used by Table 4.
MAIN_K, MAIN_NOISE = 10, 20


def run_name(k: int | None, noise: int, lam: float = 1.0) -> str:
    """``k10_n20`` (λ_a = 1), ``k10_n20_la0.01``; ``k=None`` is the linear head: ``linear_n20``."""
    if k is None:
        return f'linear_n{noise}'
    return f'k{k}_n{noise}' + ('' if lam == 1.0 else f'_la{lam:g}')


def parse_run(name: str) -> dict:
    """Inverse of :func:`run_name`: ``dict(k=..., noise=..., lam=...)`` (``k`` None for the linear head)."""
    parts = name.split('_')
    try:
        if parts[0] == 'linear' and len(parts) == 2 and parts[1][0] == 'n':
            return dict(k=None, noise=int(parts[1][1:]), lam=None)
        if parts[0][0] == 'k' and parts[1][0] == 'n' and len(parts) in (2, 3):
            lam = float(parts[2][2:]) if len(parts) == 3 and parts[2].startswith('la') else 1.0
            if len(parts) == 3 and not parts[2].startswith('la'):
                raise ValueError
            return dict(k=int(parts[0][1:]), noise=int(parts[1][1:]), lam=lam)
    except (ValueError, IndexError):
        pass
    raise KeyError(f'unknown run {name!r}; expected e.g. linear_n20, k10_n20, k10_n20_la0.01')


STUDIES = {
    'linear': [run_name(None, MAIN_NOISE), run_name(MAIN_K, MAIN_NOISE)],
    'table1': [run_name(k, MAIN_NOISE) for k in TABLE1_K],
    'table2': [run_name(k, n) for k in TABLE2_K for n in TABLE2_NOISE],
    'table4': [run_name(MAIN_K, MAIN_NOISE, lam) for lam in TABLE4_LAMBDA],
}


def run_config(name: str, a) -> str:
    return a.linear_config if parse_run(name)['k'] is None else a.config


def run_options(name: str) -> list[str]:
    """The ``--cfg-options`` of run ``name`` on :func:`run_config` (besides seed and budget)."""
    p = parse_run(name)
    opts = [f'train_dataloader.dataset.label_noise.rate={p["noise"] / 100:g}']
    if p['k'] is not None:
        opts = [f'model.head.num_anchors={p["k"]}', f'model.head.lambda_anchor={p["lam"]:g}', *opts]
    return opts


def budget_options(a) -> list[str]:
    """Sizes, epochs and the rendering cache shared by every run (only what was asked for)."""
    opts = []
    cache = osp.abspath(osp.join(a.out, 'cache'))
    for loader, n in (('train_dataloader', a.num_train), ('test_dataloader', a.num_test)):
        if n is not None:
            opts.append(f'{loader}.dataset.num_samples={n}')
        opts.append(f'{loader}.dataset.cache_dir={cache}')
    if a.epochs is not None:
        opts += [f'train_cfg.max_epochs={a.epochs}', f'train_cfg.val_interval={a.epochs}']
    return opts


def all_options(name: str, seed: int, a) -> list[str]:
    return [
        *budget_options(a),
        f'randomness.seed={seed}',
        'randomness.deterministic=True',
        *run_options(name),
        *a.cfg_options,
    ]


def _command(tool: str, *args: str, cfg_options: list[str]) -> list[str]:
    return [sys.executable, osp.join(ROOT, 'tools', tool), *args, '--cfg-options', *cfg_options]


def _display(cmd: list[str]) -> str:
    out = ['python' if c == sys.executable else c for c in cmd]
    return shlex.join([osp.relpath(c, ROOT) if c.startswith(ROOT + os.sep) else c for c in out])


def _run(cmd: list[str], log: str) -> None:
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = ''.join(open(log).readlines()[-15:])
        raise RuntimeError(f'{_display(cmd)} exited with {proc.returncode}; last lines of {log}:\n{tail}')


def macro_scores(cm_csv: str) -> dict:
    """Macro precision / recall / F1 (%) over the classes with test samples, from ``confusion_matrix.csv``.

    The CSV is ``tools/test.py``'s (rows = ground truth, columns = prediction); precision of a
    class never predicted is 0, as in ``FERMetric``.
    """
    import csv

    with open(cm_csv, newline='') as f:
        rows = list(csv.reader(f))[1:]
    cm = np.array([[int(x) for x in row[1:]] for row in rows], float)
    tp, support, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    prec = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    rec = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=prec + rec > 0)
    present = support > 0
    return dict(
        macro_precision=100.0 * float(prec[present].mean()),
        macro_recall=100.0 * float(rec[present].mean()),
        macro_f1=100.0 * float(f1[present].mean()),
    )


def dump_accuracies(path: str) -> dict:
    """Figures of the per-sample dump of ``tools/test.py --out``.

    Accuracy (%) of ``pred_score`` (``accuracy_final``) and, for ARBEx heads, of the primary
    distribution l (``accuracy_primary``), the anchor correction t_g (``accuracy_anchor``) and the
    attentive correction t_a (``accuracy_attention``), plus the mean over the test samples of the
    four confidences ``C(l), C(t_g), C(t_a), C(L_final)`` (``mean_confidences``).
    """
    with open(path, 'rb') as f:
        preds = pickle.load(f)
    gt = np.array([int(np.asarray(p['gt_label']).reshape(-1)[0]) for p in preds])
    out = dict(num_test=len(preds))
    fields = (('pred_score', 'final'), ('primary_score', 'primary'), ('anchor_score', 'anchor'),
              ('attn_score', 'attention'))  # fmt: skip
    for key, name in fields:
        if all(key in p for p in preds):
            s = np.stack([np.asarray(p[key], float) for p in preds])
            out[f'accuracy_{name}'] = 100.0 * float(np.mean(s.argmax(1) == gt))
    if all('confidences' in p for p in preds):
        c = np.stack([np.asarray(p['confidences'], float) for p in preds]).mean(0)
        out['mean_confidences'] = dict(zip(('primary', 'anchor', 'attention', 'final'), map(float, c)))
    return out


def trained_iterations(checkpoint: str) -> int:
    """Training iterations recorded in the checkpoint's ``meta`` by mmengine's Runner."""
    from ferlab.utils.checkpoint import safe_torch_load

    return int(safe_torch_load(checkpoint)['meta']['iter'])


def run_one(a, name: str, seed: int) -> dict:
    """Train run ``name`` with ``seed`` through tools/train.py and test its last checkpoint through tools/test.py."""
    config = run_config(name, a)
    work = osp.join(a.out, f'{name}_s{seed}')
    os.makedirs(work, exist_ok=True)
    opts = all_options(name, seed, a)
    train_cmd = _command('train.py', config, '--work-dir', work, '--no-validate', cfg_options=opts)
    t0 = time.time()
    _run(train_cmd, osp.join(work, 'train_stdout.log'))
    train_s = time.time() - t0
    with open(osp.join(work, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    ckpt = ckpt if osp.isfile(ckpt) else osp.join(work, osp.basename(ckpt))
    test_dir = osp.join(work, 'test')
    dump = osp.join(test_dir, 'preds.pkl')
    os.makedirs(test_dir, exist_ok=True)
    test_cmd = _command('test.py', config, ckpt, '--work-dir', test_dir, '--out', dump, cfg_options=opts)
    t0 = time.time()
    _run(test_cmd, osp.join(work, 'test_stdout.log'))
    test_s = time.time() - t0
    metrics_file = osp.join(test_dir, 'metrics.json')
    metrics = json.load(open(metrics_file))
    rec = dict(run=name, seed=seed, **parse_run(name), config=config)
    rec.update(accuracy=metrics['accuracy'], mean_class_accuracy=metrics['mean_class_accuracy'])
    rec.update(macro_scores(osp.join(test_dir, 'confusion_matrix.csv')), **dump_accuracies(dump))
    rec.update(
        iterations=trained_iterations(ckpt),
        train_seconds=round(train_s, 1),
        test_seconds=round(test_s, 1),
        work_dir=work,
        checkpoint=ckpt,
        metrics_file=metrics_file,
        metrics={k: v for k, v in metrics.items() if '/' not in k},
        commands=dict(train=_display(train_cmd), test=_display(test_cmd)),
    )
    return rec


# ----------------------------------------------------------------------------- tables
def _stat(values, fmt: str = '.2f') -> str:
    v = np.asarray(values, float)
    return f'{v[0]:{fmt}}' if len(v) == 1 else f'{v.mean():{fmt}} ± {v.std():{fmt}}'


def _per_seed(values, signed=False) -> str:
    return ', '.join(f'{x:+.2f}' if signed else f'{x:.2f}' for x in values)


def beyond_spread(deltas) -> bool:
    """A paired difference counts when every seed has the same sign and ``|mean| > std`` (ddof 0)."""
    d = np.asarray(deltas, float)
    return len(d) > 1 and (np.all(d > 0) or np.all(d < 0)) and abs(d.mean()) > d.std()


def _runs(results, name) -> dict:
    return {r['seed']: r for r in results if r['run'] == name}


def _delta(results, name, ref, key='accuracy'):
    """Per-seed ``name - ref`` on the seeds both have, in seed order."""
    a, b = _runs(results, name), _runs(results, ref)
    seeds = sorted(set(a) & set(b))
    return seeds, [a[s][key] - b[s][key] for s in seeds]


def _delta_cell(results, name, ref) -> str:
    seeds, d = _delta(results, name, ref)
    if not d or name == ref:
        return '-'
    mark = ' (beyond spread)' if beyond_spread(d) else ''
    return f'{_stat(d)} ({_per_seed(d, True)}){mark}'


def _acc_cell(results, name, key='accuracy') -> str:
    rs = [r for _, r in sorted(_runs(results, name).items())]
    if not rs:
        return 'not run'
    v = [r[key] for r in rs if r.get(key) is not None]
    return f'{_stat(v)} ({_per_seed(v)})' if v else '-'


def tables(results: list[dict]) -> str:
    """The four tables of docs/arbex.md#results as Markdown."""
    seeds = sorted({r['seed'] for r in results})
    out = [f'Seeds {",".join(map(str, seeds))}; accuracy (%) on the clean test split, mean ± std (ddof 0) '
           'over seeds, per-seed values in seed order; Δ paired by seed; "beyond spread": every seed has '
           'the sign of the mean and |mean| > std.', '']  # fmt: skip
    main, lin = run_name(MAIN_K, MAIN_NOISE), run_name(None, MAIN_NOISE)
    out += ['### ARBEx vs linear head (same trunk, 20 % noise)', '',
            '| model | accuracy | primary l accuracy | macro F1 | Δ accuracy vs linear |', '|---|---|---|---|---|',
            f'| linear head | {_acc_cell(results, lin)} | - | {_acc_cell(results, lin, "macro_f1")} | - |',
            f'| ARBEx K={MAIN_K} | {_acc_cell(results, main)} | {_acc_cell(results, main, "accuracy_primary")} | '
            f'{_acc_cell(results, main, "macro_f1")} | {_delta_cell(results, main, lin)} |', '']  # fmt: skip
    out += ['### Table 1: anchors per class K (20 % noise)', '',
            '| K | accuracy | primary l accuracy | Δ vs K=0 |', '|---|---|---|---|']  # fmt: skip
    for k in TABLE1_K:
        n = run_name(k, MAIN_NOISE)
        out.append(f'| {k} | {_acc_cell(results, n)} | {_acc_cell(results, n, "accuracy_primary")} | '
                   f'{_delta_cell(results, n, run_name(0, MAIN_NOISE))} |')  # fmt: skip
    out += ['', '### Table 2: K × label noise', '',
            '| K | ' + ' | '.join(f'noise {n} %' for n in TABLE2_NOISE) + ' |',
            '|---|' + '---|' * len(TABLE2_NOISE)]  # fmt: skip
    for k in TABLE2_K:
        out.append(f'| {k} | ' + ' | '.join(_acc_cell(results, run_name(k, n)) for n in TABLE2_NOISE) + ' |')
    out.append(f'| Δ ({TABLE2_K[-1]} − {TABLE2_K[0]}) | '
               + ' | '.join(_delta_cell(results, run_name(TABLE2_K[-1], n), run_name(TABLE2_K[0], n))
                            for n in TABLE2_NOISE) + ' |')  # fmt: skip
    out += ['', f'### Table 4: anchor-loss weight λ_a (K={MAIN_K}, 20 % noise)', '',
            '| λ_a | macro precision | accuracy | macro F1 | macro recall | Δ accuracy vs λ_a=1 |',
            '|---|---|---|---|---|---|']  # fmt: skip
    for lam in TABLE4_LAMBDA:
        n = run_name(MAIN_K, MAIN_NOISE, lam)
        cells = [
            _acc_cell(results, n, key) for key in ('macro_precision', 'accuracy', 'macro_f1', 'macro_recall')
        ]
        out.append(f'| {lam:g} | ' + ' | '.join(cells) + f' | {_delta_cell(results, n, main)} |')
    out += ['', '### Components of the ARBEx runs', '',
            'Accuracy (%) of each distribution of the head (argmax) and mean confidence C = 1 − H/log N over '
            'the test samples; mean ± std over seeds.', '',
            '| run | seeds | L_final | primary l | anchors t_g | attention t_a | C(l) | C(t_g) | C(t_a) |',
            '|---|---|---|---|---|---|---|---|---|']  # fmt: skip
    for name in dict.fromkeys(r['run'] for r in sorted(results, key=lambda r: r['run'])):
        rs = [r for _, r in sorted(_runs(results, name).items())]
        if rs[0].get('k') is None or 'accuracy_anchor' not in rs[0]:
            continue
        accs = [_stat([r[f'accuracy_{c}'] for r in rs]) for c in ('final', 'primary', 'anchor', 'attention')]
        confs = [
            _stat([r['mean_confidences'][c] for r in rs], '.3f') for c in ('primary', 'anchor', 'attention')
        ]
        out.append(f'| {name} | {",".join(str(r["seed"]) for r in rs)} | ' + ' | '.join(accs + confs) + ' |')
    return '\n'.join(out) + '\n'


def summarise(results: list[dict], settings: dict) -> str:
    done = [r for r in results if r.get('train_seconds') is not None]
    iters = sorted({r['iterations'] for r in done if r.get('iterations')})
    n_test = sorted({r['num_test'] for r in done})
    head = (f'torch {settings["torch"]}; ARBEx config `{settings["config"]}`, linear `{settings["linear_config"]}`; '
            f'budget options {settings["budget"]}, further options {settings["cfg_options"]}; {len(done)} runs, training iterations {iters}, '
            f'test images {n_test}; mean train {np.mean([r["train_seconds"] for r in done]):.0f} s, '
            f'test {np.mean([r["test_seconds"] for r in done]):.0f} s per run.')  # fmt: skip
    cmds = [
        r['commands'][k] for r in sorted(done, key=lambda r: (r['run'], r['seed'])) for k in ('train', 'test')
    ]
    return f'{head}\n\n{tables(results)}\nCommands:\n\n```\n' + '\n'.join(cmds) + '\n```\n'


# ----------------------------------------------------------------------------- entry
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='work_dirs/arbex_sweeps')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--studies', nargs='+', default=list(STUDIES), choices=list(STUDIES), help='in this order')
    p.add_argument('--runs', nargs='+', default=None, help='run only these (e.g. k10_n20 linear_n20)')
    p.add_argument('--config', default=ARBEX_CONFIG, help='ARBEx config (relative to the repository root)')
    p.add_argument('--linear-config', default=LINEAR_CONFIG, help='the same trunk with a linear head')
    p.add_argument('--num-train', type=int, default=None, help='training images (default: the config)')
    p.add_argument('--num-test', type=int, default=None, help='test images (default: the config)')
    p.add_argument('--epochs', type=int, default=None, help='epochs (default: the config)')
    p.add_argument('--cfg-options', nargs='+', default=[], help='further key=value overrides for every run')
    a = p.parse_args(argv)
    for name in a.runs or []:
        parse_run(name)  # unknown names fail before anything runs
    return a


def plan(a) -> list[tuple[str, int]]:
    """``(run, seed)`` in execution order: study by study, seed by seed, shared runs once."""
    if a.runs:
        groups = [list(dict.fromkeys(a.runs))]
    else:
        groups = [STUDIES[s] for s in a.studies]
    order = []
    for group in groups:
        for seed in a.seeds:
            for name in group:
                if (name, seed) not in order:
                    order.append((name, seed))
    return order


def main(argv=None) -> list[dict]:
    import torch

    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    res_path = osp.join(a.out, 'results.json')
    settings = dict(config=a.config, linear_config=a.linear_config, budget=budget_options(a),
                    cfg_options=a.cfg_options, torch=torch.__version__)  # fmt: skip
    results = json.load(open(res_path)) if osp.isfile(res_path) else []
    kept = [r for r in results if r.get('settings') == settings]
    if len(kept) != len(results):
        print(f'{len(results) - len(kept)} runs in {res_path} have other settings: not reused', flush=True)
    results = kept

    def save():
        tmp = res_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, res_path)
        with open(osp.join(a.out, 'results.md'), 'w') as f:
            f.write(summarise(results, settings))

    for rec in results:  # records written before a figure was added: read it from their dump
        dump = osp.join(rec['work_dir'], 'test', 'preds.pkl')
        if 'accuracy_anchor' not in rec and rec['k'] is not None and osp.isfile(dump):
            rec.update(dump_accuracies(dump))
    for name, seed in plan(a):
        if any(r['run'] == name and r['seed'] == seed for r in results):
            continue
        rec = run_one(a, name, seed)
        rec['settings'] = settings
        results.append(rec)
        save()
        print(json.dumps({k: rec.get(k) for k in ('run', 'seed', 'accuracy', 'accuracy_primary', 'train_seconds',
                                                  'test_seconds')}), flush=True)  # fmt: skip
    if results:
        save()
        print(tables(results))
    return results


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
