# MVT stage 2, CPU EVIDENCE VARIANT for SynthFER (a scale-down, not the paper's model):
# the frozen stage-1 ViT-tiny MGN masks 48 px images; the CLASSIFIER IS A SMALL RESNET (ResNet-18 with
# its first 3 stages, 256-d, from scratch) instead of DeiT-S - MVT's masking does not depend on the
# classifier, and a from-scratch tiny ViT stays at chance on CPU budgets. docs/mvt.md#results.
#   python tools/train.py configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py
#   python tools/train.py configs/mvt/mvt_r18-48px-cpu_synthfer.py
_base_ = ['../_base_/datasets/synthfer.py', '../_base_/default_runtime.py', './_base_/mvt_deit-s.py']

img_size = 48
sweep_domain = dict(
    _delete_=True, preset='lab', nuisance=dict(clutter_prob=0.9, occlusion=dict(prob=0.4), gray_prob=0.0)
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='RandomErasing', prob=0.25, scale=(0.02, 0.25)),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]
_data = dict(img_size=img_size, domain=sweep_domain)
# Relabeling writes labels into the main process's dataset: dataloader workers must not persist.
train_dataloader = dict(
    batch_size=32,
    persistent_workers=False,
    dataset=dict(
        num_samples=1200, label_noise=dict(type='symmetric', rate=0.2), pipeline=train_pipeline, **_data
    ),
)
val_dataloader = dict(batch_size=64, dataset=dict(num_samples=500, pipeline=test_pipeline, **_data))
test_dataloader = dict(batch_size=64, dataset=dict(num_samples=500, pipeline=test_pipeline, **_data))

model = dict(
    # must match configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py's generator
    mgn=dict(img_size=img_size, patch_size=8, embed_dim=64, num_heads=2, num_blocks=1),
    mgn_checkpoint='work_dirs/mgn_vit-tiny-48px-cpu_synthfer/epoch_2.pth',
    backbone=dict(_delete_=True, type='ResNet', depth=18, num_stages=3, out_indices=(2,), pretrained=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(num_classes={{_base_.num_classes}}, in_channels=256),
)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='ExponentialLR', gamma=0.9, by_epoch=True)]
train_cfg = dict(max_epochs=8, val_interval=8)
default_hooks = dict(checkpoint=dict(save_best=None, max_keep_ckpts=1))

# Dynamic relabeling (Eq. 6), delta = 0.2, from epoch 4 (0-based; short CPU schedule).
custom_hooks = [
    dict(type='LabelStateHook'),
    dict(type='RelabelHook', start_epoch=4, delta=0.2, threshold='sigmoid'),
]
