from .checkpoint import (UnsafeCheckpointError, safe_torch_load,
                         trusted_checkpoints)
from .compat import apply_compat_patches
from .dist import cpu_ddp_cfg, init_cpu_distributed, setup_distributed
from .errors import (AnnotationError, ConfigError, CorruptImageError,
                     DatasetNotFoundError, MMFGError)
from .setup_env import register_all_modules

__all__ = [
    'UnsafeCheckpointError', 'safe_torch_load', 'trusted_checkpoints',
    'apply_compat_patches', 'cpu_ddp_cfg', 'init_cpu_distributed',
    'setup_distributed', 'AnnotationError', 'ConfigError',
    'CorruptImageError', 'DatasetNotFoundError', 'MMFGError',
    'register_all_modules'
]
