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


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 (sizes may differ per rank); the backward
    sums the gradients of every rank and returns this rank's slice."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        world = torch_dist.get_world_size()
        rank = torch_dist.get_rank()
        size = torch.tensor([tensor.size(0)], device=tensor.device)
        sizes = [torch.zeros_like(size) for _ in range(world)]
        torch_dist.all_gather(sizes, size)
        sizes = [int(s) for s in torch.cat(sizes).tolist()]  # one sync
        biggest = max(sizes)
        padded = tensor.new_zeros((biggest, ) + tuple(tensor.shape[1:]))
        padded[:tensor.size(0)] = tensor
        parts = [torch.empty_like(padded) for _ in range(world)]
        torch_dist.all_gather(parts, padded.contiguous())
        ctx.sizes = sizes
        ctx.rank = rank
        return torch.cat([p[:n] for p, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        torch_dist.all_reduce(grad)
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` ``(N_r, ...)`` of every rank along dim 0,
    keeping the autograd graph: the gradient reaching this rank's rows is
    the sum of the gradients all ranks send to them (so DDP's averaging
    yields the gradient of the mean of the ranks' losses). Works on gloo and
    NCCL; the ranks may hold different ``N_r`` (one host sync for the
    sizes). Without an initialised process group, returns ``tensor``.

    Args:
        tensor (Tensor): ``(N_r, ...)``.

    Returns:
        Tensor: ``(sum_r N_r, ...)``, rank-major.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()) or \
            torch_dist.get_world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)
