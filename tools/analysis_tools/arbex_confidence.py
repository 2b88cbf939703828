"""Primary vs corrected class distributions of chosen test samples of an ARBEx model (paper, Fig. 5).

``python tools/analysis_tools/arbex_confidence.py CONFIG CHECKPOINT --indices 0 5 17 [--out DIR]``

The model (loaded with :func:`ferlab.apis.init_model`, eval mode) must have a head that writes the
ARBEx analysis fields into its predictions, as ``ReliabilityBalancingHead`` does: ``primary_score``
(the primary distribution l, Eq. 9, "PD" in the paper's figure), ``pred_score`` (``L_final`` after
reliability balancing, Eq. 19, "CD"), ``anchor_score`` (t_g, Eq. 14), ``attn_score`` (t_a, Eq. 17)
and ``confidences`` (``C(l), C(t_g), C(t_a), C(L_final)``, Eq. 10-11). Each index is a sample of the
config's test split, run through ``model.test_step`` on its own; ``--first-changed N`` instead takes
the first N samples whose corrected label differs from the primary one (the cases of Fig. 5).

For every sample the spread of a distribution p over the N classes is its standard deviation
``std(p) = sqrt(mean_i (p_i - 1/N)²)`` (population, ddof 0): 0 for the uniform distribution, largest
for a one-hot one; the paper reads Fig. 5 as the correction raising the top probability of right
labels and flattening wrong ones.

Output in ``--out`` (default ``work_dirs/arbex_confidence/<config name>``):

* ``confidence.png``: one row per sample: the image, and grouped bars of PD and CD per class with
  their std in the legend; the ground-truth class name in green, a wrong primary argmax in orange;
* ``confidence.json``: per sample ``index``, ``gt_label``, ``primary`` / ``corrected`` / ``anchor`` /
  ``attention`` (lists of N), ``primary_std``, ``corrected_std``, ``primary_label``,
  ``corrected_label``, ``confidences`` (dict of the four); ``classes``, ``config``, ``checkpoint``.
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

FIELDS = dict(primary='primary_score', corrected='pred_score', anchor='anchor_score', attention='attn_score')
CONFIDENCE_NAMES = ('primary', 'anchor', 'attention', 'final')


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description='ARBEx primary vs corrected distributions of chosen test samples')
    p.add_argument('config', help='config file of an ARBEx model (ReliabilityBalancingHead)')
    p.add_argument('checkpoint', help='checkpoint written by tools/train.py')
    pick = p.add_mutually_exclusive_group(required=True)
    pick.add_argument('--indices', type=int, nargs='+', help='test-split sample indices')
    pick.add_argument(
        '--first-changed',
        type=int,
        metavar='N',
        help='the first N test samples (in split order) whose corrected label differs from the primary one',
    )
    p.add_argument('--out', help='output folder (default work_dirs/arbex_confidence/<config name>)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={}, help='override config entries')
    return p.parse_args(argv)


def distribution_std(p) -> float:
    """Population standard deviation of a probability vector over its classes."""
    return float(np.std(np.asarray(p, dtype=np.float64)))


def sample_distributions(model, dataset, index: int) -> dict:
    """The head's distributions of ``dataset[index]`` through ``model.test_step`` (a batch of one).

    Raises:
        CliUsageError: the head does not write ``primary_score`` etc. (not an ARBEx head).
    """
    import torch
    from mmengine.dataset import pseudo_collate

    from ferlab.utils.errors import CliUsageError

    with torch.no_grad():
        sample = model.test_step(pseudo_collate([dataset[index]]))[0]
    missing = [f for f in (*FIELDS.values(), 'confidences') if f not in sample]
    if missing:
        raise CliUsageError(
            f'head {type(model.head).__name__} does not write {", ".join(missing)} into its predictions '
            '(an ARBEx ReliabilityBalancingHead does)'
        )
    out = {name: sample.get(field).double().cpu().numpy() for name, field in FIELDS.items()}
    conf = sample.confidences.double().cpu().numpy()
    rec = dict(index=int(index), gt_label=int(sample.gt_label.reshape(-1)[0]))
    rec.update({k: [float(x) for x in v] for k, v in out.items()})
    rec.update(
        primary_std=distribution_std(out['primary']),
        corrected_std=distribution_std(out['corrected']),
        primary_label=int(out['primary'].argmax()),
        corrected_label=int(out['corrected'].argmax()),
        confidences={n: float(c) for n, c in zip(CONFIDENCE_NAMES, conf)},
    )
    return rec


def plot(records: list[dict], images: list, classes: list[str], title: str, path: str) -> None:
    """One row per sample: the image and the PD / CD bars (see the module docstring)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    n = len(records)
    fig, axes = plt.subplots(n, 2, figsize=(9, 2.3 * n), gridspec_kw=dict(width_ratios=[1, 4]), squeeze=False)
    x = np.arange(len(classes))
    for (ax_img, ax), rec, img in zip(axes, records, images):
        ax_img.imshow(img, cmap='gray' if img.ndim == 2 else None)
        ax_img.set_axis_off()
        ax_img.set_title(f'test #{rec["index"]}', fontsize=8)
        ax.bar(x - 0.2, rec['primary'], 0.4, color='tab:gray', label=f'PD (std {rec["primary_std"]:.3f})')
        ax.bar(x + 0.2, rec['corrected'], 0.4, color='tab:blue', label=f'CD (std {rec["corrected_std"]:.3f})')
        ax.set_xticks(x, classes, fontsize=7)
        for i, tick in enumerate(ax.get_xticklabels()):
            if i == rec['gt_label']:
                tick.set_color('green')
                tick.set_fontweight('bold')
            elif i == rec['primary_label']:
                tick.set_color('darkorange')
        ax.set_ylim(0, 1)
        ax.set_ylabel('probability', fontsize=7)
        ax.legend(fontsize=7, loc='upper right')
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / (2.3 * n)))  # room for the suptitle
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    from mmengine.config import Config

    from ferlab.apis import init_model
    from ferlab.registry import DATASETS
    from ferlab.utils import apply_cfg_options, register_all_modules
    from ferlab.utils.errors import CliUsageError, InputFileNotFoundError

    a = parse_args(argv)
    if not osp.isfile(a.config):
        raise InputFileNotFoundError(f'config file {a.config!r} does not exist')
    if not osp.isfile(a.checkpoint):
        raise InputFileNotFoundError(f'checkpoint file {a.checkpoint} does not exist')
    register_all_modules()
    cfg = apply_cfg_options(Config.fromfile(a.config), a.cfg_options)
    model = init_model(cfg, a.checkpoint)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    records, images = [], []
    if a.first_changed is not None:
        if a.first_changed < 1:
            raise CliUsageError(f'--first-changed must be >= 1, got {a.first_changed}')
        for i in range(len(dataset)):
            rec = sample_distributions(model, dataset, i)
            if rec['primary_label'] != rec['corrected_label']:
                records.append(rec)
                if len(records) == a.first_changed:
                    break
        if not records:
            raise CliUsageError(
                f'no test sample of {a.config} has a corrected label that differs from the primary'
            )
        indices = [r['index'] for r in records]
    else:
        indices = a.indices
        bad = [i for i in indices if not 0 <= i < len(dataset)]
        if bad:
            raise CliUsageError(
                f'--indices {bad} outside the test split of {a.config} (0..{len(dataset) - 1})'
            )
        records = [sample_distributions(model, dataset, i) for i in indices]
    classes = list(dataset.metainfo.get('classes') or [])
    for i in indices:
        img = dataset[i]['inputs'].cpu().numpy().transpose(1, 2, 0)
        images.append(img[..., ::-1] if img.shape[2] == 3 else img[..., 0])  # BGR -> RGB
    if not classes:
        classes = [str(c) for c in range(len(records[0]['primary']))]
    out = a.out or osp.join('work_dirs', 'arbex_confidence', osp.splitext(osp.basename(a.config))[0])
    os.makedirs(out, exist_ok=True)
    changed = sum(r['primary_label'] != r['corrected_label'] for r in records)
    title = (
        f'{osp.splitext(osp.basename(a.config))[0]}: primary (PD) vs corrected (CD) distributions; '
        f'{changed} of {len(records)} predictions changed by reliability balancing'
    )
    plot(records, images, classes, title, osp.join(out, 'confidence.png'))
    result = dict(
        config=a.config,
        checkpoint=a.checkpoint,
        cfg_options=[f'{k}={v}' for k, v in a.cfg_options.items()],
        classes=classes,
        std='population std (ddof 0) of the N class probabilities',
        samples=records,
    )
    with open(osp.join(out, 'confidence.json'), 'w') as f:
        json.dump(result, f, indent=1)
    for r in records:
        print(
            f'#{r["index"]}: gt {classes[r["gt_label"]]}, primary {classes[r["primary_label"]]} '
            f'(std {r["primary_std"]:.3f}), corrected {classes[r["corrected_label"]]} (std {r["corrected_std"]:.3f})'
        )
    print(f'wrote {out}/confidence.png, confidence.json')
    return result


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
