# ARBEx's reliability balancing on another trunk: ResNet-18 (512-d GAP embedding, from scratch) on
# SynthFER at 112 px with 20 % symmetric training-label noise (clean val/test labels), the paper's
# recipe scaled to 112 px (resize 128 + random crop 112 + horizontal flip; Adam 3e-4, ExponentialLR
# 0.995) and data refinement over identities (N = 512 per identity, M = 500 per class). docs/arbex.md.
#   python tools/train.py configs/arbex/arbex_r18_synthfer.py
_base_ = [
    '../_base_/models/arbex_r18.py',
    '../_base_/datasets/synthfer.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(pretrained=None), head=dict(num_classes=7, in_channels=512))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128)),
    dict(type='RandomCrop', size=112),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFERInputs'),
]
train_dataloader = dict(
    batch_size=64,
    sampler=dict(
        _delete_=True,
        type='DataRefinementSampler',
        group_key='identity',
        num_per_group=512,
        num_per_class=500,
    ),
    dataset=dict(num_samples=6400, pipeline=train_pipeline, label_noise=dict(type='symmetric', rate=0.2)),
)
max_epochs = 40
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=3e-4, weight_decay=0))
param_scheduler = dict(type='ExponentialLR', gamma=0.995, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=25), checkpoint=dict(interval=5, max_keep_ckpts=1, save_best='auto')
)
