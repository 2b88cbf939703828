"""MVT configs: paper settings, both stages through tools/train.py, the hand-off, visualize_masks."""

import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.utils import REPO_ROOT, make_fake_rafdb

CFG_DIR = osp.join(REPO_ROOT, 'configs', 'mvt')
PAPER = {  # dataset: (m, lr, relabel f or None, classes)
    'rafdb': (0.15, 9e-5, 'sigmoid', 7),
    'ferplus': (0.20, 9e-5, 'quadratic', 8),
    'affectnet7': (0.15, 1e-5, None, 7),
    'affectnet8': (0.15, 1e-5, None, 8),
    'synthfer': (0.15, 9e-5, 'sigmoid', None),
}


def load(name):
    return Config.fromfile(osp.join(CFG_DIR, name))


def relabel_hooks(cfg):
    return [h for h in cfg.get('custom_hooks', []) if h['type'] == 'RelabelHook']


@pytest.mark.parametrize('ds', sorted(PAPER))
def test_paper_settings(ds):
    m, lr, f, nc = PAPER[ds]
    s1, s2 = load(f'mgn_deit-s_{ds}.py'), load(f'mvt_deit-s_{ds}.py')
    for cfg in (s1, s2):
        assert cfg.train_dataloader.batch_size == 32
        types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
        assert {'RandomErasing', 'ColorJitter', 'RandomFlip'} <= set(types)
        resize = next(t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'Resize')
        assert tuple(resize['scale']) == (224, 224)
        assert cfg.param_scheduler[0]['type'] == 'ExponentialLR'
        if ds.startswith('affectnet'):
            assert cfg.train_dataloader.sampler['type'] == 'ClassBalancedSampler'
    assert s1.model.type == 'MGN' and s1.model.mask_ratio == pytest.approx(m)
    assert s1.model.generator.num_blocks == 6 and s1.model.generator.arch == 'deit_small_patch16_224'
    assert s1.optim_wrapper.constructor == 'MGNOptimWrapperConstructor'
    assert s1.optim_wrapper.generator.optimizer.type == 'AdamW'
    assert s2.model.type == 'MVT' and s2.model.backbone.arch == 'deit_small_patch16_224'
    assert s2.model.mgn_checkpoint == f'work_dirs/mgn_deit-s_{ds}/epoch_10.pth'
    assert s2.model.stage2_mask == 'complement'  # paper Sec. 3.2: keep M_p in stage 2
    assert s2.optim_wrapper.optimizer.type == 'AdamW' and s2.optim_wrapper.optimizer.lr == pytest.approx(lr)
    if nc is not None:
        assert s2.model.head.num_classes == nc and s1.model.discriminator.head.num_classes == nc
    hooks = relabel_hooks(s2)
    if f is None:
        assert hooks == []  # no relabeling on AffectNet (paper Sec. 4.3)
    else:
        assert len(hooks) == 1 and hooks[0]['threshold'] == f and hooks[0]['delta'] == 0.2
        assert s2.train_dataloader.persistent_workers is False
    assert relabel_hooks(s1) == []


@pytest.mark.parametrize('name', sorted(osp.basename(p) for p in glob.glob(osp.join(CFG_DIR, 'm*.py'))))
def test_mgn_configs_wrap_generator_and_discriminator_separately(name):
    """MGN.train_step steps G and D with their own optimisers: distributed, each needs its own DDP."""
    cfg = load(name)
    if cfg.model.type == 'MGN':
        assert cfg.model_wrapper_cfg.type == 'MMSeparateDistributedDataParallel'
    else:  # MVT stage 2: one optimiser, the Runner's default DDP
        assert cfg.get('model_wrapper_cfg') is None


def tiny_options(root, stage):
    vit = dict(img_size=32, patch_size=8, embed_dim=32, num_heads=2)
    opts = [f'data_root={root}', 'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.save_best=None']  # fmt: skip
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.batch_size=4',
            f'{loader}.num_workers=0',
            f'{loader}.dataset.pipeline.1.scale=(32,32)',
        ]
    gen, bb = (
        ('model.generator', 'model.discriminator.backbone') if stage == 1 else ('model.mgn', 'model.backbone')
    )
    opts += [f'{gen}.{k}={v}' for k, v in vit.items()] + [f'{gen}.num_blocks=1']
    opts += [f'{bb}.{k}={v}' for k, v in vit.items()] + [f'{bb}.depth=1', f'{bb}.pretrained=None']
    opts.append('model.discriminator.head.in_channels=32' if stage == 1 else 'model.head.in_channels=32')
    if stage == 1:
        opts.append('model.generator.pretrained=None')
    return opts


