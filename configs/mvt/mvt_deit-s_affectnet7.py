# MVT stage 2 on AffectNet-7, paper settings. Stage 1 first:
#   python tools/train.py configs/mvt/mgn_deit-s_affectnet7.py
#   python tools/train.py configs/mvt/mvt_deit-s_affectnet7.py
_base_ = [
    '../_base_/datasets/affectnet7.py',
    '../_base_/datasets/mvt-aug_224.py',
    '../_base_/default_runtime.py',
    './_base_/mvt_deit-s.py',
]

# Sec. 4.2 (configs/_base_/datasets/mvt-aug_224.py): 224 input, random erasing, horizontal flip,
# colour jitter, batch 32.
img_size = 224
train_pipeline = {{_base_.mvt_train_pipeline}}
test_pipeline = {{_base_.mvt_test_pipeline}}
# Relabeling writes labels into the main process's dataset: dataloader workers must not persist.
train_dataloader = dict(batch_size=32, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
# Class-balanced sampling (the base dataset config's ClassBalancedSampler), as the paper's oversampling.

# The stage-1 checkpoint (override with --cfg-options model.mgn_checkpoint=PATH).
model = dict(mgn_checkpoint='work_dirs/mgn_deit-s_affectnet7/epoch_10.pth', head=dict(num_classes=7))
optim_wrapper = dict(optimizer=dict(lr=1e-5))  # paper: 9e-5 RAF-DB/FERPlus, 1e-5 AffectNet

# The paper does not relabel AffectNet (Sec. 4.3): only the label-state hook of the runtime.
custom_hooks = [dict(type='LabelStateHook')]
