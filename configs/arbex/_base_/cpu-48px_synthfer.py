# ARBEx CPU EVIDENCE SCALE (not the paper's setting), shared by arbex_r18-48px-cpu_synthfer.py and its
# linear-head sibling r18-48px-cpu_synthfer_linear.py: SynthFER `lab` preset at 48 px, 20 % symmetric
# label noise on the training labels (clean test labels), ResNet-18 cut after 3 stages (256-d
# embedding) trained from scratch on one CPU thread. Only the head differs between the two configs.
_base_ = ['../../_base_/datasets/synthfer.py', '../../_base_/default_runtime.py']

img_size = 48
num_classes = 7
embed_dim = 256  # ResNet-18 stage 3
trunk = dict(type='ResNet', depth=18, num_stages=3, out_indices=(2,), pretrained=None)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFERInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]
# Frontal faces, plain background, strong expressions; the same rendered data for every run.
_data = dict(img_size=img_size, domain='lab', seed=0)
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        num_samples=1200, pipeline=train_pipeline, label_noise=dict(type='symmetric', rate=0.2), **_data
    ),
)
val_dataloader = dict(batch_size=100, dataset=dict(num_samples=200, pipeline=test_pipeline, **_data))
# 2000 identity-disjoint test images: one image = 0.05 accuracy points.
test_dataloader = dict(batch_size=100, dataset=dict(num_samples=2000, pipeline=test_pipeline, **_data))

# From scratch at this scale: Adam 1e-3 (the paper's 3e-4 is for a pretrained trunk), the paper's
# ExponentialLR per epoch; one validation at the end.
max_epochs = 6
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = dict(type='ExponentialLR', gamma=0.9, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_epochs, save_best=None, max_keep_ckpts=1)
)
env_cfg = dict(mp_cfg=dict(opencv_num_threads=1))
randomness = dict(seed=0, deterministic=True)
