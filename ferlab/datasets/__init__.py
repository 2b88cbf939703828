from . import au_vocabulary, samplers, transforms  # noqa: F401
from .affectnet import AffectNet  # noqa: F401
from .affwild2 import AffWild2  # noqa: F401
from .affwild2_au import AffWild2AU  # noqa: F401
from .base_fer_dataset import BaseFERDataset, DatasetFormatError
from .categories import (
    AFFECTNET7_CLASSES,
    AFFECTNET8_CLASSES,
    AFFWILD2_CLASSES,
    FER2013_CLASSES,
    FERPLUS_CLASSES,
    RAFAU_AUS,  # noqa: F401
    RAFDB_CLASSES,
    SFEW_CLASSES,
    canonical,
    name_label_map,
)
from .condition_subset import ConditionSubset  # noqa: F401
from .emotionet import EmotioNet  # noqa: F401
from .ferg import FERG  # noqa: F401
from .ferplus import FERPlus  # noqa: F401
from .image_folder import ImageFolderFER  # noqa: F401
from .jaffe import JAFFE  # noqa: F401
from .multi_source import MultiSourceDataset  # noqa: F401
from .openface_aus import OpenFaceAUs  # noqa: F401
from .rafau import RAFAU  # noqa: F401
from .rafdb import RAFDB
from .samplers import *  # noqa: F401,F403
from .sfew import SFEW  # noqa: F401
from .synthfer import SynthFER, SynthFERVideo  # noqa: F401
from .transforms import *  # noqa: F401,F403

__all__ = [
    'AFFECTNET7_CLASSES', 'AFFECTNET8_CLASSES', 'AFFWILD2_CLASSES', 'BaseFERDataset',
    'DatasetFormatError', 'FER2013_CLASSES', 'FERPLUS_CLASSES', 'RAFDB', 'RAFDB_CLASSES',
    'SFEW_CLASSES', 'canonical', 'name_label_map',
]  # fmt: skip
