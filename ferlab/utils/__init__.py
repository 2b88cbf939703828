from .checkpoint import (
    RemoteCheckpointError,
    UnsafeCheckpointError,
    atomic_save,
    check_local_checkpoint,
    load_state_dict_file,
    register_checkpoint_io,
    safe_torch_load,
)
from .config_utils import apply_cfg_options
from .errors import AmpUnavailableError, CliUsageError, FerlabInputError, InputFileNotFoundError
from .setup_env import LauncherEnvError, init_cpu_distributed, launcher_env, register_all_modules

__all__ = [
    'AmpUnavailableError', 'CliUsageError', 'FerlabInputError', 'InputFileNotFoundError', 'LauncherEnvError',
    'RemoteCheckpointError', 'UnsafeCheckpointError', 'apply_cfg_options', 'atomic_save', 'check_local_checkpoint',
    'init_cpu_distributed', 'launcher_env', 'load_state_dict_file', 'register_all_modules', 'register_checkpoint_io',
    'safe_torch_load',
]  # fmt: skip
