"""Measure the AU-to-expression bias between FER datasets (AU-ViT, Mao et al., Sec. III-A, Fig. 2-3).

    python tools/analysis_tools/dataset_bias.py CONFIG[::KEY=VALUE...] CONFIG[::...] \\
        [--names A B] [--split train] [--out-dir DIR] [--max-per-class N] [--au-threshold T]

Each positional argument is a ferlab config (any dataset config or full config);
the dataset analysed is its ``<split>_dataloader.dataset``. ``::KEY=VALUE``
overrides apply to that config only (mmengine ``--cfg-options`` syntax), e.g.
``configs/_base_/datasets/synthfer.py::train_dataloader.dataset.domain=alt_convention``.
A :class:`~ferlab.datasets.MultiSourceDataset` counts as one dataset per source.

Outputs in ``--out-dir``:

* ``mean_images.png``: the expression-specific mean images (Fig. 2), one row
  per dataset, one column per expression; each face resized to 112×112 (INTER_AREA)
  before averaging (the paper also re-crops every set to RAF-DB's face ratio;
  ferlab's datasets serve aligned faces, which are used as they are).
* ``au_means.csv``: per dataset and expression the number of images and the
  mean AU vector over the 13 AUs shared by the analysis
  (:data:`~ferlab.datasets.au_vocabulary.BIAS_SHARED_AUS`: 01 02 04 05 06 09 10
  12 15 17 20 25 26). Each AU is averaged over the images that annotate it
  (``gt_au_mask``); an AU no image of the class annotates is empty.
* ``au_distance.csv`` and ``au_distance.png``: for every pair of datasets and
  every expression both have, the cosine distance ``1 - a·b / (|a| |b|)``
  between their mean AU vectors, over the AUs known in both (Fig. 3). The
  heatmap marks distances > 0.3 (not "similar enough", dashed frame) and
  > 0.5 ("different enough", solid frame), the paper's two thresholds. A
  distance is undefined (empty) when one vector is 0 or no AU is shared.
* ``summary.json``: everything above as numbers.

AU values are taken as served (``gt_aus``, or ``au_label`` with the dataset's
``metainfo['au_names']``; SynthFER's rendered intensities in its ``AU_LIST``
order); ``--au-threshold T`` turns them into occurrences (``>= T``), as
OpenFace's ``AUxx_c`` or binary annotations are. ``--images-only`` skips the
AU part (for datasets without AU labels).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from ferlab.datasets.au_vocabulary import BIAS_SHARED_AUS, au_names, map_aus  # noqa: E402
from ferlab.datasets.categories import canonical  # noqa: E402
from ferlab.registry import DATASETS  # noqa: E402
from ferlab.utils import apply_cfg_options, register_all_modules  # noqa: E402
from ferlab.utils.errors import FerlabInputError  # noqa: E402

MEAN_SIZE = 112
#: The paper's thresholds: below 0.3 similar enough, above 0.5 different enough (Fig. 3).
SIMILAR, DIFFERENT = 0.3, 0.5


class BiasInputError(FerlabInputError, ValueError):
    """A dataset cannot be analysed as asked."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Expression-specific mean images and AU cosine distances')
    parser.add_argument(
        'datasets', nargs='+', help='CONFIG or CONFIG::key=value::key=value (one per dataset)'
    )
    parser.add_argument('--names', nargs='+', help='dataset names (default: config stem, or stem-N)')
    parser.add_argument(
        '--split', default='train', choices=('train', 'val', 'test'), help='dataloader to read'
    )
    parser.add_argument('--out-dir', default='work_dirs/dataset_bias')
    parser.add_argument('--max-per-class', type=int, default=None, help='first N images of each class')
    parser.add_argument('--au-threshold', type=float, default=None, help='AU value >= T -> 1, else 0')
    parser.add_argument('--images-only', action='store_true', help='mean images only (no AU labels needed)')
    return parser.parse_args(argv)


