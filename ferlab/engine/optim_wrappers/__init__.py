from .mixed_precision import MixedPrecisionOptimWrapper
from .precision import (
    autocast,
    cpu_bf16_flags,
    cpu_supports_bf16,
    enable_eval_amp,
    fp32_losses,
    mixed_precision_optim_wrapper_cfg,
    resolve_amp_dtype,
)
from .sam import SAMConfigError, SAMOptimWrapper

__all__ = [
    'MixedPrecisionOptimWrapper',
    'SAMConfigError',
    'SAMOptimWrapper',
    'autocast',
    'cpu_bf16_flags',
    'cpu_supports_bf16',
    'enable_eval_amp',
    'fp32_losses',
    'mixed_precision_optim_wrapper_cfg',
    'resolve_amp_dtype',
]
