# Aff-Wild2 (ABAW EXPR) frames for the CFC-SP nets: train on Train_Set, validate on Validation_Set
# (the paper reports the official validation set). Oversampling (Sec. 4.1, after LVIS) with
# ferlab's ClassBalancedSampler: every class drawn equally often in expectation.
# A net of one CFC-SP stage sets dataset label_map='affwild2_coarse' / 'affwild2_negative'
# (ferlab.datasets.categories) on both loaders; the cascade evaluates on the 8 classes.
dataset_type = 'AffWild2'
data_root = 'data/affwild2'
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='ClassBalancedSampler'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train'),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val'),
)
test_dataloader = val_dataloader
# one stage's net: frame-level macro-F1 of its own classes (paper Table 3)
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
