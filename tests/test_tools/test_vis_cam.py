"""tools/analysis_tools/vis_cam.py on a config whose test set is wrapped by a dataset wrapper.

The Grad-CAM oracle itself is ``tests/test_visualization/test_cam.py::test_vis_cam_tool_uses_the_checkpoint``;
here the wrapped config must give the same grid as the plain one and the test set's class names.
"""

import os.path as osp

import cv2
import numpy as np
import torch
from mmengine.config import Config

from ferlab.datasets.categories import RAFDB_CLASSES
from ferlab.registry import MODELS
from ferlab.utils import atomic_save
from tests.utils import REPO_ROOT, parse_cfg_options

CONFIG = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
OPTS = ['test_dataloader.dataset.pipeline.1.scale=(32,32)', 'model.backbone.num_stages=1',
        'model.backbone.out_indices=(0,)', 'model.head.in_channels=64']  # fmt: skip
RAFDB = tuple(RAFDB_CLASSES)


def _wrapped(inner: dict, kind: str) -> dict:
    if kind == 'RepeatDataset':
        return dict(type='RepeatDataset', times=2, dataset=inner)
    return dict(type='ConcatDataset', datasets=[inner, inner])


def test_wrapped_test_set(tmp_path):
    from tools.analysis_tools.vis_cam import class_names, main

    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(parse_cfg_options(OPTS))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'model.pth')
    atomic_save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    img = str(tmp_path / 'face.png')
    cv2.imwrite(img, np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    plain = main([CONFIG, ckpt, img, '--out-dir', str(tmp_path / 'plain'), '--method', 'gradcam',
                  '--target-class', '2', '--cfg-options', *OPTS])  # fmt: skip
    assert class_names(cfg, 7) == RAFDB
    inner = cfg.test_dataloader.dataset.to_dict()  # with the 32 px Resize
    for kind in ('RepeatDataset', 'ConcatDataset'):
        cfg.test_dataloader.dataset = _wrapped(inner, kind)
        path = str(tmp_path / f'wrapped_{kind}.py')
        cfg.dump(path)
        wrapped_cfg = Config.fromfile(path)
        assert class_names(wrapped_cfg, 7) == RAFDB, kind
        assert class_names(wrapped_cfg, 5) is None  # names that do not fit the head are not used
        out = str(tmp_path / kind)
        written = main([path, ckpt, img, '--out-dir', out, '--method', 'gradcam', '--target-class', '2',
                        '--cfg-options', *OPTS[1:]])  # fmt: skip
        np.testing.assert_array_equal(cv2.imread(written[0]), cv2.imread(plain[0]))
