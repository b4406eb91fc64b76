"""Benchmark: overhead of the RBI neck over the plain backbone, and the
batched PSNR relation matrix against a pair loop.

Times forward + backward (cross-entropy) of the plain classifier
(``ImageClassifier``: backbone, global average pooling, linear head) and
the same backbone with :class:`~mmfg.models.necks.RBINeck`
(``ImageNeckClassifier``; training mode, batch attention + RPE), and prints
the ratio. Then times :func:`~mmfg.models.necks.rbi.psnr_scores` (all pairs
from one matmul) against the straightforward double loop over image pairs,
checks they agree and prints the speed-up. Best of ``--repeats``.

Example::

    OMP_NUM_THREADS=1 python tools/benchmarks/bench_rbi.py
    python tools/benchmarks/bench_rbi.py --device cuda --depth 50 \\
        --size 448 --batch 16 --pairs-batch 64
"""
import math

import torch

from mmfg.models.necks.rbi import (IMAGENET_DATA_RANGE, image_thumbnails,
                                   psnr_scores)
from mmfg.utils.benchmark import time_fn

try:
    from bench_gabor import base_parser, neck_overhead
except ImportError:  # imported as tools.benchmarks.bench_rbi
    from .bench_gabor import base_parser, neck_overhead


def loop_psnr(t: torch.Tensor, data_range: float,
              max_psnr: float) -> torch.Tensor:
    """Reference: one MSE per image pair."""
    n = t.size(0)
    out = torch.empty(n, n, device=t.device)
    for i in range(n):
        for j in range(n):
            mse = ((t[i] - t[j])**2).mean()
            psnr = 10 * torch.log10(
                data_range**2 / mse.clamp(min=data_range**2 *
                                          10**(-max_psnr / 10)))
            out[i, j] = psnr.clamp(0, max_psnr) / max_psnr
    return out


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument('--pairs-batch', type=int, default=32)
    args = parser.parse_args()
    dev = args.device
    neck_overhead(args, dict(type='RBINeck'), 'RBI neck')

    imgs = torch.randn(args.pairs_batch, 3, args.size, args.size, device=dev)
    t = image_thumbnails(imgs, 32)
    dr, mp = IMAGENET_DATA_RANGE, 40.0
    fast = psnr_scores(t, t, dr, mp)
    slow = loop_psnr(t, dr, mp)
    assert math.isclose(float((fast - slow).abs().max()), 0.0,
                        abs_tol=1e-3), 'vectorised PSNR != pair loop'
    t_fast = time_fn(lambda: psnr_scores(t, t, dr, mp), dev, args.repeats,
                     reduce='min')
    t_slow = time_fn(lambda: loop_psnr(t, dr, mp), dev,
                     max(args.repeats // 2, 1), reduce='min')
    print(f'  PSNR matrix {args.pairs_batch}x{args.pairs_batch} '
          f'(32x32 thumbnails): matmul {t_fast * 1e6:.0f} us, pair loop '
          f'{t_slow * 1e3:.1f} ms, speed-up {t_slow / t_fast:.0f}x')


if __name__ == '__main__':
    main()
