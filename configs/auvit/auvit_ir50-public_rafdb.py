# AU-ViT public RAF-DB model exactly (msy1412/AU-ViT RAFDB_AU-ViT.py): IR50_ViT(num_AU_patch=2),
# 7 classes, 21 RAF-AU AUs. Each step concatenates a 64-image RAF-DB batch with a 64-image RAF-AU
# batch (ratio 1:1); loss = CE(expr of RAF-DB images) + BCEWithLogits(AU of RAF-AU images,
# pos_weight = the script's fixed 21-vector); Adam lr 1e-4, wd 5e-4, 10 epochs,
# CosineAnnealingLR(T_max=8, eta_min=5e-7) per epoch (the script's T_max = epochs - 2).
# Checkpoints of the public code convert with tools/model_converters/auvit_to_ferlab.py and load
# into this config with strict=True (docs/auvit.md#converter). The IR-50 MS1M file (face.evoLVe
# backbone_ir50_ms1m_epoch63.pth) is read from checkpoints/ in init_weights when training.
_base_ = [
    '../_base_/models/auvit_ir50-public.py',
    '../_base_/datasets/joint_rafdb-rafau.py',
    '../_base_/default_runtime.py',
]
public_pos_weight = [3.04216867, 4.40402685, 1.42384106, 3.5033557, 8.63157895, 11.74050633, 4.62290503,
                     2.0407855, 2.38603869, 40.9375, 14.66536965, 4.98216939, 7.37006237, 39.66666667,
                     19.02985075, 11.94533762, 38.86138614, 20.18947368, 0.52442257, 2.96259843,
                     4.27653997]  # fmt: skip
model = dict(
    backbone=dict(pretrained='checkpoints/backbone_ir50_ms1m_epoch63.pth'),
    head=dict(num_classes=7),
    au_loss=dict(type='MaskedBCEWithLogitsLoss', pos_weight=public_pos_weight),
    w_fer=1.0,
    w_au=1.0,
)
train_dataloader = dict(batch_size=128, batch_sampler=dict(type='RatioBatchSampler', ratios=(1, 1)))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4, weight_decay=5e-4))
param_scheduler = dict(type='CosineAnnealingLR', T_max=8, eta_min=5e-7, by_epoch=True, begin=0,
                       end=10)  # fmt: skip
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()
