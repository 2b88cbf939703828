# POSTER++ on RAF-DB (Talented-Q/POSTER_V2 main.py): the public 7-class network exactly
# (tools/model_converters/poster_to_ferlab.py checkpoints load strictly), batch 144, SAM + Adam
# lr 3.5e-5, ExponentialLR(0.98), 200 epochs, CE; HFlip + RandomErasing(0.02-0.1); 224 input
# (resized to 112 inside the model). The public run starts from MS-Celeb IR-50 weights and the
# 68-landmark MobileFaceNet: local files, read in init_weights (docs/poster.md).
_base_ = [
    '../_base_/models/posterv2_ir50.py',
    '../_base_/datasets/rafdb.py',
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
train_pipeline = {{_base_.poster_rafdb_train_pipeline}}
test_pipeline = {{_base_.poster_test_pipeline}}
train_dataloader = dict(batch_size=144, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=144, num_workers=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
