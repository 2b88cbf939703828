from .label_state_hook import LabelStateHook, unwrap_dataset

__all__ = ['LabelStateHook', 'unwrap_dataset']
