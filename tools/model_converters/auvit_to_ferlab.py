"""Convert a checkpoint of the public AU-ViT code (msy1412/AU-ViT) to ferlab's layout.

Usage::

    python tools/model_converters/auvit_to_ferlab.py SRC.pth DST.pth [--config CFG]

``SRC`` is a file written by the public ``RAFDB_AU-ViT.py`` / ``FERPlus_AU-ViT.py`` /
``AffectNet_AU-ViT.py`` (``save_model``: ``{'opt': argparse.Namespace, 'model': state_dict
(keys prefixed 'module.' under DataParallel), 'optimizer', 'epoch'}``) or a bare state dict
of its ``IR_RVT_AU_plus_patch.IR50_ViT``. It is read with ``weights_only=True``; the pickled
``argparse.Namespace`` is rebuilt as an inert stand-in (an attribute holder; nothing of
argparse runs) and a file that references any other foreign global is refused. ``DST`` holds
``{'state_dict', 'meta'}`` for ``configs/auvit/auvit_ir50-public_rafdb.py`` (2 AU regions) or
``configs/auvit/auvit_ir50-public_affectnet7.py`` (7 regions, symmetric maxout), chosen from
the AU heads in the file; the class count and AU split are read from the weights and the key
set is checked against that config's model (``strict=True`` loads). The config's AU loss
buffer (``au_loss.pos_weight``, which the public scripts keep in their criterion) is copied
from the config model; with ``--no-check`` it is not, and the file loads with
``strict=False`` only.

Key mapping (public → ferlab; docs/auvit.md has the table):

==========================================  =================================================
``cnn.input_layer.*``, ``cnn.body.N.*``     ``backbone.cnn.input_layer.*``, ``backbone.cnn.body.N.*``
``vit.patch_embed.*``, ``vit.pos_embed``    ``backbone.patch_embed.*``, ``backbone.pos_embed``
``vit.transformers.s.blocks.i.*``           ``backbone.blocks.{i + blocks of stages < s}.*``
``vit.norm.*``                              ``backbone.norm.*``
``vit.norm_<R>.*`` / AU heads of region R   ``backbone.au_branch.norms.k.*`` / ``.fcs.k.*``
``vit.head.*``                              ``head.fc.*``
==========================================  =================================================

AU regions ``k`` in order: 2 regions ``AU_up``/``upperAU_head``, ``AU_low``/``lowerAU_head``;
7 regions ``AU11, AU12, AU13, AU21, AU22, AU23, AU3`` (L-eye, brow, R-eye, L-cheek, nose,
R-cheek, mouth); 5 regions ``AU1, AU21, AU22, AU23, AU3``; 3 regions ``AU1, AU2, AU3``;
1 region ``AU``/``AU_head``.

Dropped (built by the public code, never used by its forward): the top-level ``norm``
(LayerNorm([196, 256])), ``vit.pools``, ``vit.pos_block``, ``vit.output_layer``
(Linear(100352 → 512)); the count is printed.
"""

from __future__ import annotations

import argparse
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402

from ferlab.utils import atomic_save, safe_torch_load  # noqa: E402
from ferlab.utils.errors import FerlabInputError  # noqa: E402

_CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'configs', 'auvit')
DEFAULT_CONFIGS = {
    2: osp.join(_CONFIGS, 'auvit_ir50-public_rafdb.py'),
    7: osp.join(_CONFIGS, 'auvit_ir50-public_affectnet7.py'),
}
#: Public AU region names (the ``norm_<R>`` suffixes) of each split, in ferlab's region order.
PUBLIC_REGIONS = {
    7: ('AU11', 'AU12', 'AU13', 'AU21', 'AU22', 'AU23', 'AU3'),
    5: ('AU1', 'AU21', 'AU22', 'AU23', 'AU3'),
    3: ('AU1', 'AU2', 'AU3'),
    2: ('AU_up', 'AU_low'),
    1: ('AU',),
}
_HEAD_OF = {'AU_up': 'upperAU_head', 'AU_low': 'lowerAU_head', 'AU': 'AU_head'}
_DROPPED = re.compile(r'^(norm|vit\.pools|vit\.pos_block|vit\.output_layer)\.')


