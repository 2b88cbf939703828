from . import samplers, transforms  # noqa: F401
from .base_fer_dataset import BaseFERDataset, DatasetFormatError
from .categories import (
    AFFECTNET7_CLASSES,
    AFFECTNET8_CLASSES,
    AFFWILD2_CLASSES,
    FER2013_CLASSES,
    FERPLUS_CLASSES,
    RAFDB_CLASSES,
    SFEW_CLASSES,
    canonical,
    name_label_map,
)
from .rafdb import RAFDB
from .affectnet import AffectNet  # noqa: F401
from .affwild2 import AffWild2  # noqa: F401
from .categories import RAFAU_AUS  # noqa: F401
from .ferplus import FERPlus  # noqa: F401
from .image_folder import ImageFolderFER  # noqa: F401
from .rafau import RAFAU  # noqa: F401
from .sfew import SFEW  # noqa: F401
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403

__all__ = [
    'AFFECTNET7_CLASSES', 'AFFECTNET8_CLASSES', 'AFFWILD2_CLASSES', 'BaseFERDataset',
    'DatasetFormatError', 'FER2013_CLASSES', 'FERPLUS_CLASSES', 'RAFDB', 'RAFDB_CLASSES',
    'SFEW_CLASSES', 'canonical', 'name_label_map',
]  # fmt: skip
