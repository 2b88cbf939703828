from .data_preprocessor import FERDataPreprocessor
from .pretrained import load_pretrained_file

__all__ = ['FERDataPreprocessor', 'load_pretrained_file']
