"""Confusion-matrix export (CSV and PNG)."""

from __future__ import annotations

import csv
from typing import Sequence

import numpy as np


def write_confusion_matrix_csv(cm: Sequence[Sequence[int]], classes: Sequence[str], path: str) -> None:
    """Rows = ground truth, columns = prediction, with class names as header/first column."""
    cm = np.asarray(cm)
    with open(path, 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['gt\\pred', *classes])
        for name, row in zip(classes, cm):
            w.writerow([name, *[int(v) for v in row]])


def plot_confusion_matrix(
    cm: Sequence[Sequence[int]], classes: Sequence[str], path: str, normalize: bool = True, title: str = ''
) -> None:
    """Save a heat map with class names on both axes (row-normalised by default)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=np.float64)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 1.0 + 0.7 * n))
    im = ax.imshow(shown, cmap='Blues', vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n), labels=classes, rotation=45, ha='right')
    ax.set_yticks(range(n), labels=classes)
    ax.set_xlabel('predicted')
    ax.set_ylabel('ground truth')
    for i in range(n):
        for j in range(n):
            txt = f'{shown[i, j]:.2f}' if normalize else f'{int(cm[i, j])}'
            ax.text(
                j,
                i,
                txt,
                ha='center',
                va='center',
                fontsize=7,
                color='white' if shown[i, j] > 0.5 * shown.max() else 'black',
            )
    ax.set_title(title or ('confusion matrix (row-normalised)' if normalize else 'confusion matrix'))
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
