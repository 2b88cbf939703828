"""configs/auvit: public and paper settings, AU order vs the vocabulary, every config trains through tools/train.py."""

import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ferlab.datasets.au_vocabulary import au_ids
from ferlab.registry import MODELS
from ferlab.utils import register_all_modules
from tests.test_datasets.fake_formats import (
    make_rafdb,
    write_affectnet_csv,
    write_ferplus_csv,
    write_image,
    write_text,
)

register_all_modules()

ALL_CONFIGS = sorted(osp.splitext(osp.basename(p))[0] for p in glob.glob('configs/auvit/*.py'))
#: The CPU evidence variants of the joint-training sweeps train in test_auvit_joint_configs.py.
JOINT_TESTED = [n for n in ALL_CONFIGS if n.startswith('auvit_ir18-tiny-64px-cpu_synthfer')]
CONFIGS = [n for n in ALL_CONFIGS if n not in JOINT_TESTED]
PUBLIC = {'auvit_ir50-public_rafdb': ('2', (1, 1), 128), 'auvit_ir50-public_affectnet7': ('7', (4, 1), 320)}
PAPER = {
    'auvit_ir50_rafdb': (7, (4, 1)),
    'auvit_ir50_ferplus': (8, (4, 1)),
    'auvit_ir50_affectnet7': (7, (3, 1)),
}
#: RAF-AU's 21 AUs as the public code orders its AU output (RAF-AU label order).
RAFAU_ORDER = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27)


def load(name):
    return Config.fromfile(f'configs/auvit/{name}.py')


def test_every_config_is_listed():
    assert set(PUBLIC) | set(PAPER) <= set(CONFIGS) and len(CONFIGS) >= 11
    assert osp.isfile('tests/test_tools/test_auvit_joint_configs.py') or not JOINT_TESTED


@pytest.mark.parametrize('name', list(PUBLIC))
def test_public_settings(name):
    regions, ratios, batch = PUBLIC[name]
    cfg = load(name)
    bb = cfg.model.backbone
    assert (bb.type, bb.depth, bb.input_size, bb.embed_dims, bb.depths, bb.num_heads) == (
        'IRViTAU', 50, 112, (512, 512), (4, 2), (16, 16))  # fmt: skip
    assert (bb.multi_stage, bb.conv_ffn, bb.head, bb.au_tap, bb.au_branch.regions) == (
        False,
        False,
        'gap',
        4,
        regions,
    )
    assert cfg.model.data_preprocessor.mean == [127.5] * 3 and cfg.model.data_preprocessor.std == [127.5] * 3
    assert bb.pretrained == 'checkpoints/backbone_ir50_ms1m_epoch63.pth'
    pw = cfg.model.au_loss.pos_weight
    assert len(pw) == 21 and pw[0] == 3.04216867 and pw[9] == 40.9375 and pw[18] == 0.52442257
    assert (
        cfg.train_dataloader.batch_size == batch
        and tuple(cfg.train_dataloader.batch_sampler.ratios) == ratios
    )
    assert (cfg.model.get('w_fer', 1.0), cfg.model.get('w_au', 1.0)) == (1.0, 1.0)


@pytest.mark.parametrize('name', list(PAPER))
def test_paper_settings(name):
    num_classes, ratios = PAPER[name]
    cfg = load(name)
    bb = cfg.model.backbone
    assert (bb.multi_stage, bb.merge_mode, bb.conv_ffn, bb.head) == (True, 'concat', True, 'flatten')
    assert (bb.au_branch.regions, bb.au_branch.pair_reduce, bb.au_tap) == ('7', 'max', 4)
    assert cfg.model.head.num_classes == num_classes
    assert tuple(cfg.train_dataloader.batch_sampler.ratios) == ratios
    assert cfg.optim_wrapper.optimizer.lr == 1e-4 and cfg.optim_wrapper.optimizer.weight_decay == 5e-4
    assert cfg.train_cfg.max_epochs == 20 and [s.type for s in cfg.param_scheduler] == [
        'LinearLR',
        'CosineAnnealingLR',
    ]


