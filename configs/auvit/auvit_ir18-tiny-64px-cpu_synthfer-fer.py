# AU-ViT, CPU EVIDENCE VARIANT on SynthFER (Table I analogue): the model and schedule of
# auvit_ir18-tiny-64px-cpu_synthfer.py trained jointly with a second FER set through its
# expression labels: 2000 'default'-domain images (target, RAF-DB classes) + 500 'alt_convention'
# images labelled in FERPlus's class order, mapped by name (Contempt dropped, counted), 4:1 per
# batch (32 + 8). alt_convention draws fear, disgust and sadness with other AUs, so the two label
# sets disagree on those classes (dataset_bias.py measures it).
#   python tools/train.py configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer-fer.py
_base_ = ['./auvit_ir18-tiny-64px-cpu_synthfer.py']

img_size = 64
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFERInputs'),
]
_src = dict(type='SynthFER', split='train', label_set='rafdb', img_size=img_size, pipeline=train_pipeline)
train_dataloader = dict(
    _delete_=True,
    batch_size=40,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='RatioBatchSampler', ratios=(4, 1)),
    dataset=dict(
        type='MultiSourceDataset',
        sources=[
            dict(dataset=dict(num_samples=2000, domain='default', seed=0, **_src), labels=('expression',)),
            dict(
                dataset=dict(
                    num_samples=500, domain='alt_convention', seed=1, **dict(_src, label_set='ferplus')
                ),
                labels=('expression',),
            ),
        ],
    ),
)
