# DAN on RAF-DB: paper Sec. 4.2 + yaoing/DAN rafdb.py.
# SGD lr 0.1, momentum 0.9, wd 1e-4, StepLR(10, 0.1), 40 epochs, batch 256, 224 input.
_base_ = [
    './_base_/dan_r18.py',
    '../_base_/datasets/rafdb.py',
    '../_base_/datasets/dan_rafdb-aug_224.py',
    '../_base_/default_runtime.py',
]

img_size = 224
model = dict(head=dict(num_classes=7))

# Public-code augmentation (configs/_base_/datasets/dan_rafdb-aug_224.py).
train_pipeline = {{_base_.dan_train_pipeline}}
test_pipeline = {{_base_.dan_test_pipeline}}
train_dataloader = dict(batch_size=256, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=256, num_workers=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='StepLR', by_epoch=True, step_size=10, gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
