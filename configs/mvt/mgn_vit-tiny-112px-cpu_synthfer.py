# MVT stage 1, SMALL CPU VARIANT for SynthFER (not the paper's model): 112 px, tiny ViTs, from scratch.
# Data and architectures are shared with stage 2: configs/mvt/_base_/cpu-112px_synthfer.py.
#   python tools/train.py configs/mvt/mgn_vit-tiny-112px-cpu_synthfer.py
_base_ = ['./_base_/cpu-112px_synthfer.py', '../_base_/default_runtime.py', './_base_/mgn_deit-s.py']

model = dict(
    mask_ratio=0.15,
    generator=dict(_base_.mgn_generator, pretrained=None),
    discriminator=dict(
        backbone=dict(depth=4, pretrained=None, **_base_.vit),
        head=dict(num_classes=_base_.num_classes, in_channels=_base_.vit.embed_dim),
    ),
)
optim_wrapper = dict(
    generator=dict(optimizer=dict(lr=3e-4)),
    discriminator=dict(optimizer=dict(lr=3e-4)),
)
train_cfg = dict(max_epochs=_base_.stage1_epochs)
