# CFC-SP CPU evidence: the cascade (coarse ResNet-18 -> negative ResNet-18) with smooth predicting,
# evaluated per video on the 8 classes (VideoMetric, decision='cascade': macro_f1 = + C-F,
# sp/macro_f1 = both, sp_w<w>/ = the scaled Table 4 windows, w = paper w / 16, docs/cfcsp.md).
# Train the two nets first, then assemble one checkpoint and test it:
#   python tools/train.py configs/cfcsp/cfcsp-coarse_r18-48px-cpu_synthfervideo.py
#   python tools/train.py configs/cfcsp/cfcsp-negative_r18-48px-cpu_synthfervideo.py
#   python tools/model_converters/assemble_cascade.py configs/cfcsp/<this>.py work_dirs/cascade_cpu.pth
#   python tools/test.py configs/cfcsp/<this>.py work_dirs/cascade_cpu.pth
_base_ = ['./_base_/cpu_synthfervideo.py']
_gap = dict(type='GlobalAveragePooling')
_r18 = dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=3, out_indices=(2,)),
    neck=_gap,
    head=dict(type='LinearClsHead', num_classes=5, in_channels=256, loss=dict(type='CrossEntropyLoss')),
)
_mnv3s = dict(
    type='FERClassifier',
    backbone=dict(type='TimmBackbone', model_name='mobilenetv3_small_100'),
    neck=_gap,
    head=dict(type='LinearClsHead', num_classes=5, in_channels=576),
)
_ckpt = 'work_dirs/cfcsp-{}-48px-cpu_synthfervideo/epoch_1.pth'
model = dict(
    type='CascadeClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    coarse=_r18,
    coarse_checkpoint=_ckpt.format('coarse_r18'),
    negative=dict(_r18, head=dict(_r18['head'], num_classes=4)),
    negative_checkpoint=_ckpt.format('negative_r18'),
)  # fmt: skip
val_evaluator = dict(_delete_=True, type='VideoMetric', window=16, extra_windows=(0, 2, 4, 8, 32),
                     smooth_on='score', decision='cascade', num_classes=8)  # fmt: skip
test_evaluator = val_evaluator
