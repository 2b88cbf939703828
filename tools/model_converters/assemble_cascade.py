"""Write one self-contained checkpoint of a model whose parts load from their own checkpoints.

Usage::

    python tools/model_converters/assemble_cascade.py CONFIG OUT.pth [--cfg-options ...]

Builds ``cfg.model`` (e.g. a ``CascadeClassifier`` whose coarse ensemble and
negative net name their trained checkpoints in ``init_cfg``), runs
``init_weights`` (which reads those files) and saves ``{'state_dict': ...,
'meta': ...}`` atomically to ``OUT``. ``tools/test.py CONFIG OUT.pth`` then
evaluates it without the sub-checkpoints (the Runner does not call
``init_weights`` when testing). ``meta.sources`` lists the files read.
"""

from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Assemble a cascade/ensemble checkpoint from its parts')
    parser.add_argument('config', help='config whose model names its parts in init_cfg')
    parser.add_argument('out', help='output .pth')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    return parser.parse_args(argv)


def checkpoint_sources(cfg) -> list[str]:
    """Every ``init_cfg`` Pretrained checkpoint and ``*_checkpoint(s)`` path in a model config."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            init = node.get('init_cfg')
            for c in init if isinstance(init, list) else [init]:
                if isinstance(c, dict) and c.get('type') == 'Pretrained':
                    found.append(c['checkpoint'])
            for key, value in node.items():
                if key in ('coarse_checkpoint', 'negative_checkpoint') and value:
                    found.append(value)
                elif key == 'checkpoints' and value:
                    found.extend(v for v in value if v)
                else:
                    walk(value)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)

    walk(cfg)
    return found


def main(argv=None) -> dict:
    """Assemble; returns the ``meta`` written."""
    from mmengine.config import Config

    from ferlab.registry import MODELS
    from ferlab.utils import apply_cfg_options, atomic_save, register_all_modules
    from ferlab.utils.errors import InputFileNotFoundError

    args = parse_args(argv)
    register_all_modules()
    if not osp.isfile(args.config):
        raise InputFileNotFoundError(f'config file {args.config!r} does not exist')
    cfg = Config.fromfile(args.config)
    apply_cfg_options(cfg, args.cfg_options)
    sources = checkpoint_sources(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else cfg.model)
    if not sources:
        raise ValueError(f'{args.config}: the model names no checkpoint of its parts (init_cfg Pretrained)')
    model = MODELS.build(cfg.model)
    model.init_weights()
    meta = dict(config=args.config, sources=sources, model=cfg.model.type)
    atomic_save(dict(state_dict=model.state_dict(), meta=meta), args.out)
    print(f'assembled {len(model.state_dict())} tensors of {cfg.model.type} from {sources} into {args.out}')
    return meta


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
