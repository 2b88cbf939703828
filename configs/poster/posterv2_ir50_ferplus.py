# POSTER++ on FERPlus (8 classes, majority labels). The public code has no FERPlus recipe; this
# uses its RAF-DB settings (batch 144, SAM + Adam lr 3.5e-5, ExponentialLR(0.98), 200 epochs,
# CE, HFlip + RandomErasing(0.02-0.1)) on 224 inputs (112 inside the model).
_base_ = [
    '../_base_/models/posterv2_ir50.py',
    '../_base_/datasets/ferplus.py',
    '../_base_/datasets/poster-aug_224.py',
    '../_base_/schedules/poster_sam-adam_200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        image=dict(pretrained='checkpoints/ir50.pth'),
        landmark=dict(pretrained='checkpoints/mobilefacenet_model_best.pth.tar'),
    ),
    head=dict(num_classes=8),
)
train_pipeline = {{_base_.poster_rafdb_train_pipeline}}
test_pipeline = {{_base_.poster_test_pipeline}}
train_dataloader = dict(batch_size=144, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=144, num_workers=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=144, num_workers=4, dataset=dict(pipeline=test_pipeline))
