# What the two stages of the small 112 px CPU variant (not the paper's model) share:
#   stage 1: configs/mvt/mgn_vit-tiny-112px-cpu_synthfer.py, stage 2: configs/mvt/mvt_vit-tiny-112px-cpu_synthfer.py
# Data: SynthFER at 112 px with the MVT augmentation (Sec. 4.2) at 112 px, batch 32.
# Models: one tiny ViT geometry for the generator and both classifiers, the generator depth, and the
# stage-1 epoch count that names its checkpoint.
_base_ = ['../../_base_/datasets/synthfer.py']

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

vit = dict(img_size=img_size, patch_size=16, embed_dim=96, num_heads=3)  # every ViT here, from scratch
mgn_generator = dict(num_blocks=2, **vit)
stage1_epochs = 5  # stage 2 loads work_dirs/mgn_vit-tiny-112px-cpu_synthfer/epoch_<stage1_epochs>.pth
