# ARBEx (Wasi et al., 2023): the POSTER++ trunk up to its 768-d SE-gated CLS embedding
# (configs/_base_/models/posterv2_ir50.py, the paper's feature extractor) and the reliability-balancing
# head (ferlab/models/heads/reliability_balancing_head.py, Eq. 9-23): primary MLP 768 -> 128 -> 64 -> 64,
# K = 10 anchors per class, delta = 1, within-sample attentive correction, lambda's = 1. docs/arbex.md.
_base_ = ['./posterv2_ir50.py']
model = dict(
    head=dict(
        _delete_=True,
        type='ReliabilityBalancingHead',
        num_classes=7,
        in_channels=768,
        num_anchors=10,
        delta=1.0,
        reduction='paper',
        dropout=0.5,
        attn_tokens=8,
        attn_heads=4,
        lambda_cls=1.0,
        lambda_anchor=1.0,
        lambda_center=1.0,
        loss=dict(type='DistributionNLLLoss', label_smoothing=0.0),
    ),
)
