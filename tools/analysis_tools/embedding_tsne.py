"""t-SNE of a classifier's test embeddings with cluster-quality scores (ARBEx paper, Fig. 6).

``python tools/analysis_tools/embedding_tsne.py CONFIG CHECKPOINT [--out DIR] [--max-samples N]``

Works for any ferlab classifier whose model has ``extract_feat`` (``FERClassifier`` and its
subclasses): the embedding of a test image is the last output of ``model.extract_feat`` (the neck's
output, e.g. the pooled trunk feature the head reads), flattened to ``(D,)``. The model is loaded with
:func:`ferlab.apis.init_model` (safe checkpoint loading) and runs in eval mode, where a sample's
embedding does not depend on its batch-mates (BatchNorm uses running statistics, dropout is off).

The samples are ``--max-samples`` images spread evenly over the config's test split (every
``len / N``-th, so a class-sorted folder still gives every class). Two scores of the clustering by
the ground-truth class are computed on the ``(N, D)`` EMBEDDINGS, not on the 2-D map:

* Davies-Bouldin (lower is better; Davies & Bouldin 1979): mean over classes of the largest
  ``(s_i + s_j) / d(c_i, c_j)`` with ``s_i`` the mean distance of class ``i`` to its centroid;
* Calinski-Harabasz (higher is better; Calinski & Harabasz 1974): between-class over within-class
  dispersion, times ``(N - C) / (C - 1)``,

both by :mod:`sklearn.metrics`. The paper does not say on which space it computed them; the same two
scores on the 2-D t-SNE map are stored too (``tsne_map_scores``), for comparison only.

Output in ``--out`` (default ``work_dirs/embedding_tsne/<config name>``):

* ``tsne.png``: the 2-D map (sklearn ``TSNE``, seeded, PCA initialisation), one colour per class,
  the two embedding scores in the title;
* ``tsne.json``: ``davies_bouldin``, ``calinski_harabasz``, ``scores_on`` (``'embeddings'``), ``n``,
  ``dim``, ``classes``, ``class_counts``, the sample ``indices``, the t-SNE settings, versions;
* ``tsne.npz``: ``embeddings`` ``(N, D)``, ``coords`` ``(N, 2)``, ``labels`` ``(N,)``, ``indices``.
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


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(
        description='t-SNE of test embeddings with Davies-Bouldin / Calinski-Harabasz'
    )
    p.add_argument('config', help='config file of the classifier')
    p.add_argument('checkpoint', help='checkpoint written by tools/train.py')
    p.add_argument('--out', help='output folder (default work_dirs/embedding_tsne/<config name>)')
    p.add_argument(
        '--max-samples', type=int, default=2000, help='test images used, spread evenly (default 2000)'
    )
    p.add_argument('--batch-size', type=int, default=64, help='images per forward pass (eval mode)')
    p.add_argument('--perplexity', type=float, default=30.0, help='t-SNE perplexity (capped at (N - 1) / 3)')
    p.add_argument('--seed', type=int, default=0, help='seed of the t-SNE')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={}, help='override config entries')
    return p.parse_args(argv)


def _check(a) -> None:
    from ferlab.utils.errors import CliUsageError, InputFileNotFoundError

    if not osp.isfile(a.config):
        raise InputFileNotFoundError(f'config file {a.config!r} does not exist')
    if not osp.isfile(a.checkpoint):
        raise InputFileNotFoundError(f'checkpoint file {a.checkpoint} does not exist')
    if a.max_samples < 3:
        raise CliUsageError(f'--max-samples must be >= 3 (t-SNE and the scores need it), got {a.max_samples}')
    if a.batch_size < 1:
        raise CliUsageError(f'--batch-size must be >= 1, got {a.batch_size}')
    if a.perplexity <= 0:
        raise CliUsageError(f'--perplexity must be > 0, got {a.perplexity}')


def spread_indices(length: int, n: int) -> np.ndarray:
    """``min(n, length)`` distinct indices spread evenly over ``range(length)`` (all when ``n >= length``)."""
    if n >= length:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, n).round().astype(int))


def extract_embeddings(model, dataset, indices, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings and ground-truth labels of ``dataset[indices]``.

    Args:
        model: A classifier in eval mode with ``data_preprocessor`` and ``extract_feat``.
        dataset: A built test dataset (its pipeline packs ``inputs`` and ``data_samples``).
        indices: Sample indices, in the order returned.
        batch_size: Images per forward pass.

    Returns:
        ``(embeddings (N, D) float64, labels (N,) int64)``; the embedding is the last
        output of ``extract_feat`` flattened per sample.
    """
    import torch
    from mmengine.dataset import pseudo_collate

    embs, labels = [], []
    indices = list(indices)
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            items = [dataset[int(i)] for i in indices[start : start + batch_size]]
            batch = model.data_preprocessor(pseudo_collate(items), False)
            feat = model.extract_feat(batch['inputs'])[-1]
            embs.append(feat.flatten(1).double().cpu().numpy())
            labels += [int(s.gt_label) for s in batch['data_samples']]
    return np.concatenate(embs), np.asarray(labels, dtype=np.int64)


