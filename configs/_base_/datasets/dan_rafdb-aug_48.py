# DAN recipe: the public code's RAF-DB augmentation (yaoing/DAN rafdb.py) at 48 px, as
# pipelines for any dataset base. Resize, h-flip, with p=0.2 {rotation +-20 then random crop
# with 7 px padding (32 px scaled to 48 px)} (torchvision RandomApply applies the whole list),
# RandomErasing(0.02-0.25). torchvision erases with 0 after normalisation, i.e. with the mean
# pixel (BGR here).
# A config takes them by base-variable reference and sets them on its loaders
# (configs/dan/dan_r18_rafdb.py shows how).
dan_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(48, 48)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='RandomRotate', degrees=20, prob=1.0),
            dict(type='RandomCrop', size=48, padding=7),
        ],
        prob=0.2,
    ),
    dict(type='RandomErasing', prob=0.5, scale=(0.02, 0.25), value=(104, 116, 124)),
    dict(type='PackFERInputs'),
]
dan_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(48, 48)),
    dict(type='PackFERInputs'),
]
