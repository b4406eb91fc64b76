"""Benchmark the SNR distance matrix (one matmul on centred rows,
:func:`mmfg.models.utils.snr_distance`) against the ``N x M x D`` form
(``var(b_j - a_i) / var(a_i)`` by broadcasting, as pytorch-metric-learning's
``SNRDistance`` computes it).

Time (forward, and forward + backward) and peak memory of each, the ratios,
and the largest difference between the two results, in one run. Peak
memory: ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU the peak
resident size above the size before the call
(:func:`mmfg.utils.benchmark.peak_memory_mib`).

Example::

    python tools/benchmarks/bench_snr.py                  # 512 x 512 x 512
    python tools/benchmarks/bench_snr.py --device cuda --n 2048 --dim 512
"""
import argparse
from typing import Callable, Tuple

import torch

from mmfg.models.utils import snr_distance
from mmfg.utils.benchmark import peak_memory_mib, time_fn


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--n', type=int, default=512, help='rows of a and b')
    p.add_argument('--dim', type=int, default=512)
    p.add_argument('--repeat', type=int, default=5)
    return p.parse_args()


def snr_broadcast(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The reference: an ``(N, M, D)`` difference tensor."""
    return torch.var(b.unsqueeze(0) - a.unsqueeze(1), dim=-1) / torch.var(
        a, dim=-1, keepdim=True)


def measure(fn: Callable, device: str, repeat: int) -> Tuple[float, float]:
    """Median time (s) and peak memory (MiB) of ``fn``."""
    return time_fn(fn, device, repeat), peak_memory_mib(fn, device)


def main():
    args = parse_args()
    g = torch.Generator().manual_seed(0)
    a = torch.randn(args.n, args.dim, generator=g).to(args.device)
    b = torch.randn(args.n, args.dim, generator=g).to(args.device)
    diff = (snr_distance(a, b) - snr_broadcast(a, b)).abs().max()
    print(f'SNR distance {args.n} x {args.n}, D={args.dim}, '
          f'device {args.device}; max |matmul - broadcast| = {diff:.2e}')

    def fwd(f):
        return lambda: f(a, b)

    def fwd_bwd(f):

        def run():
            x = a.detach().requires_grad_()
            y = b.detach().requires_grad_()
            f(x, y).sum().backward()

        return run

    for label, wrap in (('forward', fwd), ('forward+backward', fwd_bwd)):
        t_m, m_m = measure(wrap(snr_distance), args.device, args.repeat)
        t_b, m_b = measure(wrap(snr_broadcast), args.device, args.repeat)
        mem_ratio = (f'{m_b / m_m:6.1f}x' if m_m >= 0.5 else
                     'n/a (matmul < 0.5 MiB)')
        print(f'{label:17s} matmul {1e3 * t_m:9.2f} ms {m_m:9.1f} MiB | '
              f'N x M x D {1e3 * t_b:9.2f} ms {m_b:9.1f} MiB | '
              f'ratio time {t_b / t_m:6.1f}x  '
              f'memory {mem_ratio}')


if __name__ == '__main__':
    main()
