# Table VIII's "AU token" baseline (Mao et al., Sec. IV-F): the vanilla ViT-B/16 with one extra
# learned token concatenated with the class and patch tokens after the patch projection; an MLP
# (768 -> 768 -> GELU -> A) on it predicts the AUs, the CLS token the expression.
rafau21_au_names = ['AU1', 'AU2', 'AU4', 'AU5', 'AU6', 'AU7', 'AU9', 'AU10', 'AU12', 'AU14', 'AU15',
            'AU16', 'AU17', 'AU18', 'AU20', 'AU22', 'AU23', 'AU24', 'AU25', 'AU26', 'AU27']  # fmt: skip
model = dict(
    type='JointFERAUClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3),
    backbone=dict(
        type='ViTAUToken',
        arch='vit_base_patch16_224',
        pretrained=None,
        img_size=224,
        au_names=rafau21_au_names,
    ),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=768, loss=dict(type='CrossEntropyLoss')),
)
