# CFC-SP CPU evidence (Table 2 analogue): the cascade whose coarse net is the ensemble (sum of
# softmax, paper Fig. 3) of the ResNet-18 and MobileNetV3-Small coarse nets - the paper's best
# structure at CPU scale.
_base_ = ['./cfcsp_cascade-r18_neg-r18-48px-cpu_synthfervideo.py']
model = dict(
    coarse=dict(
        _delete_=True,
        type='EnsembleClassifier',
        members=[{{_base_._r18}}, {{_base_._mnv3s}}],
        checkpoints=[
            'work_dirs/cfcsp-coarse_r18-48px-cpu_synthfervideo/epoch_1.pth',
            'work_dirs/cfcsp-coarse_mnv3s-48px-cpu_synthfervideo/epoch_1.pth',
        ],
        combine='softmax_sum',
    ),
    coarse_checkpoint=None,
)
