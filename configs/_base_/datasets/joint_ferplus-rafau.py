# AU-ViT's joint data on FERPlus (Mao et al., Sec. IV-A): FERPlus majority labels (target, 8 classes)
# + RAF-AU (auxiliary, the 21 AUs of AU-ViT's AU branch), mixed 4:1 per batch: 128 FERPlus + 32
# RAF-AU images; 112x112 faces, augmentation as joint_rafdb-rafau.py.
# Paths: put the data under data/FERPlus and data/RAF-AU, or give every loader its root (the
# *_root variables below are read when this file is parsed; setting them with --cfg-options
# changes nothing): --cfg-options train_dataloader.dataset.sources.0.dataset.data_root=TARGET
#   train_dataloader.dataset.sources.1.dataset.data_root=RAFAU val_dataloader.dataset.data_root=TARGET
#   test_dataloader.dataset.data_root=TARGET  (docs/datasets.md#ferplus, #raf-au)
ferplus_root = 'data/FERPlus'
rafau_root = 'data/RAF-AU'
layout = 'csv'
img_size = 112
num_classes = 8
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
    batch_size=160,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='RatioBatchSampler', ratios=ratios),
    dataset=dict(
        type='MultiSourceDataset',
        au_names=au_names,
        sources=[
            dict(dataset=dict(type='FERPlus', data_root=ferplus_root, split='train', layout=layout, label_mode='majority',
                              pipeline=train_pipeline), labels=('expression',)),
            dict(dataset=dict(type='RAFAU', data_root=rafau_root, pipeline=train_pipeline), labels=('au',)),
        ],
    ),
)  # fmt: skip
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='FERPlus', data_root=ferplus_root, split='val', layout=layout, label_mode='majority',
                 pipeline=test_pipeline),
)  # fmt: skip
# The FERPlus test split (FER2013 PrivateTest) is the reported one.
test_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='FERPlus', data_root=ferplus_root, split='test', layout=layout, label_mode='majority',
                 pipeline=test_pipeline),
)  # fmt: skip
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator
