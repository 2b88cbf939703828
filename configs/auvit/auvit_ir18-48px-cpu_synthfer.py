# CPU-scale AU-ViT CNN-ViT on SynthFER (docs/auvit.md): the paper's final architecture options
# (multi-stage with 2x2 patch merging, Conv-FFN, patch-flatten head, 7-region AU branch with
# symmetric maxout) at a size two CPU cores train: IR-18 stages 1-3 at 48 px (6x6x256 map) ->
# 64-d tokens, 2 blocks at 6x6, merge, 1 block at 3x3x128; AU tap after block 2 (end of stage 1,
# as 4 of 6 in the paper model). Data: configs/_base_/datasets/joint_synthfer-au.py rendered at
# 48 px (target 'default' with expression labels + auxiliary 'alt_convention' with AU labels,
# 32 + 8 per batch). Adam lr 1e-3, 6 epochs, warm-up 1 epoch + cosine. Not a paper-scale run.
_base_ = [
    '../_base_/models/auvit_ir50.py',
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
        depth=18,
        input_size=img_size,
        embed_dims=(64, 128),
        depths=(2, 1),
        num_heads=(2, 4),
        flatten_dim=64,
        au_tap=2,
    ),
    head=dict(num_classes=7, in_channels=64),
)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=1, end=6, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=1)
default_hooks = dict(logger=dict(interval=20))
val_cfg = dict()
test_cfg = dict()
