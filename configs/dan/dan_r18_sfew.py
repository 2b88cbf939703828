# DAN on SFEW 2.0 (paper Sec. 4.2): batch 16, lr 1e-3, 40 epochs, 224 input, RetinaFace-aligned
# faces. The paper gives no optimiser for SFEW and the public code has no SFEW script: SGD
# (momentum 0.9, wd 1e-4) with the RAF-DB step schedule and the RAF-DB augmentation.
_base_ = ['./_base_/dan_r18.py', '../_base_/datasets/sfew.py', '../_base_/default_runtime.py']

img_size = 224
model = dict(head=dict(num_classes=7))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='RandomRotate', degrees=20, prob=1.0),
            dict(type='RandomCrop', size=img_size, padding=32),
        ],
        prob=0.2,
    ),
    dict(type='RandomErasing', prob=0.5, scale=(0.02, 0.25), value=(104, 116, 124)),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]
train_dataloader = dict(batch_size=16, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=10, gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
