# SynthFER with 30% symmetric label noise on the training labels (clean_label kept for analysis);
# val/test labels stay clean.
_base_ = ['./synthfer.py']
train_dataloader = dict(dataset=dict(label_noise=dict(type='symmetric', rate=0.3)))
