from .attention_fusion_head import AttentionFusionHead  # noqa: F401
from .cls_head import ClsHead, LinearClsHead

__all__ = ['ClsHead', 'LinearClsHead']
