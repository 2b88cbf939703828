# AU-ViT public AffectNet model (msy1412/AU-ViT AffectNet_AU-ViT.py): IR50_ViT(num_classes=7,
# num_AU_patch=7): the 7-region AU split with symmetric maxout (L-/R-eye, L-/R-cheek), 21 RAF-AU
# AUs. Each step: 256 AffectNet + 64 RAF-AU images (4:1); SGD lr 5e-5, momentum 0.9, wd 5e-3,
# 5 epochs, cosine per iteration. The public script balances AffectNet's classes with its own
# batch sampler; here the training set of configs/_base_/datasets/joint_affectnet7-rafau.py is used.
# Converted public checkpoints load with strict=True (docs/auvit.md#converter).
_base_ = [
    '../_base_/models/auvit_ir50-public.py',
    '../_base_/datasets/joint_affectnet7-rafau.py',
    '../_base_/default_runtime.py',
]
public_pos_weight = [3.04216867, 4.40402685, 1.42384106, 3.5033557, 8.63157895, 11.74050633, 4.62290503,
                     2.0407855, 2.38603869, 40.9375, 14.66536965, 4.98216939, 7.37006237, 39.66666667,
                     19.02985075, 11.94533762, 38.86138614, 20.18947368, 0.52442257, 2.96259843,
                     4.27653997]  # fmt: skip
model = dict(
    backbone=dict(pretrained='checkpoints/backbone_ir50_ms1m_epoch63.pth', au_branch=dict(regions='7')),
    head=dict(num_classes=7),
    au_loss=dict(type='MaskedBCEWithLogitsLoss', pos_weight=public_pos_weight),
)
train_dataloader = dict(batch_size=320, batch_sampler=dict(type='RatioBatchSampler', ratios=(4, 1)))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=5e-5, momentum=0.9, weight_decay=5e-3))
param_scheduler = dict(type='CosineAnnealingLR', eta_min=5e-7, by_epoch=True, begin=0, end=5,
                       convert_to_iter_based=True)  # fmt: skip
train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)
val_cfg = dict()
test_cfg = dict()
