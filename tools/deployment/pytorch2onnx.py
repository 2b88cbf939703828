"""Export a trained model to ONNX: ``python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out model.onnx``.

The file holds the logits graph ``(B, 3, H, W) -> (B, C)`` (and, for a model
with an AU output such as AU-ViT's, ``au_logits`` ``(B, A)`` with the AU names
in the metadata) with a dynamic batch axis and, in its metadata, the class names, input size, mean/std,
BGR->RGB and the resize of the config's test pipeline, so
``FERInferencer('model.onnx')`` and ``tools/infer.py --backend onnxruntime``
need no config (see docs/inference.md#onnx and :mod:`ferlab.deployment.onnx`).
After writing, the tool runs the file with onnxruntime at batch 1 and 3 and
compares its logits with PyTorch's (``--atol``, default 1e-4).

Needs the ``deploy`` extra (``pip install -e ".[deploy]"``).
"""

from __future__ import annotations

import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from ferlab.utils.cli import config_parser, load_config, run_tool  # noqa: E402
from ferlab.utils.errors import CliUsageError, FerlabInputError  # noqa: E402


def parse_args(argv=None):
    parser = config_parser(
        'Export a ferlab model to ONNX (logits, dynamic batch, preprocessing in the metadata)',
        work_dir_help='unused (accepted for symmetry with tools/test.py)',
        extra_positionals=[('checkpoint', 'checkpoint written by tools/train.py')],
    )
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument(
        '--opset',
        type=int,
        default=18,
        help="ONNX opset (default 18: the lowest torch's torch.export-based exporter implements; "
        'lower ones use the TorchScript exporter)',
    )
    parser.add_argument(
        '--input-size',
        type=int,
        nargs='+',
        metavar='N',
        help='H [W] of the model input when the test pipeline has no Resize and the config no img_size',
    )
    parser.add_argument(
        '--classes',
        help="comma-separated class names (default: the checkpoint's dataset_meta, else the config's test set)",
    )
    parser.add_argument(
        '--atol', type=float, default=1e-4, help='max |logit difference| onnxruntime vs torch'
    )
    parser.add_argument('--no-verify', action='store_true', help='skip the onnxruntime parity check')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Export; returns the written metadata plus ``parity`` (``{batch: max |Δlogit|}``)."""
    args = parse_args(argv)
    from ferlab.deployment.onnx import (
        DEPLOY_PACKAGES,
        OnnxExportError,
        export_onnx,
        file_sha256,
        onnx_parity,
        preprocess_steps,
        require_deploy,
    )

    require_deploy(DEPLOY_PACKAGES if not args.no_verify else DEPLOY_PACKAGES[:2])
    if not args.out.endswith('.onnx'):
        raise CliUsageError(f'--out must end with .onnx, got {args.out}')
    if args.input_size is not None and len(args.input_size) not in (1, 2):
        raise CliUsageError(f'--input-size takes H or H W, got {args.input_size}')
    cfg = load_config(args)

    from ferlab.apis.inference import init_model
    from ferlab.inference.backends import config_test_pipeline, model_classes, model_input_size
    from ferlab.utils.checkpoint import check_local_checkpoint

    check_local_checkpoint(args.checkpoint)
    input_size = None
    if args.input_size is not None:
        input_size = args.input_size * 2 if len(args.input_size) == 1 else args.input_size
    pipeline = config_test_pipeline(cfg)  # the innermost test dataset's (wrapped test sets)
    if input_size is None and not any(t.get('type') == 'Resize' for t in pipeline):
        try:
            input_size = list(model_input_size(cfg))
        except FerlabInputError as err:
            raise OnnxExportError(f'{err}; give it with --input-size H W') from None
    pre = preprocess_steps(pipeline, input_size)
    model = init_model(cfg, args.checkpoint, device='cpu')
    if args.classes:
        classes = [c.strip() for c in args.classes.split(',') if c.strip()]
    else:
        try:
            classes = model_classes(model, cfg)
        except FerlabInputError as err:
            raise OnnxExportError(f'{err}; give the names with --classes a,b,c') from None
    meta = export_onnx(
        model,
        args.out,
        pre['input_size'],
        classes,
        preprocess=pre['preprocess'],
        opset=args.opset,
        extra_meta=dict(
            source_config=osp.basename(args.config),
            source_checkpoint_sha256=file_sha256(args.checkpoint),
        ),
    )
    h, w = meta['input_size']
    print(
        f'wrote {args.out}: opset {meta["opset"]}, {meta["exporter"]} exporter, input (B, 3, {h}, {w}), '
        f'{meta["output"]} (B, {len(meta["classes"])})'
        + (f', {meta["au_output"]} (B, {len(meta["au_names"])})' if meta.get('au_output') else '')
        + (f', weights in {meta["external_data"]}' if meta['external_data'] else '')
    )
    if not args.no_verify:
        parity = onnx_parity(model, args.out, (1, 3))
        print(
            'onnxruntime vs torch, max |logit diff|'
            + (' (class and AU logits)' if meta.get('au_output') else '')
            + ': '
            + ', '.join(f'batch {b}: {d:.2e}' for b, d in parity.items())
        )
        worst = max(parity.values())
        if worst > args.atol:
            raise RuntimeError(
                f'{args.out}: onnxruntime logits differ from torch by {worst:.3e} > --atol {args.atol}'
            )
        meta['parity'] = parity
    return meta


def cli(argv=None):
    """Command-line entry: input errors end in one ``tools/deployment/pytorch2onnx.py: error:`` line."""
    return run_tool(main, __file__, argv)


if __name__ == '__main__':
    cli()
