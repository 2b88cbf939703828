# ARBEx, CPU EVIDENCE VARIANT for SynthFER (a scale-down, not the paper's setting): the
# reliability-balancing head (K = 10 anchors per class, delta = 1, lambda's = 1) on ResNet-18 (3
# stages, 256-d, from scratch) at 48 px, 20 % symmetric training-label noise, 2000 clean test images
# (configs/arbex/_base_/cpu-48px_synthfer.py). Sibling with a plain linear head:
# configs/arbex/r18-48px-cpu_synthfer_linear.py. Ablations by --cfg-options, e.g.
#   model.head.num_anchors=0  model.head.lambda_anchor=100  train_dataloader.dataset.label_noise.rate=0.4
#   python tools/train.py configs/arbex/arbex_r18-48px-cpu_synthfer.py
_base_ = ['./_base_/cpu-48px_synthfer.py']

model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone={{_base_.trunk}},
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='ReliabilityBalancingHead',
        num_classes={{_base_.num_classes}},
        in_channels={{_base_.embed_dim}},
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
