"""Scaled-down DAN ablations on SynthFER (analogues of the paper's Tables 1-2, Fig. 5, head diversity).

Usage (docs/dan.md's Results: 15 runs, ~20 min of training on one contended core)::

    ARGS="--out work_dirs/dan_sweeps_lab48 --preset lab --img-size 48 --num-train 1200 \
          --num-test 400 --stages 3 --epochs 8 --batch-size 32 --lr 1e-3 --optim adamw"
    OMP_NUM_THREADS=1 python tools/analysis_tools/dan_sweeps.py $ARGS --seeds 0 --variants baseline
    OMP_NUM_THREADS=1 python tools/analysis_tools/dan_sweeps.py $ARGS --seeds 0 1 \
        --variants none center dan no_pt k1 k2 k8

Data options: ``--preset`` (SynthFER domain preset), ``--clutter`` / ``--occlusion``
(override the preset's background-clutter / occluder rates), ``--img-size``,
``--num-train`` / ``--num-test``, ``--data-seed`` (rendering seed; the data are
the same for every run and training seed). ``--variants`` runs a subset
(e.g. ``--variants dan`` to calibrate a setting).

Every run builds a ``FERClassifier`` from a config dict (ResNet-18 trunk cut
after ``--stages`` stages, ``MultiHeadCrossAttention``, ``AttentionFusionHead``)
through the registry and trains it with SGD (momentum 0.9, wd 1e-4; the
paper's optimiser) or AdamW (``--optim adamw``, wd 0.05), lr ``--lr`` with a
step decay x0.1 at 2/3 of training (the paper's step schedule, compressed) on a SynthFER train split rendered at ``--img-size``, then
evaluates on the SynthFER test split (disjoint identities). Reported per run:
accuracy, mean class accuracy, and the mean pairwise overlap (histogram
intersection, :func:`ferlab.visualization.head_overlap`) of the heads'
spatial attention maps on the test set. Results go to ``OUT/results.json``
and a Markdown table ``OUT/results.md``; runs already in ``results.json`` are
skipped, so an interrupted sweep resumes.

Variants: ``baseline`` (trunk + GAP + linear, no MAN/AFN), ``none`` (CE +
partition), ``center`` (+ center loss), ``dan`` (+ affinity loss: the full
model), ``no_pt`` (CE + affinity), ``k1``/``k2``/``k8`` (full model with k
heads; ``dan`` is k = 4). The affinity loss is averaged over the batch as in
``configs/dan`` (``--affinity-reduction sum`` gives Eq. 2 as printed).
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ferlab.registry import DATASETS, MODELS  # noqa: E402
from ferlab.structures import FERDataSample  # noqa: E402
from ferlab.utils import register_all_modules  # noqa: E402
from ferlab.visualization import head_overlap  # noqa: E402

STUDIES = {
    'table1': ['baseline', 'none', 'center', 'dan'],
    'table2': ['no_pt', 'dan'],
    'fig5': ['k1', 'k2', 'dan', 'k8'],
}


def variant_losses(name: str, af_reduction: str = 'mean') -> tuple[int, dict | None, dict | None]:
    """``(num_heads, partition_loss, feature_loss)`` of a variant.

    ``af_reduction``: the affinity loss's batch reduction; ``'mean'`` (the
    public code and ``configs/dan/_base_/dan_r18.py``) or ``'sum'`` (Eq. 2 as
    printed, i.e. ``batch_size`` times larger at the same λ1 = 1).
    """
    pt = dict(type='PartitionLoss', mode='paper')
    af = dict(type='AffinityLoss', reduction=af_reduction)
    table = {
        'none': (4, pt, None),
        'center': (4, pt, dict(type='CenterLoss')),
        'dan': (4, pt, af),
        'no_pt': (4, None, af),
        'k1': (1, pt, af),
        'k2': (2, pt, af),
        'k8': (8, pt, af),
        # diagnostics for the k = 2 failure (docs/dan.md), not rows of the paper
        'k2_no_pt': (2, None, af),
        'k3': (3, pt, af),
    }
    if name not in table:
        raise KeyError(f'unknown variant {name!r}; choose from {sorted(table)}')
    return table[name]


def model_cfg(variant: str, stages: int, num_classes: int, af_reduction: str = 'mean') -> dict:
    channels = 64 * 2 ** (stages - 1)
    if variant == 'baseline':  # the plain trunk + GAP + linear classifier (the paper's "Baseline")
        return dict(
            type='FERClassifier',
            backbone=dict(type='ResNet', depth=18, num_stages=stages, out_indices=(stages - 1,)),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=channels),
        )
    # '<variant>_nofuse': the same model without Eq. 5's log-softmax across heads (plain sum),
    # a diagnostic for the fusion (e.g. k2_nofuse), not one of the paper's rows
    fuse = not variant.endswith('_nofuse')
    k, pt, feat = variant_losses(variant.removesuffix('_nofuse'), af_reduction)
    return dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, num_stages=stages, out_indices=(stages - 1,)),
        neck=dict(type='MultiHeadCrossAttention', in_channels=channels, num_heads=k),
        head=dict(
            type='AttentionFusionHead',
            num_classes=num_classes,
            in_channels=channels,
            partition_loss=pt,
            affinity_loss=feat,
            fuse_log_softmax=fuse,
        ),
    )


def domain_cfg(preset: str, clutter: float | None = None, occlusion: float | None = None) -> str | dict:
    """SynthFER ``domain`` argument: a preset name, or the preset with clutter / occluder rates overridden."""
    nuisance = {}
    if clutter is not None:
        nuisance['clutter_prob'] = clutter
    if occlusion is not None:
        nuisance['occlusion'] = dict(prob=occlusion)
    return dict(preset=preset, nuisance=nuisance) if nuisance else preset


def load_split(
    split: str, n: int, img_size: int, seed: int = 0, domain: str | dict = 'default'
) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    ds = DATASETS.build(
        dict(type='SynthFER', split=split, num_samples=n, img_size=img_size, seed=seed, domain=domain)
    )
    imgs = np.stack([ds.get_data_info(i)['img'] for i in range(len(ds))])  # (N, H, W, 3) BGR uint8
    labels = torch.as_tensor(np.asarray(ds.get_gt_labels()), dtype=torch.long)
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), labels, ds.metainfo['classes']


def evaluate(model, imgs, labels, num_classes, batch_size=200) -> dict:
    model.eval()
    preds, overlaps = [], []
    with torch.no_grad():
        for i in range(0, len(imgs), batch_size):
            x = model.data_preprocessor({'inputs': imgs[i : i + batch_size]})['inputs']
            feats = model.extract_feat(x)
            preds.append(model.head(feats).argmax(1))
            if hasattr(model.head, 'get_attention_maps'):
                maps = model.head.get_attention_maps(feats)
                if maps.size(1) > 1:
                    overlaps.append(head_overlap(maps))
    pred = torch.cat(preds)
    acc = (pred == labels).float().mean().item() * 100
    per_class = [
        (pred[labels == c] == c).float().mean().item() for c in range(num_classes) if (labels == c).any()
    ]
    out = dict(accuracy=acc, mean_class_accuracy=float(np.mean(per_class)) * 100)
    out['head_overlap'] = torch.cat(overlaps).mean().item() if overlaps else None
    return out


def train_one(variant, seed, data, args) -> dict:
    imgs, labels, test_imgs, test_labels, classes = data
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = MODELS.build(model_cfg(variant, args.stages, len(classes), args.affinity_reduction))
    model.init_weights()
    if args.optim == 'sgd':
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    steps_per_epoch = len(imgs) // args.batch_size
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(total * 2 / 3)], 0.1)
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    model.train()
    last = {}
    for _ in range(args.epochs):
        perm = torch.randperm(len(imgs), generator=g)
        for s in range(steps_per_epoch):
            idx = perm[s * args.batch_size : (s + 1) * args.batch_size]
            x = imgs[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            samples = [FERDataSample().set_gt_label(int(v)) for v in labels[idx]]
            batch = model.data_preprocessor({'inputs': x, 'data_samples': samples}, True)
            losses = model(batch['inputs'], batch['data_samples'], mode='loss')
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise FloatingPointError(f'{variant} seed {seed}: non-finite loss {losses}')
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            last = {k: round(v.item(), 4) for k, v in losses.items()}
    res = evaluate(model, test_imgs, test_labels, len(classes))
    res.update(variant=variant, seed=seed, train_seconds=round(time.time() - t0, 1), final_losses=last)
    return res


def summarise(results: list[dict]) -> str:
    lines = [
        '| study | variant | seeds | accuracy (%) | per seed | mean class acc. (%) | head overlap | train s |',
        '|---|---|---|---|---|---|---|---|',
    ]
    rows = [(study, v) for study, variants in STUDIES.items() for v in variants]
    listed = {v for _, v in rows}
    rows += [('diagnostic', v) for v in dict.fromkeys(r['variant'] for r in results) if v not in listed]
    for study, v in rows:
        rs = sorted((r for r in results if r['variant'] == v), key=lambda r: r['seed'])
        if not rs:
            continue
        acc = np.array([r['accuracy'] for r in rs])
        mca = np.array([r['mean_class_accuracy'] for r in rs])
        ov = [r['head_overlap'] for r in rs if r['head_overlap'] is not None]
        ov_s = f'{np.mean(ov):.3f} ± {np.std(ov):.3f}' if ov else 'n/a'
        seeds = ','.join(str(r['seed']) for r in rs)
        per_seed = ', '.join(f'{r["accuracy"]:.2f}' for r in rs)
        secs = np.mean([r['train_seconds'] for r in rs])
        lines.append(
            f'| {study} | {v} | {seeds} | {acc.mean():.2f} ± {acc.std():.2f} | {per_seed} | '
            f'{mca.mean():.2f} ± {mca.std():.2f} | {ov_s} | {secs:.0f} |'
        )
    return '\n'.join(lines) + '\n'


def plot(results: list[dict], out_dir: str) -> list[str]:
    """``head_overlap.png`` (overlap per variant, mean ± std over seeds) and ``heads_k.png`` (accuracy vs k)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    written = []
    variants = [
        v for v in ('none', 'center', 'dan', 'no_pt', 'k2', 'k8') if any(r['variant'] == v for r in results)
    ]
    ov = {
        v: [r['head_overlap'] for r in results if r['variant'] == v and r['head_overlap'] is not None]
        for v in variants
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
        path = osp.join(out_dir, 'head_overlap.png')
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    ks = {1: 'k1', 2: 'k2', 4: 'dan', 8: 'k8'}
    acc = {k: [r['accuracy'] for r in results if r['variant'] == v] for k, v in ks.items()}
    acc = {k: a for k, a in acc.items() if a}
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
        path = osp.join(out_dir, 'heads_k.png')
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description='Scaled-down DAN ablations on SynthFER')
    parser.add_argument('--out', default='work_dirs/dan_sweeps')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--studies', nargs='+', default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument(
        '--variants', nargs='+', default=None, help='run only these variants (overrides --studies)'
    )
    parser.add_argument(
        '--preset', default='default', help="SynthFER domain preset ('default', 'lab', 'wild', ...)"
    )
    parser.add_argument(
        '--clutter', type=float, default=None, help='override the preset background clutter rate'
    )
    parser.add_argument('--occlusion', type=float, default=None, help='override the preset occluder rate')
    parser.add_argument(
        '--data-seed', type=int, default=0, help='SynthFER rendering seed (same data for all runs)'
    )
    parser.add_argument('--num-train', type=int, default=1500)
    parser.add_argument('--num-test', type=int, default=700)
    parser.add_argument('--img-size', type=int, default=48)
    parser.add_argument('--stages', type=int, default=2, help='ResNet-18 stages kept (4 = full)')
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--lr', type=float, default=0.05)
    parser.add_argument('--optim', choices=['sgd', 'adamw'], default='sgd', help='SGD: momentum 0.9, wd 1e-4')
    parser.add_argument(
        '--affinity-reduction',
        choices=['mean', 'sum'],
        default='mean',
        help="affinity loss over the batch: 'mean' (public code, configs/dan) or 'sum' (Eq. 2 as printed)",
    )
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    register_all_modules()
    os.makedirs(args.out, exist_ok=True)
    res_path = osp.join(args.out, 'results.json')
    results = json.load(open(res_path)) if osp.isfile(res_path) else []
    skip = ('out', 'seeds', 'studies', 'variants', 'threads')
    settings = {k: v for k, v in vars(args).items() if k not in skip}
    results = [r for r in results if r.get('settings') == settings]
    domain = domain_cfg(args.preset, args.clutter, args.occlusion)
    t0 = time.time()
    imgs, labels, classes = load_split('train', args.num_train, args.img_size, args.data_seed, domain)
    test_imgs, test_labels, _ = load_split('test', args.num_test, args.img_size, args.data_seed, domain)
    print(f'rendered SynthFER {domain!r} at {args.img_size} px in {time.time() - t0:.1f} s', flush=True)
    data = (imgs, labels, test_imgs, test_labels, classes)
    variants = args.variants or list(dict.fromkeys(v for s in args.studies for v in STUDIES[s]))
    for seed in args.seeds:
        for v in variants:
            if any(r['variant'] == v and r['seed'] == seed for r in results):
                continue
            r = train_one(v, seed, data, args)
            r['settings'] = settings
            results.append(r)
            print(
                json.dumps(
                    {k: r[k] for k in ('variant', 'seed', 'accuracy', 'head_overlap', 'train_seconds')}
                ),
                flush=True,
            )
            with open(res_path, 'w') as f:
                json.dump(results, f, indent=1)
    table = summarise(results)
    with open(osp.join(args.out, 'results.md'), 'w') as f:
        f.write(f'settings: {json.dumps(settings)}\n\n' + table)
    print(table)
    for path in plot(results, args.out):
        print(f'wrote {path}')
    return results


if __name__ == '__main__':
    main()
