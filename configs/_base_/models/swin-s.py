# Swin-S (timm 'swin_small_patch4_window7_224') for 224 x 224 faces (CFC-SP, Sec. 4.1: the one
# backbone run at 224): timm's final norm + average pool give (B, 768) -> linear head.
# Local weights only: model.backbone.pretrained='<swin-s state dict (.pth/.safetensors)>';
# None trains from scratch (nothing is downloaded). Another input size needs
# model.backbone.img_size (a multiple of 32 x window_size, e.g. 224).
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(
        type='TimmBackbone',
        model_name='swin_small_patch4_window7_224',
        pretrained=None,
        pooled=True,
        img_size=224,
    ),
    head=dict(
        type='LinearClsHead',
        num_classes=7,
        in_channels=768,
        loss=dict(type='CrossEntropyLoss'),
    ),
)
