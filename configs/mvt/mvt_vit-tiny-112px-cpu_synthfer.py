# MVT stage 2, SMALL CPU VARIANT for SynthFER (not the paper's model): 112 px, tiny ViTs, from scratch.
# Data and architectures are shared with stage 1: configs/mvt/_base_/cpu-112px_synthfer.py.
#   python tools/train.py configs/mvt/mgn_vit-tiny-112px-cpu_synthfer.py
#   python tools/train.py configs/mvt/mvt_vit-tiny-112px-cpu_synthfer.py
_base_ = ['./_base_/cpu-112px_synthfer.py', '../_base_/default_runtime.py', './_base_/mvt_deit-s.py']

model = dict(
    mgn=_base_.mgn_generator,  # the stage-1 generator's architecture; its weights come from:
    mgn_checkpoint=f'work_dirs/mgn_vit-tiny-112px-cpu_synthfer/epoch_{_base_.stage1_epochs}.pth',
    backbone=dict(depth=4, pretrained=None, drop_path_rate=0.0, **_base_.vit),
    head=dict(num_classes=_base_.num_classes, in_channels=_base_.vit.embed_dim),
)
optim_wrapper = dict(optimizer=dict(lr=3e-4))
train_cfg = dict(max_epochs=15)

# Dynamic relabeling (Eq. 6), delta = 0.2, from epoch 5 (short CPU schedule) (SCN's schedule).
custom_hooks = [
    dict(type='LabelStateHook'),
    dict(type='RelabelHook', start_epoch=5, delta=0.2, threshold='sigmoid'),
]
