# MVT stage 2, SMALL CPU VARIANT for SynthFER (not the paper's model): 112 px, tiny ViTs, from scratch.
#   python tools/train.py configs/mvt/mgn_vit-tiny-112px-cpu_synthfer.py
#   python tools/train.py configs/mvt/mvt_vit-tiny-112px-cpu_synthfer.py
_base_ = ['../_base_/datasets/synthfer.py', '../_base_/default_runtime.py', './_base_/mvt_deit-s.py']

# Sec. 4.2: 112 input, random erasing, horizontal flip, colour jitter, batch 32 (CPU variant: 112 px).
img_size = 112
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
# Relabeling writes labels into the main process's dataset: dataloader workers must not persist.
train_dataloader = dict(batch_size=32, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))

vit = dict(img_size=112, patch_size=16, embed_dim=96, num_heads=3)
model = dict(
    mgn=dict(num_blocks=2, **vit),
    mgn_checkpoint='work_dirs/mgn_vit-tiny-112px-cpu_synthfer/epoch_5.pth',
    backbone=dict(depth=4, pretrained=None, drop_path_rate=0.0, **vit),
    head=dict(num_classes={{_base_.num_classes}}, in_channels=96),
)
optim_wrapper = dict(optimizer=dict(lr=3e-4))
train_cfg = dict(max_epochs=15)

# Dynamic relabeling (Eq. 6), delta = 0.2, from epoch 5 (short CPU schedule) (SCN's schedule).
custom_hooks = [
    dict(type='LabelStateHook'),
    dict(type='RelabelHook', start_epoch=5, delta=0.2, threshold='sigmoid'),
]
