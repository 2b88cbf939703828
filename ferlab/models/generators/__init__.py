"""Networks that generate masks for other models (MVT's mask generation network), and their geometry."""

from .mask_generator import (
    STAGE2_MASKS,
    MaskGenerator,
    RandomPatchMask,
    apply_keep_mask,
    generator_state_dict,
    patch_values_to_image,
    stage2_keep_mask,
)

__all__ = [
    'MaskGenerator', 'RandomPatchMask', 'STAGE2_MASKS', 'apply_keep_mask', 'generator_state_dict',
    'patch_values_to_image', 'stage2_keep_mask',
]  # fmt: skip
