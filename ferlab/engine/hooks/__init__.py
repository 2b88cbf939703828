from .label_state_hook import LabelStateHook, unwrap_dataset
from .relabel_hook import RelabelHook, RelabelThreshold, relabel_decision

__all__ = ['LabelStateHook', 'RelabelHook', 'RelabelThreshold', 'relabel_decision', 'unwrap_dataset']
