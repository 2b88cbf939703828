# MVT stage 1, CPU EVIDENCE VARIANT for SynthFER (a scale-down, not the paper's model): 48 px, a 1-block
# ViT-tiny generator (patch 8 -> 6x6 patches) trained against a discriminator with the stage-2 classifier's
# architecture (ResNet-18 cut after stage 3, as in the paper where D is the expression classifier), from
# scratch. A from-scratch ViT-tiny D stays at chance here, and the generator then learns a uniform
# (non-selective) mask M_p = m everywhere; see docs/mvt.md#results.
# Data, generator and classifier are shared with stage 2: configs/mvt/_base_/cpu-48px_synthfer.py.
#   python tools/train.py configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py
# Used by tools/analysis_tools/mvt_sweeps.py (docs/mvt.md#results).
_base_ = ['./_base_/cpu-48px_synthfer.py', '../_base_/default_runtime.py', './_base_/mgn_deit-s.py']

model = dict(
    mask_ratio=0.15,
    var_loss=dict(type='ProbVarianceLoss', ddof=1, loss_weight=10.0),  # see the optimiser comment below
    # D's start; tools/analysis_tools/mvt_sweeps.py sets the same seed's baseline classifier checkpoint
    discriminator_checkpoint=None,
    generator=dict(_base_.mgn_generator, pretrained=None),
    discriminator=dict(
        backbone=dict(_delete_=True, **_base_.classifier_backbone),
        neck=_base_.classifier_neck,
        head=dict(num_classes=_base_.num_classes, in_channels=_base_.classifier_channels),
    ),
)
# Deviation from the paper's unit loss weights: with L_G = var + |mean(M_p) - m| the area term wins
# at this scale and G learns a uniform mask M_p = m on every patch (per-image patch std 0.001 after
# 2 epochs); weighting the Eq. 3 variance term by 10 and a higher G lr give a selective mask.
optim_wrapper = dict(
    generator=dict(optimizer=dict(lr=3e-3)),
    discriminator=dict(optimizer=dict(lr=1e-3)),
)
param_scheduler = [dict(type='ExponentialLR', gamma=0.9, by_epoch=True)]
train_cfg = dict(max_epochs=_base_.stage1_epochs, val_interval=_base_.stage1_epochs)
default_hooks = dict(checkpoint=dict(save_best=None, max_keep_ckpts=1))
