# ARBEx on Aff-Wild2 (ABAW EXPR, 8 classes; the paper's main dataset, Tables 1-5): the POSTER++ trunk
# (MS-Celeb IR-50 and the 68-landmark MobileFaceNet, local files read in init_weights), the
# reliability-balancing head and the paper's recipe (configs/arbex/_base_/arbex_paper.py); data
# refinement over videos (group_key='video_id'). Reported on the official validation set. docs/arbex.md.
#   python tools/train.py configs/arbex/arbex_posterv2_affwild2.py
_base_ = [
    '../_base_/models/arbex_posterv2_ir50.py',
    '../cfcsp/_base_/affwild2.py',
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
        _delete_=True,
        type='DataRefinementSampler',
        group_key='video_id',
        num_per_group=512,
        num_per_class=500,
    ),
    dataset=dict(pipeline={{_base_.arbex_train_pipeline}}),
)
val_dataloader = dict(dataset=dict(pipeline={{_base_.arbex_test_pipeline}}))
test_dataloader = val_dataloader
