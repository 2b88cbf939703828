# DAN, CPU EVIDENCE VARIANT for SynthFER (a scale-down, not the paper's setting): the model, losses
# and public-code RAF-DB augmentation of the shipped DAN configs at 48 px on the SynthFER `lab`
# preset, with ResNet-18 cut after 3 stages (256 channels, 3 x 3 map) trained from scratch for
# 8 epochs. docs/dan.md's tables are tools/analysis_tools/dan_sweeps.py runs of this config.
#   python tools/train.py configs/dan/dan_r18-48px-cpu_synthfer.py
_base_ = [
    './_base_/dan_r18.py',
    '../_base_/datasets/synthfer.py',
    '../_base_/datasets/dan_rafdb-aug_48.py',
    '../_base_/default_runtime.py',
]

img_size = 48
feat_channels = 256  # ResNet-18 stage 3
model = dict(
    backbone=dict(num_stages=3, out_indices=(2,), init_cfg=None),
    neck=dict(in_channels=feat_channels),
    head=dict(num_classes=7, in_channels=feat_channels),
)

# RAF-DB augmentation scaled to 48 px (configs/_base_/datasets/dan_rafdb-aug_48.py).
train_pipeline = {{_base_.dan_train_pipeline}}
test_pipeline = {{_base_.dan_test_pipeline}}
# Frontal faces, plain background, strong expressions; the same rendered data for every run.
_data = dict(img_size=img_size, domain='lab', seed=0)
train_dataloader = dict(batch_size=32, dataset=dict(num_samples=1200, pipeline=train_pipeline, **_data))
val_dataloader = dict(batch_size=100, dataset=dict(num_samples=500, pipeline=test_pipeline, **_data))
# 2000 identity-disjoint test images: one image = 0.05 accuracy points.
test_dataloader = dict(batch_size=100, dataset=dict(num_samples=2000, pipeline=test_pipeline, **_data))

# From scratch (no MS-Celeb trunk): AdamW as the SynthFER DAN config; x0.1 after 5 of 8 epochs
# (the RAF-DB step schedule compressed).
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[5], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=8, val_interval=8)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
