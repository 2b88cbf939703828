from .nme import NME, nme_per_sample  # noqa: F401
from .single_label import Accuracy, FERMetric, confusion_matrix, per_class_stats
from .video_metric import VideoMetric

__all__ = ['Accuracy', 'FERMetric', 'VideoMetric', 'confusion_matrix', 'per_class_stats']
