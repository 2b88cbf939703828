"""Every configs/dan config trains a few iterations through tools/train.py; vis_cam on DAN."""

import os
import os.path as osp

import cv2
import numpy as np
import pytest

from tests.utils import (
    make_fake_rafdb,
    read_prediction_dump,
    recompute_test_scores,
    write_forced_class_checkpoint,
)

pytestmark = pytest.mark.e2e

CONFIGS = {
    'dan_r18_rafdb': 'rafdb',
    'dan_convnext-atto_rafdb': 'rafdb',
    'dan_r18_affectnet7': 'affectnet',
    'dan_r18_affectnet8': 'affectnet',
    'dan_r18_sfew': 'sfew',
    'dan_r18_synthfer': 'synthfer',
    'dan_r18-48px-cpu_synthfer': 'synthfer',
}
SFEW_CLASSES = ('Angry', 'Disgust', 'Fear', 'Happy', 'Neutral', 'Sad', 'Surprise')


def _write_jpg(path, rng, size=32):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _fake_affectnet(root, rng):
    """npy layout: <split>_set/images/<id>.jpg + annotations/<id>_exp.npy, codes 0..7."""
    for split, n in (('train_set', 8), ('val_set', 8)):
        for i in range(n):
            _write_jpg(osp.join(root, split, 'images', f'{i}.jpg'), rng)
            os.makedirs(osp.join(root, split, 'annotations'), exist_ok=True)
            np.save(osp.join(root, split, 'annotations', f'{i}_exp.npy'), np.array(str(i % 8)))
    return root


def _fake_sfew(root, rng):
    for split in ('Train/Train_Aligned_Faces', 'Val/Val_Aligned_Faces'):
        for c, name in enumerate(SFEW_CLASSES):
            _write_jpg(osp.join(root, split, name, f'{c:03d}.png'), rng)
    return root


def _options(kind, root, size=32):
    opts = [
        'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.save_best=None',
    ]
    opts += ['randomness.seed=0']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.batch_size=4',
            f'{loader}.num_workers=0',
            f'{loader}.dataset.pipeline.1.scale=({size},{size})',
        ]
    # exercise the rotation + padded crop branch every time, at the tiny size
    opts += [
        f'train_dataloader.dataset.pipeline.3.transforms.1.size={size}',
        'train_dataloader.dataset.pipeline.3.prob=1.0',
    ]
    if kind == 'synthfer':
        for loader, n in (('train_dataloader', 8), ('val_dataloader', 4), ('test_dataloader', 4)):
            opts += [f'{loader}.dataset.num_samples={n}', f'{loader}.dataset.img_size={size}']
    else:
        opts += [f'data_root={root}', 'model.backbone.init_cfg=None']
    if kind == 'affectnet':
        opts += ['train_dataloader.dataset.layout=npy', 'val_dataloader.dataset.layout=npy']
        opts += ['test_dataloader.dataset.layout=npy']
    return opts


@pytest.mark.parametrize('name', list(CONFIGS))
def test_dan_config_trains(tmp_path, name):
    from tools.train import main

    kind = CONFIGS[name]
    rng = np.random.default_rng(0)
    root = None
    if kind == 'rafdb':
        root = make_fake_rafdb(tmp_path / 'data', n_train=8, n_test=4, size=32)
    elif kind == 'affectnet':
        root = _fake_affectnet(str(tmp_path / 'data'), rng)
    elif kind == 'sfew':
        root = _fake_sfew(str(tmp_path / 'data'), rng)
    work_dir = str(tmp_path / 'work')
    runner = main([f'configs/dan/{name}.py', '--work-dir', work_dir, '--cfg-options', *_options(kind, root)])
    assert runner.iter == 2  # 8 training images, batch 4
    model = runner.model
    assert type(model.head).__name__ == 'AttentionFusionHead'
    num_classes = len(runner.train_dataloader.dataset.metainfo['classes'])
    assert model.head.num_classes == num_classes == model.head.affinity_loss.num_classes
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    logs = open(runner.logger.log_file if hasattr(runner.logger, 'log_file') else '', encoding='utf-8').read()
    assert 'loss_af' in logs and 'loss_pt' in logs


def test_dan_test_and_vis_cam_tools(tmp_path):
    from tools.analysis_tools.vis_cam import main as vis_main
    from tools.test import main as test_main
    from tools.train import main as train_main

    root = make_fake_rafdb(tmp_path / 'data', n_train=8, n_test=4, size=32)
    work_dir = str(tmp_path / 'work')
    # a tiny lr: two from-scratch SGD steps at the config's lr 0.1 (no warm-up, no pretrained trunk)
    # leave eval-mode BN statistics inconsistent with the weights, and the eval logits overflow
    opts = [*_options('rafdb', root), 'optim_wrapper.optimizer.lr=1e-6']
    train_main(['configs/dan/dan_r18_rafdb.py', '--work-dir', work_dir, '--cfg-options', *opts])
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    out = str(tmp_path / 'preds.pkl')
    metrics = test_main(
        ['configs/dan/dan_r18_rafdb.py', ckpt, '--work-dir', str(tmp_path / 'test'), '--out', out,
         '--cfg-options', *_options('rafdb', root)]
    )  # fmt: skip
    # test.py evaluated this checkpoint: its scores and accuracy equal a Runner-free recomputation
    ref = recompute_test_scores('configs/dan/dan_r18_rafdb.py', ckpt, _options('rafdb', root))
    np.testing.assert_allclose(read_prediction_dump(out)['scores'], ref['scores'], atol=1e-5)
    assert float(metrics['accuracy']) == pytest.approx(ref['accuracy'], abs=1e-6)
    # a copy whose fusion BN always answers class c scores c's share of the test labels 1, 2, 3, 4
    cls = next(c for c in (0, 1) if abs(100.0 * (c == 1) / 4 - ref['accuracy']) > 1e-6)
    forced = write_forced_class_checkpoint(ckpt, tmp_path / 'forced.pth', cls)
    forced_metrics = test_main(
        ['configs/dan/dan_r18_rafdb.py', forced, '--work-dir', str(tmp_path / 'forced'), '--cfg-options',
         *_options('rafdb', root)]
    )  # fmt: skip
    assert float(forced_metrics['accuracy']) == pytest.approx(100.0 * (cls == 1) / 4)
    images = sorted(
        osp.join(root, 'basic/Image/aligned', f) for f in os.listdir(osp.join(root, 'basic/Image/aligned'))
    )[:2]
    out_dir = str(tmp_path / 'cam')
    for method in ('gradcam', 'gradcam++'):
        written = vis_main(
            ['configs/dan/dan_r18_rafdb.py', ckpt, *images, '--out-dir', out_dir, '--method', method,
             '--cfg-options', *_options('rafdb', root)]
        )  # fmt: skip
        assert len(written) == 2
        grid = cv2.imread(written[0])
        # input + CAM + 4 head maps, 32 px each with 4 px gaps, 18 px title band
        assert grid.shape == (18 + 32, 6 * 32 + 5 * 4, 3)
        # every tile shows a (finite) image or overlay, not a blank
        assert all(grid[18:, i * 36 : i * 36 + 32].std() > 0 for i in range(6))
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        vis_main(['configs/dan/dan_r18_rafdb.py', ckpt, str(tmp_path / 'missing.jpg'), '--out-dir', out_dir])
