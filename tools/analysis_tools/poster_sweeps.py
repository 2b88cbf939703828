"""POSTER++ landmark-stream evidence on SynthFER through ``tools/train.py`` and ``tools/test.py``
(docs/poster.md#results).

Four variants at equal epochs on the same rendered data, each a shipped config (the CPU-scale
POSTER++ variants of ``configs/poster/``) plus at most ``--cfg-options``:

* ``landmark``: ``posterv2_ir18-56px-cpu_synthfer.py`` with the landmark stream read from the
  SynthFER-trained MobileFaceNet (``configs/poster/mobilefacenet_landmarks_synthfer.py``);
* ``randlm``: ``posterv2_ir18-56px-cpu-randlm_synthfer.py`` (random frozen landmark stream);
* ``constq``: ``posterv2_ir18-56px-cpu-constq_synthfer.py`` (image stream only, learned constant
  queries);
* ``resnet18``: the landmark config's data, schedule and optimiser with the model replaced by
  ResNet-18 + GAP + linear head (:func:`variant_options`).

Step 0 trains the landmark model (``tools/train.py``) and measures its NME on the config's 2000
test faces (``tools/test.py``), unless ``--landmark-ckpt`` names a checkpoint. Then every
``(variant, seed)`` trains with ``randomness.deterministic=True`` and ``--no-validate`` and its
final checkpoint is tested; ``OUT/results.json`` holds one record per run (metrics of
``tools/test.py``'s ``metrics.json``, seconds, exact commands, torch version, settings) and
``OUT/results.md`` the per-seed values and mean ± std (ddof 0). Finished runs with the same
settings are skipped, so an interrupted sweep resumes::

    OMP_NUM_THREADS=1 python tools/analysis_tools/poster_sweeps.py --seeds 0 1 2 --out work_dirs/poster_sweeps
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

LANDMARK_CONFIG = 'configs/poster/mobilefacenet_landmarks_synthfer.py'
CONFIGS = {
    'landmark': 'configs/poster/posterv2_ir18-56px-cpu_synthfer.py',
    'randlm': 'configs/poster/posterv2_ir18-56px-cpu-randlm_synthfer.py',
    'constq': 'configs/poster/posterv2_ir18-56px-cpu-constq_synthfer.py',
    'resnet18': 'configs/poster/posterv2_ir18-56px-cpu_synthfer.py',
}
VARIANTS = tuple(CONFIGS)


def variant_options(name: str, landmark_ckpt: str | None = None) -> list[str]:
    """``--cfg-options`` of variant ``name`` on :data:`CONFIGS` ``[name]``."""
    if name == 'landmark':
        if not landmark_ckpt:
            raise ValueError('variant landmark needs the landmark checkpoint')
        return [f'model.backbone.landmark.pretrained={landmark_ckpt}']
    if name in ('randlm', 'constq'):
        return []
    if name == 'resnet18':
        return [
            'model.backbone._delete_=True', 'model.backbone.type=ResNet', 'model.backbone.depth=18',
            'model.backbone.out_indices=(3,)', 'model.neck._delete_=True', 'model.neck.type=GlobalAveragePooling',
            'model.head.in_channels=512',
        ]  # fmt: skip
    raise KeyError(f'unknown variant {name!r}; choose from {VARIANTS}')


def _command(tool: str, *args: str, cfg_options: list[str]) -> list[str]:
    cmd = [sys.executable, osp.join(ROOT, 'tools', tool), *args]
    return cmd + (['--cfg-options', *cfg_options] if cfg_options else [])


def _run(cmd: list[str], log: str) -> None:
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = ''.join(open(log).readlines()[-15:])
        raise RuntimeError(f'{shlex.join(cmd)} exited with {proc.returncode}; last lines of {log}:\n{tail}')


def _display(cmd: list[str]) -> str:
    out = ['python' if c == sys.executable else c for c in cmd]
    return shlex.join([osp.relpath(c, ROOT) if c.startswith(ROOT + os.sep) else c for c in out])


def _epochs(config: str, cfg_options: list[str]) -> int:
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(ROOT, config))
    for o in cfg_options:
        if o.startswith('train_cfg.max_epochs='):
            return int(o.split('=', 1)[1])
    return int(cfg.train_cfg.max_epochs)


def train_and_test(
    config: str, work: str, opts: list[str], train_args: list[str], test_args: tuple[str, ...] = ()
) -> dict:
    """tools/train.py then tools/test.py on the final checkpoint; the metrics and the commands."""
    os.makedirs(work, exist_ok=True)
    train_cmd = _command('train.py', config, '--work-dir', work, *train_args, cfg_options=opts)
    t0 = time.time()
    _run(train_cmd, osp.join(work, 'train_stdout.log'))
    train_s = time.time() - t0
    ckpt = osp.join(work, f'epoch_{_epochs(config, opts)}.pth')
    t0 = time.time()
    test = run_test(config, ckpt, osp.join(work, 'test'), opts, test_args, log_dir=work)
    return dict(metrics=test['metrics'], checkpoint=ckpt, train_seconds=round(train_s, 1),
                test_seconds=round(time.time() - t0, 1),
                commands=dict(train=_display(train_cmd), test=test['command']))  # fmt: skip


def run_test(
    config: str, checkpoint: str, work: str, opts: list[str], test_args=(), log_dir: str | None = None
) -> dict:
    """tools/test.py of ``checkpoint`` (``--work-dir work``); its metrics and the command.

    The tool's output goes to ``log_dir`` (default ``work``) ``/test_stdout.log``.
    """
    cmd = _command('test.py', config, checkpoint, '--work-dir', work, *test_args, cfg_options=opts)
    os.makedirs(work, exist_ok=True)
    _run(cmd, osp.join(log_dir or work, 'test_stdout.log'))
    return dict(metrics=json.load(open(osp.join(work, 'metrics.json'))), command=_display(cmd))


def _stat(values) -> str:
    v = np.asarray(values, float)
    return f'{v[0]:.2f}' if len(v) == 1 else f'{v.mean():.2f} ± {v.std():.2f}'


def summarise(results: list[dict], landmark: dict | None) -> str:
    lines = []
    if landmark:
        m = landmark['metrics']
        lines += [f'Landmark model: NME {m["nme"]:.2f} % (inter-ocular), failure rate '
                  f'{m.get("fr@10", float("nan")):.2f} % (NME > 10 %), {landmark["train_seconds"]:.0f} s training', '']  # fmt: skip
    lines += ['| variant | seeds | accuracy (%) | per seed | mean class acc. (%) | per seed | train s |',
              '|---|---|---|---|---|---|---|']  # fmt: skip
    for v in VARIANTS:
        rs = sorted((r for r in results if r['variant'] == v), key=lambda r: r['seed'])
        if not rs:
            continue
        acc = [r['accuracy'] for r in rs]
        mca = [r['mean_class_accuracy'] for r in rs]
        lines.append(
            f'| {v} | {",".join(str(r["seed"]) for r in rs)} | {_stat(acc)} | {", ".join(f"{x:.2f}" for x in acc)} | '
            f'{_stat(mca)} | {", ".join(f"{x:.2f}" for x in mca)} | {np.mean([r["train_seconds"] for r in rs]):.0f} |'
        )
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='work_dirs/poster_sweeps')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    p.add_argument(
        '--landmark-ckpt', default=None, help='use this landmark checkpoint instead of training one'
    )
    p.add_argument(
        '--cfg-options', nargs='+', default=[], help='further key=value overrides for every POSTER++ run'
    )
    p.add_argument('--landmark-cfg-options', nargs='+', default=[], help='overrides for the landmark run')
    p.add_argument(
        '--amp', action='store_true', help='train and test the classifiers with bf16 autocast (--amp)'
    )
    return p.parse_args(argv)


def main(argv=None) -> list[dict]:
    import torch

    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    res_path = osp.join(a.out, 'results.json')
    state = json.load(open(res_path)) if osp.isfile(res_path) else dict(landmark=None, runs=[])

    def save():
        tmp = res_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, res_path)
        with open(osp.join(a.out, 'results.md'), 'w') as f:
            f.write(summarise(state['runs'], state['landmark']))

    ckpt = a.landmark_ckpt
    if ckpt is None and 'landmark' in a.variants:
        lm_settings = dict(options=a.landmark_cfg_options)
        if not state['landmark'] or state['landmark']['settings'] != lm_settings:
            opts = ['randomness.deterministic=True', *a.landmark_cfg_options]
            rec = train_and_test(LANDMARK_CONFIG, osp.join(a.out, 'landmarks'), opts, ['--no-validate'])
            state['landmark'] = dict(rec, settings=lm_settings, torch=torch.__version__)
            save()
            print(f'landmark model: NME {rec["metrics"]["nme"]:.2f} %', flush=True)
        ckpt = state['landmark']['checkpoint']
    for seed in a.seeds:
        for v in a.variants:
            opts = [f'randomness.seed={seed}', 'randomness.deterministic=True',
                    *variant_options(v, ckpt), *a.cfg_options]  # fmt: skip
            amp = ['--amp'] if a.amp else []
            settings = dict(config=CONFIGS[v], options=opts, **(dict(amp=True) if a.amp else {}))
            if any(
                r['variant'] == v and r['seed'] == seed and r['settings'] == settings for r in state['runs']
            ):
                continue
            rec = train_and_test(
                CONFIGS[v], osp.join(a.out, f'{v}_s{seed}'), opts, ['--no-validate', *amp], amp
            )
            m = rec['metrics']
            state['runs'] = [r for r in state['runs'] if not (r['variant'] == v and r['seed'] == seed)]
            state['runs'].append(dict(variant=v, seed=seed, accuracy=m['accuracy'],
                                      mean_class_accuracy=m['mean_class_accuracy'], settings=settings,
                                      torch=torch.__version__, **rec))  # fmt: skip
            save()
            print(f'{v} seed {seed}: accuracy {m["accuracy"]:.2f}, mean class {m["mean_class_accuracy"]:.2f} '
                  f'({rec["train_seconds"]:.0f} s)', flush=True)  # fmt: skip
    save()
    print(summarise(state['runs'], state['landmark']))
    return state['runs']


if __name__ == '__main__':
    main()
