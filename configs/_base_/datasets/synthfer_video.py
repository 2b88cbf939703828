# SynthFERVideo: clips with onset-apex-offset AU trajectories, Aff-Wild2 7-class order, frames mode.
dataset_type = 'SynthFERVideo'
img_size = 112
num_classes = 7

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackFERInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        split='train',
        num_clips=40,
        clip_len=64,
        mode='frames',
        label_set='affwild2_7',
        img_size=img_size,
        seed=0,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        split='val',
        num_clips=8,
        clip_len=64,
        mode='frames',
        label_set='affwild2_7',
        img_size=img_size,
        seed=0,
        pipeline=test_pipeline,
    ),
)
test_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        split='test',
        num_clips=8,
        clip_len=64,
        mode='frames',
        label_set='affwild2_7',
        img_size=img_size,
        seed=0,
        pipeline=test_pipeline,
    ),
)
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
