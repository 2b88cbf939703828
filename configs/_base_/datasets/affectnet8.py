# AffectNet-8 (codes 0..7; 8/9/10 always dropped). The one place the dataset path lives:
# override with  --cfg-options data_root=/path/to/AffectNet   (see docs/datasets.md#affectnet)
# The (balanced) validation set is the test set; training uses a class-balanced sampler and
# the metrics to compare are accuracy and mean class accuracy.
dataset_type = 'AffectNet'
data_root = 'data/AffectNet'
layout = 'csv'  # or 'npy' (train_set|val_set/images + annotations/<id>_exp.npy)
img_size = 224
num_classes = 8

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='ClassBalancedSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        num_classes=num_classes,
        layout=layout,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        num_classes=num_classes,
        layout=layout,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
