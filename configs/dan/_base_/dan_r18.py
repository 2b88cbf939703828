# DAN (Wen et al., "Distract Your Attention", 2023): ResNet-18 (FCN) + MAN (k=4) + AFN,
# L = L_cls + 1 * L_af + 1 * L_pt (Eq. 7, lambda1 = lambda2 = 1). See docs/dan.md.
num_heads = 4
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(
        type='ResNet',
        depth=18,
        out_indices=(3,),
        # MS-Celeb-1M ResNet-18 of the public code (torchvision layout, {'state_dict': ...}).
        # ferlab never downloads it: put the file there or set model.backbone.init_cfg=None.
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet18_msceleb.pth'),
    ),
    neck=dict(type='MultiHeadCrossAttention', in_channels=512, num_heads=num_heads, hidden_channels=32),
    head=dict(
        type='AttentionFusionHead',
        num_classes=7,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss'),
        # mode='public' gives yaoing/DAN's single-log variant.
        partition_loss=dict(type='PartitionLoss', mode='paper', loss_weight=1.0),
        # num_classes comes from the head (= the dataset's); the centers are model parameters.
        # 'mean' = public code (sum / batch); the loss default 'sum' is Eq. 2 as printed,
        # which with λ1 = 1 and batch 256 would swamp the cross-entropy.
        affinity_loss=dict(type='AffinityLoss', loss_weight=1.0, reduction='mean'),
    ),
)
