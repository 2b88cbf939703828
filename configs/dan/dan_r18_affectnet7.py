# DAN on AffectNet-7 (contempt dropped): paper Sec. 4.2 + yaoing/DAN affectnet.py --num_class 7.
# Adam lr 1e-4 (no weight decay), ExponentialLR(gamma=0.6) per epoch, 40 epochs, batch 256,
# class-balanced sampler (weight 1 / class count, with replacement), 224 input.
_base_ = ['./_base_/dan_r18.py', '../_base_/datasets/affectnet7.py', '../_base_/default_runtime.py']

img_size = 224
model = dict(head=dict(num_classes=7))

# Public-code augmentation: resize, h-flip, with p=0.7 RandomAffine(20 deg, translate 0.2,
# scale 0.8-1), RandomErasing() (torchvision defaults, scale 0.02-0.33, mean-pixel fill).
# ferlab has no affine transform: rotation +-20 then a random crop with 44 px (~0.2 x 224)
# padding stands in for rotation + translation (no zoom).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='RandomRotate', degrees=20, prob=1.0),
            dict(type='RandomCrop', size=img_size, padding=44),
        ],
        prob=0.7,
    ),
    dict(type='RandomErasing', prob=0.5, scale=(0.02, 0.33), value=(104, 116, 124)),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]
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
