# IR-152 (ArcFace-style improved-residual ResNet, face.evoLVe layout) for 112 x 112 faces:
# stage-4 map (B, 512, 7, 7) -> global average pooling -> linear head.
# CFC-SP (Sec. 4.1) trains IR-152 from MS-Celeb-1M weights: set
# model.backbone.pretrained='<local face.evoLVe IR-152 file>'; None trains from scratch.
# num_classes: 7 here; the CFC-SP configs set 5 (coarse) or 4 (negative).
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='IResNet', depth=152, out_indices=(3,), input_size=112, pretrained=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=7,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss'),
    ),
)
