from .iresnet import IResNet
from .resnet import ResNet
from .timm_backbone import TimmBackbone
from .vit import ViTBackbone

__all__ = ['IResNet', 'ResNet', 'TimmBackbone', 'ViTBackbone']
