"""Confusion-matrix export (CSV and PNG)."""

from __future__ import annotations

import csv
from typing import Sequence

import numpy as np


def _check(cm, classes: Sequence[str]) -> np.ndarray:
    """``cm`` as a square array whose size matches ``classes``."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f'confusion matrix must be square (C, C), got shape {cm.shape}')
    if len(classes) != cm.shape[0]:
        raise ValueError(
            f'{len(classes)} class names given for a {cm.shape[0]}x{cm.shape[1]} confusion matrix'
        )
    return cm


def write_confusion_matrix_csv(cm: Sequence[Sequence[int]], classes: Sequence[str], path: str) -> None:
    """Write ``cm`` as CSV.

    The header is ``gt\\pred`` followed by the class names; each row starts
    with the ground-truth class name followed by the counts (rows = ground
    truth, columns = prediction).

    Args:
        cm: ``(C, C)`` counts.
        classes: ``C`` class names.
        path: Output file.

    Raises:
        ValueError: ``cm`` is not square or does not match ``classes``.
    """
    cm = _check(cm, classes)
    with open(path, 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['gt\\pred', *classes])
        for name, row in zip(classes, cm):
            w.writerow([name, *[int(v) for v in row]])


def plot_confusion_matrix(
    cm: Sequence[Sequence[int]],
    classes: Sequence[str],
    path: str | None = None,
    normalize: bool = True,
    title: str = '',
    fig=None,
):
    """Draw a heat map with the class names on both axes.

    Uses a plain :class:`matplotlib.figure.Figure` with the Agg canvas, so it
    neither needs a display nor changes pyplot's backend or global state.

    Args:
        cm: ``(C, C)`` counts, rows = ground truth, columns = prediction.
        classes: ``C`` class names (x axis: predicted, y axis: ground truth).
        path: If given, the figure is saved there (PNG by extension).
        normalize: Show row-normalised rates (per-class recall on the
            diagonal) instead of counts; cells keep two decimals.
        title: Axes title; a default is used if empty.
        fig: Draw into this figure (cleared first) instead of a new one.

    Returns:
        matplotlib.figure.Figure: The figure (inspect ``fig.axes[0]``).

    Raises:
        ValueError: ``cm`` is not square or does not match ``classes``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cm = _check(cm, classes).astype(np.float64)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    n = len(classes)
    size = (1.0 + 0.8 * n, 1.0 + 0.7 * n)
    if fig is None:
        fig = Figure(figsize=size)
    else:
        fig.clear()
    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(shown, cmap='Blues', vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n), labels=list(classes), rotation=45, ha='right')
    ax.set_yticks(range(n), labels=list(classes))
    ax.set_xlabel('predicted')
    ax.set_ylabel('ground truth')
    peak = shown.max() if shown.size else 0.0
    for i in range(n):
        for j in range(n):
            txt = f'{shown[i, j]:.2f}' if normalize else f'{int(cm[i, j])}'
            color = 'white' if peak > 0 and shown[i, j] > 0.5 * peak else 'black'
            ax.text(j, i, txt, ha='center', va='center', fontsize=7, color=color)
    ax.set_title(title or ('confusion matrix (row-normalised)' if normalize else 'confusion matrix'))
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
