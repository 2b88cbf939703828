"""ABAW EXPR submission files from a prediction dump of ``tools/test.py --out``.

``python tools/misc/abaw_submission.py PREDS.pkl ANN_DIR OUT_DIR [--window W] [--causal] [--decision cascade]``

``PREDS.pkl`` is the dump of ``tools/test.py CONFIG CKPT --out PREDS.pkl`` on an
``AffWild2`` test split (each sample has ``pred_score``, ``video_id`` and
``frame_idx``); ``ANN_DIR`` the folder of that split's ``<video>.txt`` files.
The frames of each video are smoothed with smooth predicting (``--window``,
0 = off) and one file per annotation file is written to ``OUT_DIR``; frames
without a prediction take the nearest predicted frame's label (see
:mod:`ferlab.evaluation.abaw`). The same files come straight out of
``tools/test.py ... --abaw-submission OUT_DIR``; this tool re-writes them for
other windows without running the model again. The dump is a pickle: load only
files you wrote yourself.
"""

from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from ferlab.utils.cli import run_tool  # noqa: E402
from ferlab.utils.errors import FerlabInputError, InputFileNotFoundError  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(
        description='Write ABAW EXPR submission files from a tools/test.py --out dump'
    )
    p.add_argument('predictions', help='.pkl written by tools/test.py --out')
    p.add_argument('ann_dir', help="folder of the split's <video>.txt annotation files")
    p.add_argument('out_dir', help='output folder (one <video>.txt per annotation file)')
    p.add_argument('--window', type=int, default=0, help='smooth-predicting window in frames (0 = off)')
    p.add_argument('--causal', action='store_true', help='causal smoothing (past frames only)')
    p.add_argument('--smooth-on', choices=('logit', 'score'), default='logit')
    p.add_argument(
        '--decision',
        choices=('argmax', 'cascade'),
        default='argmax',
        help="label rule; 'cascade' (CascadeClassifier scores) needs --smooth-on score",
    )
    args = p.parse_args(argv)
    if not osp.isfile(args.predictions):
        raise InputFileNotFoundError(f'prediction dump {args.predictions} does not exist')
    from mmengine.fileio import load

    from ferlab.evaluation.metrics import VideoMetric

    samples = load(args.predictions)
    if not isinstance(samples, list) or not samples or not isinstance(samples[0], dict):
        raise FerlabInputError(
            f'{args.predictions}: expected the list of sample dicts tools/test.py --out writes'
        )
    metric = VideoMetric(
        window=args.window,
        causal=args.causal,
        smooth_on=args.smooth_on,
        decision=args.decision,
        num_classes=len(samples[0]['pred_score']),
        submission_dir=args.out_dir,
        ann_dir=args.ann_dir,
    )
    metric.process(None, samples)
    result = metric.compute_metrics(metric.results)
    print(json.dumps({k: v for k, v in result.items() if '/' not in k or k.endswith('macro_f1')}, indent=1))
    return result


if __name__ == '__main__':
    run_tool(main, __file__)