class AUViTCheckpointError(FerlabInputError, ValueError):
    """The file is not a convertible AU-ViT checkpoint (the message says what it is)."""


class PublicNamespaceStandIn:
    """Inert stand-in for the pickled ``argparse.Namespace`` of the public training options.

    Unpickling sets its attributes (plain values, themselves checked by the weights-only
    unpickler) and nothing else.
    """

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise TypeError(f'unexpected Namespace state {type(state).__name__}')
        self.__dict__.update(state)


#: Exactly the one foreign global of a public checkpoint.
NAMESPACE_GLOBALS = [(PublicNamespaceStandIn, 'argparse.Namespace')]


def load_public_checkpoint(path: str):
    """``weights_only=True`` load with the Namespace stand-in, tensors on the CPU."""
    return safe_torch_load(path, map_location='cpu', extra_globals=NAMESPACE_GLOBALS)


def num_regions(state: dict) -> int:
    """The AU split of a public state dict, from its AU LayerNorm names."""
    names = {m.group(1) for k in state if (m := re.match(r'^vit\.norm_(AU\w*?)\.(weight|bias)$', k))}
    for n, regions in PUBLIC_REGIONS.items():
        if names == set(regions):
            return n
    raise KeyError(f'AU heads {sorted(names)} match no public split (1, 2, 3, 5 or 7 regions)')


def convert_key(key: str, n_regions: int, stage_offsets: dict[int, int]) -> str | None:
    """Map one public key to ferlab's; ``None`` for the never-used modules.

    Raises:
        KeyError: The key is not part of the public ``IR50_ViT`` layout.
    """
    if _DROPPED.match(key):
        return None
    if key.startswith('cnn.input_layer.') or re.match(r'^cnn\.body\.\d+\.', key):
        return 'backbone.' + key
    if (
        key == 'vit.pos_embed'
        or key.startswith('vit.patch_embed.')
        or re.match(r'^vit\.norm\.(weight|bias)$', key)
    ):
        return 'backbone.' + key[len('vit.') :]
    m = re.match(r'^vit\.transformers\.(\d+)\.blocks\.(\d+)\.(.+)$', key)
    if m and int(m.group(1)) in stage_offsets:
        return f'backbone.blocks.{stage_offsets[int(m.group(1))] + int(m.group(2))}.{m.group(3)}'
    if key.startswith('vit.head.'):
        return 'head.fc.' + key[len('vit.head.') :]
    for k, region in enumerate(PUBLIC_REGIONS[n_regions]):
        head = _HEAD_OF.get(region, f'head_{region}')
        for public, ours in ((f'vit.norm_{region}.', 'norms'), (f'vit.{head}.', 'fcs')):
            if key.startswith(public):
                return f'backbone.au_branch.{ours}.{k}.{key[len(public) :]}'
    raise KeyError(f'key {key!r} is not part of the public AU-ViT (IR50_ViT) layout')


def extract_state_dict(ckpt, src: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The network's state dict (``module.`` stripped) and the training meta of a public file."""
    meta = {}
    if isinstance(ckpt, dict) and isinstance(ckpt.get('model'), dict):
        if 'epoch' in ckpt:
            meta['epoch'] = int(ckpt['epoch'])
        opt = ckpt.get('opt')
        if opt is not None:
            meta['opt'] = {k: v for k, v in vars(opt).items() if isinstance(v, (int, float, str, bool))}
        ckpt = ckpt['model']
    if not isinstance(ckpt, dict) or not ckpt or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise AUViTCheckpointError(
            f'{src}: expected a public AU-ViT checkpoint {{"opt", "model", "optimizer", "epoch"}} or a plain '
            'state dict of tensors'
        )
    if all(k.startswith('module.') for k in ckpt):
        ckpt = {k[len('module.') :]: v for k, v in ckpt.items()}
    return ckpt, meta


def convert_auvit_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int, int]:
    """Convert a public ``IR50_ViT`` state dict; returns ``(ferlab_state_dict, n_dropped, n_regions)``."""
    if 'vit.head.weight' not in state or 'vit.patch_embed.weight' not in state:
        raise KeyError(
            'not an AU-ViT IR50_ViT checkpoint: no "vit.head.weight" or "vit.patch_embed.weight" key'
        )
    n = num_regions(state)
    blocks: dict[int, set[int]] = {}
    for key in state:
        m = re.match(r'^vit\.transformers\.(\d+)\.blocks\.(\d+)\.', key)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    offsets, total = {}, 0
    for s in sorted(blocks):
        offsets[s] = total
        total += max(blocks[s]) + 1
    out, dropped = {}, 0
    for key, value in state.items():
        new = convert_key(key, n, offsets)
        if new is None:
            dropped += 1
        else:
            out[new] = value
    return out, dropped, n


