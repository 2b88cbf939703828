# SynthFER: procedurally rendered faces, generated in memory on first use (no files, no downloads).
# See docs/synthfer.md. Sizes/label set/domain are dataset arguments; override e.g. with
#   --cfg-options train_dataloader.dataset.num_samples=2000
dataset_type = 'SynthFER'
img_size = 112
num_classes = 7
label_set = 'rafdb'
domain = 'default'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackFERInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        split='train',
        num_samples=4000,
        label_set=label_set,
        domain=domain,
        img_size=img_size,
        seed=0,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        split='val',
        num_samples=700,
        label_set=label_set,
        domain=domain,
        img_size=img_size,
        seed=0,
        pipeline=test_pipeline,
    ),
)
test_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        split='test',
        num_samples=700,
        label_set=label_set,
        domain=domain,
        img_size=img_size,
        seed=0,
        pipeline=test_pipeline,
    ),
)
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
