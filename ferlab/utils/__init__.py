from .checkpoint import (
    UnsafeCheckpointError,
    atomic_save,
    load_state_dict_file,
    register_checkpoint_io,
    safe_torch_load,
)
from .config_utils import apply_cfg_options
from .setup_env import LauncherEnvError, init_cpu_distributed, launcher_env, register_all_modules

__all__ = [
    'LauncherEnvError', 'UnsafeCheckpointError', 'apply_cfg_options', 'atomic_save', 'init_cpu_distributed', 'launcher_env', 'load_state_dict_file',
    'register_all_modules', 'register_checkpoint_io', 'safe_torch_load',
]  # fmt: skip
