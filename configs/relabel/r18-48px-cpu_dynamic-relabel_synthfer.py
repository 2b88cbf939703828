# MVT's dynamic relabeling (Eq. 6, f = sigmoid, delta = 0.2, from epoch 4 of 8) on a plain classifier:
# the CPU evidence setting of docs/mvt.md#results (configs/mvt/mvt_r18-48px-cpu_synthfer.py: SynthFER
# `lab` + clutter 0.9 + occluders 0.4, 48 px, 20 % symmetric noise, ResNet-18 cut after stage 3, from
# scratch) without the MGN. tools/analysis_tools/mvt_sweeps.py trains its runs without MGN (the
# baseline and every relabel function of Tables 2-3) from this config.
#   python tools/train.py configs/relabel/r18-48px-cpu_dynamic-relabel_synthfer.py
_base_ = ['../mvt/mvt_r18-48px-cpu_synthfer.py']

model = dict(
    _delete_=True,
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='ResNet', depth=18, num_stages=3, out_indices=(2,), pretrained=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes={{_base_.num_classes}}, in_channels=256),
)
