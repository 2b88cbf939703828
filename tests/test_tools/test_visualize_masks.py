"""tools/analysis_tools/visualize_masks.py shows the mask of the given checkpoint's generator.

The checkpoints are written here from registry-built models (no training); the DeiT files the
configs name for ImageNet initialisation do not exist on this machine and are never read.
The oracle unpatchifies ``M_p`` by hand (numpy ``kron``) from a generator loaded with
``load_state_dict(strict=True)``.
"""

import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate

from ferlab.registry import MODELS
from ferlab.utils import atomic_save
from tests.utils import REPO_ROOT, make_fake_rafdb, parse_cfg_options

MGN_CFG = osp.join(REPO_ROOT, 'configs/mvt/mgn_deit-s_rafdb.py')
MVT_CFG = osp.join(REPO_ROOT, 'configs/mvt/mvt_deit-s_rafdb.py')
SIZE, PATCH = 32, 8


def _options(stage):
    vit = dict(img_size=SIZE, patch_size=PATCH, embed_dim=32, num_heads=2)
    gen, bb = (
        ('model.generator', 'model.discriminator.backbone') if stage == 1 else ('model.mgn', 'model.backbone')
    )
    opts = [
        f'test_dataloader.dataset.pipeline.1.scale=({SIZE},{SIZE})',
        f'{gen}.num_blocks=1',
        f'{bb}.depth=1',
    ]
    opts += [f'{gen}.{k}={v}' for k, v in vit.items()] + [f'{bb}.{k}={v}' for k, v in vit.items()]
    opts.append('model.discriminator.head.in_channels=32' if stage == 1 else 'model.head.in_channels=32')
    return opts


def _cfg(path, stage, *extra):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(parse_cfg_options([*_options(stage), *extra]))
    return cfg


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def _hand_mask_values(cfg, state, prefix, img):
    """``M_p`` of the generator stored under ``prefix`` in ``state``, unpatchified to ``(H, W)``."""
    gen = MODELS.build(
        dict(cfg.model.generator if prefix == 'generator.' else cfg.model.mgn, pretrained=None)
    )
    gen.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, strict=True)
    gen.eval()
    packed = Compose(cfg.test_dataloader.dataset.pipeline)(dict(img_path=img))
    pre = MODELS.build(cfg.model.data_preprocessor)
    with torch.no_grad():
        mp = gen(pre(pseudo_collate([packed]), False)['inputs'])[0].double().numpy()
    grid = SIZE // PATCH
    return np.kron(mp.reshape(grid, grid), np.ones((PATCH, PATCH)))


def _panels(path):
    row = cv2.imread(path).astype(float)
    return row[:, :SIZE], row[:, SIZE : 2 * SIZE], row[:, 2 * SIZE :]


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('masks')
    data_root = make_fake_rafdb(root / 'raf', n_train=1, n_test=2, size=SIZE)
    return dict(root=root, imgs=sorted(glob.glob(osp.join(data_root, 'basic/Image/aligned/*.jpg'))))


def test_mgn_checkpoint_mask_is_one_minus_mp(data, tmp_path):
    from tools.analysis_tools.visualize_masks import main

    cfg = _cfg(MGN_CFG, 1)
    mgn = MODELS.build(cfg.model)
    _randomise(mgn.generator, seed=1)
    state = mgn.state_dict()
    ckpt = str(tmp_path / 'mgn.pth')
    atomic_save(dict(state_dict=state), ckpt)
    written = main([MGN_CFG, ckpt, '--images', *data['imgs'], '--out-dir', str(tmp_path / 'v'),
                    '--cfg-options', *_options(1)])  # fmt: skip
    assert [osp.basename(p) for p in written] == [*(osp.basename(i)[:-4] + '_mask.png' for i in data['imgs']),
                                                  'masks.png']  # fmt: skip
    for img, out in zip(data['imgs'], written):
        keep = 1.0 - _hand_mask_values(cfg, state, 'generator.', img)
        assert keep.std() > 0.05  # a mask with structure, not a constant
        image, mask, masked = _panels(out)
        assert np.abs(mask - np.round(255 * keep)[..., None]).max() <= 1.0
        assert np.abs(image * keep[..., None] - masked).max() <= 1.0


