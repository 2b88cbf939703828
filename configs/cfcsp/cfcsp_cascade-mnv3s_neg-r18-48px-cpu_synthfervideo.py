# CFC-SP CPU evidence (Table 2 analogue): the cascade with a MobileNetV3-Small coarse net.
#   python tools/train.py configs/cfcsp/cfcsp-coarse_mnv3s-48px-cpu_synthfervideo.py  (and the negative net)
_base_ = ['./cfcsp_cascade-r18_neg-r18-48px-cpu_synthfervideo.py']
model = dict(
    coarse=dict(
        _delete_=True,
        type='FERClassifier',
        backbone=dict(type='TimmBackbone', model_name='mobilenetv3_small_100'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=576),
    ),
    coarse_checkpoint='work_dirs/cfcsp-coarse_mnv3s-48px-cpu_synthfervideo/epoch_1.pth',
)
