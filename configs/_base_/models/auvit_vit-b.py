# AU-ViT with the vanilla-ViT base branch (Mao et al., Sec. III-B, Tables I/II/VIII, Fig. 9): a
# ViT-B/16 (224 input; the paper pretrains it on VGGFace2) whose CLS token is the expression
# feature, with the AU branch (7 regions, symmetric maxout) on the 14x14 patch tokens after block
# 10 of 12. Pretrained ViT (local timm-layout file, read in init_weights):
# model.backbone.pretrained=<path>.
rafau21_au_names = ['AU1', 'AU2', 'AU4', 'AU5', 'AU6', 'AU7', 'AU9', 'AU10', 'AU12', 'AU14', 'AU15',
            'AU16', 'AU17', 'AU18', 'AU20', 'AU22', 'AU23', 'AU24', 'AU25', 'AU26', 'AU27']  # fmt: skip
model = dict(
    type='JointFERAUClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3),
    backbone=dict(
        type='ViTAU',
        arch='vit_base_patch16_224',
        pretrained=None,
        img_size=224,
        au_tap=10,
        au_branch=dict(regions='7', pair_reduce='max'),
        au_names=rafau21_au_names,
    ),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=768, loss=dict(type='CrossEntropyLoss')),
)
