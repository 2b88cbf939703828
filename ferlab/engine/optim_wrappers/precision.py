"""Mixed-precision helpers shared by training, evaluation and inference.

* :func:`cpu_bf16_flags` / :func:`cpu_supports_bf16`: does this CPU compute
  bfloat16 natively (``avx512_bf16`` or ``amx_bf16``)? Without them bf16
  autocast on CPU is emulated and slower than fp32.
* :func:`resolve_amp_dtype`: the autocast dtype for a device, or ``None``
  (run fp32) where mixed precision would not pay off; says so once.
* :func:`autocast`: ``torch.autocast`` for a resolved dtype (no-op for ``None``).
* :func:`fp32_losses`: inside it every loss module runs in fp32 on fp32 inputs.
* :func:`mixed_precision_optim_wrapper_cfg`: what ``--amp`` does to an
  ``optim_wrapper`` config (one wrapper or a dict of wrappers).
* :func:`enable_eval_amp`: what ``--amp`` does to ``val_cfg`` / ``test_cfg``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

import torch
import torch.nn as nn
from mmengine.logging import print_log

from ferlab.utils.errors import CliUsageError

#: CPU flags (``/proc/cpuinfo`` names) that make bf16 matrix maths native.
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')
#: Flags reported by :func:`cpu_bf16_flags` (the bf16 ones plus related ISA extensions).
REPORTED_CPU_FLAGS = ('avx512f', 'avx512_bf16', 'avx512_fp16', 'amx_tile', 'amx_bf16', 'amx_fp16')
#: Environment override: ``0`` forces the fp32 fallback on CPU, ``1`` forces bf16.
ENV_CPU_BF16 = 'FERLAB_CPU_BF16'

#: ``dtype`` values a config may give.
DTYPES = {
    'auto': 'auto',
    'bfloat16': torch.bfloat16,
    'bf16': torch.bfloat16,
    'float16': torch.float16,
    'fp16': torch.float16,
    'float32': None,
    'fp32': None,
}

_LOGGED: set[str] = set()


def log_once(key: str, msg: str, level: int = logging.WARNING) -> None:
    """``print_log(msg)`` the first time ``key`` is seen in this process."""
    if key in _LOGGED:
        return
    _LOGGED.add(key)
    print_log(msg, logger='current', level=level)


def cpu_bf16_flags() -> set[str]:
    """The flags of :data:`REPORTED_CPU_FLAGS` this CPU has.

    Read from ``/proc/cpuinfo`` (Linux); elsewhere from torch's own CPU
    feature probes (``torch.cpu._is_avx512_bf16_supported`` etc.).
    """
    flags: set[str] = set()
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
            for line in f:
                if line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    break
    except OSError:
        pass
    if not flags:
        probes = dict(
            avx512f='_is_avx512_supported',
            avx512_bf16='_is_avx512_bf16_supported',
            amx_tile='_is_amx_tile_supported',
            amx_fp16='_is_amx_fp16_supported',
        )
        for flag, name in probes.items():
            probe = getattr(torch.cpu, name, None)
            try:
                if probe is not None and probe():
                    flags.add(flag)
            except RuntimeError:
                pass
    return {f for f in REPORTED_CPU_FLAGS if f in flags}


def cpu_supports_bf16() -> bool:
    """Whether bf16 autocast on this CPU is native (``avx512_bf16`` or ``amx_bf16``).

    ``FERLAB_CPU_BF16=0`` / ``=1`` overrides the detection (tests, odd CPUs).
    """
    env = os.environ.get(ENV_CPU_BF16)
    if env is not None and env.strip() in ('0', '1'):
        return env.strip() == '1'
    return bool(cpu_bf16_flags() & set(BF16_CPU_FLAGS))


def parse_dtype(dtype: str | torch.dtype | None) -> str | torch.dtype | None:
    """Normalise a config ``dtype``: ``'auto'``, ``torch.bfloat16``, ``torch.float16`` or ``None`` (fp32)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        if dtype not in (None, torch.bfloat16, torch.float16, torch.float32):
            raise ValueError(f'mixed precision dtype must be bfloat16, float16 or float32, got {dtype}')
        return None if dtype == torch.float32 else dtype
    if dtype not in DTYPES:
        raise ValueError(f'mixed precision dtype must be one of {sorted(DTYPES)}, got {dtype!r}')
    return DTYPES[dtype]


