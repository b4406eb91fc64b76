"""Distributed helpers: a gloo path for CPU-only DDP.

MMEngine's ``pytorch``/``slurm`` launchers call ``torch.cuda.set_device``
and default to NCCL, so ``torchrun`` on a machine without CUDA fails. When no
GPU is present, :func:`init_cpu_distributed` initialises the process group
with gloo itself (MMEngine then skips its own initialisation) and
:func:`cpu_ddp_cfg` makes the DDP wrapper take a CPU module.
"""
import os
import subprocess
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def _slurm_env() -> None:
    """Fill RANK/WORLD_SIZE/MASTER_* from SLURM variables if unset."""
    if 'SLURM_PROCID' not in os.environ:
        return
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ.get('SLURM_NTASKS', '1'))
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ.get('SLURM_NODELIST', '127.0.0.1')
        addr = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1') or '127.0.0.1'
        os.environ['MASTER_ADDR'] = addr
    os.environ.setdefault('MASTER_PORT', '29500')


def init_cpu_distributed(launcher: str,
                         timeout_s: Optional[int] = None) -> bool:
    """Initialise a gloo process group when running distributed without CUDA.

    Args:
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        timeout_s (int, optional): process-group timeout in seconds.

    Returns:
        bool: True when this function initialised a gloo group.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if torch_dist.is_available() and torch_dist.is_initialized():
        return False
    if launcher == 'slurm':
        _slurm_env()
    kwargs = {}
    if timeout_s is not None:
        import datetime
        kwargs['timeout'] = datetime.timedelta(seconds=timeout_s)
    torch_dist.init_process_group(
        backend='gloo',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **kwargs)
    return True


def cpu_ddp_cfg(cfg: Config) -> None:
    """Make ``cfg`` build a CPU-compatible DDP wrapper (no ``device_ids``)."""
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    env_cfg = cfg.get('env_cfg') or {}
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    cfg.env_cfg = env_cfg


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` and the process group for ``launcher``.

    On CUDA machines this does nothing (MMEngine handles it); on CPU-only
    machines it initialises gloo and adjusts the wrapper config.
    """
    if launcher != 'none' and not torch.cuda.is_available():
        cpu_ddp_cfg(cfg)
        init_cpu_distributed(launcher)
