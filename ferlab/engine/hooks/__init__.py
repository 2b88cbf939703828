from .checkpoint_hook import CheckpointHook
from .epoch_seed_hook import EpochSeedHook
from .label_state_hook import LabelStateHook, unwrap_dataset
from .relabel_hook import RelabelHook, RelabelThreshold, relabel_decision

__all__ = [
    'CheckpointHook',
    'EpochSeedHook',
    'LabelStateHook',
    'RelabelHook',
    'RelabelThreshold',
    'relabel_decision',
    'unwrap_dataset',
]
