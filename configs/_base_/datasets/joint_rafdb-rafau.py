# AU-ViT's joint data on RAF-DB (Mao et al., Sec. IV-A): RAF-DB basic (target, expression labels)
# + RAF-AU (auxiliary, the 21 AUs of AU-ViT's AU branch), mixed 4:1 per batch: 64 RAF-DB + 16
# RAF-AU images. Aligned 112x112 faces; augmentation: horizontal flip, random grayscale,
# Gaussian blur (the paper's list; its probabilities are not given: 0.1 and 0.2 here).
# Paths: put the data under data/RAF-DB and data/RAF-AU, or give every loader its root (the
# *_root variables below are read when this file is parsed; setting them with --cfg-options
# changes nothing): --cfg-options train_dataloader.dataset.sources.0.dataset.data_root=TARGET
#   train_dataloader.dataset.sources.1.dataset.data_root=RAFAU val_dataloader.dataset.data_root=TARGET
#   test_dataloader.dataset.data_root=TARGET  (docs/datasets.md#raf-db, #raf-au)
rafdb_root = 'data/RAF-DB'
rafau_root = 'data/RAF-AU'
img_size = 112
num_classes = 7
au_names = 'rafau'
ratios = (4, 1)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomGrayscale', prob=0.1),
    dict(type='GaussianBlur', kernel_size=3, sigma=(0.1, 2.0), prob=0.2),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]

train_dataloader = dict(
    batch_size=80,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='RatioBatchSampler', ratios=ratios),
    dataset=dict(
        type='MultiSourceDataset',
        au_names=au_names,
        sources=[
            dict(dataset=dict(type='RAFDB', data_root=rafdb_root, split='train', pipeline=train_pipeline),
                 labels=('expression',)),
            dict(dataset=dict(type='RAFAU', data_root=rafau_root, pipeline=train_pipeline), labels=('au',)),
        ],
    ),
)  # fmt: skip
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='RAFDB', data_root=rafdb_root, split='test', pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