def cluster_scores(points: np.ndarray, labels: np.ndarray) -> dict:
    """Davies-Bouldin (↓) and Calinski-Harabasz (↑) of ``points`` ``(N, D)`` grouped by ``labels`` ``(N,)``."""
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    return dict(
        davies_bouldin=float(davies_bouldin_score(points, labels)),
        calinski_harabasz=float(calinski_harabasz_score(points, labels)),
    )


def tsne_map(points: np.ndarray, perplexity: float, seed: int) -> tuple[np.ndarray, float]:
    """2-D t-SNE of ``points`` ``(N, D)`` (PCA init, seeded); returns ``(coords (N, 2), perplexity used)``."""
    from sklearn.manifold import TSNE

    perplexity = float(min(perplexity, (len(points) - 1) / 3.0))
    coords = TSNE(n_components=2, perplexity=perplexity, init='pca', random_state=seed).fit_transform(points)
    return coords, perplexity


def plot_map(coords, labels, classes, title, path) -> None:
    """Scatter of the ``(N, 2)`` map, one colour per class present, legend with the class names."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    cmap = plt.get_cmap('tab10' if len(classes) <= 10 else 'tab20')
    for c in np.unique(labels):
        sel = labels == c
        ax.scatter(coords[sel, 0], coords[sel, 1], s=6, color=cmap(int(c) % cmap.N), label=classes[int(c)])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    ax.legend(markerscale=3, fontsize=7, loc='best')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> dict:
    import sklearn
    import torch
    from mmengine.config import Config

    from ferlab.apis import init_model
    from ferlab.registry import DATASETS
    from ferlab.utils import apply_cfg_options, register_all_modules
    from ferlab.utils.errors import CliUsageError

    a = parse_args(argv)
    _check(a)
    register_all_modules()
    cfg = apply_cfg_options(Config.fromfile(a.config), a.cfg_options)
    model = init_model(cfg, a.checkpoint)
    if not hasattr(model, 'extract_feat'):
        raise CliUsageError(
            f'{a.config}: model {type(model).__name__} has no extract_feat (not a classifier)'
        )
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    classes = list(dataset.metainfo.get('classes') or [])
    indices = spread_indices(len(dataset), a.max_samples)
    emb, labels = extract_embeddings(model, dataset, indices, a.batch_size)
    if not classes:
        classes = [str(i) for i in range(int(labels.max()) + 1)]
    present = np.unique(labels)
    if len(present) < 2:
        raise CliUsageError(
            f'{a.config}: the {len(labels)} test samples are all of one class; the scores need two'
        )
    if len(present) >= len(labels):
        raise CliUsageError(
            f'{a.config}: {len(labels)} samples in {len(present)} classes; Calinski-Harabasz needs N > C'
        )
    scores = cluster_scores(emb, labels)
    coords, perplexity = tsne_map(emb, a.perplexity, a.seed)
    out = a.out or osp.join('work_dirs', 'embedding_tsne', osp.splitext(osp.basename(a.config))[0])
    os.makedirs(out, exist_ok=True)
    title = (
        f'{osp.splitext(osp.basename(a.config))[0]}: t-SNE of {len(labels)} test embeddings (D={emb.shape[1]})\n'
        f'on the embeddings: Davies-Bouldin {scores["davies_bouldin"]:.3f} (↓), '
        f'Calinski-Harabasz {scores["calinski_harabasz"]:.1f} (↑)'
    )
    plot_map(coords, labels, classes, title, osp.join(out, 'tsne.png'))
    record = dict(
        config=a.config,
        checkpoint=a.checkpoint,
        cfg_options=[f'{k}={v}' for k, v in a.cfg_options.items()],
        **scores,
        scores_on='embeddings',
        embedding='last output of model.extract_feat (the neck output), flattened',
        n=int(len(labels)),
        dim=int(emb.shape[1]),
        classes=classes,
        class_counts={classes[int(c)]: int((labels == c).sum()) for c in present},
        tsne_map_scores=cluster_scores(coords, labels),
        tsne=dict(perplexity=perplexity, init='pca', seed=a.seed),
        indices=[int(i) for i in indices],
        torch=torch.__version__,
        sklearn=sklearn.__version__,
    )
    with open(osp.join(out, 'tsne.json'), 'w') as f:
        json.dump(record, f, indent=1)
    np.savez(osp.join(out, 'tsne.npz'), embeddings=emb, coords=coords, labels=labels, indices=indices)
    print(
        f'{len(labels)} embeddings (D={emb.shape[1]}): Davies-Bouldin {scores["davies_bouldin"]:.4f}, '
        f'Calinski-Harabasz {scores["calinski_harabasz"]:.2f}; wrote {out}/tsne.png, tsne.json, tsne.npz'
    )
    return record


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