def resolve_amp_dtype(
    device: str | torch.device, dtype: str | torch.dtype | None = 'auto'
) -> torch.dtype | None:
    """The autocast dtype to use on ``device``, or ``None`` for plain fp32.

    * CPU: bfloat16 where the CPU has ``avx512_bf16``/``amx_bf16``; otherwise
      fp32 (bf16 would be emulated, slower than fp32), logged once. float16
      is not used on CPU (no loss scaling there, few native kernels): bf16 or
      the fp32 fallback instead, logged once.
    * CUDA: ``'auto'`` is bfloat16 where the GPU supports it, else float16.
    * Other accelerators: float16 for ``'auto'``.
    """
    dtype = parse_dtype(dtype)
    device_type = torch.device(device).type
    if dtype is None:
        return None
    if device_type == 'cpu':
        if dtype == torch.float16:
            log_once(
                'cpu_fp16',
                'mixed precision: float16 autocast is not used on CPU; using bfloat16 (or fp32 '
                'where the CPU lacks bf16 support) instead',
            )
        if not cpu_supports_bf16():
            log_once(
                'cpu_no_bf16',
                'mixed precision: this CPU has none of the flags '
                f'{"/".join(BF16_CPU_FLAGS)} (bf16 would be emulated and slower than fp32); '
                f'running in fp32 instead (override with {ENV_CPU_BF16}=1)',
            )
            return None
        return torch.bfloat16
    if dtype == 'auto':
        if device_type == 'cuda':
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16
    return dtype


