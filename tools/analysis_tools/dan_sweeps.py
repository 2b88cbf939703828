"""DAN ablations on SynthFER through ``tools/train.py`` and ``tools/test.py`` (docs/dan.md#evidence-on-synthfer).

Analogues of the paper's Table 1 (loss of the FCN), Table 2 (loss of the AFN) and
Fig. 5 (number of heads k), plus the heads' attention overlap. Every run trains a
shipped config (default ``configs/dan/dan_r18-48px-cpu_synthfer.py``) with
``tools/train.py`` and evaluates its final checkpoint with ``tools/test.py``
(``FERMetric``), each in its own process; a variant is nothing but
``--cfg-options`` on that config (:func:`variant_options`)::

    OMP_NUM_THREADS=1 python tools/analysis_tools/dan_sweeps.py --seeds 0 1 2 \
        --studies table1 table2 fig5 --out work_dirs/dan_sweeps

Afterwards the tool loads the checkpoint (``ferlab.apis.init_model``) and runs
the test split once more to measure the mean pairwise overlap of the heads'
spatial attention maps (:func:`ferlab.visualization.head_overlap`) and to
recompute the accuracy from the checkpoint (``accuracy_from_checkpoint``, a
check that must equal ``tools/test.py``'s).

Output: ``OUT/<variant>_s<seed>/`` (the training work dir: mmengine checkpoint,
logs; ``test/metrics.json`` of ``tools/test.py``), ``OUT/results.json`` (one
record per run: the metrics read from ``metrics.json``, head overlap, seconds,
the exact commands, torch version, settings) and ``OUT/results.md`` (per-seed
values, mean ± std over seeds, range). Runs already in ``results.json`` with the
same settings are skipped, so an interrupted sweep resumes.

Variants: ``baseline`` (trunk + GAP + linear head, no MAN/AFN), ``none`` (CE +
partition loss), ``center`` (+ center loss), ``dan`` (+ affinity loss: the full
model, k = 4), ``no_pt`` (CE + affinity), ``k1``/``k2``/``k8`` (full model with
k heads); diagnostics of the k = 2 case: ``k2_nofuse`` (no Eq. 5 log-softmax
across heads), ``k2_no_pt`` (no partition loss), ``k3``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

CONFIG = 'configs/dan/dan_r18-48px-cpu_synthfer.py'
STUDIES = {
    'table1': ['baseline', 'none', 'center', 'dan'],
    'table2': ['no_pt', 'dan'],
    'fig5': ['k1', 'k2', 'dan', 'k8'],
}
DIAGNOSTICS = ('k2_nofuse', 'k2_no_pt', 'k3')


def variant_options(name: str, feat_channels: int = 256, num_classes: int = 7) -> list[str]:
    """The ``--cfg-options`` that turn the config's full DAN model (k = 4) into variant ``name``.

    Args:
        name: A variant (module docstring).
        feat_channels: Channels of the trunk's output (the config's ``feat_channels``).
        num_classes: Number of classes (the config's head).

    Raises:
        KeyError: Unknown variant.
    """
    heads = {'k1': 1, 'k2': 2, 'k3': 3, 'k8': 8, 'k2_nofuse': 2, 'k2_no_pt': 2}
    table = {
        'baseline': [
            'model.neck._delete_=True',
            'model.neck.type=GlobalAveragePooling',
            'model.head._delete_=True',
            'model.head.type=LinearClsHead',
            f'model.head.num_classes={num_classes}',
            f'model.head.in_channels={feat_channels}',
        ],
        'none': ['model.head.affinity_loss=None'],
        'center': [
            'model.head.affinity_loss._delete_=True',
            'model.head.affinity_loss.type=CenterLoss',
            'model.head.affinity_loss.loss_weight=1.0',
        ],
        'dan': [],
        'no_pt': ['model.head.partition_loss=None'],
    }
    if name in heads:
        opts = [f'model.neck.num_heads={heads[name]}']
        if name == 'k2_nofuse':
            opts.append('model.head.fuse_log_softmax=False')
        if name == 'k2_no_pt':
            opts.append('model.head.partition_loss=None')
        return opts
    if name not in table:
        raise KeyError(f'unknown variant {name!r}; choose from {sorted([*table, *heads])}')
    return table[name]


def data_options(a) -> list[str]:
    """Sizes, the rendering cache and the epoch count of every run of the sweep."""
    cache = osp.abspath(osp.join(a.out, 'cache'))
    opts = []
    for loader, n in (('train_dataloader', a.num_train), ('test_dataloader', a.num_test)):
        ds = f'{loader}.dataset'
        opts += [f'{ds}.num_samples={n}', f'{ds}.cache_dir={cache}']
    opts += [f'train_cfg.max_epochs={a.epochs}', f'train_cfg.val_interval={a.epochs}']
    return opts


def run_options(a, variant: str, seed: int) -> list[str]:
    return [*data_options(a), f'randomness.seed={seed}', *variant_options(variant), *a.cfg_options]


def _command(tool: str, *args: str, cfg_options: list[str]) -> list[str]:
    return [sys.executable, osp.join(ROOT, 'tools', tool), *args, '--cfg-options', *cfg_options]


def _run(cmd: list[str], log: str) -> None:
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = ''.join(open(log).readlines()[-15:])
        raise RuntimeError(f'{shlex.join(cmd)} exited with {proc.returncode}; last lines of {log}:\n{tail}')


def last_losses(work_dir: str) -> dict:
    """Loss values of the last logged training iteration (mmengine's ``vis_data/scalars.json``)."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        return {}
    lines = [json.loads(line) for line in open(files[-1]) if line.strip()]
    train = [r for r in lines if 'loss' in r]
    return {k: round(v, 4) for k, v in train[-1].items() if k.startswith('loss')} if train else {}


def checkpoint_eval(config: str, checkpoint: str, cfg_options: list[str]) -> dict:
    """Accuracy and mean pairwise head overlap of ``checkpoint`` on the config's test split.

    The model is loaded with ``ferlab.apis.init_model`` and the test loader built
    from the config (same options as the run); the accuracy is the argmax of the
    head's logits, an independent recomputation of ``tools/test.py``'s.
    """
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    from ferlab.apis import init_model
    from ferlab.utils import apply_cfg_options
    from ferlab.visualization import head_overlap
    from tools.train import parse_args

    cfg = Config.fromfile(osp.join(ROOT, config))
    apply_cfg_options(cfg, parse_args([config, '--cfg-options', *cfg_options]).cfg_options)
    model = init_model(cfg, checkpoint)
    loader = Runner.build_dataloader(cfg.test_dataloader)
    hits, n, overlaps = 0, 0, []
    with torch.no_grad():
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            feats = model.extract_feat(data['inputs'])
            labels = torch.cat([s.gt_label for s in data['data_samples']])
            hits += int((model.head(feats).argmax(1) == labels).sum())
            n += len(labels)
            if hasattr(model.head, 'get_attention_maps'):
                maps = model.head.get_attention_maps(feats)
                if maps.size(1) > 1:
                    overlaps.append(head_overlap(maps))
    return dict(
        accuracy_from_checkpoint=100.0 * hits / n,
        num_test=n,
        head_overlap=float(torch.cat(overlaps).mean()) if overlaps else None,
    )


def run_one(a, variant: str, seed: int) -> dict:
    """Train ``variant`` with ``seed`` through tools/train.py, test it through tools/test.py."""
    name = f'{variant}_s{seed}'
    work = osp.join(a.out, name)
    os.makedirs(work, exist_ok=True)
    opts = run_options(a, variant, seed)
    train_cmd = _command('train.py', a.config, '--work-dir', work, *a.train_args, cfg_options=opts)
    t0 = time.time()
    _run(train_cmd, osp.join(work, 'train_stdout.log'))
    train_s = time.time() - t0
    ckpt = osp.join(work, f'epoch_{a.epochs}.pth')
    test_dir = osp.join(work, 'test')
    test_cmd = _command('test.py', a.config, ckpt, '--work-dir', test_dir, *a.test_args, cfg_options=opts)
    t0 = time.time()
    _run(test_cmd, osp.join(work, 'test_stdout.log'))
    test_s = time.time() - t0
    metrics_file = osp.join(test_dir, 'metrics.json')
    metrics = json.load(open(metrics_file))
    rec = dict(variant=variant, seed=seed, **{k: metrics[k] for k in ('accuracy', 'mean_class_accuracy')})
    rec.update(metrics=metrics, **checkpoint_eval(a.config, ckpt, opts))
    rec.update(
        train_seconds=round(train_s, 1),
        test_seconds=round(test_s, 1),
        final_losses=last_losses(work),
        work_dir=work,
        checkpoint=ckpt,
        metrics_file=metrics_file,
        commands=dict(train=shlex.join(_display(train_cmd)), test=shlex.join(_display(test_cmd))),
    )
    return rec


def _display(cmd: list[str]) -> list[str]:
    """A command as it would be typed in the repository root."""
    out = ['python' if c == sys.executable else c for c in cmd]
    return [osp.relpath(c, ROOT) if c.startswith(ROOT + os.sep) else c for c in out]


def _stat(values, fmt='.2f') -> str:
    v = np.asarray(values, float)
    if len(v) == 1:
        return f'{v[0]:{fmt}}'
    return f'{v.mean():{fmt}} ± {v.std():{fmt}}'


def summarise(results: list[dict]) -> str:
    """Markdown table: one row per (study, variant), per-seed values in seed order, mean ± std (ddof 0)."""
    lines = [
        '| study | variant | seeds | accuracy (%) | per seed | range | mean class acc. (%) | '
        'head overlap | overlap per seed | train s |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ]
    rows = [(study, v) for study, variants in STUDIES.items() for v in variants]
    listed = {v for _, v in rows}
    rows += [('diagnostic', v) for v in dict.fromkeys(r['variant'] for r in results) if v not in listed]
    for study, v in rows:
        rs = sorted((r for r in results if r['variant'] == v), key=lambda r: r['seed'])
        if not rs:
            continue
        acc = [r['accuracy'] for r in rs]
        ov = [r['head_overlap'] for r in rs if r.get('head_overlap') is not None]
        lines.append(
            f'| {study} | {v} | {",".join(str(r["seed"]) for r in rs)} | {_stat(acc)} | '
            f'{", ".join(f"{x:.2f}" for x in acc)} | {max(acc) - min(acc):.2f} | '
            f'{_stat([r["mean_class_accuracy"] for r in rs])} | {_stat(ov, ".3f") if ov else "n/a"} | '
            f'{", ".join(f"{x:.3f}" for x in ov) if ov else "-"} | '
            f'{np.mean([r["train_seconds"] for r in rs]):.0f} |'
        )
    return '\n'.join(lines) + '\n'


def plot(results: list[dict], out_dir: str) -> list[str]:
    """``head_overlap.png`` (overlap per variant, mean ± std over seeds) and ``heads_k.png`` (accuracy vs k)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    written = []
    ov = {
        v: [r['head_overlap'] for r in results if r['variant'] == v and r.get('head_overlap') is not None]
        for v in ('none', 'center', 'dan', 'no_pt', 'k2', 'k8')
    }
    ov = {v: x for v, x in ov.items() if x}
    if ov:
        fig, ax = plt.subplots(figsize=(6, 3))
        names = list(ov)
        ax.bar(names, [np.mean(ov[v]) for v in names], yerr=[np.std(ov[v]) for v in names], color='tab:blue')
        ax.set_ylabel('mean pairwise head overlap')
        ax.set_ylim(0, 1)
        ax.set_title('Head diversity (lower = more distinct heads); no_pt = without partition loss')
        ax.title.set_fontsize(8)
        written.append(osp.join(out_dir, 'head_overlap.png'))
        fig.tight_layout()
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    ks = {1: 'k1', 2: 'k2', 4: 'dan', 8: 'k8'}
    acc = {k: [r['accuracy'] for r in results if r['variant'] == v] for k, v in ks.items()}
    acc = {k: x for k, x in acc.items() if x}
    if len(acc) > 1:
        fig, ax = plt.subplots(figsize=(4, 3))
        k_sorted = sorted(acc)
        ax.errorbar(
            k_sorted, [np.mean(acc[k]) for k in k_sorted], yerr=[np.std(acc[k]) for k in k_sorted], marker='o'
        )
        ax.set_xscale('log', base=2)
        ax.set_xticks(k_sorted, [str(k) for k in k_sorted])
        ax.set_xlabel('number of attention heads k')
        ax.set_ylabel('test accuracy (%)')
        written.append(osp.join(out_dir, 'heads_k.png'))
        fig.tight_layout()
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=CONFIG, help='DAN config (relative to the repository root)')
    p.add_argument('--out', default='work_dirs/dan_sweeps')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--studies', nargs='+', default=list(STUDIES), choices=list(STUDIES))
    p.add_argument(
        '--variants', nargs='+', default=None, help='run only these variants (overrides --studies)'
    )
    p.add_argument('--num-train', type=int, default=1200)
    p.add_argument('--num-test', type=int, default=2000)
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='further key=value overrides for every run (train and test)',
    )
    p.add_argument(
        '--amp',
        action='store_true',
        help='pass --amp to tools/train.py and tools/test.py (bf16 autocast on CPU)',
    )
    a = p.parse_args(argv)
    for v in a.variants or []:
        variant_options(v)  # unknown names fail before anything runs
    a.train_args = ['--no-validate'] + (['--amp'] if a.amp else [])  # the sweep reads the test split only
    a.test_args = ['--amp'] if a.amp else []
    return a


def main(argv=None) -> list[dict]:
    import torch

    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    res_path = osp.join(a.out, 'results.json')
    settings = dict(
        config=a.config,
        num_train=a.num_train,
        num_test=a.num_test,
        epochs=a.epochs,
        cfg_options=a.cfg_options,
        torch=torch.__version__,
    )
    if a.amp:  # fp32 runs (no key) and bf16 runs are never mixed in one results.json
        settings['amp'] = True
    results = json.load(open(res_path)) if osp.isfile(res_path) else []
    kept = [r for r in results if r.get('settings') == settings]
    if len(kept) != len(results):
        print(f'{len(results) - len(kept)} runs in {res_path} have other settings: not reused', flush=True)
    results = kept
    variants = a.variants or list(dict.fromkeys(v for s in a.studies for v in STUDIES[s]))
    for seed in a.seeds:
        for v in variants:
            if any(r['variant'] == v and r['seed'] == seed for r in results):
                continue
            rec = run_one(a, v, seed)
            rec['settings'] = settings
            results.append(rec)
            print(json.dumps({k: rec[k] for k in ('variant', 'seed', 'accuracy', 'head_overlap', 'train_seconds')}),
                  flush=True)  # fmt: skip
            tmp = res_path + '.tmp'
            with open(tmp, 'w') as f:
                json.dump(results, f, indent=1)
            os.replace(tmp, res_path)
    table = summarise(results)
    cmds = sorted({r['commands']['train'] for r in results} | {r['commands']['test'] for r in results})
    with open(osp.join(a.out, 'results.md'), 'w') as f:
        f.write(f'torch {torch.__version__}; settings: {json.dumps(settings)}\n\n{table}\n')
        f.write('Commands (one train + one test per run):\n\n```\n' + '\n'.join(cmds) + '\n```\n')
    print(table)
    for path in plot(results, a.out):
        print(f'wrote {path}')
    return results


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
