"""Train a ferlab model: ``python tools/train.py CONFIG [options]``."""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.device import get_device  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmengine.utils import import_modules_from_strings  # noqa: E402

from ferlab.utils import LauncherEnvError, apply_cfg_options, init_cpu_distributed, register_all_modules  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a ferlab model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from PATH, or (no PATH, or "auto") from the latest checkpoint in the work dir',
    )
    parser.add_argument('--amp', action='store_true', help='mixed precision (needs a CUDA device)')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. train_dataloader.dataset.data_root=/data/raf',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


class AmpUnavailableError(RuntimeError):
    """Mixed precision was requested on a machine without a CUDA/NPU/MLU/MUSA device."""


def import_custom_modules(cfg: Config) -> None:
    """Import ``cfg.custom_imports``.

    ``Config.fromfile`` imports them only when they are written in the config
    file; this also honours ``--cfg-options custom_imports.imports=[pkg.mod]``.
    """
    custom = cfg.get('custom_imports')
    if custom:
        import_modules_from_strings(**custom)


def check_amp_device(cfg: Config) -> None:
    """Fail early and clearly if the config asks for AMP without an accelerator.

    mmengine's ``AmpOptimWrapper`` asserts a CUDA/NPU/MLU/MUSA device deep
    inside the Runner; this turns that into one actionable message.

    Raises:
        AmpUnavailableError: ``optim_wrapper.type`` is ``AmpOptimWrapper``
            and mmengine finds no accelerator.
    """
    wrapper = cfg.get('optim_wrapper') or {}
    if wrapper.get('type') == 'AmpOptimWrapper' and get_device() == 'cpu':
        raise AmpUnavailableError(
            '--amp (AmpOptimWrapper) needs a CUDA, NPU, MLU or MUSA device, but this machine has '
            'none (mmengine device: cpu). Train without --amp on CPU, or run on a GPU machine.'
        )


def merge_args(cfg: Config, args) -> Config:
    """Apply the command-line options to ``cfg`` (in place) and return it."""
    cfg.launcher = args.launcher
    apply_cfg_options(cfg, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'AmpOptimWrapper':
            pass
        elif wrapper == 'OptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:
            raise ValueError(f'--amp supports OptimWrapper configs only, this one uses {wrapper}')
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
    register_all_modules()
    cfg = merge_args(Config.fromfile(args.config), args)
    import_custom_modules(cfg)
    check_amp_device(cfg)
    if cfg.launcher != 'none':
        init_cpu_distributed(cfg, cfg.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def cli(argv=None):
    """Command-line entry: configuration errors end in one ``error:`` line, not a traceback."""
    try:
        return main(argv)
    except (AmpUnavailableError, LauncherEnvError) as err:
        sys.exit(f'tools/train.py: error: {err}')


if __name__ == '__main__':
    cli()
