# FERPlus (FER2013 images, 10-rater FERPlus votes). The one place the dataset path lives: override
# with  --cfg-options data_root=/path/to/FERPlus   (see docs/datasets.md#ferplus)
# data_root holds fer2013.csv + fer2013new.csv (layout='csv') or the generated
# FER2013Train|FER2013Valid|FER2013Test folders (layout='folders').
dataset_type = 'FERPlus'
data_root = 'data/FERPlus'
layout = 'csv'
label_mode = 'majority'  # or 'distribution' (soft targets from the vote counts)
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
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        layout=layout,
        label_mode=label_mode,
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
        layout=layout,
        label_mode='majority',
        pipeline=test_pipeline,
    ),
)
# The FERPlus test split (FER2013 PrivateTest) is the reported one.
test_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        layout=layout,
        label_mode='majority',
        pipeline=test_pipeline,
    ),
)
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
