_base_ = [
    '../_base_/models/resnet18.py',
    '../_base_/datasets/affectnet8.py',
    '../_base_/schedules/sgd_40e.py',
    '../_base_/default_runtime.py',
]
# ImageNet / MS-Celeb ResNet-18 in torchvision layout; None trains from scratch.
model = dict(backbone=dict(pretrained=None), head=dict(num_classes=8))
