from .fer_classifier import FERClassifier
from .mgn import MGN
from .mvt import MVT

__all__ = ['FERClassifier', 'MGN', 'MVT']
