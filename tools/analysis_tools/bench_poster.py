"""Training speed of ferlab's POSTER++ against the public module, same weights, same batch.

Usage::

    OMP_NUM_THREADS=1 python tools/analysis_tools/bench_poster.py PUBLIC [--batch-size 8] \\
        [--iters 3] [--warmup 1] [--num-classes 7] [--device cpu|cuda] [--amp]

``PUBLIC`` is a local copy of Talented-Q/POSTER_V2: the repository root, its
``models`` folder, or ``models/PosterV2_7cls.py`` / ``PosterV2_8cls.py``. The
public file is imported at run time (it is not part of ferlab); its
constructor's two ``torch.load`` calls of hard-coded weight paths are answered
with in-memory weights of the right layout (a freshly built public
MobileFaceNet; an empty dict for IR-50, which its loader accepts), so no file
is read, and a missing ``thop`` (imported for FLOP counting only) is stubbed.
The public weights are converted with ``poster_to_ferlab`` and loaded
``strict=True`` into ``configs/poster/posterv2_ir50_rafdb.py``'s model; the
eval logits of both are compared, then both train (forward + cross-entropy +
backward) on the same ``(B, 3, 224, 224)`` batch, interleaved, and the median
step time of each gives images/s and the ratio ferlab / public. ``--amp``
runs both under bf16 autocast.
"""

from __future__ import annotations

import argparse
import importlib
import os.path as osp
import statistics
import sys
import time
import types
from unittest import mock

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ferlab.utils.errors import InputFileNotFoundError  # noqa: E402

RAFDB = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'poster', 'posterv2_ir50_rafdb.py')


def resolve_public_file(path: str, num_classes: int) -> str:
    """The ``PosterV2_{7,8}cls.py`` file under ``path`` (root, ``models`` folder or the file)."""
    name = f'PosterV2_{num_classes}cls.py'
    for cand in (path, osp.join(path, name), osp.join(path, 'models', name)):
        if osp.isfile(cand):
            return osp.abspath(cand)
    raise InputFileNotFoundError(
        f'public POSTER++ file {name} not found under {path!r}: pass a local copy of Talented-Q/POSTER_V2 '
        '(its root, its models folder or the file itself)'
    )


def build_public(file: str, num_classes: int) -> torch.nn.Module:
    """Import the public file as part of its ``models`` package and build ``pyramid_trans_expr2``."""
    pkg_name = '_poster_public_models'
    pkg = types.ModuleType(pkg_name)
    pkg.__path__ = [osp.dirname(file)]
    sys.modules[pkg_name] = pkg
    if importlib.util.find_spec('thop') is None:  # used by the public file for FLOP counting only
        thop = types.ModuleType('thop')
        thop.profile = lambda *a, **k: (0, 0)
        sys.modules.setdefault('thop', thop)
    module = importlib.import_module(f'{pkg_name}.{osp.splitext(osp.basename(file))[0]}')
    mfn = importlib.import_module(f'{pkg_name}.mobilefacenet')

    def fake_load(path, *args, **kwargs):  # the constructor's hard-coded weight files
        if 'mobilefacenet' in str(path).lower():
            return {'state_dict': mfn.MobileFaceNet([112, 112], 136).state_dict()}
        return {}

    with mock.patch('torch.load', fake_load):
        return module.pyramid_trans_expr2(img_size=224, num_classes=num_classes)


def build_ferlab(public: torch.nn.Module, num_classes: int) -> torch.nn.Module:
    from mmengine.config import Config

    from ferlab.registry import MODELS
    from ferlab.utils import register_all_modules
    from tools.model_converters.poster_to_ferlab import convert_poster_state_dict

    register_all_modules()
    cfg = Config.fromfile(RAFDB)
    cfg.model.head.num_classes = num_classes
    model = MODELS.build(cfg.model)
    state, _ = convert_poster_state_dict(public.state_dict())
    model.load_state_dict(state, strict=True)
    return model


def _step(model, x, y, ferlab: bool, amp: bool):
    model.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model(x, mode='tensor') if ferlab else model(x)
        loss = F.cross_entropy(logits.float(), y)
    loss.backward()
    if x.device.type == 'cuda':
        torch.cuda.synchronize()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description='POSTER++ images/s: ferlab vs the public module')
    parser.add_argument('public', help='local Talented-Q/POSTER_V2 root, models folder or PosterV2_*cls.py')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--iters', type=int, default=3, help='timed steps per model')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps per model')
    parser.add_argument('--num-classes', type=int, default=7, choices=(7, 8))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--amp', action='store_true', help='bf16 autocast for both')
    args = parser.parse_args(argv)
    if args.batch_size < 2:
        # the public landmark stream runs its GDC output layer (BatchNorm) in train mode too
        parser.error('--batch-size must be at least 2: the public module cannot train on one image')

    torch.manual_seed(0)
    file = resolve_public_file(args.public, args.num_classes)
    public = build_public(file, args.num_classes)
    ferlab = build_ferlab(public, args.num_classes)
    device = torch.device(args.device)
    public.to(device)
    ferlab.to(device)
    x = torch.randn(args.batch_size, 3, 224, 224, device=device)
    y = torch.randint(0, args.num_classes, (args.batch_size,), device=device)
    public.eval()
    ferlab.eval()
    with torch.no_grad():
        diff = (public(x) - ferlab(x, mode='tensor')).abs().max().item()
    public.train()
    ferlab.train()
    times = {'public': [], 'ferlab': []}
    for i in range(args.warmup + args.iters):
        for name, model in (('public', public), ('ferlab', ferlab)):
            t0 = time.perf_counter()
            _step(model, x, y, name == 'ferlab', args.amp)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
    ips = {k: args.batch_size / statistics.median(v) for k, v in times.items()}
    result = dict(
        device=str(device) if device.type != 'cuda' else torch.cuda.get_device_name(device),
        threads=torch.get_num_threads(),
        batch_size=args.batch_size,
        amp=args.amp,
        eval_logit_max_abs_diff=diff,
        public_images_per_s=ips['public'],
        ferlab_images_per_s=ips['ferlab'],
        ratio=ips['ferlab'] / ips['public'],
    )
    print(
        f'POSTER++ {args.num_classes} classes, batch {args.batch_size}, 224 px, {result["device"]}, '
        f'{result["threads"]} thread(s){", bf16 autocast" if args.amp else ""}; eval logits max |diff| {diff:.2e}\n'
        f'  public: {ips["public"]:.2f} images/s (forward+backward, median of {args.iters})\n'
        f'  ferlab: {ips["ferlab"]:.2f} images/s\n'
        f'  ratio ferlab/public: {result["ratio"]:.3f}'
    )
    return result


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