def test_mvt_checkpoint_mask_is_its_own_mgn(data, tmp_path):
    """An MVT checkpoint's mgn.* is shown, not the stage-1 file its config names."""
    from tools.analysis_tools.visualize_masks import main

    cfg1 = _cfg(MGN_CFG, 1)
    stage1 = MODELS.build(cfg1.model)
    _randomise(stage1.generator, seed=1)
    ckpt1 = str(tmp_path / 'stage1.pth')
    atomic_save(dict(state_dict=stage1.state_dict()), ckpt1)
    cfg2 = _cfg(MVT_CFG, 2, f'model.mgn_checkpoint={ckpt1}')
    mvt = MODELS.build(cfg2.model)
    _randomise(mvt.mgn, seed=2)
    state = mvt.state_dict()
    ckpt2 = str(tmp_path / 'mvt.pth')
    atomic_save(dict(state_dict=state), ckpt2)
    opts = [*_options(2), f'model.mgn_checkpoint={ckpt1}']
    mp = _hand_mask_values(cfg2, state, 'mgn.', data['imgs'][0])
    for extra, keep in (([], mp), (['--stage2-mask', 'same'], 1.0 - mp)):  # config default: 'complement'
        out_dir = str(tmp_path / f'v{len(extra)}')
        written = main([MVT_CFG, ckpt2, '--images', data['imgs'][0], '--out-dir', out_dir, *extra,
                        '--cfg-options', *opts])  # fmt: skip
        _, mask, _ = _panels(written[0])
        assert np.abs(mask - np.round(255 * keep)[..., None]).max() <= 1.0


def test_errors(data, tmp_path):
    from tools.analysis_tools.visualize_masks import main

    with pytest.raises(FileNotFoundError, match='gone.pth'):
        main([MGN_CFG, str(tmp_path / 'gone.pth'), '--images', *data['imgs'], '--cfg-options', *_options(1)])
    cfg = _cfg(MGN_CFG, 1)
    ckpt = str(tmp_path / 'mgn.pth')
    atomic_save(dict(state_dict=MODELS.build(cfg.model).state_dict()), ckpt)
    # an MVT config with a stage-1 checkpoint: not that model's weights
    with pytest.raises(RuntimeError, match='does not match the model of the config'):
        main([MVT_CFG, ckpt, '--images', *data['imgs'], '--cfg-options', *_options(2)])
    with pytest.raises(ValueError, match='MVT config has no mask generator'):
        main([MVT_CFG, ckpt, '--images', *data['imgs'], '--cfg-options', *_options(2)[:3], 'model.mgn=None',
              'model.backbone.img_size=32', 'model.backbone.patch_size=8', 'model.backbone.embed_dim=32',
              'model.backbone.num_heads=2', 'model.head.in_channels=32'])  # fmt: skip
    with pytest.raises(ValueError, match='not MGN or MVT'):
        main([osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py'), ckpt, '--images', *data['imgs']])


def test_wrapped_test_set_uses_the_innermost_pipeline(data, tmp_path):
    """A config whose test set is wrapped (RepeatDataset around the RAF-DB set) shows the same panels."""
    from tools.analysis_tools.visualize_masks import main

    cfg = _cfg(MGN_CFG, 1)
    mgn = MODELS.build(cfg.model)
    _randomise(mgn.generator, seed=3)
    ckpt = str(tmp_path / 'mgn.pth')
    atomic_save(dict(state_dict=mgn.state_dict()), ckpt)
    plain = main([MGN_CFG, ckpt, '--images', data['imgs'][0], '--out-dir', str(tmp_path / 'plain'),
                  '--cfg-options', *_options(1)])  # fmt: skip
    cfg.test_dataloader.dataset = dict(
        type='RepeatDataset', times=2, dataset=cfg.test_dataloader.dataset.to_dict()
    )
    wrapped_cfg = str(tmp_path / 'mgn_wrapped.py')
    cfg.dump(wrapped_cfg)
    wrapped = main([wrapped_cfg, ckpt, '--images', data['imgs'][0], '--out-dir', str(tmp_path / 'wrapped')])
    np.testing.assert_array_equal(cv2.imread(wrapped[0]), cv2.imread(plain[0]))
