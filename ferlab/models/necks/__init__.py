from .au_branch import AUBranch
from .gap import GlobalAveragePooling
from .multi_head_cross_attention import MultiHeadCrossAttention  # noqa: F401
from .se_gate import SEGate

__all__ = ['AUBranch', 'GlobalAveragePooling', 'SEGate']
