# ARBEx training recipe (Wasi et al., 2023, Sec. 4.2-4.3), shared by the configs/arbex/arbex_posterv2_*
# dataset configs: images resized (bilinear) to 256 x 256 and randomly cropped to 224 with a
# horizontal flip (test: resized to 224); data refinement every epoch (DataRefinementSampler: up to
# N = 512 images per group, then M = 500 per class, Sec. 4.2.2); Adam lr 3e-4 with exponential decay
# gamma 0.995 (per epoch); 1000 epochs. The batch size is not in the paper: 256 is the public code's
# default (takihasan/ARBEx train.py). Each dataset config sets the sampler with its group key
# (None = no per-group cap).
arbex_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='RandomCrop', size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFERInputs'),
]
arbex_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackFERInputs'),
]
arbex_batch_size = 256

max_epochs = 1000
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=3e-4, weight_decay=0))
param_scheduler = dict(type='ExponentialLR', gamma=0.995, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
