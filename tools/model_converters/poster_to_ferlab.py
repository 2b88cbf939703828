"""Convert a checkpoint of the public POSTER++ code to ferlab's layout.

Usage::

    python tools/model_converters/poster_to_ferlab.py SRC.pth DST.pth

``SRC`` is a ``model.pth`` written by Talented-Q/POSTER_V2's ``main.py`` /
``main_8.py`` (``{'epoch', 'state_dict' (keys prefixed 'module.'), 'best_acc'
(a CUDA tensor), 'optimizer' (SAM state), 'recorder1', 'recorder'}``) or a bare
state dict of its ``pyramid_trans_expr2`` (7 or 8 classes). It is read with
``weights_only=True``: the pickled ``__main__.RecorderMeter1`` /
``__main__.RecorderMeter`` objects are rebuilt as inert stand-ins (plain
attribute holders, nothing of the public classes runs), every tensor is mapped
to the CPU, and a file that references any other foreign global is refused.
The public ``model_best.pth`` holds only the optimizer state (``main.py`` saves
``state.pop('optimizer')``); it is reported as such. ``DST`` holds
``{'state_dict', 'meta'}`` for ``configs/poster/posterv2_ir50_rafdb.py`` (7
classes) or a config with ``model.head.num_classes=8``; it loads with
``strict=True`` (the converter checks the key set against the config's model).

Key mapping (public → ferlab; docs/poster.md has the table):

=================================================  ==============================================
``face_landback.*``                                ``backbone.landmark.*``
``ir_back.input_layer.*``                          ``backbone.image.input_layer.*``
``ir_back.body{1,2,3}.i.*``                        ``backbone.image.body.{i, 3+i, 7+i}.*``
``conv{l}.*``                                      ``backbone.image_convs.{l-1}.*``
``last_face_conv.*``                               ``backbone.landmark_conv.2.*``
``window{l}.norm.*``                               ``backbone.cross_attn.{l-1}.norm.*``
``attn{l}.qkv.*`` / ``attn{l}.proj.*``             ``backbone.cross_attn.{l-1}.kv.*`` / ``.proj.*``
``attn{l}.relative_position_{bias_table,index}``   ``backbone.cross_attn.{l-1}.relative_position_*``
``ffn{l}.gamma{1,2}`` / ``ffn{l}.norm.*``          ``backbone.cross_attn.{l-1}.gamma{1,2}`` / ``.norm2.*``
``ffn{l}.mlp.fc{1,2}.*``                           ``backbone.cross_attn.{l-1}.mlp.fc{1,2}.*``
``embed_q.{0,1}.*`` / ``embed_k.0.*``              ``backbone.token_embed.levels.0.{0,1}.*`` / ``levels.1.0.*``
``embed_v.proj.*``                                 ``backbone.token_embed.levels.2.0.*``
``VIT.{cls_token,pos_embed}``, ``VIT.norm.*``      ``backbone.fusion.{cls_token,pos_embed}``, ``.norm.*``
``VIT.blocks.i.{norm1,attn,norm2,mlp}.*``          ``backbone.fusion.blocks.i.*``
``VIT.se_block.linear{1,2}.*``                     ``neck.fc{1,2}.*``
``VIT.head.linear.*``                              ``head.fc.*``
=================================================  ==============================================

Dropped (never used by the public forward): ``face_landback.output_layer.*``
(the 136-d landmark regressor output), ``ir_back.output_layer.*``,
``VIT.patch_embed.*``, ``VIT.CON1.*``, ``VIT.IRLinear{1,2}.*``,
``VIT.eca_block.*``, ``VIT.blocks.i.conv.*``; the count is printed.
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

IR50_STAGE_OFFSETS = {'body1': 0, 'body2': 3, 'body3': 7}
_DROPPED = re.compile(
    r'^(face_landback\.output_layer|ir_back\.output_layer|VIT\.patch_embed|VIT\.CON1|VIT\.IRLinear[12]'
    r'|VIT\.eca_block|VIT\.blocks\.\d+\.conv)\.'
)
_VIT_KEY = re.compile(
    r'^VIT\.(norm|blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2))\.(weight|bias)$'
)
_LEVEL = re.compile(r'^(attn|window|ffn|conv)([123])\.(.+)$')


class PosterCheckpointError(FerlabInputError, ValueError):
    """The file is not a convertible POSTER++ checkpoint (the message says what it is)."""


class PublicRecorderStandIn:
    """Inert stand-in for the public ``main.py``'s pickled recorder objects.

    Unpickling sets its attributes (numpy arrays and numbers, themselves
    checked by the weights-only unpickler) and nothing else; it has no methods
    of the public class.
    """

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise TypeError(f'unexpected recorder state {type(state).__name__}')
        self.__dict__.update(state)


#: Exactly the two foreign globals of a public ``model.pth``.
RECORDER_GLOBALS = [
    (PublicRecorderStandIn, '__main__.RecorderMeter1'),
    (PublicRecorderStandIn, '__main__.RecorderMeter'),
]


def load_public_checkpoint(path: str) -> dict:
    """``weights_only=True`` load with the recorder stand-ins, tensors on the CPU."""
    return safe_torch_load(path, map_location='cpu', extra_globals=RECORDER_GLOBALS)


def convert_key(key: str) -> str | None:
    """Map one public key to ferlab's; ``None`` for the never-used modules.

    Raises:
        KeyError: The key is not part of the public POSTER++ layout.
    """
    if _DROPPED.match(key):
        return None
    if key.startswith('face_landback.'):
        return 'backbone.landmark.' + key[len('face_landback.') :]
    if key.startswith('ir_back.input_layer.'):
        return 'backbone.image.' + key[len('ir_back.') :]
    m = re.match(r'^ir_back\.(body[123])\.(\d+)\.(.+)$', key)
    if m:
        return f'backbone.image.body.{IR50_STAGE_OFFSETS[m.group(1)] + int(m.group(2))}.{m.group(3)}'
    m = _LEVEL.match(key)
    if m:
        kind, lvl, rest = m.group(1), int(m.group(2)) - 1, m.group(3)
        if kind == 'conv':
            return f'backbone.image_convs.{lvl}.{rest}'
        base = f'backbone.cross_attn.{lvl}.'
        if kind == 'window' and rest.startswith('norm.'):
            return base + rest
        if kind == 'attn':
            if rest.startswith('qkv.'):
                return base + 'kv.' + rest[len('qkv.') :]
            if rest.startswith('proj.') or rest in (
                'relative_position_bias_table',
                'relative_position_index',
            ):
                return base + rest
        if kind == 'ffn':
            if rest in ('gamma1', 'gamma2') or rest.startswith('mlp.'):
                return base + rest
            if rest.startswith('norm.'):
                return base + 'norm2.' + rest[len('norm.') :]
    if key.startswith('last_face_conv.'):
        return 'backbone.landmark_conv.2.' + key[len('last_face_conv.') :]
    m = re.match(r'^embed_q\.([01])\.(.+)$', key)
    if m:
        return f'backbone.token_embed.levels.0.{m.group(1)}.{m.group(2)}'
    if key.startswith('embed_k.0.'):
        return 'backbone.token_embed.levels.1.0.' + key[len('embed_k.0.') :]
    if key.startswith('embed_v.proj.'):
        return 'backbone.token_embed.levels.2.0.' + key[len('embed_v.proj.') :]
    if key in ('VIT.cls_token', 'VIT.pos_embed') or _VIT_KEY.match(key):
        return 'backbone.fusion.' + key[len('VIT.') :]
    m = re.match(r'^VIT\.se_block\.linear([12])\.(.+)$', key)
    if m:
        return f'neck.fc{m.group(1)}.{m.group(2)}'
    if key.startswith('VIT.head.linear.'):
        return 'head.fc.' + key[len('VIT.head.linear.') :]
    raise KeyError(f'key {key!r} is not part of the public POSTER++ (pyramid_trans_expr2) layout')


def extract_state_dict(ckpt, src: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The network's state dict (``module.`` stripped) and the training meta of a public file."""
    meta = {}
    if isinstance(ckpt, dict) and 'state' in ckpt and 'param_groups' in ckpt and 'state_dict' not in ckpt:
        raise PosterCheckpointError(
            f'{src} holds only an optimizer state (keys "state", "param_groups"), no model weights: the '
            "public main.py writes model_best.pth as state.pop('optimizer'). Convert the model.pth of the "
            "same run instead (it holds the last epoch's weights)."
        )
    if isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        if 'epoch' in ckpt:
            meta['epoch'] = int(ckpt['epoch'])
        if 'best_acc' in ckpt:
            meta['best_acc'] = float(ckpt['best_acc'])
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict) or not ckpt or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise PosterCheckpointError(
            f'{src}: expected a POSTER++ main.py checkpoint with "state_dict" or a plain state dict of tensors'
        )
    if all(k.startswith('module.') for k in ckpt):
        ckpt = {k[len('module.') :]: v for k, v in ckpt.items()}
    return ckpt, meta


