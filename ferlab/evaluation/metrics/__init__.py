from .single_label import Accuracy, FERMetric, confusion_matrix, per_class_stats

__all__ = ['Accuracy', 'FERMetric', 'confusion_matrix', 'per_class_stats']
