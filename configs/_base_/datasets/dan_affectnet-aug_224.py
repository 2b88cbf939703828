# DAN recipe: the public code's AffectNet augmentation (yaoing/DAN affectnet.py) at 224 px, as
# pipelines for any dataset base. Resize, h-flip, with p=0.7 RandomAffine(20 deg, translate 0.2,
# scale 0.8-1), RandomErasing() (torchvision defaults, scale 0.02-0.33, mean-pixel fill).
# ferlab has no affine transform: rotation +-20 then a random crop with 44 px (~0.2 x 224)
# padding stands in for rotation + translation (no zoom).
# A config takes them by base-variable reference and sets them on its loaders
# (configs/dan/dan_r18_rafdb.py shows how).
dan_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='RandomRotate', degrees=20, prob=1.0),
            dict(type='RandomCrop', size=224, padding=44),
        ],
        prob=0.7,
    ),
    dict(type='RandomErasing', prob=0.5, scale=(0.02, 0.33), value=(104, 116, 124)),
    dict(type='PackFERInputs'),
]
dan_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackFERInputs'),
]
