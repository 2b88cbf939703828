from .cascade import CascadeClassifier, cascade_decision, cascade_scores
from .ensemble import EnsembleClassifier
from .fer_classifier import FERClassifier
from .joint_fer_au import JointFERAUClassifier  # noqa: F401
from .landmark_regressor import LandmarkRegHead, LandmarkRegressor
from .mgn import MGN
from .mvt import MVT

__all__ = [
    'CascadeClassifier',
    'EnsembleClassifier',
    'FERClassifier',
    'MGN',
    'MVT',
    'cascade_decision',
    'cascade_scores',
]
