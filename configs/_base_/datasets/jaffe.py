# JAFFE: 213 TIFFs of 10 subjects (see docs/datasets.md#jaffe). The one place the dataset path
# lives: override with  --cfg-options data_root=/path/to/jaffedbase
# No official protocol: subject-independent folds (default 10 = leave one subject out); choose
# the held-out fold of all three loaders (test_dataloader is a copy of val_dataloader):
#   --cfg-options train_dataloader.dataset.fold=3 val_dataloader.dataset.fold=3 test_dataloader.dataset.fold=3
# Labels in the RAF-DB order.
# ARBEx recipe (Sec. 4.3): resize 256 + random crop 224 + horizontal flip; test: resize 224.
dataset_type = 'JAFFE'
data_root = 'data/JAFFE'
num_classes = 7
fold = 0
num_folds = 10

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
# ARBEx data refinement (Sec. 4.2.2) over subjects; a config takes it by base-variable reference:
#   train_dataloader = dict(sampler={{_base_.refinement_sampler}})
refinement_sampler = dict(
    type='DataRefinementSampler', group_key='subject', num_per_group=512, num_per_class=500
)

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='train', fold=fold, num_folds=num_folds,
        pipeline=train_pipeline,
    ),
)  # fmt: skip
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, split='test', fold=fold, num_folds=num_folds,
        pipeline=test_pipeline,
    ),
)  # fmt: skip
test_dataloader = val_dataloader
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
