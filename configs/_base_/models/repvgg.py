# RepVGG-B0 (timm 'repvgg_b0'; CFC-SP does not name the variant: override
# model.backbone.model_name for repvgg_a0..b3g4) for 112 x 112 faces:
# forward_features (B, 1280, 4, 4) -> global average pooling -> linear head.
# Trains in the multi-branch structure (deploy=False). For evaluation/export convert a trained
# checkpoint with tools/model_converters/reparameterize.py CONFIG CKPT OUT and test it with
# --cfg-options model.backbone.deploy=True (single 3 x 3 convs, equal logits).
# Local weights only: model.backbone.pretrained='<repvgg state dict>'; None trains from scratch.
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='TimmBackbone', model_name='repvgg_b0', pretrained=None, deploy=False),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=7,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss'),
    ),
)