def load_spec(spec: str, split: str):
    """Build the ``<split>_dataloader.dataset`` of ``CONFIG::k=v...``; a list of ``(suffix, dataset)``."""
    path, *opts = spec.split('::')
    if not osp.isfile(path):
        raise BiasInputError(f'dataset_bias: config {path!r} does not exist')
    options = {}
    for opt in opts:
        if '=' not in opt:
            raise BiasInputError(f'dataset_bias: {spec!r}: override {opt!r} is not KEY=VALUE')
        key, value = opt.split('=', 1)
        options[key] = DictAction._parse_iterable(value)
    cfg = apply_cfg_options(Config.fromfile(path), options)
    loader = cfg.get(f'{split}_dataloader')
    if loader is None or 'dataset' not in loader:
        raise BiasInputError(f'dataset_bias: {path} has no {split}_dataloader.dataset')
    dataset = DATASETS.build(loader['dataset'])
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    if hasattr(dataset, 'source_sizes'):  # MultiSourceDataset: each source on its own
        return [(f'-{s}', d) for s, d in enumerate(dataset.datasets)]
    return [('', dataset)]


def dataset_au_names(dataset) -> tuple[str, ...] | None:
    names = getattr(dataset, 'metainfo', {}).get('au_names')
    if names:
        return au_names(names)
    if getattr(dataset, 'DOCS_ANCHOR', '') == 'synthfer':
        from ferlab.datasets.synthfer.expressions import AU_LIST

        return au_names(AU_LIST)
    return None


def read_image(info: dict, where: str) -> np.ndarray:
    if info.get('img') is not None:
        img = np.asarray(info['img'])
    else:
        path = info.get('img_path')
        img = cv2.imread(path, cv2.IMREAD_COLOR) if path else None
        if img is None:
            raise BiasInputError(f'dataset_bias: {where}: cannot read image {path!r}')
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return cv2.resize(img, (MEAN_SIZE, MEAN_SIZE), interpolation=cv2.INTER_AREA).astype(np.float64)


def collect(name: str, dataset, max_per_class: int | None, with_aus: bool, threshold: float | None) -> dict:
    """Per canonical expression: image count, summed 112² images, AU sums and counts over the 13 AUs."""
    if not getattr(dataset, 'HAS_EXPRESSION', True):
        raise BiasInputError(
            f'dataset_bias: {name} ({type(dataset).__name__}) has no expression labels; '
            'expression-specific statistics need them'
        )
    classes = tuple(dataset.metainfo['classes'])
    src_aus = dataset_au_names(dataset) if with_aus else None
    if with_aus and src_aus is None:
        raise BiasInputError(
            f"dataset_bias: {name} ({type(dataset).__name__}) names no AU list (metainfo['au_names']); "
            'attach AU or pseudo-AU labels (docs/datasets.md) or pass --images-only'
        )
    shared = au_names(BIAS_SHARED_AUS)
    stats: dict[str, dict] = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        label = int(info['gt_label'])
        expr = canonical(classes[label])
        st = stats.setdefault(
            expr, dict(n=0, img=np.zeros((MEAN_SIZE, MEAN_SIZE, 3)), au=np.zeros(13), au_n=np.zeros(13))
        )
        if max_per_class is not None and st['n'] >= max_per_class:
            continue
        where = f'{name} sample {i} ({info.get("img_path", "")})'
        st['img'] += read_image(info, where)
        st['n'] += 1
        if with_aus:
            values = info.get('gt_aus', info.get('au_label'))
            if values is None:
                raise BiasInputError(f'dataset_bias: {where}: no AU labels (gt_aus)')
            mask = info.get('gt_au_mask', info.get('au_mask'))
            values = np.asarray(values, dtype=np.float32)
            if threshold is not None:
                values = (values >= threshold).astype(np.float32)
            v, m = map_aus(values, mask, src_aus, shared)
            st['au'] += v * m
            st['au_n'] += m
    return dict(name=name, stats=stats, order=[canonical(c) for c in classes])


