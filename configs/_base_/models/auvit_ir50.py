# AU-ViT final CNN-ViT (Mao et al., Table III last row): IR-50 stages 1-3 (MS1M weights) ->
# conv embedding + pos-embed (14x14x512) -> multi-stage transformer: 4 blocks at 14x14x512, 2x2
# patch merging, 2 blocks at 7x7x1024; Conv-FFN (depth-wise 3x3) in every block; AU branch with the
# 7-region split and symmetric maxout after block 4; patch-flatten layer (49x1024 -> 512, ReLU,
# LN) -> Linear (head). 112 input, mean/std 0.5. The paper gives no widths for the multi-stage
# blocks; these double the width at the merge (Fig. 5: H/2^k x W/2^k x 2^k C).
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
        embed_dims=(512, 1024),
        depths=(4, 2),
        num_heads=(16, 16),
        multi_stage=True,
        merge_mode='concat',
        conv_ffn=True,
        head='flatten',
        flatten_dim=512,
        au_tap=4,
        au_branch=dict(regions='7', pair_reduce='max'),
        au_names=rafau21_au_names,
    ),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=512, loss=dict(type='CrossEntropyLoss')),
)
