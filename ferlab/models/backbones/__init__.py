from .auvit import IRViTAU, IRViTAUToken, ViTAU, ViTAUToken
from .iresnet import IResNet
from .mobilefacenet import MobileFaceNet
from .posterv2 import PosterFusionViT, PosterV2, PyramidTokenEmbed, WindowCrossAttention
from .resnet import ResNet
from .timm_backbone import TimmBackbone
from .vit import ViTBackbone

__all__ = [
    'IRViTAU',
    'IRViTAUToken',
    'ViTAU',
    'ViTAUToken',
    'IResNet',
    'MobileFaceNet',
    'PosterFusionViT',
    'PosterV2',
    'PyramidTokenEmbed',
    'WindowCrossAttention',
    'ResNet',
    'TimmBackbone',
    'ViTBackbone',
]
