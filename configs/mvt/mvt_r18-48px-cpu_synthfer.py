# MVT stage 2, CPU EVIDENCE VARIANT for SynthFER (a scale-down, not the paper's model):
# the frozen stage-1 ViT-tiny MGN masks 48 px images; the CLASSIFIER IS A SMALL RESNET (ResNet-18 with
# its first 3 stages, 256-d, from scratch) instead of DeiT-S - MVT's masking does not depend on the
# classifier, and a from-scratch tiny ViT stays at chance on CPU budgets. docs/mvt.md#results.
# Data, generator and classifier are shared with stage 1: configs/mvt/_base_/cpu-48px_synthfer.py.
#   python tools/train.py configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py
#   python tools/train.py configs/mvt/mvt_r18-48px-cpu_synthfer.py
_base_ = ['./_base_/cpu-48px_synthfer.py', '../_base_/default_runtime.py', './_base_/mvt_deit-s.py']

model = dict(
    mgn=_base_.mgn_generator,  # the stage-1 generator's architecture; its weights come from:
    mgn_checkpoint=f'work_dirs/mgn_vit-tiny-48px-cpu_synthfer/epoch_{_base_.stage1_epochs}.pth',
    backbone=dict(_delete_=True, **_base_.classifier_backbone),
    neck=_base_.classifier_neck,
    head=dict(num_classes=_base_.num_classes, in_channels=_base_.classifier_channels),
)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='ExponentialLR', gamma=0.9, by_epoch=True)]
train_cfg = dict(max_epochs=8, val_interval=8)
default_hooks = dict(checkpoint=dict(save_best=None, max_keep_ckpts=1))

# Dynamic relabeling (Eq. 6), delta = 0.2, from epoch 4 (0-based; short CPU schedule).
custom_hooks = [
    dict(type='LabelStateHook'),
    dict(type='RelabelHook', start_epoch=4, delta=0.2, threshold='sigmoid'),
]
