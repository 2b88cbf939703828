# CFC-SP CPU evidence: negative net (Anger, Disgust, Fear, Sadness) through the label group
# 'affwild2_negative' (the other classes' frames are dropped, counted and logged); 4 classes, so
# half the coarse net's draws (63 iterations).
#   python tools/train.py configs/cfcsp/cfcsp-negative_r18-48px-cpu_synthfervideo.py
_base_ = ['./_base_/r18-48px.py', './_base_/cpu_synthfervideo.py']
model = dict(head=dict(num_classes=4))
train_dataloader = dict(sampler=dict(num_samples=2000), dataset=dict(label_map='affwild2_negative'))
val_dataloader = dict(dataset=dict(label_map='affwild2_negative'))
test_dataloader = val_dataloader
