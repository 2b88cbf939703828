"""Convert a checkpoint of the public DAN implementation to ferlab's layout.

Usage::

    python tools/model_converters/dan_to_ferlab.py SRC.pth DST.pth

``SRC`` is a file written by yaoing/DAN's training scripts
(``{'iter', 'model_state_dict', 'optimizer_state_dict'}``) or a bare
state_dict of its ``DAN`` module. ``DST`` holds ``{'state_dict': ...,
'meta': ...}`` for ``configs/dan/dan_r18_*.py`` (``tools/test.py CONFIG DST``).

Key mapping (public → ferlab; see docs/dan.md):

=========================  ======================================
``features.0.*``           ``backbone.conv1.*``
``features.1.*``           ``backbone.bn1.*``
``features.{4,5,6,7}.*``   ``backbone.layer{1,2,3,4}.*``
``cat_head{i}.sa.*``       ``neck.heads.{i}.sa.*``
``cat_head{i}.ca.*``       ``neck.heads.{i}.ca.*``
``fc.*``                   ``head.fc.*``
``bn.*``                   ``head.bn.*``
=========================  ======================================

The affinity-loss centers live in the public training script's criterion,
not in the model, so they are not in the checkpoint; ferlab's
``head.affinity_loss.centers`` stay at their initialisation (they only
matter for further training, never for predictions).
"""

from __future__ import annotations

import argparse
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402

from ferlab.utils import atomic_save, safe_torch_load  # noqa: E402

_FEATURE_INDEX = {'0': 'conv1', '1': 'bn1', '4': 'layer1', '5': 'layer2', '6': 'layer3', '7': 'layer4'}
_HEAD_RE = re.compile(r'^cat_head(\d+)\.(sa|ca)\.(.+)$')


def convert_key(key: str) -> str:
    """Map one public DAN key to ferlab's; raises ``KeyError`` for unknown keys."""
    if key.startswith('features.'):
        idx, _, rest = key[len('features.') :].partition('.')
        if idx not in _FEATURE_INDEX or not rest:
            raise KeyError(f'unexpected backbone key {key!r} (features.{idx} has no parameters in ResNet-18)')
        return f'backbone.{_FEATURE_INDEX[idx]}.{rest}'
    m = _HEAD_RE.match(key)
    if m:
        return f'neck.heads.{int(m.group(1))}.{m.group(2)}.{m.group(3)}'
    for src, dst in (('fc.', 'head.fc.'), ('bn.', 'head.bn.')):
        if key.startswith(src):
            return dst + key[len(src) :]
    raise KeyError(f'key {key!r} is not part of the public DAN module layout')


def extract_state_dict(ckpt) -> dict[str, torch.Tensor]:
    """The DAN module's state dict from a training-script checkpoint or a bare state dict."""
    if isinstance(ckpt, dict) and isinstance(ckpt.get('model_state_dict'), dict):
        ckpt = ckpt['model_state_dict']
    elif isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict) or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise ValueError('expected a DAN checkpoint with "model_state_dict" or a plain state dict of tensors')
    if ckpt and all(k.startswith('module.') for k in ckpt):
        ckpt = {k[len('module.') :]: v for k, v in ckpt.items()}
    return ckpt


def convert_dan_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict]:
    """Convert a public ``DAN`` state dict; returns ``(ferlab_state_dict, meta)``.

    ``meta`` holds ``num_heads`` and ``num_classes`` read from the weights.
    Raises ``KeyError`` on keys outside the public layout (e.g. a different
    network), so a wrong file never converts silently.
    """
    out = {convert_key(k): v for k, v in state.items()}
    heads = {int(m.group(1)) for k in state if (m := _HEAD_RE.match(k))}
    if 'fc.weight' not in state or not heads:
        raise KeyError('not a DAN checkpoint: no "fc.weight" or no "cat_head*" keys')
    if heads != set(range(len(heads))):
        raise KeyError(f'attention heads are not numbered 0..k-1: {sorted(heads)}')
    meta = dict(
        num_heads=len(heads), num_classes=int(state['fc.weight'].shape[0]), converted_from='yaoing/DAN'
    )
    return out, meta


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description="Convert a yaoing/DAN checkpoint to ferlab's layout")
    parser.add_argument('src', help='public DAN checkpoint (.pth)')
    parser.add_argument('dst', help='output ferlab checkpoint (.pth)')
    args = parser.parse_args(argv)
    state, meta = convert_dan_state_dict(extract_state_dict(safe_torch_load(args.src)))
    atomic_save(dict(state_dict=state, meta=meta), args.dst)
    print(
        f'converted {len(state)} tensors ({meta["num_heads"]} heads, {meta["num_classes"]} classes) '
        f'from {args.src} to {args.dst}; set model.neck.num_heads={meta["num_heads"]} and '
        f'model.head.num_classes={meta["num_classes"]} in the config'
    )
    return meta


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
