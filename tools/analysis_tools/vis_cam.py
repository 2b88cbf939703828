"""Grad-CAM(++) for any ferlab classifier, plus DAN's per-head attention maps.

Usage::

    python tools/analysis_tools/vis_cam.py CONFIG CHECKPOINT IMAGE [IMAGE ...] \
        [--out-dir vis_cam] [--method gradcam++] [--target-layer backbone.layer4] \
        [--target-class 3] [--cfg-options ...]

For every image it writes ``OUT_DIR/<stem>_cam.png``: a row with the
network input, the Grad-CAM (or Grad-CAM++) overlay for the predicted (or
given) class and, for models whose head exposes ``get_attention_maps`` (DAN's
:class:`AttentionFusionHead`), the overlay of each attention head's spatial
map. Images go through the config's test pipeline (that of the innermost
dataset when the test set is wrapped).
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import cv2  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import Compose  # noqa: E402

from ferlab.apis import init_model  # noqa: E402
from ferlab.inference.backends import config_test_pipeline, dataset_chain  # noqa: E402
from ferlab.registry import DATASETS  # noqa: E402
from ferlab.utils import InputFileNotFoundError, apply_cfg_options, register_all_modules  # noqa: E402
from ferlab.visualization.cam import GradCAM, make_grid, normalize_maps, overlay_heatmap  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Grad-CAM(++) and DAN attention-head maps')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='checkpoint file, or "none" to use the initial weights')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--out-dir', default='vis_cam')
    parser.add_argument('--method', choices=['gradcam', 'gradcam++'], default='gradcam++')
    parser.add_argument('--target-layer', default=None, help='module name, default: last backbone stage')
    parser.add_argument('--target-class', type=int, default=None, help='default: the predicted class')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def build_model(cfg: Config, checkpoint: str) -> torch.nn.Module:
    """The config's model in eval mode (:func:`ferlab.apis.init_model`).

    ``checkpoint='none'`` keeps the model's own initialisation (``init_weights``);
    any other checkpoint must hold every weight of the model (training-loss state
    such as DAN's class centres may be absent, as in converted public checkpoints).
    """
    return init_model(cfg, None if checkpoint.lower() == 'none' else checkpoint)


def class_names(cfg: Config, num_classes: int | None) -> tuple | None:
    """Class names of the test dataset, if they fit the head.

    The first ``classes=`` override or ``metainfo.classes`` from the outermost
    dataset config inwards (a wrapped test set: ``RepeatDataset``,
    ``ConcatDataset``, ``ConditionSubset``, ...; :func:`dataset_chain`), else
    the innermost dataset's class ``METAINFO``.
    """
    chain = dataset_chain(cfg.test_dataloader.dataset)
    names = None
    for ds_cfg in chain:
        names = ds_cfg.get('classes') or (ds_cfg.get('metainfo') or {}).get('classes')
        if isinstance(names, (list, tuple)) and names:
            break
        names = None
    if names is None:
        ds_cls = DATASETS.get(chain[-1].get('type', ''))
        names = getattr(ds_cls, 'METAINFO', {}).get('classes')
    if names and (num_classes is None or len(names) == num_classes):
        return tuple(names)
    return None


def main(argv=None) -> list[str]:
    args = parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    apply_cfg_options(cfg, args.cfg_options)
    model = build_model(cfg, args.checkpoint)
    pipeline = Compose(config_test_pipeline(cfg))  # the innermost dataset's, for a wrapped test set
    cam = GradCAM(model, args.target_layer, plusplus=args.method == 'gradcam++')
    classes = class_names(cfg, getattr(model.head, 'num_classes', None))
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    for path in args.images:
        if not osp.isfile(path):
            raise InputFileNotFoundError(f'image {path} does not exist')
        packed = pipeline(dict(img_path=path, gt_label=0, sample_idx=0))
        batch = model.data_preprocessor(
            dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']])
        )
        inputs = batch['inputs']
        maps, cls = cam(inputs, args.target_class)
        image = packed['inputs'].permute(1, 2, 0).numpy()[..., ::-1].copy()  # BGR -> RGB
        name = classes[int(cls[0])] if classes else f'class {int(cls[0])}'
        tiles = [image, overlay_heatmap(image, maps[0].numpy())]
        titles = ['input', f'{args.method}: {name}']
        get_maps = getattr(model.head, 'get_attention_maps', None) if getattr(model, 'head', None) else None
        if callable(get_maps):
            with torch.no_grad():
                heads = normalize_maps(get_maps(model.extract_feat(inputs)))[0]
            for i, m in enumerate(heads):
                tiles.append(overlay_heatmap(image, m.numpy()))
                titles.append(f'head {i + 1}')
        out = osp.join(args.out_dir, osp.splitext(osp.basename(path))[0] + '_cam.png')
        if not cv2.imwrite(out, make_grid(tiles, titles)[..., ::-1]):
            raise OSError(f'could not write {out}')
        written.append(out)
        print(f'{path}: {name} -> {out}')
    return written


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
