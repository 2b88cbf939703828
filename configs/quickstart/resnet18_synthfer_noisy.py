# The quick-start recipe with 30% symmetric label noise on the training labels; evaluated on clean
# test labels (docs/synthfer.md reports the drop against configs/quickstart/resnet18_synthfer.py).
_base_ = ['./resnet18_synthfer.py']
train_dataloader = dict(dataset=dict(label_noise=dict(type='symmetric', rate=0.3)))
