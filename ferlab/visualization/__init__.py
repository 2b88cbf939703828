from .confusion_matrix import plot_confusion_matrix, write_confusion_matrix_csv

__all__ = ['plot_confusion_matrix', 'write_confusion_matrix_csv']
