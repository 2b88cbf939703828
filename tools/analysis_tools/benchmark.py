"""Training-speed overhead of ferlab's Runner against a bare PyTorch loop.

``python tools/analysis_tools/benchmark.py CONFIG [--iters N] [--warmup W]
[--batch-size B] [--img-size S] [--repeats R] [--threads T]``

Both sides train the same architecture (built from ``CONFIG``'s ``model``),
with the same loss (cross-entropy on the same logits), the same optimizer
settings (``CONFIG``'s ``optim_wrapper.optimizer``) on the same batches,
which are synthesised once and kept in memory before anything is timed:

* **ferlab**: an mmengine ``Runner`` built from the config (default hooks,
  custom hooks, logger, visualizer, param schedulers, ``OptimWrapper``),
  whose train dataloader yields the pre-collated batches (what ferlab's
  collate produces: a list of ``(3, S, S)`` uint8 tensors + ``FERDataSample``
  list). Each iteration runs the whole loop: data preprocessor (stack, float,
  BGR->RGB, normalise), ``model.train_step`` -> ``OptimWrapper.update_params``,
  every hook.
* **bare**: ``for x, y in batches: x = normalise(x); loss =
  F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()``
  on the same batches pre-stacked as ``(B, 3, S, S)`` uint8 tensors (what
  ``default_collate`` produces); the normalisation is the same arithmetic as
  ferlab's preprocessor.

Data loading from disk is therefore excluded from both. Repetitions alternate
the order (ferlab, bare), (bare, ferlab), ... to spread machine noise, each
with a fresh, identically seeded model. The first ``--warmup`` iterations of
each repetition are not timed. Prints iterations/s per repetition, the medians
and the ratio ferlab / bare (1.0 means no overhead), both by wall clock and by
the process's CPU time (with ``--threads 1`` on a shared machine the CPU-time
figure is the robust one: it does not count time spent waiting for a core).
"""

from __future__ import annotations

import argparse
import copy
import os.path as osp
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from ferlab.registry import MODELS  # noqa: E402
from ferlab.structures import FERDataSample  # noqa: E402
from ferlab.utils import apply_cfg_options, register_all_modules  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='ferlab Runner vs bare PyTorch training speed')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations per repetition')
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations per repetition')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--img-size', type=int, default=112)
    parser.add_argument('--repeats', type=int, default=3, help='repetitions of (ferlab, bare)')
    parser.add_argument(
        '--threads', type=int, default=None, help='torch.set_num_threads (default: unchanged)'
    )
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    args = parser.parse_args(argv)
    for name in ('iters', 'batch_size', 'img_size', 'repeats'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}')
    return args


def make_batches(n: int, batch_size: int, img_size: int, num_classes: int, seed: int):
    """``n`` synthetic batches in both collated forms.

    Returns:
        ``(ferlab_batches, bare_batches)``: dicts ``{'inputs': [uint8 CHW] * B,
        'data_samples': [FERDataSample] * B}`` and ``(uint8 BCHW, long B)``
        tuples holding the same pixels and labels.
    """
    gen = torch.Generator().manual_seed(seed)
    ferlab_batches, bare_batches = [], []
    for b in range(n):
        imgs = torch.randint(0, 256, (batch_size, 3, img_size, img_size), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, num_classes, (batch_size,), generator=gen)
        samples = []
        for i in range(batch_size):
            s = FERDataSample().set_gt_label(int(labels[i]))
            s.set_metainfo(dict(sample_idx=b * batch_size + i))
            samples.append(s)
        ferlab_batches.append(dict(inputs=list(imgs.unbind(0)), data_samples=samples))
        bare_batches.append((imgs, labels))
    return ferlab_batches, bare_batches


class _InMemoryBatches(torch.utils.data.Dataset):
    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, idx):
        return self.batches[idx]


class _IterClockHook(Hook):
    """Timestamps the end of every training iteration (after all other hooks)."""

    priority = 'LOWEST'

    def __init__(self):
        self.stamps: list[tuple[float, float]] = []

    def before_train(self, runner):
        self.stamps = [_now()]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.stamps.append(_now())


def _now() -> tuple[float, float]:
    """(wall clock, CPU time of this process)."""
    return time.perf_counter(), time.process_time()


def timed_rate(stamps: list[tuple[float, float]], skip: int) -> tuple[float, float]:
    """Iterations/s (by wall clock, by process CPU time) over ``stamps[skip:]``."""
    timed = stamps[skip:]
    if len(timed) < 2:
        raise ValueError('not enough iterations were timed')
    n = len(timed) - 1
    return n / (timed[-1][0] - timed[0][0]), n / (timed[-1][1] - timed[0][1])


