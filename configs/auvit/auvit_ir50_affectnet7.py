# AU-ViT, the paper's final CNN-ViT (Mao et al., Table III last row) on affectnet7, jointly with RAF-AU:
# IR-50 stages 1-3 (MS1M) -> conv embedding -> multi-stage blocks (4 at 14x14x512, 2x2 patch
# merging, 2 at 7x7x1024) with Conv-FFN -> patch-flatten; AU branch (7 regions, symmetric maxout)
# after block 4. Batches: 96 AffectNet + 32 RAF-AU (3:1); loss = CE + BCE (Eq. 3, alpha = beta = 1).
# Sec. IV-A: SGD (momentum 0.9, not given in the paper), lr 1e-4, wd 5e-4, linear warm-up 10 epochs then cosine decay 10 epochs.
# The IR-50 MS1M file is read from checkpoints/ in init_weights (docs/auvit.md#pretrained-weights).
_base_ = [
    '../_base_/models/auvit_ir50.py',
    '../_base_/datasets/joint_affectnet7-rafau.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(pretrained='checkpoints/backbone_ir50_ms1m_epoch63.pth'),
    head=dict(num_classes=7),
    w_fer=1.0,
    w_au=1.0,
)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e-4, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=10, end=20, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
