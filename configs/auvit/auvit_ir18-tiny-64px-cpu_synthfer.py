# AU-ViT, CPU EVIDENCE VARIANT on SynthFER (a scale-down, not the paper's setting): the target set
# alone (no auxiliary data), the baseline of the joint variants below. The paper's CNN-ViT layout
# (IResNet stages 1-3 -> conv embedding + pos-embed -> multi-stage blocks with 2x2 patch merging
# and Conv-FFN -> patch-flatten; AU branch with the 7-region split and symmetric maxout after the
# first stage) shrunk: IR-18 units (2, 2, 2) at half width (32/64/128 channels) instead of IR-50's
# (3, 4, 14) at 64/128/256, transformer widths 64/128 instead of 512/1024, 2+1 blocks instead of
# 4+2, 64 px input (8x8 tokens; the region slices scaled from 14x14) instead of 112. Trained from
# scratch (no MS1M IR-50), AdamW 5e-4 with warm-up + cosine, no dropout before the patch-flatten
# layer; with bf16 autocast (tools/train.py --amp) one iteration of 32 takes ~0.45 s on 1 thread.
# Data (6 epochs = 378 iterations): 2000 SynthFER 'default'-domain training images, 700 validation, 2000 test images.
# Without AU labels in the batch the AU loss is an exact 0, so this trains the expression path only.
# Siblings: auvit_ir18-tiny-64px-cpu_synthfer-au.py (+ AU-labelled auxiliary domain, AU-ViT),
# auvit_ir18-tiny-64px-cpu_synthfer-fer.py (+ the same domain's expression labels, Table I) and the
# test-only auvit_ir18-tiny-64px-cpu_synthfer_half-occluded-test.py.
#   python tools/train.py configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer.py --amp
_base_ = [
    '../_base_/models/auvit_ir50.py',
    '../_base_/datasets/synthfer.py',
    '../_base_/default_runtime.py',
]

img_size = 64
embed_dims = (64, 128)
flatten_dim = 64
max_epochs = 6
model = dict(
    backbone=dict(
        depth=18,
        input_size=img_size,
        embed_dims=embed_dims,
        depths=(2, 1),
        num_heads=(2, 4),
        flatten_dim=flatten_dim,
        flatten_dropout=0.0,
        cnn_widths=(32, 64, 128),
        au_tap=2,
    ),
    head=dict(num_classes=7, in_channels=flatten_dim),
    w_fer=1.0,
    w_au=1.0,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFERInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]
_data = dict(img_size=img_size, domain='default', seed=0)
train_dataloader = dict(batch_size=32, dataset=dict(num_samples=2000, pipeline=train_pipeline, **_data))
val_dataloader = dict(batch_size=100, dataset=dict(num_samples=700, pipeline=test_pipeline, **_data))
test_dataloader = dict(batch_size=100, dataset=dict(num_samples=2000, pipeline=test_pipeline, **_data))

# Sec. IV-A: Adam, lr 1e-4, weight decay 5e-4, warm-up then cosine, for a pretrained IR-50; from
# scratch over few epochs AdamW 5e-4 (weight decay 0.05) learns fastest here (1e-3: slower).
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True, eta_min=1e-5),
]  # fmt: skip
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
