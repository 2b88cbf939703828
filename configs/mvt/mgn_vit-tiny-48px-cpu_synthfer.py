# MVT stage 1, CPU EVIDENCE VARIANT for SynthFER (a scale-down, not the paper's model): 48 px, a 1-block
# ViT-tiny generator (patch 8 -> 6x6 patches) trained against a discriminator with the stage-2 classifier's
# architecture (ResNet-18 cut after stage 3, as in the paper where D is the expression classifier), from
# scratch. A from-scratch ViT-tiny D stays at chance here, and the generator then learns a uniform
# (non-selective) mask M_p = m everywhere; see docs/mvt.md#results.
# SynthFER 'lab' faces with background clutter (p=0.9) and occluders (p=0.4), 20 % symmetric label noise.
#   python tools/train.py configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py
# Used by tools/analysis_tools/mvt_sweeps.py (docs/mvt.md#results).
_base_ = ['../_base_/datasets/synthfer.py', '../_base_/default_runtime.py', './_base_/mgn_deit-s.py']

img_size = 48
sweep_domain = dict(
    _delete_=True, preset='lab', nuisance=dict(clutter_prob=0.9, occlusion=dict(prob=0.4), gray_prob=0.0)
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='RandomErasing', prob=0.25, scale=(0.02, 0.25)),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]
_data = dict(img_size=img_size, domain=sweep_domain)
train_dataloader = dict(
    batch_size=32,
    persistent_workers=False,
    dataset=dict(
        num_samples=1200, label_noise=dict(type='symmetric', rate=0.2), pipeline=train_pipeline, **_data
    ),
)
val_dataloader = dict(batch_size=64, dataset=dict(num_samples=500, pipeline=test_pipeline, **_data))
test_dataloader = dict(batch_size=64, dataset=dict(num_samples=500, pipeline=test_pipeline, **_data))

model = dict(
    mask_ratio=0.15,
    var_loss=dict(type='ProbVarianceLoss', ddof=1, loss_weight=10.0),  # see the optimiser comment below
    # D's start; tools/analysis_tools/mvt_sweeps.py sets the same seed's baseline classifier checkpoint
    discriminator_checkpoint=None,
    generator=dict(img_size=img_size, patch_size=8, embed_dim=64, num_heads=2, num_blocks=1, pretrained=None),
    discriminator=dict(
        backbone=dict(
            _delete_=True, type='ResNet', depth=18, num_stages=3, out_indices=(2,), pretrained=None
        ),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(num_classes={{_base_.num_classes}}, in_channels=256),
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
train_cfg = dict(max_epochs=2, val_interval=2)
default_hooks = dict(checkpoint=dict(save_best=None, max_keep_ckpts=1))