def check_against_config(
    state: dict, num_classes: int, n_regions: int, config: str
) -> dict[str, torch.Tensor]:
    """Build ``config``'s model (classes and AU split set from the weights) and require the same keys/shapes.

    Returns:
        The loss buffers of the config model (``au_loss.pos_weight``): constants of the
        config, which the public code keeps in its criterion, outside the state dict. They
        are added to the converted weights so that ``strict=True`` loads hold.
    """
    from mmengine.config import Config

    from ferlab.registry import MODELS
    from ferlab.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.head.num_classes = num_classes
    cfg.model.backbone.au_branch = dict(regions=str(n_regions))
    expected = MODELS.build(cfg.model).state_dict()
    loss_buffers = {k: v for k, v in expected.items() if k.startswith('au_loss.') and k not in state}
    missing = sorted(set(expected) - set(state) - set(loss_buffers))
    extra = sorted(set(state) - set(expected))
    shapes = [k for k in expected if k in state and tuple(expected[k].shape) != tuple(state[k].shape)]
    if missing or extra or shapes:
        raise AUViTCheckpointError(
            f'converted weights do not match {config}: missing {missing[:5]}, unexpected {extra[:5]}, '
            f'shape differs {shapes[:5]}'
        )
    return loss_buffers


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description="Convert an msy1412/AU-ViT checkpoint to ferlab's layout")
    parser.add_argument('src', help='public AU-ViT checkpoint (save_model output, or a bare state dict)')
    parser.add_argument('dst', help='output ferlab checkpoint (.pth)')
    parser.add_argument(
        '--config',
        default=None,
        help='config whose model the result must fit exactly (default: the public RAF-DB config for 2 '
        'regions, the AffectNet one for 7; the class count and AU split are taken from the weights)',
    )
    parser.add_argument('--no-check', action='store_true', help='skip building the config model')
    args = parser.parse_args(argv)
    state, meta = extract_state_dict(load_public_checkpoint(args.src), args.src)
    try:
        out, dropped, n = convert_auvit_state_dict(state)
    except KeyError as err:
        raise AUViTCheckpointError(f'{args.src}: {err.args[0]}') from None
    num_classes = int(out['head.fc.weight'].shape[0])
    config = args.config or DEFAULT_CONFIGS.get(n, DEFAULT_CONFIGS[2])
    n_converted, added = len(out), {}
    if not args.no_check:
        added = check_against_config(out, num_classes, n, config)
        out.update(added)
    meta.update(
        num_classes=num_classes, au_regions=n, converted_from='msy1412/AU-ViT', dropped_tensors=dropped
    )
    atomic_save(dict(state_dict=out, meta=meta), args.dst)
    hint = []
    if num_classes != 7:
        hint.append(f'model.head.num_classes={num_classes}')
    if n not in DEFAULT_CONFIGS:
        hint.append(f"model.backbone.au_branch.regions='{n}'")
    print(
        f'converted {n_converted} tensors ({num_classes} classes, {n} AU regions) from {args.src} to {args.dst}; '
        f'dropped {dropped} tensors of modules the public forward never uses (norm, vit.pools, vit.pos_block, '
        f'vit.output_layer)'
        + (f'; added {sorted(added)} from the config' if added else '')
        + (f'; set {" ".join(hint)} with {osp.relpath(config)}' if hint else '')
    )
    return meta


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