@pytest.mark.e2e
def test_two_stages_through_train_py_and_visualize(tmp_path):
    from tools.analysis_tools.visualize_masks import main as visualize
    from tools.train import main

    root = make_fake_rafdb(tmp_path / 'raf', n_train=12, n_test=4, size=32)
    s1_dir, s2_dir = str(tmp_path / 's1'), str(tmp_path / 's2')
    cfg1, cfg2 = 'configs/mvt/mgn_deit-s_rafdb.py', 'configs/mvt/mvt_deit-s_rafdb.py'

    # stage 2 before stage 1: a clear error
    with pytest.raises(FileNotFoundError, match='Run stage 1 first'):
        main([cfg2, '--work-dir', s2_dir, '--cfg-options', *tiny_options(root, 2)])

    runner1 = main([cfg1, '--work-dir', s1_dir, '--cfg-options', *tiny_options(root, 1)])
    ckpt1 = osp.join(s1_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt1)
    log = open(glob.glob(osp.join(s1_dir, '*', '*.log'))[0]).read()
    for key in ('loss_d:', 'loss_g:', 'mask_area:'):
        assert key in log

    runner2 = main([cfg2, '--work-dir', s2_dir, '--cfg-options', *tiny_options(root, 2),
                    f'model.mgn_checkpoint={ckpt1}', 'custom_hooks.1.start_epoch=0'])  # fmt: skip
    model = runner2.model
    # the frozen MGN is exactly the stage-1 generator
    for k, v in runner1.model.generator.state_dict().items():
        assert torch.equal(model.mgn.state_dict()[k], v), k
    assert not model.mgn.training and not any(p.requires_grad for p in model.mgn.parameters())
    assert osp.isfile(osp.join(s2_dir, 'epoch_1.pth'))

    imgs = sorted(glob.glob(osp.join(root, 'basic/Image/aligned/test_*.jpg')))[:2]
    ckpt2 = osp.join(s2_dir, 'epoch_1.pth')
    masks = {}
    for cfg, ckpt, name, extra in ((cfg1, ckpt1, 'v1', []), (cfg2, ckpt2, 'v2', []),
                                   (cfg2, ckpt2, 'v2same', ['--stage2-mask', 'same'])):  # fmt: skip
        out_dir = str(tmp_path / name)
        written = visualize([cfg, ckpt, '--images', *imgs, '--out-dir', out_dir, *extra, '--cfg-options',
                             *tiny_options(root, 1 if cfg == cfg1 else 2)[4:]])  # fmt: skip
        assert len(written) == 3
        row = cv2.imread(written[0])
        assert row.shape == (32, 96, 3)
        assert cv2.imread(written[-1]).shape == (64, 96, 3)
        # panel 3 = panel 1 * panel 2 / 255 (masked image)
        img, mask, masked = row[:, :32].astype(float), row[:, 32:64].astype(float), row[:, 64:].astype(float)
        assert abs(img * mask / 255.0 - masked).max() <= 2.0
        masks[name] = mask
    # stage 1 shows 1 - M_p; the MVT config (default stage2_mask='complement') shows M_p of the same generator
    assert abs(masks['v1'] + masks['v2'] - 255.0).max() <= 1.0
    assert abs(masks['v1'] - masks['v2same']).max() <= 1.0


@pytest.mark.e2e
def test_stage1_names_missing_deit_weights(tmp_path):
    from tools.train import main

    root = make_fake_rafdb(tmp_path / 'raf', n_train=4, n_test=2, size=32)
    opts = [o for o in tiny_options(root, 1) if not o.startswith('model.generator.pretrained')]
    with pytest.raises(FileNotFoundError, match='checkpoints/deit_small_patch16_224.pth'):
        main(['configs/mvt/mgn_deit-s_rafdb.py', '--work-dir', str(tmp_path / 'w'), '--cfg-options', *opts])


