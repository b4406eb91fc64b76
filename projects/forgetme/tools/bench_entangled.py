"""Benchmark the batched Entangled metric against a per-image reference.

The reference is the straightforward form (as the official
``tools/entangled.py``): one image at a time, the pixels of each region
gathered by boolean indexing, then RMSE / mean / variance of the gathered
values. Prints the time of each, the ratio and the largest difference, in
one run.

Example::

    python projects/forgetme/tools/bench_entangled.py             # 64 x 256^2
    python projects/forgetme/tools/bench_entangled.py --device cuda --n 256
"""
import argparse
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__))))))

from projects.forgetme.forgetme.entangled import EPS, entangled  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--n', type=int, default=64, help='images')
    p.add_argument('--size', type=int, default=256)
    p.add_argument('--repeat', type=int, default=3)
    return p.parse_args()


def reference(orig, bg, mask, alpha=0.5, beta=0.5):
    """Per-image loop with boolean indexing; returns ``(D (B,), S (B,))``."""
    ds, ss = [], []
    for x, y, m in zip(orig, bg, mask):
        inner = m >= 0.5
        x_in, y_in = x[:, inner], y[:, inner]
        x_out, y_out = x[:, ~inner], y[:, ~inner]
        s_in = 1 - ((x_in - y_in)**2).mean().sqrt()
        s_out = ((x_out - y_out)**2).mean().sqrt()
        s = 2 * s_in * (1 - s_out) / (s_in + 1 - s_out + EPS)
        mi, vi = y_in.mean(), y_in.var(unbiased=False)
        mo, vo = y_out.mean(), y_out.var(unbiased=False)
        c = (2 * mi * mo / (mi**2 + mo**2 + EPS)) * (
            2 * vi.sqrt() * vo.sqrt() / (vi + vo + EPS))
        ds.append((alpha + beta) * s * c / (alpha * c + beta * s + EPS))
        ss.append(c)
    return torch.stack(ds), torch.stack(ss)


def _time(fn, device, repeat):
    fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeat, out


def main():
    args = parse_args()
    g = torch.Generator().manual_seed(0)
    shape = (args.n, 3, args.size, args.size)
    orig = torch.rand(shape, generator=g, dtype=torch.float64)
    bg = (orig + 0.1 * torch.rand(shape, generator=g,
                                  dtype=torch.float64)).clamp(0, 1)
    yy, xx = torch.meshgrid(
        torch.arange(args.size), torch.arange(args.size), indexing='ij')
    r = torch.rand(args.n, 1, 1, generator=g) * args.size / 4 + 4
    mask = (((yy - args.size / 2)**2 + (xx - args.size / 2)**2) <
            r**2).double()
    orig, bg, mask = (t.to(args.device) for t in (orig, bg, mask))
    t_ref, (d_ref, s_ref) = _time(lambda: reference(orig, bg, mask),
                                  args.device, args.repeat)
    t_new, out = _time(lambda: entangled(orig, bg, mask), args.device,
                       args.repeat)
    diff = max((out['entangled_d'] - d_ref).abs().max().item(),
               (out['entangled_s'] - s_ref).abs().max().item())
    print(f'Entangled, {args.n} x 3 x {args.size}^2, {args.device}: '
          f'per-image reference {t_ref * 1e3:.1f} ms, batched '
          f'{t_new * 1e3:.1f} ms, speed-up x{t_ref / t_new:.1f}, '
          f'max |diff| {diff:.2e}')


if __name__ == '__main__':
    main()
