"""SynthFER: a built-in, procedurally rendered facial-expression dataset (docs/synthfer.md)."""

from .dataset import SynthFER, SynthFERVideo
from .expressions import AU_LIST, DOMAINS, LABEL_SETS, PROTOTYPES, resolve_domain
from .generator import SynthFERGenerator
from .renderer import AU_REGIONS, FaceRenderer, Identity, Occluder, Pose, Scene

__all__ = [
    'AU_LIST', 'AU_REGIONS', 'DOMAINS', 'FaceRenderer', 'Identity', 'LABEL_SETS', 'Occluder', 'PROTOTYPES',
    'Pose', 'Scene', 'SynthFER', 'SynthFERGenerator', 'SynthFERVideo', 'resolve_domain',
]  # fmt: skip
