# ARBEx on RAF-DB basic (7 classes): POSTER++ trunk (pretrained IR-50 / MobileFaceNet files read in
# init_weights), reliability-balancing head, the paper's recipe (configs/arbex/_base_/arbex_paper.py).
# RAF-DB has no video or identity annotation: data refinement is its class-balancing step only
# (group_key=None, M = 500 per class). docs/arbex.md.
#   python tools/train.py configs/arbex/arbex_posterv2_rafdb.py
_base_ = [
    '../_base_/models/arbex_posterv2_ir50.py',
    '../_base_/datasets/rafdb.py',
    './_base_/arbex_paper.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        image=dict(pretrained='checkpoints/ir50.pth'),
        landmark=dict(pretrained='checkpoints/mobilefacenet_model_best.pth.tar'),
    ),
    head=dict(num_classes=7),
)
train_dataloader = dict(
    batch_size={{_base_.arbex_batch_size}},
    sampler=dict(
        _delete_=True, type='DataRefinementSampler', group_key=None, num_per_group=512, num_per_class=500
    ),
    dataset=dict(pipeline={{_base_.arbex_train_pipeline}}),
)
val_dataloader = dict(dataset=dict(pipeline={{_base_.arbex_test_pipeline}}))
test_dataloader = val_dataloader
