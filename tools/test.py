"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Writes ``metrics.json``, ``confusion_matrix.csv`` and ``confusion_matrix.png``
(class names on the axes) into the work dir.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.runner import Runner  # noqa: E402

from ferlab.engine.optim_wrappers import enable_eval_amp  # noqa: E402
from ferlab.evaluation.abaw import configure_abaw_submission  # noqa: E402
from ferlab.utils.checkpoint import check_local_checkpoint  # noqa: E402
from ferlab.utils.cli import config_parser, init_distributed, load_config, run_tool  # noqa: E402
from ferlab.utils.errors import CliUsageError, InputFileNotFoundError  # noqa: E402
from ferlab.visualization import plot_confusion_matrix, write_confusion_matrix_csv  # noqa: E402


def parse_args(argv=None):
    parser = config_parser(
        'Test a ferlab model',
        work_dir_help='directory for metrics and plots',
        extra_positionals=[
            ('checkpoint', "checkpoint file, or 'latest' for the one named in <work_dir>/last_checkpoint")
        ],
    )
    parser.add_argument('--out', help='also dump per-sample predictions to this .pkl file')
    parser.add_argument(
        '--abaw-submission',
        metavar='DIR',
        help='also write ABAW EXPR submission files (one <video>.txt per annotation file, every frame) '
        'to DIR; the test dataset must be AffWild2 (see docs/cfcsp.md#video-evaluation)',
    )
    parser.add_argument(
        '--amp',
        action='store_true',
        help='autocast the test forward (bf16 on CPUs with avx512_bf16/amx_bf16, fp32 on other CPUs; '
        'bf16/fp16 on CUDA); metrics are computed in fp32 from the scores',
    )
    return parser.parse_args(argv)


def resolve_checkpoint(checkpoint: str, work_dir: str) -> str:
    """Turn the CHECKPOINT argument into a checkpoint path.

    Args:
        checkpoint: A path, or ``'latest'`` for the checkpoint recorded in
            ``<work_dir>/last_checkpoint`` by mmengine's ``CheckpointHook``.
        work_dir: The work dir of the training run.

    Raises:
        InputFileNotFoundError: ``last_checkpoint`` or the checkpoint it names
            (or the given path) does not exist (a ``FileNotFoundError``).
        RemoteCheckpointError: the checkpoint is a URL (ferlab loads local files only).
    """
    if checkpoint == 'latest':
        record = osp.join(work_dir, 'last_checkpoint')
        if not osp.isfile(record):
            raise InputFileNotFoundError(
                f"CHECKPOINT 'latest' needs {record} (written by training into its work dir); "
                'train first, or pass --work-dir of the training run, or give a checkpoint path'
            )
        with open(record, encoding='utf-8') as f:
            path = f.read().strip()
        if not path:
            raise InputFileNotFoundError(f'{record} is empty: it does not name a checkpoint')
        if not osp.isabs(path) and not osp.isfile(path):
            path = osp.join(work_dir, osp.basename(path))
        if not osp.isfile(path):
            raise InputFileNotFoundError(f'{record} names checkpoint {path}, which does not exist')
        return path
    check_local_checkpoint(checkpoint)
    if not osp.isfile(checkpoint):
        raise InputFileNotFoundError(f'checkpoint file {checkpoint} does not exist')
    return checkpoint


def export_metrics(metrics: dict, classes, work_dir: str) -> dict:
    """Write metrics.json (+ confusion matrix CSV/PNG); returns the paths written."""
    os.makedirs(work_dir, exist_ok=True)
    cm_keys = [k for k in metrics if k == 'confusion_matrix' or k.endswith('/confusion_matrix')]
    cm = metrics.pop(cm_keys[0]) if cm_keys else None  # the key carries the metric's prefix, if any
    paths = {}
    scalars = {k: (float(v) if hasattr(v, '__float__') else v) for k, v in metrics.items()}
    paths['metrics'] = osp.join(work_dir, 'metrics.json')
    with open(paths['metrics'], 'w', encoding='utf-8') as f:
        json.dump(scalars, f, indent=2, sort_keys=True)
    if cm is not None:
        names = list(classes) if classes and len(classes) == len(cm) else [str(i) for i in range(len(cm))]
        paths['confusion_matrix_csv'] = osp.join(work_dir, 'confusion_matrix.csv')
        paths['confusion_matrix_png'] = osp.join(work_dir, 'confusion_matrix.png')
        write_confusion_matrix_csv(cm, names, paths['confusion_matrix_csv'])
        plot_confusion_matrix(cm, names, paths['confusion_matrix_png'])
    return paths


def main(argv=None):
    """Evaluate; returns the metrics dict (for in-process use from tests)."""
    args = parse_args(argv)
    cfg = load_config(args)
    cfg.load_from = resolve_checkpoint(args.checkpoint, cfg.work_dir)
    cfg.resume = False
    if args.amp:
        enable_eval_amp(cfg, 'test_cfg')
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise CliUsageError(f'--out must end with .pkl, got {args.out}')
        evaluator = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = [*evaluator, dict(type='DumpResults', out_file_path=args.out)]
    if args.abaw_submission is not None:
        configure_abaw_submission(cfg, args.abaw_submission)
    init_distributed(cfg, args)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if runner.rank == 0:
        classes = runner.test_dataloader.dataset.metainfo.get('classes')
        paths = export_metrics(dict(metrics), classes, runner.work_dir)
        runner.logger.info('wrote ' + ', '.join(paths.values()))
        summary = {k: round(float(v), 2) for k, v in metrics.items() if not k.endswith('confusion_matrix')}
        print(json.dumps(summary, indent=1))
    return metrics


def cli(argv=None):
    """Command-line entry: input errors end in one ``tools/test.py: error:`` line (exit code 2)."""
    return run_tool(main, __file__, argv)


if __name__ == '__main__':
    cli()
