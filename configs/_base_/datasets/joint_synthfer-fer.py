# Table I analogue at CPU scale on SynthFER (docs/auvit.md#joint-training): two FER sets trained
# jointly through their expression labels, mapped by class name.
#   source 0 (target): domain 'default', RAF-DB class order;
#   source 1 (auxiliary): domain 'alt_convention' in FERPlus's class order (8 classes; its
#   'Contempt' images have no RAF-DB counterpart and are dropped, counted in the log).
# alt_convention draws fear, disgust and sadness with other AUs: the labels of the two sets
# disagree on those classes, which is the dataset bias AU-ViT measures (Fig. 3).
# Batches mix the two 4:1 (32 + 8). Validation/test: the target domain alone.
dataset_type = 'SynthFER'
img_size = 112
num_classes = 7
label_set = 'rafdb'
target_domain = 'default'
aux_domain = 'alt_convention'
aux_label_set = 'ferplus'
ratios = (4, 1)

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
    batch_size=40,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='RatioBatchSampler', ratios=ratios),
    dataset=dict(
        type='MultiSourceDataset',
        sources=[
            dict(
                dataset=dict(type=dataset_type, split='train', num_samples=1600, label_set=label_set,
                             domain=target_domain, img_size=img_size, seed=0, pipeline=train_pipeline),
                labels=('expression',),
            ),
            dict(
                dataset=dict(type=dataset_type, split='train', num_samples=800, label_set=aux_label_set,
                             domain=aux_domain, img_size=img_size, seed=1, pipeline=train_pipeline),
                labels=('expression',),
            ),
        ],
    ),
)  # fmt: skip
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, split='val', num_samples=700, label_set=label_set, domain=target_domain,
                 img_size=img_size, seed=0, pipeline=test_pipeline),
)  # fmt: skip
test_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, split='test', num_samples=700, label_set=label_set, domain=target_domain,
                 img_size=img_size, seed=0, pipeline=test_pipeline),
)  # fmt: skip
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
