"""Show what MVT's mask generation network hides: image | mask | masked image.

    python tools/analysis_tools/visualize_masks.py CONFIG CHECKPOINT --images a.jpg b.jpg [--out-dir DIR]

CONFIG is a stage-1 (``MGN``) or stage-2 (``MVT``) config and CHECKPOINT a
checkpoint of that model (``ferlab.apis.init_model`` loads it whole; the
generator is ``model.generator`` of an MGN, ``model.mgn`` of an MVT). Each
image gets ``<out-dir>/<stem>_mask.png`` (three panels side by side: the
resized input, the keep-mask in grey levels (white = kept), the masked image)
and all rows are stacked into ``<out-dir>/masks.png``.

Which keep-mask is shown: for an MGN config the stage-1 one, ``1 - M_p`` (what
G hides from D); for an MVT config the stage-2 input, i.e. the config's
``model.stage2_mask`` (default ``'complement'``: keep ``M_p``, paper Sec. 3.2;
``'same'``: keep ``1 - M_p``). ``--stage2-mask`` overrides either.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import Compose, pseudo_collate  # noqa: E402

from ferlab.apis import init_model  # noqa: E402
from ferlab.inference.backends import config_test_pipeline  # noqa: E402
from ferlab.models import STAGE2_MASKS, stage2_keep_mask  # noqa: E402
from ferlab.registry import TRANSFORMS  # noqa: E402
from ferlab.utils import InputFileNotFoundError, apply_cfg_options, register_all_modules  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Visualise MVT masks as image | mask | masked-image grids')
    parser.add_argument('config', help='stage-1 (MGN) or stage-2 (MVT) config')
    parser.add_argument('checkpoint', help="checkpoint of the config's MGN or MVT model")
    parser.add_argument('--images', nargs='+', required=True, help='image files')
    parser.add_argument('--out-dir', default='work_dirs/mvt_masks', help='where the PNGs go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    parser.add_argument(
        '--stage2-mask',
        choices=STAGE2_MASKS,
        default=None,
        help="keep-mask to show: 'same' = 1 - M_p (stage 1), 'complement' = M_p (paper's stage 2); "
        "default: 'same' for an MGN config, model.stage2_mask (default 'complement') for an MVT config",
    )
    return parser.parse_args(argv)


def check_config(cfg: Config, path: str) -> None:
    """The config's model must be an MGN with a ``generator`` or an MVT with an ``mgn``."""
    kind = cfg.model.get('type')
    if kind not in ('MGN', 'MVT'):
        raise ValueError(f'{path}: model type {kind!r} is not MGN or MVT')
    if not cfg.model.get('generator' if kind == 'MGN' else 'mgn'):
        raise ValueError(
            f'{path}: {kind} config has no mask generator (expected an MGN config with model.generator '
            'or an MVT config with model.mgn)'
        )


def mask_generator(model: torch.nn.Module):
    """The mask generator of an ``MGN`` (``model.generator``) or ``MVT`` (``model.mgn``) model."""
    return model.generator if type(model).__name__ == 'MGN' else model.mgn


def shown_polarity(cfg: Config, override: str | None = None) -> str:
    """``'same'`` (keep ``1 - M_p``) or ``'complement'`` (keep ``M_p``) for this config."""
    if override is not None:
        return override
    if cfg.model.get('type') == 'MGN':
        return 'same'
    return cfg.model.get('stage2_mask', 'complement')


@torch.no_grad()
def render(
    cfg: Config, model: torch.nn.Module, images: list[str], stage2_mask: str = 'same'
) -> list[np.ndarray]:
    """BGR uint8 rows ``(H, 3W, 3)``, one per image, from ``model``'s mask generator."""
    # the innermost dataset's pipeline when the test set is wrapped (RepeatDataset, ConditionSubset, ...)
    pipeline = Compose([TRANSFORMS.build(t) for t in config_test_pipeline(cfg)])
    preprocessor = model.data_preprocessor
    generator = mask_generator(model)
    rows = []
    for path in images:
        if not osp.isfile(path):
            raise InputFileNotFoundError(f'image {path!r} does not exist')
        packed = pipeline(dict(img_path=path))
        data = preprocessor(pseudo_collate([packed]), False)
        keep = stage2_keep_mask(generator, generator(data['inputs']), stage2_mask)[
            0, 0
        ].numpy()  # (H, W) in [0, 1]
        img = packed['inputs'].permute(1, 2, 0).numpy().astype(np.float32)  # BGR as loaded
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        mask = np.repeat((keep * 255.0)[..., None], 3, axis=2)
        masked = img * keep[..., None]
        rows.append(np.concatenate([img, mask, masked], axis=1).round().clip(0, 255).astype(np.uint8))
    return rows


def main(argv=None) -> list[str]:
    args = parse_args(argv)
    register_all_modules()
    cfg = apply_cfg_options(Config.fromfile(args.config), args.cfg_options)
    check_config(cfg, args.config)
    model = init_model(cfg, args.checkpoint)
    rows = render(cfg, model, args.images, shown_polarity(cfg, args.stage2_mask))
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    for path, row in zip(args.images, rows):
        out = osp.join(args.out_dir, osp.splitext(osp.basename(path))[0] + '_mask.png')
        if not cv2.imwrite(out, row):
            raise OSError(f'could not write {out}')
        written.append(out)
    grid = osp.join(args.out_dir, 'masks.png')
    if not cv2.imwrite(grid, np.concatenate(rows, axis=0)):
        raise OSError(f'could not write {grid}')
    written.append(grid)
    print(f'wrote {len(written)} PNGs to {args.out_dir}')
    return written


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
