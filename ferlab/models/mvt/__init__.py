"""MVT (Li et al., ICASSP 2022): mask generation network and its losses.

The stage-2 classifier lives in :mod:`ferlab.models.classifiers.mvt`, the
dynamic relabeling in :mod:`ferlab.engine.hooks.relabel_hook`.
"""

from .losses import MaskAreaLoss, ProbVarianceLoss
from .mask_generator import (
    STAGE2_MASKS,
    MaskGenerator,
    RandomPatchMask,
    apply_keep_mask,
    generator_state_dict,
    patch_values_to_image,
    stage2_keep_mask,
)
from .mgn import MGN, MGNOptimWrapperConstructor

__all__ = [
    'MGN', 'MGNOptimWrapperConstructor', 'MaskAreaLoss', 'MaskGenerator', 'ProbVarianceLoss',
    'RandomPatchMask', 'STAGE2_MASKS', 'apply_keep_mask', 'generator_state_dict', 'patch_values_to_image',
    'stage2_keep_mask',
]  # fmt: skip
