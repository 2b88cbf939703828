from .cam import GradCAM, head_overlap, make_grid, normalize_maps, overlay_heatmap  # noqa: F401
from .confusion_matrix import plot_confusion_matrix, write_confusion_matrix_csv

__all__ = ['plot_confusion_matrix', 'write_confusion_matrix_csv']
