"""Reproduce ferlab's CPU-scale analogues of the MVT paper's Tables 1-3 on SynthFER.

    python tools/analysis_tools/mvt_sweeps.py --seeds 0 1 --out work_dirs/mvt_sweeps

Setting (deliberately tiny so that all tables run in minutes on 2 CPU cores; NOT
the paper's DeiT-S / 224 px): SynthFER ``preset`` (default ``'lab'``: clear
expressions, frontal) with background clutter (p=0.9) and occluders (p=0.4), in colour, ``img_size`` px, ``num_train`` training / ``num_test``
clean test images, ``noise`` symmetric label noise on the training labels
(``clean_label`` kept). Models: the CPU configs
``configs/mvt/{mgn,mvt}_vit-tiny-112px-cpu_synthfer.py`` shrunk further with
``--cfg-options`` (patch 8, width 64, 2 heads, classifier depth 3, generator 1
block, from scratch). Stage 1 trains ``epochs_mgn`` epochs, stage 2 ``epochs``
epochs; relabeling (delta = 0.2) starts at ``relabel_start`` (0-based).

Runs per seed (all on the same noisy training set, evaluated on the clean test split):

* Table 1: mask ratio m in {0 (no MGN), 0.10, 0.15, 0.20}, no relabeling.
* Table 2: no MGN, relabeling with f in {constant (SCN), linear, quadratic, sigmoid}; also
  counts relabel events, events that restored the clean label, and the final share of wrong labels.
* Table 3: baseline (= Table 1 m=0) / +MGN (m=0.15) / +relabel (sigmoid) / both.

Writes ``<out>/results.json`` (every run) and ``<out>/tables.md`` (mean ± std over seeds).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import os.path as osp
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

STAGE1 = osp.join(ROOT, 'configs/mvt/mgn_vit-tiny-112px-cpu_synthfer.py')
STAGE2 = osp.join(ROOT, 'configs/mvt/mvt_vit-tiny-112px-cpu_synthfer.py')
F_KINDS = ('constant', 'linear', 'quadratic', 'sigmoid')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='work_dirs/mvt_sweeps')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--tables', type=int, nargs='+', default=[1, 2, 3], choices=[1, 2, 3])
    p.add_argument('--img-size', type=int, default=64)
    p.add_argument('--num-train', type=int, default=1500)
    p.add_argument('--num-test', type=int, default=500)
    p.add_argument('--noise', type=float, default=0.2, help='symmetric label-noise rate of the training set')
    p.add_argument('--epochs-mgn', type=int, default=3)
    p.add_argument('--epochs', type=int, default=12)
    p.add_argument('--relabel-start', type=int, default=7)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--gamma', type=float, default=0.97, help='ExponentialLR decay per epoch')
    p.add_argument('--preset', default='lab', help='SynthFER domain preset (expression strength, pose)')
    p.add_argument('--clutter', type=float, default=0.9, help='probability of background clutter')
    p.add_argument('--occlusion', type=float, default=0.4, help='probability of an occluder')
    return p.parse_args(argv)


def data_options(a, seed: int) -> list[str]:
    cache = osp.abspath(osp.join(a.out, 'cache'))
    opts = []
    for loader, n in (
        ('train_dataloader', a.num_train),
        ('val_dataloader', a.num_test),
        ('test_dataloader', a.num_test),
    ):
        ds = f'{loader}.dataset'
        opts += [f'{loader}.batch_size=32', f'{loader}.num_workers=0', f'{ds}.num_samples={n}',
                 f'{ds}.img_size={a.img_size}', f'{ds}.seed=0', f'{ds}.cache_dir={cache}',
                 f'{ds}.pipeline.1.scale=({a.img_size},{a.img_size})']  # fmt: skip
    opts.append('train_dataloader.dataset.label_noise.type=symmetric')
    opts.append(f'train_dataloader.dataset.label_noise.rate={a.noise}')
    opts += [f'randomness.seed={seed}', f'param_scheduler.0.gamma={a.gamma}', 'default_hooks.logger.interval=1000', 'log_level=WARNING',
             'default_hooks.checkpoint.save_best=None', 'default_hooks.checkpoint.max_keep_ckpts=1']  # fmt: skip
    return opts


def vit_options(prefix: str, a, depth_key: str, depth: int, pretrained: bool = True) -> list[str]:
    opts = [f'{prefix}.img_size={a.img_size}', f'{prefix}.patch_size=8', f'{prefix}.embed_dim=64',
            f'{prefix}.num_heads=2', f'{prefix}.{depth_key}={depth}']  # fmt: skip
    if pretrained:
        opts.append(f'{prefix}.pretrained=None')
    return opts


def domain(a) -> dict:
    """SynthFER domain of the sweeps: clear expressions, heavy clutter and occluders."""
    return dict(
        preset=a.preset,
        nuisance=dict(clutter_prob=a.clutter, occlusion=dict(prob=a.occlusion), gray_prob=0.0),
    )


def train(a, config: str, work: str, opts: list[str]):
    """``tools/train.py`` in-process, with the SynthFER domain dict set on every split."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from tools.train import merge_args, parse_args

    args = parse_args([config, '--work-dir', work, '--cfg-options', *opts])
    cfg = merge_args(Config.fromfile(config), args)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.domain = domain(a)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def stage1(a, m: float, seed: int) -> str:

    work = osp.join(a.out, f'mgn_m{m:.2f}_s{seed}')
    ckpt = osp.join(work, f'epoch_{a.epochs_mgn}.pth')
    if osp.isfile(ckpt):
        return ckpt
    opts = data_options(a, seed) + [f'train_cfg.max_epochs={a.epochs_mgn}', f'model.mask_ratio={m}',
                                    f'train_cfg.val_interval={a.epochs_mgn}', 'model.discriminator.head.in_channels=64',
                                    f'optim_wrapper.generator.optimizer.lr={a.lr}',
                                    f'optim_wrapper.discriminator.optimizer.lr={a.lr}']  # fmt: skip
    opts += vit_options('model.generator', a, 'num_blocks', 1)
    opts += vit_options('model.discriminator.backbone', a, 'depth', 3)
    runner = train(a, STAGE1, work, opts)
    area = runner.message_hub.get_scalar('train/mask_area').mean(20)
    json.dump(dict(mask_area=float(area)), open(osp.join(work, 'mask_area.json'), 'w'))
    return ckpt


