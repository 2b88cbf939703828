# POSTER++ on AffectNet-7 (Talented-Q/POSTER_V2 main.py --data_type AffectNet-7): batch 144,
# SAM + Adam lr 1e-6, ExponentialLR(0.98), 200 epochs, CE, class-balanced sampler (the public
# ImbalancedDatasetSampler draws with replacement, weight 1 / class count = ferlab's
# ClassBalancedSampler); HFlip + RandomErasing(p=1, 0.05); 224 input (112 inside the model).
_base_ = [
    '../_base_/models/posterv2_ir50.py',
    '../_base_/datasets/affectnet7.py',
    '../_base_/datasets/poster-aug_224.py',
    '../_base_/schedules/poster_sam-adam_200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        image=dict(pretrained='checkpoints/ir50.pth'),
        landmark=dict(pretrained='checkpoints/mobilefacenet_model_best.pth.tar'),
    ),
    head=dict(num_classes=7),
)
train_pipeline = {{_base_.poster_affectnet_train_pipeline}}
test_pipeline = {{_base_.poster_test_pipeline}}
train_dataloader = dict(
    batch_size=144,
    num_workers=8,
    sampler=dict(type='ClassBalancedSampler'),
    dataset=dict(pipeline=train_pipeline),
)
val_dataloader = dict(batch_size=144, num_workers=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-6))