@contextlib.contextmanager
def autocast(device: str | torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.autocast(device_type, dtype)``; a no-op when ``dtype`` is ``None``."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
        yield


def is_loss_module(module: nn.Module) -> bool:
    """ferlab's convention: a loss module's class name ends with ``Loss`` (also torch's ``_Loss``)."""
    return isinstance(module, nn.modules.loss._Loss) or type(module).__name__.endswith('Loss')


def _to_fp32(obj):
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.is_floating_point() and obj.dtype != torch.float64 else obj
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_fp32(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _to_fp32(v) for k, v in obj.items()}
    return obj


@contextlib.contextmanager
def fp32_losses(device: str | torch.device) -> Iterator[None]:
    """Within this context every loss module runs in fp32.

    A loss module (see :func:`is_loss_module`) called inside gets its
    positional floating-point tensor arguments (also inside tuples/lists/dicts)
    cast to float32 and runs with autocast disabled, so reductions, ``log``,
    variances and centre distances are not computed in bf16/fp16. Losses are
    found by process-wide module hooks, so they are caught wherever they live
    (a head's ``loss_module``, MGN's ``var_loss`` outside the optimised
    sub-module, …); the hooks exist only while the context is open.
    """
    device_type = torch.device(device).type
    stack: list[tuple[nn.Module, contextlib.AbstractContextManager]] = []
    cache: dict[type, bool] = {}

    def pre_hook(module, args):
        cls = type(module)
        if cls not in cache:
            cache[cls] = is_loss_module(module)
        if not cache[cls]:
            return None
        ctx = torch.autocast(device_type=device_type, enabled=False)
        ctx.__enter__()
        stack.append((module, ctx))
        return _to_fp32(args)

    def post_hook(module, args, output):
        if stack and stack[-1][0] is module:
            stack.pop()[1].__exit__(None, None, None)
        return None

    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    handles = [
        register_module_forward_pre_hook(pre_hook),
        register_module_forward_hook(post_hook, always_call=True),
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        while stack:  # a loss raised before its post hook could close the context
            stack.pop()[1].__exit__(None, None, None)


AMP_WRAPPER = 'MixedPrecisionOptimWrapper'
_CONVERTIBLE = ('OptimWrapper', 'AmpOptimWrapper', AMP_WRAPPER)
#: Wrappers that already autocast by ``dtype`` (subclasses of the AMP wrapper): only ``dtype`` is set.
_AUTOCASTING = ('SAMOptimWrapper',)


def mixed_precision_optim_wrapper_cfg(optim_wrapper: dict, dtype: str = 'auto') -> dict:
    """Turn an ``optim_wrapper`` config into its mixed-precision form (what ``--amp`` does).

    A single wrapper (a dict with ``optimizer``) gets
    ``type='MixedPrecisionOptimWrapper'``; a dict of wrappers built by a
    constructor (MGN's ``generator`` / ``discriminator``) gets it in every
    entry that has an ``optimizer``. A ``SAMOptimWrapper`` keeps its type and
    gets ``dtype`` (its default, float32, becomes ``dtype``). mmengine's ``AmpOptimWrapper`` settings
    (``loss_scale``, ``dtype``) carry over; ``use_fsdp`` is not supported.

    Raises:
        CliUsageError: A wrapper of another type (e.g. ``ApexOptimWrapper``), or
            no wrapper config with an ``optimizer`` was found.
    """

    def convert(cfg: dict, where: str) -> None:
        wrapper = cfg.get('type', 'OptimWrapper')
        if wrapper in _AUTOCASTING:
            if cfg.get('dtype') in (None, 'float32', 'fp32'):
                cfg['dtype'] = dtype
            return
        if wrapper not in _CONVERTIBLE:
            raise CliUsageError(
                f'--amp converts {"/".join(_CONVERTIBLE[:2])} configs; {where} uses type={wrapper!r}'
            )
        if cfg.get('use_fsdp'):
            raise CliUsageError(f'--amp: {where} sets use_fsdp=True, which {AMP_WRAPPER} does not support')
        cfg.pop('use_fsdp', None)
        cfg['type'] = AMP_WRAPPER
        if cfg.get('dtype') is None:
            cfg['dtype'] = dtype

    if 'optimizer' in optim_wrapper:
        convert(optim_wrapper, 'optim_wrapper')
        return optim_wrapper
    entries = [k for k, v in optim_wrapper.items() if isinstance(v, dict) and 'optimizer' in v]
    if not entries:
        raise CliUsageError(
            '--amp needs optim_wrapper=dict(optimizer=...) or a dict of such wrappers (with a '
            f'constructor); got keys {sorted(optim_wrapper)}'
        )
    for key in entries:
        convert(optim_wrapper[key], f'optim_wrapper.{key}')
    return optim_wrapper


def enable_eval_amp(cfg, key: str, device: str | None = None) -> bool:
    """Autocast the validation or test loop of ``cfg`` (``key``: ``'val_cfg'`` / ``'test_cfg'``).

    Sets ``fp16=True`` of mmengine's ``ValLoop`` / ``TestLoop``, which wrap
    ``val_step`` / ``test_step`` in mmengine's ``autocast`` (bf16 on CPU, the
    default GPU dtype on CUDA). Scores reach the metrics in fp32: the heads
    apply softmax to ``logits.float()`` and the metrics cast ``pred_score`` to
    float. On a CPU without bf16 support the loop stays fp32 (logged once).
    Nothing happens when ``cfg[key]`` is ``None`` (e.g. ``--no-validate``).

    Returns:
        Whether the loop now autocasts.

    Raises:
        CliUsageError: ``cfg[key]`` names a loop type other than ValLoop/TestLoop.
    """
    loop = cfg.get(key)
    if loop is None:
        return False
    loop_type = loop.get('type', 'ValLoop' if key == 'val_cfg' else 'TestLoop')
    if loop_type not in ('ValLoop', 'TestLoop'):
        raise CliUsageError(f'--amp autocasts ValLoop/TestLoop; {key} uses type={loop_type!r}')
    if device is None:
        from mmengine.device import get_device

        device = get_device()
    if resolve_amp_dtype(device) is None:
        return False
    loop['fp16'] = True
    return True
