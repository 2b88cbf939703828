# The trunk of configs/arbex/arbex_r18-48px-cpu_synthfer.py with a plain linear head (softmax
# cross-entropy): the "trunk alone" row of the ARBEx comparison at CPU evidence scale (same data,
# noise and schedule: configs/arbex/_base_/cpu-48px_synthfer.py).
#   python tools/train.py configs/arbex/r18-48px-cpu_synthfer_linear.py
_base_ = ['./_base_/cpu-48px_synthfer.py']

model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone={{_base_.trunk}},
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes={{_base_.num_classes}},
        in_channels={{_base_.embed_dim}},
        loss=dict(type='CrossEntropyLoss'),
    ),
)
