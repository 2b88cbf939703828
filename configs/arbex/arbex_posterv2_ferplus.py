# ARBEx on FERPlus (8 classes, majority labels; the FER2013 PrivateTest split is the reported one):
# POSTER++ trunk (pretrained IR-50 / MobileFaceNet files read in init_weights), reliability-balancing
# head, the paper's recipe (configs/arbex/_base_/arbex_paper.py). FERPlus has no video or identity
# annotation: data refinement is its class-balancing step only (group_key=None). docs/arbex.md.
#   python tools/train.py configs/arbex/arbex_posterv2_ferplus.py
_base_ = [
    '../_base_/models/arbex_posterv2_ir50.py',
    '../_base_/datasets/ferplus.py',
    './_base_/arbex_paper.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        image=dict(pretrained='checkpoints/ir50.pth'),
        landmark=dict(pretrained='checkpoints/mobilefacenet_model_best.pth.tar'),
    ),
    head=dict(num_classes=8),
)
train_dataloader = dict(
    batch_size={{_base_.arbex_batch_size}},
    sampler=dict(
        _delete_=True, type='DataRefinementSampler', group_key=None, num_per_group=512, num_per_class=500
    ),
    dataset=dict(pipeline={{_base_.arbex_train_pipeline}}),
)
val_dataloader = dict(dataset=dict(pipeline={{_base_.arbex_test_pipeline}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.arbex_test_pipeline}}))
