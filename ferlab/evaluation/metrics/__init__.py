from .au_metric import AUMetric, masked_au_auc, masked_au_f1
from .nme import NME, nme_per_sample  # noqa: F401
from .single_label import Accuracy, FERMetric, confusion_matrix, per_class_stats
from .video_metric import VideoMetric

__all__ = [
    'AUMetric',
    'Accuracy',
    'FERMetric',
    'VideoMetric',
    'confusion_matrix',
    'masked_au_auc',
    'masked_au_f1',
    'per_class_stats',
]
