# AU-ViT, CPU EVIDENCE VARIANT on SynthFER (Table II analogue): the model and schedule of
# auvit_ir18-tiny-64px-cpu_synthfer.py trained jointly with an AU-labelled auxiliary set through
# the AU branch: 2000 'default'-domain images with expression labels (target) + 500
# 'alt_convention'-domain images with AU labels only (their rendered AUs, >= 0.3 -> present; the
# 5 RAF-AU AUs SynthFER does not draw are masked), 4:1 per batch (32 + 8, one pass over the target
# per epoch); loss = CE on the target + BCE on the known AUs (Eq. 3, alpha = beta = 1).
#   python tools/train.py configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer-au.py
_base_ = ['./auvit_ir18-tiny-64px-cpu_synthfer.py']

img_size = 64
synthfer_aus = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26)  # SynthFER au_label order
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
        au_names='rafau',
        sources=[
            dict(dataset=dict(num_samples=2000, domain='default', seed=0, **_src), labels=('expression',)),
            dict(
                dataset=dict(num_samples=500, domain='alt_convention', seed=1, **_src),
                labels=('au',),
                au_names=synthfer_aus,
                au_threshold=0.3,
            ),
        ],
    ),
)
