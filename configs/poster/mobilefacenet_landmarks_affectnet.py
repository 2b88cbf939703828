# Landmark pre-training of POSTER++'s landmark stream on AffectNet's 68 annotated points per face
# (Manually_Annotated_file_lists/*.csv, `facial_landmarks`), at the public stream's 112 px.
# MobileFaceNet with its GDC output layer (Linear 512 -> 136, the public mobilefacenet_model_best
# layout) is the regressor; the head adds no parameters. Faces are cropped to the csv's face box
# (+10 % margin) and resized to 112; RandomFlip and Resize move the landmarks (RandomFlip reorders
# the iBUG points). Wing loss (Feng et al. 2018, w=10, eps=2, in input pixels); NME by inter-ocular
# distance (outer eye corners 36/45) on the validation set. Not run here (no AffectNet on this machine).
#   python tools/train.py configs/poster/mobilefacenet_landmarks_affectnet.py --cfg-options data_root=/path/to/AffectNet
# POSTER++ reads the checkpoint as landmark weights:
#   --cfg-options model.backbone.landmark.pretrained=work_dirs/mobilefacenet_landmarks_affectnet/epoch_30.pth
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/AffectNet'
img_size = 112
model = dict(
    type='LandmarkRegressor',
    backbone=dict(
        type='MobileFaceNet', out_indices=('output_layer',), with_output_layer=True, embedding_size=136
    ),
    head=dict(
        type='LandmarkRegHead',
        in_channels=None,
        num_points=68,
        loss=dict(type='WingLoss', omega=10.0, epsilon=2.0),
    ),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='FaceBoxCrop', margin=0.1),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='FaceBoxCrop', margin=0.1),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]
# every annotated face has landmarks: keep the 8 expression classes (codes 8-10 are still dropped)
_data = dict(type='AffectNet', data_root=data_root, layout='csv', num_classes=8, with_landmarks=True)
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(split='train', pipeline=train_pipeline, **_data),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(split='val', pipeline=test_pipeline, **_data),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='NME')
test_evaluator = val_evaluator

max_epochs = 30
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
        eta_min=1e-6,
    ),  # fmt: skip
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2, save_best='nme', rule='less'))
