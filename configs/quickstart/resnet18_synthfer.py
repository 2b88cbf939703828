# Quick start: ResNet-18 (from scratch) on SynthFER at 112x112, RAF-DB class order, on a 2-core CPU.
#   python tools/train.py configs/quickstart/resnet18_synthfer.py
#   python tools/test.py configs/quickstart/resnet18_synthfer.py latest
# The data is rendered in memory on first use (a few seconds); nothing is downloaded.
# Budget: 800 iterations of 32 images (6,400 images x 4 epochs), one validation at the end; about
# 10 minutes of wall time on 2 idle cores (measured figures: docs/synthfer.md).
_base_ = [
    '../_base_/models/resnet18.py',
    '../_base_/datasets/synthfer.py',
    '../_base_/default_runtime.py',
]
max_epochs = 4
model = dict(backbone=dict(pretrained=None), head=dict(num_classes=7))
train_dataloader = dict(batch_size=32, dataset=dict(num_samples=6400))
val_dataloader = dict(batch_size=100, dataset=dict(num_samples=300))
test_dataloader = dict(batch_size=100, dataset=dict(num_samples=700))

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
        eta_min=1e-5,
    ),
]
# validate once, after the last epoch (each validation costs time the budget has not got)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=25), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None)
)
env_cfg = dict(mp_cfg=dict(opencv_num_threads=1))
randomness = dict(seed=0, deterministic=False)