def mean_au(st: dict) -> np.ndarray:
    """``(13,)`` masked mean; NaN for an AU no image of the class annotates."""
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(st['au_n'] > 0, st['au'] / np.maximum(st['au_n'], 1), np.nan)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``1 - cos(a, b)`` over the entries known in both; NaN if undefined."""
    known = ~(np.isnan(a) | np.isnan(b))
    a, b = a[known], b[known]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if not known.any() or na == 0 or nb == 0:
        return float('nan')
    return float(1.0 - np.dot(a, b) / (na * nb))


def expression_order(collected: list[dict]) -> list[str]:
    order: list[str] = []
    for c in collected:
        for e in c['order']:
            if e not in order:
                order.append(e)
    return order


def mean_image_grid(collected: list[dict], order: list[str]) -> np.ndarray:
    """``(H, W, 3)`` uint8 grid: a title row, then one row per dataset (name at left)."""
    pad, left, top = 4, 120, 24
    h = top + len(collected) * (MEAN_SIZE + pad)
    w = left + len(order) * (MEAN_SIZE + pad)
    grid = np.full((h, w, 3), 255, np.uint8)
    for j, expr in enumerate(order):
        x = left + j * (MEAN_SIZE + pad)
        cv2.putText(grid, expr[:12], (x + 2, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for r, c in enumerate(collected):
        y = top + r * (MEAN_SIZE + pad)
        cv2.putText(grid, c['name'][:16], (4, y + MEAN_SIZE // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)  # fmt: skip
        for j, expr in enumerate(order):
            st = c['stats'].get(expr)
            if not st or not st['n']:
                continue
            x = left + j * (MEAN_SIZE + pad)
            grid[y : y + MEAN_SIZE, x : x + MEAN_SIZE] = np.clip(np.rint(st['img'] / st['n']), 0, 255).astype(
                np.uint8
            )
    return grid


def plot_distances(rows: list[dict], order: list[str], pairs: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    mat = np.full((len(pairs), len(order)), np.nan)
    for row in rows:
        mat[pairs.index(row['pair']), order.index(row['expression'])] = row['distance']
    fig, ax = plt.subplots(figsize=(1.1 * len(order) + 2.5, 0.7 * len(pairs) + 1.8))
    im = ax.imshow(np.ma.masked_invalid(mat), cmap='viridis', vmin=0.0, vmax=1.0, aspect='auto')
    for i in range(len(pairs)):
        for j in range(len(order)):
            d = mat[i, j]
            text = '—' if np.isnan(d) else f'{d:.2f}'
            ax.text(
                j,
                i,
                text,
                ha='center',
                va='center',
                color='black' if np.isnan(d) or d > 0.6 else 'white',
                fontsize=9,
            )
            if d > SIMILAR:
                solid = d > DIFFERENT
                ax.add_patch(patches.Rectangle((j - 0.47, i - 0.47), 0.94, 0.94, fill=False, edgecolor='red',
                                               linewidth=2.5 if solid else 1.5, linestyle='-' if solid else '--'))  # fmt: skip
    ax.set_xticks(range(len(order)), order, rotation=30, ha='right')
    ax.set_yticks(range(len(pairs)), pairs)
    ax.set_title('AU cosine distance per expression (13 shared AUs); frame: > 0.3 dashed, > 0.5 solid')
    bar = fig.colorbar(im, ax=ax)
    for t in (SIMILAR, DIFFERENT):
        bar.ax.axhline(t, color='red', linewidth=1.5)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def analyse(collected: list[dict], out_dir: str, with_aus: bool) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    order = expression_order(collected)
    written = [osp.join(out_dir, 'mean_images.png')]
    if not cv2.imwrite(written[0], mean_image_grid(collected, order)):
        raise OSError(f'could not write {written[0]}')
    summary = dict(
        expressions=order,
        datasets=[c['name'] for c in collected],
        counts={c['name']: {e: int(st['n']) for e, st in c['stats'].items()} for c in collected},
        shared_aus=list(au_names(BIAS_SHARED_AUS)),
    )
    if with_aus:
        shared = au_names(BIAS_SHARED_AUS)
        means = {c['name']: {e: mean_au(st) for e, st in c['stats'].items() if st['n']} for c in collected}
        path = osp.join(out_dir, 'au_means.csv')
        with open(path, 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(['dataset', 'expression', 'n'] + list(shared))
            for c in collected:
                for e in order:
                    if e in means[c['name']]:
                        m = means[c['name']][e]
                        w.writerow(
                            [c['name'], e, c['stats'][e]['n']]
                            + ['' if np.isnan(x) else f'{x:.6f}' for x in m]
                        )
        written.append(path)
        rows, pairs = [], []
        for a in range(len(collected)):
            for b in range(a + 1, len(collected)):
                na, nb = collected[a]['name'], collected[b]['name']
                pair = f'{na} vs {nb}'
                pairs.append(pair)
                for e in order:
                    if e in means[na] and e in means[nb]:
                        d = cosine_distance(means[na][e], means[nb][e])
                        rows.append(dict(pair=pair, dataset_a=na, dataset_b=nb, expression=e, distance=d,
                                         n_a=int(collected[a]['stats'][e]['n']),
                                         n_b=int(collected[b]['stats'][e]['n'])))  # fmt: skip
        path = osp.join(out_dir, 'au_distance.csv')
        with open(path, 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(['dataset_a', 'dataset_b', 'expression', 'cosine_distance', 'n_a', 'n_b'])
            for r in rows:
                dist = '' if np.isnan(r['distance']) else f'{r["distance"]:.6f}'
                w.writerow([r['dataset_a'], r['dataset_b'], r['expression'], dist, r['n_a'], r['n_b']])
        written.append(path)
        if pairs:
            written.append(osp.join(out_dir, 'au_distance.png'))
            plot_distances(rows, order, pairs, written[-1])
        summary['au_means'] = {
            n: {e: [None if np.isnan(x) else float(x) for x in v] for e, v in m.items()}
            for n, m in means.items()
        }
        summary['distances'] = [
            dict(r, distance=None if np.isnan(r['distance']) else r['distance']) for r in rows
        ]
    path = osp.join(out_dir, 'summary.json')
    with open(path, 'w') as f:
        json.dump(summary, f, indent=1)
    written.append(path)
    summary['written'] = written
    return summary


def main(argv=None) -> dict:
    args = parse_args(argv)
    register_all_modules()
    datasets = []
    for k, spec in enumerate(args.datasets):
        stem = osp.splitext(osp.basename(spec.split('::')[0]))[0]
        for suffix, ds in load_spec(spec, args.split):
            datasets.append((f'{stem}{suffix}' if not args.names else None, ds, k, suffix))
    if args.names:
        if len(args.names) != len(datasets):
            raise BiasInputError(
                f'dataset_bias: {len(args.names)} --names for {len(datasets)} datasets '
                '(a MultiSourceDataset counts once per source)'
            )
        datasets = [(n, ds, k, s) for n, (_, ds, k, s) in zip(args.names, datasets)]
    names = [d[0] for d in datasets]
    if len(set(names)) != len(names):  # the same config twice with different overrides
        names = [f'{n}-{i}' for i, n in enumerate(names)]
    collected = [
        collect(n, ds, args.max_per_class, not args.images_only, args.au_threshold)
        for n, (_, ds, _, _) in zip(names, datasets)
    ]
    summary = analyse(collected, args.out_dir, not args.images_only)
    for r in summary.get('distances', []):
        d = r['distance']
        flag = '' if d is None else (' > 0.5' if d > DIFFERENT else (' > 0.3' if d > SIMILAR else ''))
        print(f'{r["pair"]:<40} {r["expression"]:<10} {"undefined" if d is None else f"{d:.3f}"}{flag}')
    print('wrote ' + ', '.join(summary['written']))
    return summary


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
