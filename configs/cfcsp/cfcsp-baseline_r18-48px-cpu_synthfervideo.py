# CFC-SP CPU evidence: the flat 8-class baseline (paper Table 1, "Ours baseline") - one ResNet-18 on
# the 8 Aff-Wild2 classes, evaluated per video with and without smooth predicting (VideoMetric:
# macro_f1 = baseline, sp/macro_f1 = + SP; sp_w<w>/ = the scaled Table 4 windows, docs/cfcsp.md).
#   python tools/train.py configs/cfcsp/cfcsp-baseline_r18-48px-cpu_synthfervideo.py
_base_ = ['./_base_/r18-48px.py', './_base_/cpu_synthfervideo.py']
val_evaluator = dict(_delete_=True, type='VideoMetric', window=16, extra_windows=(0, 2, 4, 8, 32),
                     smooth_on='score', num_classes=8)  # fmt: skip
test_evaluator = val_evaluator
