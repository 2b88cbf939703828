"""tools/analysis_tools/vis_cam.py on a config whose test set is wrapped by a dataset wrapper.

The Grad-CAM oracle itself is ``tests/test_visualization/test_cam.py::test_vis_cam_tool_uses_the_checkpoint``;
here the wrapped config must give the same grid as the plain one and the test set's class names.
"""

import cv2
import numpy as np
from mmengine.config import Config

from ferlab.datasets.categories import RAFDB_CLASSES
from tests.utils import TINY_CAM_CONFIG, TINY_CAM_OPTIONS, tiny_cam_checkpoint

CONFIG, OPTS = TINY_CAM_CONFIG, TINY_CAM_OPTIONS
RAFDB = tuple(RAFDB_CLASSES)


def _wrapped(inner: dict, kind: str) -> dict:
    if kind == 'RepeatDataset':
        return dict(type='RepeatDataset', times=2, dataset=inner)
    return dict(type='ConcatDataset', datasets=[inner, inner])


def test_wrapped_test_set(tmp_path):
    from tools.analysis_tools.vis_cam import class_names, main

    cfg, ckpt, img = tiny_cam_checkpoint(tmp_path)
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
