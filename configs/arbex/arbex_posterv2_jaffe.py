# ARBEx on JAFFE (213 images of 10 subjects, 7 classes; no official protocol: the
# subject-independent folds of configs/_base_/datasets/jaffe.py, fold 0 held out by default):
# POSTER++ trunk (pretrained IR-50 / MobileFaceNet files read in init_weights), reliability-balancing
# head, the paper's recipe (configs/arbex/_base_/arbex_paper.py); data refinement over the subjects
# (group_key='subject'). docs/arbex.md.
#   python tools/train.py configs/arbex/arbex_posterv2_jaffe.py
_base_ = [
    '../_base_/models/arbex_posterv2_ir50.py',
    '../_base_/datasets/jaffe.py',
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
        _delete_=True, type='DataRefinementSampler', group_key='subject', num_per_group=512, num_per_class=500
    ),
    dataset=dict(pipeline={{_base_.arbex_train_pipeline}}),
)
val_dataloader = dict(dataset=dict(pipeline={{_base_.arbex_test_pipeline}}))
test_dataloader = val_dataloader
