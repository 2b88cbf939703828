from .data_preprocessor import FERDataPreprocessor
from .pretrained import load_pretrained_file
from .smooth_predicting import SmoothPredicting, smooth_predicting

__all__ = ['FERDataPreprocessor', 'SmoothPredicting', 'load_pretrained_file', 'smooth_predicting']
