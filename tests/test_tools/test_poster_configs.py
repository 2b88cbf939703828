"""configs/poster: the public recipe in every dataset config; every config trains through tools/train.py."""

import os.path as osp

import pytest
import torch
from mmengine.config import Config

from ferlab.utils import atomic_save
from tests.test_datasets.fake_formats import make_rafdb, write_affectnet_csv, write_ferplus_csv
from tests.test_tools.poster_public import MobileFaceNet as PublicMobileFaceNet

PUBLIC = {  # config: (num_classes, lr, balanced sampler, RandomErasing (prob, scale))
    'posterv2_ir50_rafdb': (7, 3.5e-5, False, (0.5, (0.02, 0.1))),
    'posterv2_ir50_affectnet7': (7, 1e-6, True, (1.0, (0.05, 0.05))),
    'posterv2_ir50_affectnet8': (8, 1e-6, True, (1.0, (0.05, 0.05))),
    'posterv2_ir50_ferplus': (8, 3.5e-5, False, (0.5, (0.02, 0.1))),
}
CPU = [
    'posterv2_ir18-56px-cpu_synthfer',
    'posterv2_ir18-56px-cpu-randlm_synthfer',
    'posterv2_ir18-56px-cpu-constq_synthfer',
]


def load(name):
    return Config.fromfile(f'configs/poster/{name}.py')


@pytest.mark.parametrize('name', list(PUBLIC))
def test_public_settings(name):
    num_classes, lr, balanced, (p, scale) = PUBLIC[name]
    cfg = load(name)
    assert cfg.model.head.num_classes == num_classes and cfg.model.head.in_channels == 768
    assert cfg.train_dataloader.batch_size == 144
    assert cfg.optim_wrapper.type == 'SAMOptimWrapper' and cfg.optim_wrapper.rho == 0.05
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=lr, weight_decay=0)
    assert cfg.param_scheduler == dict(type='ExponentialLR', by_epoch=True, gamma=0.98)
    assert cfg.train_cfg.max_epochs == 200
    assert cfg.model.head.loss.type == 'CrossEntropyLoss'
    assert (cfg.train_dataloader.sampler.type == 'ClassBalancedSampler') == balanced
    steps = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
    assert steps['Resize']['scale'] == (224, 224) and steps['RandomFlip']['prob'] == 0.5
    assert (steps['RandomErasing']['prob'], steps['RandomErasing']['scale']) == (p, scale)
    bb = cfg.model.backbone
    assert (bb.input_size, bb.query_proj, bb.residual, bb.landmark_queries) == (
        112,
        False,
        'norm',
        'landmark',
    )
    assert bb.image == dict(
        type='IResNet', depth=50, num_stages=3, out_indices=(0, 1, 2), pretrained='checkpoints/ir50.pth'
    )


def test_rafdb_config_builds_the_public_architecture():
    from ferlab.registry import MODELS
    from tests.test_tools.poster_public import pyramid_trans_expr2
    from tools.model_converters.poster_to_ferlab import convert_poster_state_dict

    model = MODELS.build(load('posterv2_ir50_rafdb').model)
    state, _ = convert_poster_state_dict(pyramid_trans_expr2(7).state_dict())
    ours = model.state_dict()
    assert set(ours) == set(state)
    assert all(ours[k].shape == state[k].shape for k in ours)


def _fake_data(kind, root):
    if kind == 'rafdb':
        make_rafdb(root, train=(1, 2, 3, 4), test=(5, 6))
    elif kind == 'affectnet':
        write_affectnet_csv(root, 'training.csv', [(f'1/{i}.jpg', i % 8) for i in range(4)])
        write_affectnet_csv(root, 'validation.csv', [('2/a.jpg', 0), ('2/b.jpg', 7)], header=False)
    elif kind == 'ferplus':
        happy = [0, 9, 1, 0, 0, 0, 0, 0, 0, 0]
        rows = [('Training', f'fer{i}.png', happy) for i in range(4)]
        write_ferplus_csv(root, rows + [('PublicTest', 'v.png', happy), ('PrivateTest', 't.png', happy)])
    return root


@pytest.mark.e2e
@pytest.mark.parametrize('name', list(PUBLIC) + CPU)
def test_poster_config_trains_through_train_py(tmp_path, name):
    from tools.train import main

    # no checkpoint: a POSTER++ checkpoint with SAM/Adam state is ~1 GB to write
    opts = [
        'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.save_best=None',
        'default_hooks.checkpoint.interval=100',
        'default_hooks.checkpoint.save_last=False',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size=2', f'{loader}.num_workers=0']
    if name in PUBLIC:
        kind = name.split('_')[-1].rstrip('78')
        root = _fake_data(kind, str(tmp_path / 'data'))
        # 112 px images, the trunk at 56 px: the in-model nearest resize halves them as at 224 -> 112
        opts += [f'data_root={root}', 'model.backbone.input_size=56', 'model.backbone.image.pretrained=None',
                 'model.backbone.landmark.pretrained=None', 'train_dataloader.dataset.pipeline.1.scale=(112,112)']  # fmt: skip
        opts += [
            'val_dataloader.dataset.pipeline.1.scale=(112,112)',
            'test_dataloader.dataset.pipeline.1.scale=(112,112)',
        ]
    else:
        for loader, n in (('train_dataloader', 4), ('val_dataloader', 2), ('test_dataloader', 2)):
            opts += [f'{loader}.dataset.num_samples={n}']
        if name == 'posterv2_ir18-56px-cpu_synthfer':  # a landmark file in the public layout
            lm = str(tmp_path / 'landmarks.pth')
            atomic_save({'state_dict': PublicMobileFaceNet().state_dict()}, lm)
            opts += [f'model.backbone.landmark.pretrained={lm}']
    work = str(tmp_path / 'work')
    runner = main([f'configs/poster/{name}.py', '--work-dir', work, '--cfg-options', *opts])
    assert runner.iter == 2  # 4 training images, batch 2
    assert not osp.isfile(osp.join(work, 'epoch_1.pth'))
    model = runner.model
    assert type(model.backbone).__name__ == 'PosterV2' and type(model.neck).__name__ == 'SEGate'
    if name in PUBLIC:
        assert type(runner.optim_wrapper).__name__ == 'SAMOptimWrapper'
    if model.backbone.landmark is not None:
        assert all(not p.requires_grad for p in model.backbone.landmark.parameters())
    if name == 'posterv2_ir18-56px-cpu_synthfer':
        saved = torch.load(lm, map_location='cpu', weights_only=True)['state_dict']
        torch.testing.assert_close(model.backbone.landmark.conv_4.model[0].conv.conv.weight,
                                   saved['conv_4.model.0.conv.conv.weight'])  # fmt: skip
