"""Training and inference speed in fp32, bf16 autocast and bf16 + channels_last.

``python tools/analysis_tools/bench_precision.py [--models resnet18 deit_s]
[--img-sizes 112 224] [--batch-size 32] [--iters N] [--warmup W] [--repeats R]
[--threads T] [--variants fp32 bf16 bf16_cl] [--modes train infer] [--device cpu]``

Every variant runs ferlab's own code path on the same in-memory batches (a
list of ``(3, S, S)`` uint8 tensors + ``FERDataSample`` s, as ferlab's collate
gives; data loading is excluded), built from config dicts through the
registry:

* **train**: ``model.train_step(batch, optim_wrapper)`` (preprocessor,
  forward, cross-entropy, backward, AdamW step) with ``OptimWrapper`` (fp32)
  or ``MixedPrecisionOptimWrapper`` (bf16; the loss runs in fp32).
* **infer**: ``model.test_step(batch)`` under ``torch.no_grad()`` in eval
  mode, autocast for the bf16 variants (what ``tools/test.py --amp`` does).

Variants: ``fp32``; ``bf16`` (autocast); ``bf16_cl`` (autocast and
``FERDataPreprocessor(channels_last=True)``: NHWC batches); ``fp32_cl``;
``bf16_clw`` (``bf16_cl`` with the model's weights also converted to
channels_last). Models: ``resnet18`` (ferlab's ResNet-18 + GAP + linear head),
``deit_s`` (ferlab's ``ViTBackbone`` with timm's ``deit_small_patch16_224`` at
``img_size=S``), ``iresnet50``; all from scratch (no pretrained weights).

Each variant gets its own identically seeded model, is warmed up once, then
repetitions alternate the variant order (forward, reversed, ...). Per
repetition ``--iters`` steps are timed by wall clock and by this process's CPU
time. Printed: images/s per variant (medians over repetitions), the ratio to
fp32 of the same repetition (median), the detected CPU flags, torch's version
and the load average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import platform
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

from ferlab.engine.optim_wrappers import autocast, cpu_bf16_flags, cpu_supports_bf16  # noqa: E402
from ferlab.registry import MODELS, OPTIM_WRAPPERS  # noqa: E402
from ferlab.structures import FERDataSample  # noqa: E402
from ferlab.utils import register_all_modules  # noqa: E402

NUM_CLASSES = 7
VARIANTS = {
    # name: (autocast, channels_last batches, channels_last weights)
    'fp32': (False, False, False),
    'fp32_cl': (False, True, False),
    'bf16': (True, False, False),
    'bf16_cl': (True, True, False),
    'bf16_clw': (True, True, True),
}


def model_cfg(name: str, img_size: int) -> dict:
    """A ``FERClassifier`` config for ``name`` at ``img_size`` px."""
    head = dict(type='LinearClsHead', num_classes=NUM_CLASSES, loss=dict(type='CrossEntropyLoss'))
    if name == 'resnet18':
        return dict(
            type='FERClassifier',
            backbone=dict(type='ResNet', depth=18, out_indices=(3,)),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(head, in_channels=512),
        )
    if name == 'iresnet50':
        return dict(
            type='FERClassifier',
            backbone=dict(type='IResNet', depth=50, out_indices=(3,), input_size=img_size),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(head, in_channels=512),
        )
    if name == 'deit_s':
        return dict(
            type='FERClassifier',
            backbone=dict(type='ViTBackbone', arch='deit_small_patch16_224', img_size=img_size),
            head=dict(head, in_channels=384),
        )
    raise ValueError(f'unknown model {name!r}; choose from resnet18, deit_s, iresnet50')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='fp32 vs bf16 vs bf16 + channels_last speed')
    parser.add_argument('--models', nargs='+', default=['resnet18', 'deit_s'])
    parser.add_argument('--img-sizes', nargs='+', type=int, default=[112, 224])
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--iters', type=int, default=2, help='timed steps per variant and repetition')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps per variant (once)')
    parser.add_argument('--repeats', type=int, default=3, help='alternated repetitions')
    parser.add_argument('--variants', nargs='+', default=['fp32', 'bf16', 'bf16_cl'], choices=list(VARIANTS))
    parser.add_argument('--modes', nargs='+', default=['train', 'infer'], choices=['train', 'infer'])
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for name in ('iters', 'batch_size', 'repeats'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}')
    if 'fp32' not in args.variants:
        parser.error('--variants must include fp32 (the reference of the ratios)')
    for m in args.models:
        try:
            model_cfg(m, 112)
        except ValueError as err:
            parser.error(str(err))
    return args


def make_batch(batch_size: int, img_size: int, seed: int) -> dict:
    """One ferlab-collated batch: ``{'inputs': [uint8 (3, S, S)] * B, 'data_samples': [...]}``."""
    gen = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (batch_size, 3, img_size, img_size), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, NUM_CLASSES, (batch_size,), generator=gen)
    samples = [FERDataSample().set_gt_label(int(v)) for v in labels]
    return dict(inputs=list(imgs.unbind(0)), data_samples=samples)


class Variant:
    """One variant: its model, optimizer wrapper and a step function."""

    def __init__(self, name: str, model_name: str, img_size: int, mode: str, device: str, seed: int):
        amp, cl_batches, cl_weights = VARIANTS[name]
        cfg = model_cfg(model_name, img_size)
        cfg['data_preprocessor'] = dict(type='FERDataPreprocessor', channels_last=cl_batches)
        torch.manual_seed(seed)
        model = MODELS.build(cfg)
        model.init_weights()
        model = model.to(device)
        if cl_weights:
            model = model.to(memory_format=torch.channels_last)
        self.model, self.mode, self.amp, self.device = model, mode, amp, device
        if mode == 'train':
            model.train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
            wrapper = dict(type='MixedPrecisionOptimWrapper' if amp else 'OptimWrapper', optimizer=optimizer)
            self.wrapper = OPTIM_WRAPPERS.build(wrapper)
            if amp and self.wrapper.cast_dtype is None:
                print(f'note: {name} falls back to fp32 on this machine (no bf16 support detected)')
        else:
            model.eval()

    def step(self, batch: dict) -> None:
        if self.mode == 'train':
            self.model.train_step(batch, self.wrapper)
            return
        dtype = torch.bfloat16 if self.amp else None
        with torch.no_grad(), autocast(self.device, dtype):
            self.model.test_step(batch)


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _sync(device: str) -> None:
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def bench(model_name: str, img_size: int, mode: str, args) -> dict:
    """``{variant: [(wall images/s, CPU images/s) per repetition]}`` for one model, size and mode."""
    batch = make_batch(args.batch_size, img_size, args.seed)
    runners = {v: Variant(v, model_name, img_size, mode, args.device, args.seed) for v in args.variants}
    for r in runners.values():
        for _ in range(args.warmup):
            r.step(batch)
    _sync(args.device)
    rates: dict = {v: [] for v in args.variants}
    for rep in range(args.repeats):
        order = args.variants if rep % 2 == 0 else args.variants[::-1]
        for v in order:
            t0 = _now()
            for _ in range(args.iters):
                runners[v].step(batch)
            _sync(args.device)
            t1 = _now()
            n = args.iters * args.batch_size
            rates[v].append((n / (t1[0] - t0[0]), n / (t1[1] - t0[1])))
        line = ' '.join(f'{v}={rates[v][-1][0]:.1f}' for v in args.variants)
        print(f'  {model_name} {img_size}px {mode} rep {rep}: images/s (wall) {line}', flush=True)
    del runners
    return rates


def summarise(rates: dict) -> dict:
    """Medians of images/s and of the per-repetition ratios to fp32, by wall clock and CPU time."""
    out = {}
    for v, reps in rates.items():
        out[v] = {}
        for k, clock in enumerate(('wall', 'cpu')):
            ratio = [r[k] / f[k] for r, f in zip(reps, rates['fp32'])]
            out[v][clock] = dict(ips=statistics.median(r[k] for r in reps), ratio=statistics.median(ratio))
    return out


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return ' '.join(f'{x:.2f}' for x in os.getloadavg())
    except OSError:
        return 'n/a'


def main(argv=None) -> dict:
    """Run the benchmark; returns ``{(model, size, mode): {variant: {'wall'|'cpu': {'ips', 'ratio'}}}}``."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    register_all_modules()
    # quiet init_weights' per-parameter report; the wrapper's one-time notes are warnings
    MMLogger.get_instance('bench_precision', log_level='WARNING')
    flags = sorted(cpu_bf16_flags())
    print(
        f'torch {torch.__version__}, CPU {cpu_model()}, '
        f'flags {" ".join(flags) or "(none of the bf16-related ones)"}, native bf16: {cpu_supports_bf16()}, '
        f'threads {torch.get_num_threads()}, device {args.device}'
    )
    print(
        f'batch {args.batch_size}, iters {args.iters}, warmup {args.warmup}, repeats {args.repeats}; '
        f'load average before: {_load()}',
        flush=True,
    )
    results = {}
    for model_name in args.models:
        for size in args.img_sizes:
            for mode in args.modes:
                results[(model_name, size, mode)] = summarise(bench(model_name, size, mode, args))
    print(f'load average after: {_load()}')
    header = '| model | px | mode | ' + ' | '.join(args.variants) + ' |'
    print('\nimages/s, median (wall clock; ratio to fp32 = median of per-repetition ratios)')
    print(header)
    print('|' + ' --- |' * (3 + len(args.variants)))
    for (model_name, size, mode), res in results.items():
        cells = [f'{res[v]["wall"]["ips"]:.1f} ({res[v]["wall"]["ratio"]:.2f}x)' for v in args.variants]
        print(f'| {model_name} | {size} | {mode} | ' + ' | '.join(cells) + ' |')
    print('\nsame, by process CPU time')
    print(header)
    print('|' + ' --- |' * (3 + len(args.variants)))
    for (model_name, size, mode), res in results.items():
        cells = [f'{res[v]["cpu"]["ips"]:.1f} ({res[v]["cpu"]["ratio"]:.2f}x)' for v in args.variants]
        print(f'| {model_name} | {size} | {mode} | ' + ' | '.join(cells) + ' |')
    return results


if __name__ == '__main__':
    main()
