"""Re-parameterise a trained checkpoint into its inference (deploy) structure.

Usage::

    python tools/model_converters/reparameterize.py CONFIG CKPT OUT [--cfg-options ...]

Builds the model of ``CONFIG``, loads ``CKPT`` (a ferlab/mmengine training
checkpoint or a bare state dict) strictly, calls ``reparameterize()`` on every
:class:`~ferlab.models.backbones.TimmBackbone` in it (timm's
``reparameterize_model``: RepVGG's 3×3, 1×1 and identity branches with their
BatchNorms become one 3×3 convolution, Ding et al. 2021, Sec. 3.3) and writes
``OUT`` = ``{'state_dict', 'meta'}`` (atomic; no optimizer state). Evaluate or
export ``OUT`` with the same config plus ``deploy=True`` on those backbones,
e.g.::

    python tools/test.py configs/.../repvgg_cfg.py OUT --cfg-options model.backbone.deploy=True

In eval mode the deploy model's logits equal the training-structure model's
(float rounding only; tested to 1e-4).
"""

from __future__ import annotations

import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402

from ferlab.utils import atomic_save, safe_torch_load  # noqa: E402
from ferlab.utils.errors import CliUsageError, InputFileNotFoundError  # noqa: E402


def extract_state_dict(ckpt) -> dict[str, torch.Tensor]:
    """The model weights of a training checkpoint (``state_dict`` entry) or of a bare state dict."""
    if isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict) or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise CliUsageError(
            'CKPT must be a checkpoint with a "state_dict" entry or a plain state dict of tensors'
        )
    return ckpt


def reparameterize_model(model: torch.nn.Module) -> list[str]:
    """Call ``reparameterize()`` on every ``TimmBackbone`` of ``model`` (in place).

    Returns:
        The module paths converted (``'backbone'``, ``'coarse.backbone'`` …).

    Raises:
        CliUsageError: No training-structure ``TimmBackbone`` in the model, or
            one whose timm model has nothing to re-parameterise.
    """
    from ferlab.models.backbones import TimmBackbone

    converted = []
    for name, module in model.named_modules():
        if isinstance(module, TimmBackbone) and not module.deploy:
            try:
                module.reparameterize()
            except ValueError as err:
                raise CliUsageError(f'{name}: {err}') from None
            converted.append(name)
    if not converted:
        raise CliUsageError(
            'the model has no TimmBackbone in training structure (deploy=False) to re-parameterise'
        )
    return converted


def main(argv=None) -> dict:
    from ferlab.registry import MODELS
    from ferlab.utils.cli import config_parser, load_config

    parser = config_parser(
        "Fuse a trained model's re-parameterisable timm blocks (RepVGG) for evaluation/export",
        work_dir_help='unused (accepted for symmetry with the other tools)',
        extra_positionals=(('checkpoint', 'training checkpoint (.pth)'), ('out', 'output deploy checkpoint')),
    )
    args = parser.parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise InputFileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_config(args)
    model = MODELS.build(cfg.model)
    state = extract_state_dict(safe_torch_load(args.checkpoint))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CliUsageError(
            f'{args.checkpoint} does not match {args.config}: {len(missing)} missing keys '
            f'(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}); '
            'is it already re-parameterised or from another config?'
        )
    model.eval()
    converted = reparameterize_model(model)
    out_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    meta = dict(
        reparameterized=converted,
        source_config=osp.basename(args.config),
        source_checkpoint=osp.basename(args.checkpoint),
        num_tensors_before=len(state),
        num_tensors_after=len(out_state),
    )
    atomic_save(dict(state_dict=out_state, meta=meta), args.out)
    options = ' '.join(f'model.{name}.deploy=True' for name in converted)
    print(
        f're-parameterised {", ".join(converted)}: {len(state)} -> {len(out_state)} tensors, '
        f'written to {args.out}; evaluate/export it with --cfg-options {options}'
    )
    return meta


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