def test_cpu_evidence_configs_build_and_hand_off(tmp_path):
    """The 48 px sweep configs: ViT-tiny MGN vs ResNet D (stage 1) → frozen MGN + ResNet classifier (stage 2)."""
    from ferlab.registry import MODELS
    from ferlab.utils import atomic_save

    s1, s2 = load('mgn_vit-tiny-48px-cpu_synthfer.py'), load('mvt_r18-48px-cpu_synthfer.py')
    for cfg in (s1, s2):
        train, test = cfg.train_dataloader.dataset, cfg.test_dataloader.dataset
        assert (train.img_size, train.domain) == (test.img_size, test.domain)  # one domain for both splits
        assert train.label_noise['rate'] > 0 and 'label_noise' not in test  # evaluated on clean labels
    # the generator, D/classifier architecture and stage-1 epoch count come from one base
    # (configs/mvt/_base_/cpu-48px_synthfer.py); relabeling starts inside the schedule
    assert [h['start_epoch'] < s2.train_cfg.max_epochs for h in relabel_hooks(s2)] == [True]

    torch.manual_seed(0)
    mgn = MODELS.build(s1.model)
    ckpt = str(tmp_path / 'epoch_3.pth')
    atomic_save(dict(state_dict=mgn.state_dict()), ckpt)
    model = MODELS.build(dict(s2.model, mgn_checkpoint=ckpt))
    model.init_weights()
    model.eval()
    x = torch.randn(2, 3, 48, 48)
    assert mgn(x).shape == (2, 36)  # 6 x 6 patches of 8 px
    assert model(x, mode='tensor').shape == (2, 7)
    assert model.stage2_mask == 'complement'


def cpu_pair_options(stage):
    """``--cfg-options`` shrinking the 48 px CPU pair to 16 training / 8 test SynthFER images, one epoch."""
    opts = ['train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
            'train_dataloader.dataset.num_samples=16', 'val_dataloader.dataset.num_samples=8',
            'test_dataloader.dataset.num_samples=8']  # fmt: skip
    opts += [f'{loader}.batch_size=8' for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    return opts


@pytest.mark.e2e
def test_stage2_checkpoint_tests_without_the_stage1_work_dir(tmp_path):
    """Both CPU stages through tools/train.py, the stage-1 work dir deleted, tools/test.py on the stage-2 checkpoint."""
    import shutil

    from ferlab.utils import atomic_save, safe_torch_load
    from tests.utils import recompute_test_scores
    from tools.test import main as test_main
    from tools.train import main as train_main

    torch.set_num_threads(1)
    cfg1 = osp.join(CFG_DIR, 'mgn_vit-tiny-48px-cpu_synthfer.py')
    cfg2 = osp.join(CFG_DIR, 'mvt_r18-48px-cpu_synthfer.py')
    s1_dir, s2_dir = tmp_path / 's1', tmp_path / 's2'
    runner1 = train_main([cfg1, '--work-dir', str(s1_dir), '--cfg-options', *cpu_pair_options(1)])
    ckpt1 = str(s1_dir / 'epoch_1.pth')
    generator = {k: v.clone() for k, v in runner1.model.generator.state_dict().items()}
    opts2 = [*cpu_pair_options(2), f'model.mgn_checkpoint={ckpt1}']
    train_main([cfg2, '--work-dir', str(s2_dir), '--cfg-options', *opts2])
    ckpt2 = str(s2_dir / 'epoch_1.pth')

    shutil.rmtree(s1_dir)  # a machine that only has the finished stage-2 checkpoint
    assert not osp.exists(ckpt1)
    metrics = test_main([cfg2, ckpt2, '--work-dir', str(tmp_path / 'test'), '--cfg-options', *opts2])

    # the checkpoint carries the frozen stage-1 generator
    ckpt = safe_torch_load(ckpt2)
    state = ckpt['state_dict']
    for k, v in generator.items():
        assert torch.equal(state[f'mgn.{k}'], v), k
    # test.py's figures are those of this checkpoint, recomputed without the Runner
    ref = recompute_test_scores(cfg2, ckpt2, opts2)
    assert len(ref['gt']) == 8
    assert float(metrics['accuracy']) == pytest.approx(ref['accuracy'], abs=1e-6)
    # and a different checkpoint gives different figures: always class c scores the share of c
    c = int(np.bincount(ref['gt'], minlength=7).argmin())
    state['head.fc.weight'] = torch.zeros_like(state['head.fc.weight'])
    state['head.fc.bias'] = 10.0 * torch.nn.functional.one_hot(torch.tensor(c), 7).float()
    forced = str(tmp_path / 'forced.pth')
    atomic_save(ckpt, forced)
    metrics_c = test_main([cfg2, forced, '--work-dir', str(tmp_path / 'test_c'), '--cfg-options', *opts2])
    assert float(metrics_c['accuracy']) == pytest.approx(100.0 * float(np.mean(ref['gt'] == c)))
