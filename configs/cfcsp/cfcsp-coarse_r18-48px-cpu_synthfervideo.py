# CFC-SP CPU evidence: coarse net (Neutral, Happiness, Surprise, Other, Negative) on the exported
# SynthFERVideo Aff-Wild2 tree through the label group 'affwild2_coarse'.
#   python tools/train.py configs/cfcsp/cfcsp-coarse_r18-48px-cpu_synthfervideo.py
_base_ = ['./_base_/r18-48px.py', './_base_/cpu_synthfervideo.py']
model = dict(head=dict(num_classes=5))
train_dataloader = dict(dataset=dict(label_map='affwild2_coarse'))
val_dataloader = dict(dataset=dict(label_map='affwild2_coarse'))
test_dataloader = val_dataloader
