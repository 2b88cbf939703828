# MVT stage 1 (mask generation network) on AffectNet-8, paper settings (m = 0.15):
#   python tools/train.py configs/mvt/mgn_deit-s_affectnet8.py
_base_ = [
    '../_base_/datasets/affectnet8.py',
    '../_base_/datasets/mvt-aug_224.py',
    '../_base_/default_runtime.py',
    './_base_/mgn_deit-s.py',
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

model = dict(mask_ratio=0.15, discriminator=dict(head=dict(num_classes=8)))
optim_wrapper = dict(
    generator=dict(optimizer=dict(lr=1e-5)),
    discriminator=dict(optimizer=dict(lr=1e-5)),
)
