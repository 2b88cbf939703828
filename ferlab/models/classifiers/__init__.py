from .fer_classifier import FERClassifier
from .mvt import MVT

__all__ = ['FERClassifier', 'MVT']
