"""Grad-CAM(++) and head-overlap helpers of ferlab.visualization.cam."""

import numpy as np
import pytest
import torch

from ferlab.registry import MODELS
from ferlab.visualization.cam import GradCAM, head_overlap, make_grid, normalize_maps, overlay_heatmap

TINY = dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1,)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=4, in_channels=128),
)


def _model():
    torch.manual_seed(0)
    model = MODELS.build(TINY)
    model.init_weights()
    return model.eval()


def test_gradcam_matches_definition():
    model = _model()
    x = torch.randn(2, 3, 32, 32)
    cams, classes = GradCAM(model, 'backbone.layer2')(x, target=1)
    assert cams.shape == (2, 32, 32) and classes.tolist() == [1, 1]
    assert cams.min() >= 0 and cams.max() <= 1
    # By hand: GAP + linear head -> dy/dA = w_1 / (h*w) everywhere, so alpha_k = w_1k / (h*w).
    act = model.backbone(x)[0].detach()
    w = model.head.fc.weight[1].detach()
    ref = torch.relu((w[None, :, None, None] * act).sum(1, keepdim=True))
    ref = torch.nn.functional.interpolate(ref, size=(32, 32), mode='bilinear', align_corners=False)[:, 0]
    torch.testing.assert_close(cams, normalize_maps(ref), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('plusplus', [False, True])
def test_gradcam_is_per_sample(plusplus):
    model = _model()
    x = torch.randn(3, 3, 32, 32)
    cam = GradCAM(model, plusplus=plusplus)  # default layer: last backbone stage
    assert cam.target_layer == 'backbone.layer2'
    full, cls = cam(x)
    alone, cls1 = cam(x[1:2])
    torch.testing.assert_close(alone[0], full[1], atol=1e-5, rtol=1e-4)
    assert cls1[0] == cls[1]
    assert not model.training


def test_gradcam_errors():
    model = _model()
    with pytest.raises(KeyError, match='layer9'):
        GradCAM(model, 'backbone.layer9')
    with pytest.raises(ValueError, match='target classes'):
        GradCAM(model)(torch.randn(1, 3, 32, 32), target=7)


def test_head_overlap_values():
    a = torch.zeros(1, 2, 2, 2)
    a[0, 0, 0, 0] = 1.0
    a[0, 1, 1, 1] = 3.0
    assert head_overlap(a).item() == pytest.approx(0.0)  # disjoint
    same = torch.rand(2, 3, 4, 4)
    same[:, 1] = same[:, 0] * 2
    same[:, 2] = same[:, 0]
    torch.testing.assert_close(head_overlap(same), torch.ones(2))
    half = torch.tensor([[[[1.0, 1.0]], [[1.0, 0.0]]]])  # p = (.5, .5) vs (1, 0)
    assert head_overlap(half).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match='k>=2'):
        head_overlap(torch.rand(1, 1, 2, 2))


def test_overlay_and_grid():
    img = np.zeros((16, 16, 3), np.uint8)
    over = overlay_heatmap(img, np.ones((4, 4)), alpha=0.5)
    assert over.shape == (16, 16, 3) and over.dtype == np.uint8 and over.max() > 0
    grid = make_grid([img, over, over], ['a', 'b', 'c'])
    assert grid.shape == (18 + 16, 3 * 16 + 2 * 4, 3)
    with pytest.raises(ValueError):
        overlay_heatmap(np.zeros((4, 4)), np.ones((4, 4)))


def _cam_tile(path, tile):
    """Tile ``tile`` of a vis_cam grid (18 px title band, 32 px tiles, 4 px gaps) as RGB."""
    import cv2

    grid = cv2.imread(path)[..., ::-1]
    return grid[18:, tile * 36 : tile * 36 + 32]


def test_vis_cam_tool_uses_the_checkpoint(tmp_path):
    """The CAM tile equals Grad-CAM of the checkpoint's weights (loaded here with strict=True)."""

    from mmengine.dataset import Compose, pseudo_collate

    from ferlab.utils import safe_torch_load
    from tests.utils import TINY_CAM_CONFIG, TINY_CAM_OPTIONS, tiny_cam_checkpoint
    from tools.analysis_tools.vis_cam import main

    # the config's model on a one-stage trunk (64 channels), 32 px inputs
    config, opts = TINY_CAM_CONFIG, TINY_CAM_OPTIONS
    cfg, ckpt, img = tiny_cam_checkpoint(tmp_path)

    written = main([config, ckpt, img, '--out-dir', str(tmp_path / 'cam'), '--method', 'gradcam',
                    '--target-class', '2', '--cfg-options', *opts])  # fmt: skip
    assert written == [str(tmp_path / 'cam' / 'face_cam.png')]

    ref = MODELS.build(cfg.model)
    ref.load_state_dict(safe_torch_load(ckpt)['state_dict'], strict=True)
    ref.eval()
    packed = Compose(cfg.test_dataloader.dataset.pipeline)(dict(img_path=img))
    inputs = ref.data_preprocessor(pseudo_collate([packed]), False)['inputs']
    maps, cls = GradCAM(ref, plusplus=False)(inputs, 2)
    image = packed['inputs'].permute(1, 2, 0).numpy()[..., ::-1].copy()
    np.testing.assert_array_equal(_cam_tile(written[0], 0), image)
    np.testing.assert_array_equal(_cam_tile(written[0], 1), overlay_heatmap(image, maps[0].numpy()))

    # other weights give another map; a checkpoint of another model and a missing file are refused
    torch.manual_seed(1)
    other = main([config, 'none', img, '--out-dir', str(tmp_path / 'none'), '--method', 'gradcam',
                  '--target-class', '2', '--cfg-options', *opts])  # fmt: skip
    assert np.abs(_cam_tile(other[0], 1).astype(int) - _cam_tile(written[0], 1)).max() > 10
    with pytest.raises(RuntimeError, match='does not match the model of the config'):
        main(
            [
                config,
                ckpt,
                img,
                '--out-dir',
                str(tmp_path / 'x'),
                '--cfg-options',
                *opts,
                'model.head.num_classes=4',
            ]
        )
    with pytest.raises(FileNotFoundError, match='gone.pth'):
        main([config, str(tmp_path / 'gone.pth'), img, '--out-dir', str(tmp_path / 'x')])
