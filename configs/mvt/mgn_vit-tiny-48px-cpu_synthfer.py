# MVT stage 1, CPU EVIDENCE VARIANT for SynthFER (a scale-down, not the paper's model): 48 px, a 1-block
# ViT-tiny generator (patch 8 -> 6x6 patches) trained against a 3-block ViT-tiny discriminator, from scratch.
# SynthFER 'lab' faces with background clutter (p=0.9) and occluders (p=0.4), 20 % symmetric label noise.
#   python tools/train.py configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py
# Used by tools/analysis_tools/mvt_sweeps.py (docs/mvt.md#results).
_base_ = ['../_base_/datasets/synthfer.py', '../_base_/default_runtime.py', './_base_/mgn_deit-s.py']

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
train_dataloader = dict(
    batch_size=32,
    persistent_workers=False,
    dataset=dict(
        num_samples=1500, label_noise=dict(type='symmetric', rate=0.2), pipeline=train_pipeline, **_data
    ),
)
val_dataloader = dict(batch_size=64, dataset=dict(num_samples=500, pipeline=test_pipeline, **_data))
test_dataloader = dict(batch_size=64, dataset=dict(num_samples=500, pipeline=test_pipeline, **_data))

vit = dict(img_size=img_size, patch_size=8, embed_dim=64, num_heads=2, pretrained=None)
model = dict(
    mask_ratio=0.15,
    generator=dict(num_blocks=1, **vit),
    discriminator=dict(
        backbone=dict(depth=3, **vit), head=dict(num_classes={{_base_.num_classes}}, in_channels=64)
    ),
)
optim_wrapper = dict(
    generator=dict(optimizer=dict(lr=1e-3)),
    discriminator=dict(optimizer=dict(lr=1e-3)),
)
param_scheduler = [dict(type='ExponentialLR', gamma=0.9, by_epoch=True)]
train_cfg = dict(max_epochs=3, val_interval=3)
default_hooks = dict(checkpoint=dict(save_best=None, max_keep_ckpts=1))