@pytest.mark.parametrize('name', [n for n in ALL_CONFIGS if 'fer-joint' not in n])
def test_model_au_order_is_the_datasets(name):
    """The AU output order of the model equals the order the joint dataset serves AU targets in."""
    cfg = load(name)
    model_aus = au_ids(cfg.model.backbone.au_names)
    assert model_aus == RAFAU_ORDER
    if cfg.train_dataloader.dataset.get('au_names') is not None:  # joint with AU labels
        assert au_ids(cfg.train_dataloader.dataset.au_names) == model_aus


def test_public_config_builds_the_public_architecture():
    from tests.test_tools.auvit_public import IR50ViTPublic
    from tools.model_converters.auvit_to_ferlab import convert_auvit_state_dict

    for name, n in (('auvit_ir50-public_rafdb', 2), ('auvit_ir50-public_affectnet7', 7)):
        ours = MODELS.build(load(name).model).state_dict()
        state, _, regions = convert_auvit_state_dict(IR50ViTPublic(7, n).state_dict())
        assert regions == n
        assert set(ours) - set(state) == {'au_loss.pos_weight'} and set(state) <= set(ours)
        assert all(ours[k].shape == state[k].shape for k in state)


# ------------------------------------------------------------------ training through tools/train.py


def _rafau(root):
    lines = [f'{k:04d}.jpg {au}' for k, au in enumerate(['1+2+L12', 'null', '4+R25', '6+12+25', '9+10'], 1)]
    write_text(osp.join(root, 'RAFAU_label.txt'), lines)
    for k in range(1, 6):
        write_image(osp.join(root, 'aligned', f'{k:04d}_aligned.jpg'), size=16, seed=k)
    return root


def _target(name, root):
    if name.endswith('rafdb'):
        return make_rafdb(root, train=(1, 2, 3, 4, 5, 6, 7, 1), test=(5, 6))
    if name.endswith('affectnet7'):
        write_affectnet_csv(root, 'training.csv', [(f'1/{i}.jpg', i % 7) for i in range(8)])
        write_affectnet_csv(root, 'validation.csv', [('2/a.jpg', 0), ('2/b.jpg', 6)], header=False)
        return root
    happy = [0, 9, 1, 0, 0, 0, 0, 0, 0, 0]
    rows = [('Training', f'fer{i}.png', happy) for i in range(8)]
    write_ferplus_csv(root, rows + [('PublicTest', 'v.png', happy), ('PrivateTest', 't.png', happy)])
    return root


def _ratios(cfg):
    bs = cfg.train_dataloader.get('batch_sampler')
    return tuple(bs.ratios) if bs else None


def _options(name, tmp_path):
    cfg = load(name)
    ratios = _ratios(cfg)
    if ratios is None:
        batch = 2
    else:
        batch = 2 * sum(ratios) if sum(ratios) < 3 else sum(ratios)  # 2 or 1 batches of target images
    opts = [
        'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.save_best=None',
        'default_hooks.checkpoint.interval=100',
        'default_hooks.checkpoint.save_last=False',
        f'train_dataloader.batch_size={batch}',
        'train_dataloader.num_workers=0',
    ]
    for loader in ('val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size=2', f'{loader}.num_workers=0']
    if 'synthfer' in name:
        if ratios is None:
            opts.append('train_dataloader.dataset.num_samples=8')
        else:
            opts += ['train_dataloader.dataset.sources.0.dataset.num_samples=8',
                     'train_dataloader.dataset.sources.1.dataset.num_samples=4']  # fmt: skip
        opts += ['val_dataloader.dataset.num_samples=4', 'test_dataloader.dataset.num_samples=4']
    else:
        if name == 'vit-b_rafdb-ferplus_fer-joint':  # RAF-DB + FERPlus through expression labels
            target = _target('rafdb', str(tmp_path / 'target'))
            aux = _target('ferplus', str(tmp_path / 'ferplus'))
        else:
            target, aux = _target(name, str(tmp_path / 'target')), _rafau(str(tmp_path / 'rafau'))
        opts += [
            f'train_dataloader.dataset.sources.0.dataset.data_root={target}',
            f'train_dataloader.dataset.sources.1.dataset.data_root={aux}',
            f'val_dataloader.dataset.data_root={target}',
            f'test_dataloader.dataset.data_root={target}',
            'model.backbone.pretrained=None',
        ]
        if cfg.model.backbone.type == 'IRViTAU':
            opts.append('model.backbone.depth=18')  # IR-18 stages at 112 px: the same trunk, faster
        else:  # a 2-block 64-d ViT at 224 px with the config's AU branch / AU token
            opts += ['model.backbone.depth=2', 'model.backbone.embed_dim=64', 'model.backbone.num_heads=2',
                     'model.head.in_channels=64']  # fmt: skip
            if cfg.model.backbone.type == 'ViTAU':
                opts.append('model.backbone.au_tap=2')
    return opts, cfg


