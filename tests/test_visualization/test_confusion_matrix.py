"""Tests of the confusion-matrix CSV / PNG export."""

import csv

import cv2
import numpy as np
import pytest

from ferlab.visualization import plot_confusion_matrix, write_confusion_matrix_csv

CLASSES = ['neutral', 'happy', 'sad']
CM = [[5, 1, 0], [2, 7, 1], [0, 0, 3]]


def test_plot_puts_class_names_on_axes(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    path = tmp_path / 'cm.png'
    fig = plot_confusion_matrix(CM, CLASSES, str(path))
    assert plt.get_fignums() == before  # no pyplot state touched
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    assert ax.get_xlabel() == 'predicted' and ax.get_ylabel() == 'ground truth'
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == f'{5 / 6:.2f}' and len(texts) == 9  # row-normalised cells
    img = cv2.imread(str(path))
    assert img is not None and img.shape[2] == 3


def test_plot_counts_and_reuse_figure():
    fig = plot_confusion_matrix(CM, CLASSES, normalize=False)
    fig2 = plot_confusion_matrix(CM, ['a', 'b', 'c'], normalize=False, title='t', fig=fig)
    assert fig2 is fig and len(fig.axes) == 2  # heat map + colour bar, old axes cleared
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ['a', 'b', 'c']
    assert [t.get_text() for t in ax.texts][:3] == ['5', '1', '0'] and ax.get_title() == 't'


def test_csv(tmp_path):
    path = tmp_path / 'cm.csv'
    write_confusion_matrix_csv(np.array(CM), CLASSES, str(path))
    rows = list(csv.reader(open(path, newline='', encoding='utf-8')))
    assert rows == [['gt\\pred', *CLASSES]] + [[n, *map(str, r)] for n, r in zip(CLASSES, CM)]


def test_mismatched_inputs():
    with pytest.raises(ValueError, match='class names'):
        write_confusion_matrix_csv(CM, CLASSES[:2], 'unused.csv')
    with pytest.raises(ValueError, match='square'):
        plot_confusion_matrix([[1, 2, 3]], CLASSES)
