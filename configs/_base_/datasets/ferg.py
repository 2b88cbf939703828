# FERG-DB: 55,767 PNGs of 6 characters under FERG_DB_256 (see docs/datasets.md#ferg-db). The one
# place the dataset path lives: override with  --cfg-options data_root=/path/to/FERG_DB_256
# No published split: a seeded stratified split, test_ratio of every (character, expression) cell
# is the test split. Labels in the RAF-DB order ('joy' = Happiness).
# ARBEx recipe (Sec. 4.3): resize 256 + random crop 224 + horizontal flip; test: resize 224.
dataset_type = 'FERG'
data_root = 'data/FERG_DB_256'
num_classes = 7
test_ratio = 0.1
split_seed = 0

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='RandomCrop', size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackFERInputs'),
]
# ARBEx data refinement (Sec. 4.2.2) over the six characters; a config takes it by reference:
#   train_dataloader = dict(sampler={{_base_.refinement_sampler}})
refinement_sampler = dict(
    type='DataRefinementSampler', group_key='subject', num_per_group=512, num_per_class=500
)

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='train', test_ratio=test_ratio, seed=split_seed,
        pipeline=train_pipeline,
    ),
)  # fmt: skip
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='test', test_ratio=test_ratio, seed=split_seed,
        pipeline=test_pipeline,
    ),
)  # fmt: skip
test_dataloader = val_dataloader
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
