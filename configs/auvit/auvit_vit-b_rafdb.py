# AU-ViT with the vanilla-ViT base branch on RAF-DB + RAF-AU (Mao et al., Table II): ViT-B/16 at
# 224 (the paper pretrains it on VGGFace2; a local timm-layout file, read in init_weights), AU
# branch (7 regions, symmetric maxout) on the patch tokens after block 10 of 12, CLS -> Linear.
# Batches 64 RAF-DB + 16 RAF-AU (4:1); Adam lr 1e-4, wd 5e-4, warm-up 10 + cosine 10 epochs.
_base_ = [
    '../_base_/models/auvit_vit-b.py',
    '../_base_/datasets/joint_rafdb-rafau.py',
    '../_base_/default_runtime.py',
]
img_size = 224
_pipe = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomGrayscale', prob=0.1),
    dict(type='GaussianBlur', kernel_size=3, sigma=(0.1, 2.0), prob=0.2),
    dict(type='PackFERInputs'),
]
_test = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]
model = dict(
    backbone=dict(pretrained='checkpoints/vit_base_patch16_224_vggface2.pth'), head=dict(num_classes=7)
)
train_dataloader = dict(
    dataset=dict(
        sources=[
            dict(dataset=dict(type='RAFDB', data_root={{_base_.rafdb_root}}, split='train', pipeline=_pipe),
                 labels=('expression',)),
            dict(dataset=dict(type='RAFAU', data_root={{_base_.rafau_root}}, pipeline=_pipe), labels=('au',)),
        ]
    )
)  # fmt: skip
val_dataloader = dict(dataset=dict(pipeline=_test))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=10, end=20, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
