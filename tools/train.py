"""Train a ferlab model: ``python tools/train.py CONFIG [options]``."""

from __future__ import annotations

import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config  # noqa: E402
from mmengine.device import get_device  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from ferlab.engine.optim_wrappers import enable_eval_amp, mixed_precision_optim_wrapper_cfg  # noqa: E402
from ferlab.utils.cli import config_parser, init_distributed, load_config, run_tool  # noqa: E402
from ferlab.utils.errors import AmpUnavailableError  # noqa: E402


def parse_args(argv=None):
    parser = config_parser(
        'Train a ferlab model',
        work_dir_help='directory for logs and checkpoints',
        cfg_options_help='override config entries, e.g. train_dataloader.dataset.data_root=/data/raf',
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from PATH, or (no PATH, or "auto") from the latest checkpoint in the work dir',
    )
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision (MixedPrecisionOptimWrapper): bf16 autocast on CPUs with avx512_bf16/amx_bf16 '
        '(fp32 on other CPUs), bf16 or fp16 on CUDA; validation autocasts too',
    )
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    return parser.parse_args(argv)


def check_amp_device(cfg: Config) -> None:
    """Fail early and clearly if the config names mmengine's CUDA-only ``AmpOptimWrapper`` on a CPU.

    mmengine's ``AmpOptimWrapper`` asserts a CUDA/NPU/MLU/MUSA device deep
    inside the Runner; ferlab's ``MixedPrecisionOptimWrapper`` (what ``--amp``
    selects) runs anywhere. Checks one wrapper or each of a dict of wrappers.

    Raises:
        AmpUnavailableError: a wrapper config has ``type='AmpOptimWrapper'``
            and mmengine finds no accelerator.
    """
    wrapper = cfg.get('optim_wrapper') or {}
    entries = [wrapper] + [v for v in wrapper.values() if isinstance(v, dict)]
    if any(e.get('type') == 'AmpOptimWrapper' for e in entries) and get_device() == 'cpu':
        raise AmpUnavailableError(
            "optim_wrapper type='AmpOptimWrapper' (mmengine) needs a CUDA, NPU, MLU or MUSA device, but "
            "this machine has none (mmengine device: cpu); use type='MixedPrecisionOptimWrapper' or "
            '--amp, which autocast to bf16 on CPU'
        )


def merge_args(cfg: Config, args) -> Config:
    """Apply the training options (``--amp``, ``--resume``, ``--no-validate``) to ``cfg``; return it.

    ``--work-dir``, ``--cfg-options`` and ``--launcher`` are applied by
    :func:`ferlab.utils.cli.load_config`.
    """
    if args.amp:
        mixed_precision_optim_wrapper_cfg(cfg.optim_wrapper)
        enable_eval_amp(cfg, 'val_cfg')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


def main(argv=None):
    """Train; returns the Runner (for in-process use from tests)."""
    args = parse_args(argv)
    cfg = merge_args(load_config(args), args)
    check_amp_device(cfg)
    init_distributed(cfg, args)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def cli(argv=None):
    """Command-line entry: input errors end in one ``tools/train.py: error:`` line (exit code 2)."""
    return run_tool(main, __file__, argv)


if __name__ == '__main__':
    cli()
