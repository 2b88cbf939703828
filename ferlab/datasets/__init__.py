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
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403

__all__ = [
    'AFFECTNET7_CLASSES', 'AFFECTNET8_CLASSES', 'AFFWILD2_CLASSES', 'BaseFERDataset',
    'DatasetFormatError', 'FER2013_CLASSES', 'FERPLUS_CLASSES', 'RAFDB', 'RAFDB_CLASSES',
    'SFEW_CLASSES', 'canonical', 'name_label_map',
]  # fmt: skip
