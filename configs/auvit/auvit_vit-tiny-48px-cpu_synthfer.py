# CPU-scale AU-ViT with the vanilla-ViT base branch on SynthFER (docs/auvit.md): a 6-block ViT
# (96-d, 3 heads, 4x4 patches of 48 px images -> 12x12 tokens), AU branch (7 regions, symmetric
# maxout; slices scaled from 14x14 to 12x12) after block 5 of 6 (as 10 of 12 in the paper), CLS
# -> Linear. Data: joint_synthfer-au at 48 px (32 target + 8 AU images per batch). Adam lr 1e-3,
# 6 epochs, warm-up 1 + cosine. Fig. 9/11 and Table VIII analogues vary model.backbone.au_tap,
# model.backbone.au_branch.regions / pair_reduce, or use the -autoken config.
_base_ = [
    '../_base_/models/auvit_vit-b.py',
    '../_base_/datasets/joint_synthfer-au.py',
    '../_base_/default_runtime.py',
]
img_size = 48
_src = dict(type='SynthFER', split='train', label_set='rafdb', img_size=img_size,
            pipeline={{_base_.train_pipeline}})  # fmt: skip
train_dataloader = dict(
    dataset=dict(
        sources=[
            dict(dataset=dict(_src, num_samples=1600, domain='default', seed=0), labels=('expression',)),
            dict(dataset=dict(_src, num_samples=800, domain='alt_convention', seed=1), labels=('au',),
                 au_names={{_base_.synthfer_aus}}, au_threshold={{_base_.au_threshold}}),
        ]
    )
)  # fmt: skip
val_dataloader = dict(dataset=dict(img_size=img_size))
test_dataloader = dict(dataset=dict(img_size=img_size))
model = dict(
    backbone=dict(
        arch='vit_tiny_patch16_224', img_size=img_size, patch_size=4, embed_dim=96, depth=6, num_heads=3,
        au_tap=5,
    ),
    head=dict(num_classes=7, in_channels=96),
)  # fmt: skip
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=1, end=6, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=1)
default_hooks = dict(logger=dict(interval=20))
val_cfg = dict()
test_cfg = dict()
