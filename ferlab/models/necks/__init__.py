from .gap import GlobalAveragePooling
from .multi_head_cross_attention import MultiHeadCrossAttention  # noqa: F401

__all__ = ['GlobalAveragePooling']
