# ResNet-18 cut after 3 stages (256 channels, 3 x 3 map at 48 px), from scratch; head classes set by the config.
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='ResNet', depth=18, num_stages=3, out_indices=(2,)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=8, in_channels=256, loss=dict(type='CrossEntropyLoss')),
)