def stage2(a, seed: int, m: float | None, f: str | None) -> dict:
    from ferlab.engine.hooks import RelabelHook, unwrap_dataset

    name = f'mvt_m{m if m else 0:.2f}_f{f or "none"}_s{seed}'
    work = osp.join(a.out, name)
    opts = data_options(a, seed) + [f'train_cfg.max_epochs={a.epochs}', f'train_cfg.val_interval={a.epochs}',
                                    'model.head.in_channels=64', f'optim_wrapper.optimizer.lr={a.lr}']  # fmt: skip
    opts += vit_options('model.backbone', a, 'depth', 3)
    if m:
        ckpt = stage1(a, m, seed)
        opts += vit_options('model.mgn', a, 'num_blocks', 1, pretrained=False)
        opts.append(f'model.mgn_checkpoint={ckpt}')
    else:
        opts += ['model.mgn=None', 'model.mgn_checkpoint=None']
    if f:
        opts += [f'custom_hooks.1.threshold={f}', f'custom_hooks.1.start_epoch={a.relabel_start}']
    else:  # an unreachable start epoch: the hook never relabels
        opts.append('custom_hooks.1.start_epoch=100000')
    t0 = time.time()
    runner = train(a, STAGE2, work, opts)
    metrics = runner.test()
    rec = dict(name=name, seed=seed, m=m or 0.0, f=f, acc=float(metrics['accuracy']),
               mean_class_acc=float(metrics.get('mean_class_accuracy', float('nan'))), seconds=time.time() - t0)  # fmt: skip
    hook = next(h for h in runner.hooks if isinstance(h, RelabelHook))
    ds = unwrap_dataset(runner.train_dataloader.dataset)
    clean = ds.get_clean_labels()
    annotated = np.array(
        [ds.get_data_info(i).get('ori_label', ds.get_data_info(i)['gt_label']) for i in range(len(ds))]
    )
    served = ds.get_gt_labels()
    rec.update(
        relabel_events=int(sum(h['count'] for h in hook.history)),
        relabel_correct=int(sum(h.get('correct', 0) for h in hook.history)),
        wrong_before=int((annotated != clean).sum()),
        wrong_after=int((served != clean).sum()),
        changed=int((served != annotated).sum()),
        fixed=int(((annotated != clean) & (served == clean)).sum()),
        broken=int(((annotated == clean) & (served != clean)).sum()),
    )
    if m:
        rec['mask_area'] = json.load(open(osp.join(a.out, f'mgn_m{m:.2f}_s{seed}', 'mask_area.json')))[
            'mask_area'
        ]
    return rec


