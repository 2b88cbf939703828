# CFC-SP coarse net (5 classes) with HRNet-W18 on Aff-Wild2 at 112 px (Xue et al. 2022, Sec. 3.2 / 4.1):
# cross-entropy, class-balanced oversampling, the Sec. 4.1 augmentations; labels through the
# label group 'affwild2_coarse' (ferlab.datasets.categories). The paper starts from MS-Celeb-1M weights: set
# model.backbone.pretrained='<local file>' (None trains from scratch).
#   python tools/train.py configs/cfcsp/cfcsp-coarse_hrnet_affwild2.py
_base_ = [
    '../_base_/models/hrnet.py',
    './_base_/affwild2.py',
    './_base_/cfcsp-aug.py',
    './_base_/schedule.py',
    '../_base_/default_runtime.py',
]
model = dict(head=dict(num_classes=5))
train_pipeline = {{_base_.cfcsp_train_pipeline_112}}
test_pipeline = {{_base_.cfcsp_test_pipeline_112}}
train_dataloader = dict(dataset=dict(label_map='affwild2_coarse', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(label_map='affwild2_coarse', pipeline=test_pipeline))
test_dataloader = val_dataloader
default_hooks = dict(checkpoint=dict(max_keep_ckpts=2, save_best='macro_f1', rule='greater'))
