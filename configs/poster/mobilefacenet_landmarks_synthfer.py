# Landmark pre-training of POSTER++'s landmark stream on SynthFER, CPU scale (not the public
# recipe: the public MobileFaceNet was trained on real 300-W-style faces at 112 px).
# MobileFaceNet regresses the 68 iBUG 300-W points of SynthFER's renderer (`landmarks` of every
# sample) at 56 px, the size posterv2_ir18-56px-cpu_synthfer.py runs its landmark stream at, on
# 'lab'-domain faces (that config's domain). At 56 px the conv_6_sep map is 4x4, too small for the
# GDC output layer (7x7): the head is global average pooling + Linear(512 -> 136). Wing loss
# (Feng et al. 2018, w=10, eps=2, in input pixels); NME by inter-ocular distance (points 36/45).
#   python tools/train.py configs/poster/mobilefacenet_landmarks_synthfer.py
#   python tools/test.py configs/poster/mobilefacenet_landmarks_synthfer.py latest
# The checkpoint is the POSTER++ landmark weights (MobileFaceNet reads the backbone.* keys):
#   --cfg-options model.backbone.landmark.pretrained=work_dirs/mobilefacenet_landmarks_synthfer/epoch_3.pth
_base_ = ['../_base_/default_runtime.py']

img_size = 56
model = dict(
    type='LandmarkRegressor',
    backbone=dict(type='MobileFaceNet', out_indices=('conv_6_sep',), with_output_layer=False),
    head=dict(
        type='LandmarkRegHead',
        in_channels=512,
        num_points=68,
        loss=dict(type='WingLoss', omega=10.0, epsilon=2.0),
    ),
)

_data = dict(type='SynthFER', label_set='rafdb', domain='lab', img_size=img_size, seed=0)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),  # landmark-aware: reorders the iBUG points
    dict(type='PackFERInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(split='train', num_samples=1600, pipeline=train_pipeline, **_data),
)
val_dataloader = dict(
    batch_size=200,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(split='val', num_samples=500, pipeline=test_pipeline, **_data),
)
# 2000 identity-disjoint test faces
test_dataloader = dict(
    batch_size=200,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(split='test', num_samples=2000, pipeline=test_pipeline, **_data),
)
val_evaluator = dict(type='NME')
test_evaluator = val_evaluator

max_epochs = 3
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
        eta_min=1e-5,
    ),  # fmt: skip
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None)
)
env_cfg = dict(mp_cfg=dict(opencv_num_threads=1))
randomness = dict(seed=0, deterministic=True)