@pytest.mark.e2e
@pytest.mark.parametrize('name', CONFIGS)
def test_auvit_config_trains_through_train_py(tmp_path, name):
    from tools.train import main

    opts, cfg = _options(name, tmp_path)
    torch.set_num_threads(1)
    work = str(tmp_path / 'work')
    runner = main([f'configs/auvit/{name}.py', '--work-dir', work, '--cfg-options', *opts])
    ratios = _ratios(cfg)
    if ratios is None:
        assert runner.iter == 8 // 2
    else:
        counts = runner.train_dataloader.batch_sampler.counts
        assert runner.iter == 8 // counts[0] and runner.iter >= 1
        assert sum(counts) == runner.train_dataloader.batch_sampler.batch_size
        assert tuple(c * ratios[0] for c in counts) == tuple(r * counts[0] for r in ratios)
    scalars = runner.message_hub.log_scalars
    assert np.isfinite(scalars['train/loss_fer'].current())
    if cfg.model.get('with_au', True):
        assert np.isfinite(scalars['train/loss_au'].current())
        assert type(runner.model.backbone).__name__ == cfg.model.backbone.type
    else:
        assert 'train/loss_au' not in scalars
    # eval through the model: expression logits and AU logits for a batch of one
    model = runner.model.eval()
    size = cfg.model.backbone.get('input_size', cfg.model.backbone.get('img_size', 112))
    with torch.no_grad():
        out = model(torch.zeros(1, 3, size, size), mode='tensor')
    if cfg.model.get('with_au', True):
        assert out[0].shape == (1, cfg.model.head.num_classes) and out[1].shape == (1, 21)


@pytest.mark.parametrize(
    'name', ['auvit_vit-tiny-48px-cpu_synthfer', 'auvit_vit-tiny-48px-cpu-autoken_synthfer']
)
def test_eval_predictions_do_not_depend_on_the_batch(name):
    """pred_score / pred_au_score of a sample are the same alone, in a batch of 5 and in another mix."""
    from ferlab.structures import FERDataSample

    torch.manual_seed(0)
    model = MODELS.build(load(name).model)
    model.init_weights()
    model.eval()
    x = torch.rand(5, 3, 48, 48) * 255

    def predict(idx):
        batch = model.data_preprocessor(
            dict(inputs=list(x[idx]), data_samples=[FERDataSample() for _ in idx])
        )
        with torch.no_grad():
            return model.predict(batch['inputs'], batch['data_samples'])

    full = predict([0, 1, 2, 3, 4])
    mixed = predict([4, 2, 0])
    for i, j in ((4, 0), (2, 1), (0, 2)):
        torch.testing.assert_close(mixed[j].pred_score, full[i].pred_score, rtol=0, atol=1e-6)
        torch.testing.assert_close(mixed[j].pred_au_score, full[i].pred_au_score, rtol=0, atol=1e-6)
    alone = predict([3])[0]
    torch.testing.assert_close(alone.pred_score, full[3].pred_score, rtol=0, atol=1e-6)
    torch.testing.assert_close(alone.pred_au_score, full[3].pred_au_score, rtol=0, atol=1e-6)
    assert full[3].pred_au_score.shape == (21,)
