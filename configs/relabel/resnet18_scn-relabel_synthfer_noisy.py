# Relabeling with any classifier: the quick-start ResNet-18 (FERClassifier) on SynthFER with 30 %
# symmetric label noise (configs/quickstart/resnet18_synthfer_noisy.py, the baseline of this pair)
# plus SCN's relabeling rule (Wang et al., CVPR 2020, Sec. 3.4; MVT Eq. 5): from epoch 2 (0-based) of 4,
# after every optimiser step a training sample whose softmax gives P_max - P_gt > delta = 0.2 is
# relabeled to the arg-max class. The scores are those of the training forward, published by the
# model's head (docs/developer_guide.md); LabelStateHook keeps the relabels in every checkpoint.
#   python tools/train.py configs/relabel/resnet18_scn-relabel_synthfer_noisy.py
_base_ = ['../quickstart/resnet18_synthfer_noisy.py']

custom_hooks = [
    dict(type='LabelStateHook'),
    dict(type='RelabelHook', start_epoch=2, delta=0.2, threshold='constant'),
]
