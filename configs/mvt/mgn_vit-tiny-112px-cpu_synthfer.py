# MVT stage 1, SMALL CPU VARIANT for SynthFER (not the paper's model): 112 px, tiny ViTs, from scratch.
#   python tools/train.py configs/mvt/mgn_vit-tiny-112px-cpu_synthfer.py
_base_ = ['../_base_/datasets/synthfer.py', '../_base_/default_runtime.py', './_base_/mgn_deit-s.py']

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

vit = dict(img_size=112, patch_size=16, embed_dim=96, num_heads=3, pretrained=None)
model = dict(
    mask_ratio=0.15,
    generator=dict(num_blocks=2, **vit),
    discriminator=dict(
        backbone=dict(depth=4, **vit), head=dict(num_classes={{_base_.num_classes}}, in_channels=96)
    ),
)
optim_wrapper = dict(
    generator=dict(optimizer=dict(lr=3e-4)),
    discriminator=dict(optimizer=dict(lr=3e-4)),
)
train_cfg = dict(max_epochs=5)
