from .resnet import ResNet
from .timm_backbone import TimmBackbone

__all__ = ['ResNet', 'TimmBackbone']
