# Joint FER + AU training at CPU scale on SynthFER (docs/auvit.md#joint-training):
#   source 0 (target): domain 'default', expression labels, RAF-DB class order;
#   source 1 (auxiliary): domain 'alt_convention' (another AU->expression convention, other
#   nuisances), AU labels only: its 16 rendered AU intensities, AUxx >= 0.3 -> present (the
#   rule of the OpenFace-format export of tools/dataset_converters/make_synthfer.py).
# Batches mix the two 4:1 (AU-ViT's ratio), exactly 32 + 8 per batch; an epoch is one pass
# over the target. AU targets come in the model's AU order au_names (RAF-AU's 21 AUs of
# AU-ViT); the 5 AUs SynthFER does not draw (AU16, 18, 22, 24, 27) are masked, never negative.
# Validation/test: the target domain alone.
dataset_type = 'SynthFER'
img_size = 112
num_classes = 7
label_set = 'rafdb'
target_domain = 'default'
aux_domain = 'alt_convention'
au_names = 'rafau'
synthfer_aus = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26)  # SynthFER au_label order
au_threshold = 0.3
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
        au_names=au_names,
        sources=[
            dict(
                dataset=dict(type=dataset_type, split='train', num_samples=1600, label_set=label_set,
                             domain=target_domain, img_size=img_size, seed=0, pipeline=train_pipeline),
                labels=('expression',),
            ),
            dict(
                dataset=dict(type=dataset_type, split='train', num_samples=800, label_set=label_set,
                             domain=aux_domain, img_size=img_size, seed=1, pipeline=train_pipeline),
                labels=('au',),
                au_names=synthfer_aus,
                au_threshold=au_threshold,
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