def run_ferlab(cfg: Config, batches, warmup: int, work_dir: str, rep: int) -> tuple[float, float]:
    """Train one epoch over ``batches`` with the config's Runner; returns timed (wall, CPU) it/s."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = osp.join(work_dir, f'ferlab_{rep}')
    cfg.experiment_name = f'benchmark_{rep}_{time.time_ns()}'
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=10**9)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.load_from, cfg.resume = None, False
    # The epoch-end checkpoint is written after the last timed iteration; skip it to save disk.
    cfg.default_hooks.checkpoint = None
    clock = _IterClockHook()
    runner = Runner.from_cfg(cfg)
    # The config's train_dataloader (left unbuilt) is replaced by the in-memory batches; the
    # train loop takes a ready DataLoader as is.
    runner._train_dataloader = DataLoader(
        _InMemoryBatches(batches), batch_size=1, shuffle=False, collate_fn=_first
    )
    runner.register_hook(clock)
    runner.train()
    return timed_rate(clock.stamps, warmup + 1)  # stamps[0] is before_train


def _first(items):
    """Collate of a ``batch_size=1`` loader over pre-collated batches."""
    return items[0]


def run_bare(cfg: Config, batches, warmup: int, seed: int) -> tuple[float, float]:
    """Plain PyTorch loop over ``batches``; returns timed (wall, CPU) it/s."""
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    pre = model.data_preprocessor
    mean = pre.mean.view(1, -1, 1, 1).clone() if pre._normalize else None
    std = pre.std.view(1, -1, 1, 1).clone() if pre._normalize else None
    to_rgb = pre.to_rgb
    net = torch.nn.Sequential(model.backbone, _Unpack(model.neck), _Unpack(model.head))
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    opt_cls = getattr(torch.optim, opt_cfg.pop('type'))
    optimizer = opt_cls(net.parameters(), **opt_cfg)
    net.train()
    stamps = [_now()]
    for imgs, labels in batches:
        x = imgs.float()
        if to_rgb:
            x = x.flip(1)
        if mean is not None:
            x = (x - mean) / std
        loss = F.cross_entropy(net(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        stamps.append(_now())
    return timed_rate(stamps, warmup + 1)


class _Unpack(torch.nn.Module):
    """Call a tuple-in/tuple-out ferlab module (neck, head) in an ``nn.Sequential``."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        x = self.module(x if isinstance(x, tuple) else (x,))
        return x


def check_supported(cfg: Config) -> None:
    """The bare loop mirrors a single-optimizer, cross-entropy FERClassifier."""
    optim = cfg.get('optim_wrapper') or {}
    if 'optimizer' not in optim or optim.get('type', 'OptimWrapper') != 'OptimWrapper':
        raise ValueError('benchmark.py needs optim_wrapper=dict(type=OptimWrapper, optimizer=...)')
    if not hasattr(torch.optim, optim['optimizer'].get('type', '')):
        raise ValueError(f'benchmark.py needs a torch.optim optimizer, got {optim["optimizer"].get("type")}')
    loss_type = cfg.model.get('head', {}).get('loss', {}).get('type')
    if loss_type not in ('CrossEntropyLoss', None):
        raise ValueError(f'benchmark.py compares against F.cross_entropy, the config uses {loss_type}')


def main(argv=None) -> dict:
    """Run the benchmark; returns ``{'wall'|'cpu': {'ferlab': it/s, 'bare': it/s, 'ratio': float}}``."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    apply_cfg_options(cfg, args.cfg_options)
    check_supported(cfg)
    cfg.randomness = dict(seed=args.seed, deterministic=False)
    cfg.log_level = 'WARNING'
    num_classes = cfg.model.head.num_classes
    n = args.warmup + args.iters
    ferlab_batches, bare_batches = make_batches(n, args.batch_size, args.img_size, num_classes, args.seed)
    print(
        f'config={args.config} batch={args.batch_size} img={args.img_size} iters={args.iters} '
        f'warmup={args.warmup} repeats={args.repeats} threads={torch.get_num_threads()}'
    )
    rates: dict = {'ferlab': [], 'bare': []}
    with tempfile.TemporaryDirectory(prefix='ferlab_bench_') as work_dir:
        for rep in range(args.repeats):
            order = ('ferlab', 'bare') if rep % 2 == 0 else ('bare', 'ferlab')
            for kind in order:
                if kind == 'ferlab':
                    rate = run_ferlab(cfg, ferlab_batches, args.warmup, work_dir, rep)
                else:
                    rate = run_bare(cfg, bare_batches, args.warmup, args.seed)
                rates[kind].append(rate)
                print(f'rep {rep} {kind:6s}: {rate[0]:.4f} it/s wall, {rate[1]:.4f} it/s CPU', flush=True)
    results: dict = {}
    for k, clock in enumerate(('wall', 'cpu')):
        med_f = statistics.median(r[k] for r in rates['ferlab'])
        med_b = statistics.median(r[k] for r in rates['bare'])
        results[clock] = dict(ferlab=med_f, bare=med_b, ratio=med_f / med_b)
        print(
            f'[{clock:4s}] median ferlab {med_f:.4f} it/s, bare {med_b:.4f} it/s, '
            f'ratio ferlab/bare {med_f / med_b:.4f} (overhead {100 * (1 - med_f / med_b):+.1f}%)'
        )
    print(
        "The CPU-time figures count only this process's own work (robust on a shared machine "
        'with --threads 1); the wall-clock figures include waiting for the CPU.'
    )
    return results


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
