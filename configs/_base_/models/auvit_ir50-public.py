# AU-ViT, the public code's CNN-ViT exactly (msy1412/AU-ViT, models/IR_RVT_AU_plus_patch.py
# IR50_ViT as the RAF-DB script builds it): 112 input, mean/std 0.5; IR-50 stages 1-3 (face.evoLVe
# layout) -> 256x14x14 -> 3x3 conv 256->512 + pos-embed (1, 196, 512) -> 4 pre-norm blocks (16 heads
# x 32, MLP 2048, GELU, qkv bias, LN eps 1e-6) -> AU branch (2 regions: rows :8 / 6:, no maxout) ->
# 2 more blocks -> token mean -> LN -> Linear 512->7 (head). One width, no patch merging, plain MLP,
# GAP head: the public code builds but never runs its pools/pos_block/output_layer.
# The backbone returns (expr_feat (B, 512), au_logits (B, 21)); tools/model_converters/
# auvit_to_ferlab.py checkpoints load with strict=True. AU order: RAF-AU's 21 AUs.
# Pretrained IR-50 (local file, read in init_weights): model.backbone.pretrained=<path>.
rafau21_au_names = ['AU1', 'AU2', 'AU4', 'AU5', 'AU6', 'AU7', 'AU9', 'AU10', 'AU12', 'AU14', 'AU15',
            'AU16', 'AU17', 'AU18', 'AU20', 'AU22', 'AU23', 'AU24', 'AU25', 'AU26', 'AU27']  # fmt: skip
model = dict(
    type='JointFERAUClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3),
    backbone=dict(
        type='IRViTAU',
        depth=50,
        pretrained=None,
        input_size=112,
        embed_dims=(512, 512),
        depths=(4, 2),
        num_heads=(16, 16),
        mlp_ratio=4.0,
        qkv_bias=True,
        multi_stage=False,
        conv_ffn=False,
        head='gap',
        au_tap=4,
        au_branch=dict(regions='2'),
        au_names=rafau21_au_names,
        eps=1e-6,
    ),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=512, loss=dict(type='CrossEntropyLoss')),
)