def convert_poster_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """Convert a public ``pyramid_trans_expr2`` state dict; returns ``(ferlab_state_dict, n_dropped)``."""
    if 'VIT.head.linear.weight' not in state or 'attn1.qkv.weight' not in state:
        raise KeyError('not a POSTER++ checkpoint: no "VIT.head.linear.weight" or "attn1.qkv.weight" key')
    out, dropped = {}, 0
    for key, value in state.items():
        new = convert_key(key)
        if new is None:
            dropped += 1
        else:
            out[new] = value
    return out, dropped


def check_against_config(state: dict, num_classes: int, config: str) -> None:
    """Build ``config``'s model with ``num_classes`` and require the same keys and shapes."""
    from mmengine.config import Config

    from ferlab.registry import MODELS
    from ferlab.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.head.num_classes = num_classes
    expected = MODELS.build(cfg.model).state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    shapes = [k for k in expected if k in state and tuple(expected[k].shape) != tuple(state[k].shape)]
    if missing or extra or shapes:
        raise PosterCheckpointError(
            f'converted weights do not match {config}: missing {missing[:5]}, unexpected {extra[:5]}, '
            f'shape differs {shapes[:5]}'
        )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description="Convert a Talented-Q/POSTER_V2 checkpoint to ferlab's layout"
    )
    parser.add_argument('src', help='public POSTER++ checkpoint (main.py model.pth, or a bare state dict)')
    parser.add_argument('dst', help='output ferlab checkpoint (.pth)')
    parser.add_argument(
        '--config',
        default=osp.join(osp.dirname(__file__), '..', '..', 'configs', 'poster', 'posterv2_ir50_rafdb.py'),
        help='config whose model the result must fit exactly (num_classes taken from the weights)',
    )
    parser.add_argument('--no-check', action='store_true', help='skip building the config model')
    args = parser.parse_args(argv)
    state, meta = extract_state_dict(load_public_checkpoint(args.src), args.src)
    try:
        out, dropped = convert_poster_state_dict(state)
    except KeyError as err:
        raise PosterCheckpointError(f'{args.src}: {err.args[0]}') from None
    num_classes = int(out['head.fc.weight'].shape[0])
    if not args.no_check:
        check_against_config(out, num_classes, args.config)
    meta.update(num_classes=num_classes, converted_from='Talented-Q/POSTER_V2', dropped_tensors=dropped)
    atomic_save(dict(state_dict=out, meta=meta), args.dst)
    print(
        f'converted {len(out)} tensors ({num_classes} classes) from {args.src} to {args.dst}; dropped {dropped} '
        f'tensors of modules the public forward never uses'
        + ('' if num_classes == 7 else f'; set model.head.num_classes={num_classes} in the config')
    )
    return meta


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