def summarise(results: list[dict], a) -> str:
    def stat(rows, key='acc'):
        v = np.array([r[key] for r in rows], float)
        return f'{v.mean():.2f} ± {v.std():.2f}' if len(v) > 1 else f'{v.mean():.2f}'

    def pick(m, f):
        return [r for r in results if abs(r['m'] - m) < 1e-9 and r['f'] == f]

    seeds = sorted({r['seed'] for r in results})
    out = [f'SynthFER preset {a.preset!r} with clutter p={a.clutter}, occluders p={a.occlusion}, {a.img_size}px, {a.num_train} train ({a.noise:.0%} symmetric noise) / {a.num_test} clean '
           f'test, tiny ViT (patch 8, dim 64, depth 3), MGN 1 block, {a.epochs_mgn}+{a.epochs} epochs, '
           f'relabel from epoch {a.relabel_start}, seeds {seeds}. Accuracy (%) on the clean test split, mean ± std.', '']  # fmt: skip
    out += ['Table 1 (mask ratio m)', '', '| m | accuracy | realised mask area |', '|---|---|---|']
    for m in (0.0, 0.10, 0.15, 0.20):
        rows = pick(m, None)
        if rows:
            area = stat(rows, 'mask_area') if m else '-'
            out.append(f'| {m:.2f} | {stat(rows)} | {area} |')
    out += ['', 'Table 2 (relabel function f, no MGN)', '',
            '| f | accuracy | relabel events | events to the clean label | wrong labels before → after | fixed / broken |',
            '|---|---|---|---|---|---|']  # fmt: skip
    for f in (None,) + F_KINDS:
        rows = pick(0.0, f)
        if rows:
            out.append(f'| {f or "none"} | {stat(rows)} | {stat(rows, "relabel_events")} | '
                       f'{stat(rows, "relabel_correct")} | {stat(rows, "wrong_before")} → {stat(rows, "wrong_after")} '
                       f'| {stat(rows, "fixed")} / {stat(rows, "broken")} |')  # fmt: skip
    out += ['', 'Table 3 (components)', '', '| MGN | relabel | accuracy |', '|---|---|---|']
    for m, f in ((0.0, None), (0.15, None), (0.0, 'sigmoid'), (0.15, 'sigmoid')):
        rows = pick(m, f)
        if rows:
            out.append(f'| {"✓" if m else "✗"} | {"✓" if f else "✗"} | {stat(rows)} |')
    return '\n'.join(out) + '\n'


def main(argv=None):
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    import torch

    torch.set_num_threads(1)
    from ferlab.utils import register_all_modules

    register_all_modules()
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    plan = []
    if 1 in a.tables or 3 in a.tables:
        plan += [(0.0, None)]
    if 1 in a.tables:
        plan += [(0.10, None), (0.15, None), (0.20, None)]
    if 2 in a.tables:
        plan += [(0.0, f) for f in F_KINDS]
    if 3 in a.tables:
        plan += [(0.15, None), (0.0, 'sigmoid'), (0.15, 'sigmoid')]
    plan = list(dict.fromkeys(plan))
    path = osp.join(a.out, 'results.json')
    results = json.load(open(path)) if osp.isfile(path) else []
    done = {(r['seed'], r['m'], r['f']) for r in results}
    for seed in a.seeds:
        for m, f in plan:
            if (seed, m, f) in done:
                continue
            rec = stage2(a, seed, m, f)
            print(json.dumps(rec), flush=True)
            results.append(rec)
            json.dump(results, open(path, 'w'), indent=1)
    table = summarise([r for r in results if r['seed'] in a.seeds], a)
    open(osp.join(a.out, 'tables.md'), 'w').write(table)
    print(table)
    return results


if __name__ == '__main__':
    main()
