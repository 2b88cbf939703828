# MobileNetV3-Small (timm 'mobilenetv3_small_100', 576 channels), from scratch; a second small
# architecture for the CPU ensemble (the paper's point: different architectures learn different features).
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='TimmBackbone', model_name='mobilenetv3_small_100', pretrained=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=8, in_channels=576, loss=dict(type='CrossEntropyLoss')),
)
