"""ONNX Runtime vs PyTorch eager, side by side in one run: ``python tools/analysis_tools/onnx_benchmark.py``.

For each model (ResNet-18 of ``configs/baseline/resnet18_rafdb.py``, DeiT-S of
``configs/mvt/mvt_deit-s_rafdb.py`` without its MGN; random weights, the speed
does not depend on them) and input size, the model is exported with
:func:`ferlab.deployment.export_onnx` and both runtimes score the same
normalised batches, alternating one timed call of each so that a change of
machine load hits both. Prints per model, size and batch: median ms per
image of PyTorch eager (``torch.no_grad``, fp32, NCHW) and of ONNX Runtime
(CPU provider, default graph optimisations), their ratio (torch / onnxruntime,
> 1: ONNX Runtime is faster) and the max |logit difference|.

Threads: ``--threads`` for both (``torch.set_num_threads`` and
``intra_op_num_threads``; default 1). Needs the ``deploy`` extra.
"""

from __future__ import annotations

import argparse
import os.path as osp
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ferlab.utils.cli import run_tool  # noqa: E402

MODELS_TO_RUN = {
    'resnet18': ('configs/baseline/resnet18_rafdb.py', {'model.backbone.pretrained': None}),
    'deit_s': (
        'configs/mvt/mvt_deit-s_rafdb.py',
        {'model.mgn': None, 'model.backbone.pretrained': None, 'model.backbone.drop_path_rate': 0.0},
    ),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='ONNX Runtime vs PyTorch eager inference speed')
    parser.add_argument('--models', nargs='+', default=list(MODELS_TO_RUN), choices=list(MODELS_TO_RUN))
    parser.add_argument('--sizes', type=int, nargs='+', default=[112, 224], help='square input sizes')
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 16])
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--iters', type=int, default=10, help='timed calls per runtime and setting')
    parser.add_argument('--warmup', type=int, default=2)
    return parser.parse_args(argv)


def build(name: str, size: int) -> torch.nn.Module:
    from mmengine.config import Config

    from ferlab.registry import MODELS
    from ferlab.utils import register_all_modules

    register_all_modules()
    config, opts = MODELS_TO_RUN[name]
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(root, config))
    if name.startswith('deit'):
        opts = {**opts, 'model.backbone.img_size': size}
    cfg.merge_from_dict(opts)
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval()


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> list[dict]:
    """Run the comparison; returns one dict per (model, size, batch)."""
    args = parse_args(argv)
    from ferlab.deployment import export_onnx, require_deploy

    require_deploy()
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    print(
        f'CPU: {cpu_name()}, threads: {args.threads}, torch {torch.__version__}, '
        f'onnxruntime {ort.__version__}'
    )
    print(
        f'{"model":<9} {"size":>4} {"batch":>5} {"torch ms/img":>12} {"ort ms/img":>10} {"ratio":>6} {"max|dlogit|":>11}'
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            for size in args.sizes:
                model = build(name, size)
                path = osp.join(tmp, f'{name}_{size}.onnx')
                export_onnx(model, path, (size, size), [str(i) for i in range(7)])
                session = ort.InferenceSession(path, sess_options=options, providers=['CPUExecutionProvider'])
                for batch in args.batches:
                    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
                    xt = torch.from_numpy(x)

                    def run_torch():
                        with torch.no_grad():
                            return model(xt, mode='tensor')

                    def run_ort():
                        return session.run(None, {'input': x})[0]

                    for _ in range(args.warmup):
                        run_torch(), run_ort()
                    t_torch, t_ort = [], []
                    for _ in range(args.iters):  # alternate: load changes hit both
                        t_torch.append(_time(run_torch))
                        t_ort.append(_time(run_ort))
                    diff = float(np.abs(run_ort() - run_torch().numpy()).max())
                    row = dict(
                        model=name,
                        size=size,
                        batch=batch,
                        torch_ms_per_img=1e3 * statistics.median(t_torch) / batch,
                        ort_ms_per_img=1e3 * statistics.median(t_ort) / batch,
                        max_abs_logit_diff=diff,
                    )
                    row['ratio'] = row['torch_ms_per_img'] / row['ort_ms_per_img']
                    rows.append(row)
                    print(
                        f'{name:<9} {size:>4} {batch:>5} {row["torch_ms_per_img"]:>12.2f} '
                        f'{row["ort_ms_per_img"]:>10.2f} {row["ratio"]:>6.2f} {diff:>11.1e}',
                        flush=True,
                    )
    return rows


if __name__ == '__main__':
    run_tool(main, __file__)
