"""Benchmark the RKD losses (DMML's knowledge transfer) against the usual
broadcast implementation, in one run, ratios printed.

mmfg computes RKD's angle tensor from the Gram matrix
(:func:`mmfg.models.losses.relational_losses.rkd_angle_tensor`, ``N^3``
numbers); the common implementation builds the ``N x N x D`` difference
tensor ``x_j - x_i``, normalises it and takes a batched matrix product.
Both are timed forward + backward at DMML batch sizes, and their values are
checked to agree. The distance loss (both forms are ``N x N``) is timed for
reference.

Example::

    python tools/benchmarks/bench_relational_losses.py
    python tools/benchmarks/bench_relational_losses.py --device cuda \\
        --batch 120 --dim 512
"""
import argparse

import torch
import torch.nn.functional as F

from mmfg.models.losses.relational_losses import (rkd_angle_loss,
                                                  rkd_distance_loss)
from mmfg.utils.benchmark import time_fn


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--dim', type=int, default=512)
    p.add_argument('--repeat', type=int, default=10)
    return p.parse_args()


def broadcast_angle_loss(student, teacher, beta: float = 1.0):
    """Angle loss through the ``N x N x D`` difference tensor (the usual
    RKD code path), averaged over the same triplets as mmfg's."""

    def angles(x):
        diff = F.normalize(x.unsqueeze(0) - x.unsqueeze(1), p=2, dim=2)
        return torch.bmm(diff, diff.transpose(1, 2))  # [i, j, k]

    n = student.shape[0]
    with torch.no_grad():
        t = angles(teacher)
    s = angles(student)
    off = ~torch.eye(n, dtype=torch.bool, device=student.device)
    valid = off.unsqueeze(2) & off.unsqueeze(1)
    loss = F.smooth_l1_loss(s, t, reduction='none', beta=beta) * valid
    return loss.sum() / (n * (n - 1)**2)


def main():
    args = parse_args()
    g = torch.Generator().manual_seed(0)
    s = torch.randn(args.batch, args.dim, generator=g).to(args.device)
    t = torch.randn(args.batch, args.dim, generator=g).to(args.device)
    s.requires_grad_(True)

    def run(loss_fn):
        def step():
            s.grad = None
            loss_fn(s, t).backward()
        return step

    fast = rkd_angle_loss(s, t)
    slow = broadcast_angle_loss(s, t)
    assert torch.allclose(fast, slow, rtol=1e-4, atol=1e-6), (fast, slow)
    t_fast = time_fn(run(rkd_angle_loss), args.device, args.repeat)
    t_slow = time_fn(run(broadcast_angle_loss), args.device, args.repeat)
    t_dist = time_fn(run(rkd_distance_loss), args.device, args.repeat)
    print(f'RKD losses, N={args.batch}, D={args.dim}, {args.device}, '
          'forward + backward (median of '
          f'{args.repeat}):')
    print(f'  angle, Gram form (mmfg):        {t_fast * 1e3:8.2f} ms')
    print(f'  angle, N x N x D broadcast:     {t_slow * 1e3:8.2f} ms')
    print(f'  speed-up:                       {t_slow / t_fast:8.2f}x '
          f'(values agree: {float(fast):.6f} vs {float(slow):.6f})')
    print(f'  distance loss (for reference):  {t_dist * 1e3:8.2f} ms')
    mem_gram = args.batch**3 * 4
    mem_bcast = (args.batch**2 * args.dim + args.batch**3) * 4
    print(f'  largest tensors: {mem_gram / 2**20:.1f} MiB (Gram form) vs '
          f'{mem_bcast / 2**20:.1f} MiB (broadcast)')


if __name__ == '__main__':
    main()
