# ARBEx's reliability-balancing head on another trunk: ResNet-18 + global average pooling (512-d
# embedding). The head is the one of configs/_base_/models/arbex_posterv2_ir50.py at D = 512.
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='ResNet', depth=18, out_indices=(3,)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='ReliabilityBalancingHead',
        num_classes=7,
        in_channels=512,
        num_anchors=10,
        delta=1.0,
        reduction='paper',
        dropout=0.5,
        attn_tokens=8,
        attn_heads=4,
        lambda_cls=1.0,
        lambda_anchor=1.0,
        lambda_center=1.0,
        loss=dict(type='DistributionNLLLoss', label_smoothing=0.0),
    ),
)
