# DAN on SynthFER (procedural faces, RAF-DB class order, 112 px), the data of the ablations in
# docs/dan.md. RAF-DB augmentation scaled to 112 px and the RAF-DB step schedule (StepLR(10, 0.1),
# 40 epochs), but trained from scratch (no face-pretrained trunk exists offline), so AdamW 2e-3
# (as the SynthFER quick start) replaces SGD 0.1: without the MS-Celeb init the first SGD 0.1
# steps are huge (backbone gradient norm ~200 at init) and the BN statistics diverge.
_base_ = [
    './_base_/dan_r18.py',
    '../_base_/datasets/synthfer.py',
    '../_base_/datasets/dan_rafdb-aug_112.py',
    '../_base_/default_runtime.py',
]

img_size = 112
model = dict(backbone=dict(init_cfg=None), head=dict(num_classes=7))

# RAF-DB augmentation scaled to 112 px (configs/_base_/datasets/dan_rafdb-aug_112.py).
train_pipeline = {{_base_.dan_train_pipeline}}
test_pipeline = {{_base_.dan_test_pipeline}}
train_dataloader = dict(batch_size=64, dataset=dict(img_size=img_size, pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(img_size=img_size, pipeline=test_pipeline))
test_dataloader = dict(batch_size=64, dataset=dict(img_size=img_size, pipeline=test_pipeline))

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=10, gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
