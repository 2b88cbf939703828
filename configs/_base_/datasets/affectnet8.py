# AffectNet-8 (codes 0..7; 8/9/10 always dropped): AffectNet-7 plus Contempt.
# The dataset path lives in affectnet7.py (data_root); override with
#   --cfg-options data_root=/path/to/AffectNet   (see docs/datasets.md#affectnet)
_base_ = ['./affectnet7.py']
num_classes = 8
train_dataloader = dict(dataset=dict(num_classes=num_classes))
val_dataloader = dict(dataset=dict(num_classes=num_classes))
test_dataloader = val_dataloader
