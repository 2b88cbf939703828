# DAN on AffectNet-7 (contempt dropped): paper Sec. 4.2 + yaoing/DAN affectnet.py --num_class 7.
# Adam lr 1e-4 (no weight decay), ExponentialLR(gamma=0.6) per epoch, 40 epochs, batch 256,
# class-balanced sampler (weight 1 / class count, with replacement), 224 input.
_base_ = [
    './_base_/dan_r18.py',
    '../_base_/datasets/affectnet7.py',
    '../_base_/datasets/dan_affectnet-aug_224.py',
    '../_base_/default_runtime.py',
]

img_size = 224
model = dict(head=dict(num_classes=7))

# Public-code augmentation (configs/_base_/datasets/dan_affectnet-aug_224.py).
train_pipeline = {{_base_.dan_train_pipeline}}
test_pipeline = {{_base_.dan_test_pipeline}}
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    sampler=dict(type='ClassBalancedSampler'),
    dataset=dict(pipeline=train_pipeline),
)
val_dataloader = dict(batch_size=256, num_workers=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4, weight_decay=0))
param_scheduler = dict(type='ExponentialLR', by_epoch=True, gamma=0.6)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
