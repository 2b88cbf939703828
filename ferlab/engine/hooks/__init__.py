from .checkpoint_hook import CheckpointHook
from .label_state_hook import LabelStateHook, unwrap_dataset
from .relabel_hook import RelabelHook, RelabelThreshold, relabel_decision

__all__ = [
    'CheckpointHook',
    'LabelStateHook',
    'RelabelHook',
    'RelabelThreshold',
    'relabel_decision',
    'unwrap_dataset',
]
