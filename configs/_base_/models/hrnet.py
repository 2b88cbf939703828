# HRNet-W18 (timm 'hrnet_w18'; CFC-SP does not name the width: W18 is the smallest standard one,
# override model.backbone.model_name for hrnet_w32/w48/...). Its fuse layers upsample by exact
# factors of 2, so the input side must be a multiple of 32: 112 px faces are resized to 128.
# forward_features (B, 2048, 4, 4) -> global average pooling -> linear head.
# Local weights only: model.backbone.pretrained='<hrnet state dict>'; None trains from scratch.
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='TimmBackbone', model_name='hrnet_w18', pretrained=None, resize_input=128),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=7,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss'),
    ),
)
