# POSTER++ (Talented-Q/POSTER_V2, models/PosterV2_7cls.py), 7 classes: IR-50 (3 stages) image
# stream x frozen MobileFaceNet landmark queries, window cross-attention per level, pyramid tokens,
# 2-block fusion ViT -> CLS -> SE gate (neck) -> Linear (head). Inputs of any size are resized to
# 112 with legacy nearest inside the backbone, as the public forward does (224 -> x[..., ::2, ::2]).
# query_proj=False / residual='norm' are the public code's cross-attention (q = raw landmark map,
# residual = LayerNorm'd image tokens); the ARBEx equations (Eq. 1, 4) are the defaults of
# WindowCrossAttention. landmark_bn='eval' keeps the frozen stream's BN statistics fixed (the
# paper's "frozen"); 'train' reproduces the public drift under model.train().
# Pretrained weights (local files, read in init_weights): set
#   model.backbone.image.pretrained=<ir50.pth>  model.backbone.landmark.pretrained=<landmark file>
model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),  # ImageNet mean/std on RGB, as main.py
    backbone=dict(
        type='PosterV2',
        image=dict(type='IResNet', depth=50, num_stages=3, out_indices=(0, 1, 2), pretrained=None),
        landmark=dict(
            type='MobileFaceNet',
            out_indices=('conv_3', 'conv_4', 'conv_6_sep'),
            with_output_layer=False,
            pretrained=None,
        ),
        input_size=112,
        dims=(64, 128, 256),
        num_heads=(2, 4, 8),
        landmark_channels=(64, 128, 512),
        drop_path=(0.0, 0.125, 0.25),
        query_proj=False,
        residual='norm',
        embed_dim=768,
        num_downsamples=(2, 1, 0),
        depth=2,
        vit_heads=8,
        landmark_bn='eval',
        landmark_queries='landmark',
    ),
    neck=dict(type='SEGate', in_channels=768),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=768, loss=dict(type='CrossEntropyLoss')),
)
