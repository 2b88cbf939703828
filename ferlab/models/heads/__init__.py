from .attention_fusion_head import AttentionFusionHead  # noqa: F401
from .cls_head import ClsHead, LinearClsHead
from .reliability_balancing_head import ReliabilityBalancingHead  # noqa: F401

__all__ = ['ClsHead', 'LinearClsHead']
