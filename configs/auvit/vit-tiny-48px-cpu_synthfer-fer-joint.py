# CPU-scale Table I analogue on SynthFER (docs/auvit.md): the ViT of
# auvit_vit-tiny-48px-cpu_synthfer.py without any AU output (CLS -> Linear), trained jointly on
# two FER sets through their expression labels (configs/_base_/datasets/joint_synthfer-fer.py at
# 48 px: target 'default' in RAF-DB order + auxiliary 'alt_convention' in FERPlus order mapped by
# class name, Contempt dropped; 32 + 8 per batch). Same schedule as the AU-ViT CPU configs.
_base_ = [
    '../_base_/models/auvit_vit-b.py',
    '../_base_/datasets/joint_synthfer-fer.py',
    '../_base_/default_runtime.py',
]
img_size = 48
_src = dict(type='SynthFER', split='train', img_size=img_size, pipeline={{_base_.train_pipeline}})
train_dataloader = dict(
    dataset=dict(
        sources=[
            dict(dataset=dict(_src, num_samples=1600, label_set='rafdb', domain='default', seed=0),
                 labels=('expression',)),
            dict(dataset=dict(_src, num_samples=800, label_set='ferplus', domain='alt_convention', seed=1),
                 labels=('expression',)),
        ]
    )
)  # fmt: skip
val_dataloader = dict(dataset=dict(img_size=img_size))
test_dataloader = dict(dataset=dict(img_size=img_size))
model = dict(
    with_au=False,
    backbone=dict(
        _delete_=True, type='ViTBackbone', arch='vit_tiny_patch16_224', img_size=img_size, patch_size=4,
        embed_dim=96, depth=6, num_heads=3, out_type='cls',
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
