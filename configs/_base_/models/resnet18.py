model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='ResNet', depth=18, out_indices=(3,)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=7,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss'),
    ),
)
