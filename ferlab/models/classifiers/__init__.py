from .fer_classifier import FERClassifier

__all__ = ['FERClassifier']
