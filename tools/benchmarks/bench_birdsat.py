"""Benchmark BirdSAT's hot paths against straightforward references, in one
run, ratios printed.

- InfoNCE (:func:`mmfg.models.losses.info_nce`): one normalised matmul and
  two cross-entropies, against a per-query loop computing each query's
  cosine similarities and log-softmax (forward + backward, both
  directions); values checked to agree.
- Joint masking of CVM-MAE (``MAEViT.random_masking`` on the ground and
  satellite tokens: one ``argsort`` + ``gather`` per view for the whole
  batch), against a per-sample ``randperm`` + index loop; the kept-token
  counts are checked.

Example::

    python tools/benchmarks/bench_birdsat.py
    python tools/benchmarks/bench_birdsat.py --device cuda --batch 256
"""
import argparse

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup import MAEViT
from torch.utils.benchmark import Timer

from mmfg.models.losses import info_nce


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--dim', type=int, default=768)
    p.add_argument('--ground-tokens', type=int, default=144,
                   help='ground patches (ViT-B/32 at 384 px: 144)')
    p.add_argument('--sat-tokens', type=int, default=196,
                   help='satellite patches (ViT-B/16 at 224 px: 196)')
    p.add_argument('--mask-ratio', type=float, default=0.75)
    return p.parse_args()


def loop_info_nce(a, b, tau):
    """InfoNCE one query at a time (the textbook form)."""
    total = a.new_zeros(())
    n = a.shape[0]
    for x, y in ((a, b), (b, a)):
        for i in range(n):
            sims = F.cosine_similarity(x[i:i + 1], y, dim=1) / tau
            total = total - F.log_softmax(sims, 0)[i]
    return total / (2 * n)


def vectorised_masking(tokens, ratio):
    """What CVM-MAE runs per view: ``MAEViT.random_masking`` (argsort of
    noise, one gather for the batch; it does not use ``self``)."""
    kept, mask, _ = MAEViT.random_masking(None, tokens, ratio)
    return kept, mask


def loop_masking(tokens, ratio):
    """Per-sample randperm and indexing."""
    n, length, _ = tokens.shape
    keep = int(length * (1 - ratio))
    kept, masks = [], []
    for i in range(n):
        perm = torch.randperm(length, device=tokens.device)
        kept.append(tokens[i, perm[:keep]])
        m = torch.ones(length, device=tokens.device)
        m[perm[:keep]] = 0.0
        masks.append(m)
    return torch.stack(kept), torch.stack(masks)


def median(fn) -> float:
    return Timer('fn()', globals=dict(fn=fn)).blocked_autorange(
        min_run_time=0.5).median


def main():
    args = parse_args()
    dev = args.device
    g = torch.Generator().manual_seed(0)
    a = torch.randn(args.batch, args.dim, generator=g).to(dev)
    b = torch.randn(args.batch, args.dim, generator=g).to(dev)
    a.requires_grad_(True)
    tau = 0.07
    fast = info_nce(a, b, tau)
    slow = loop_info_nce(a, b, tau)
    assert torch.allclose(fast, slow, rtol=1e-4, atol=1e-5), (fast, slow)

    def step(fn):
        def run():
            a.grad = None
            fn(a, b, tau).backward()
        return run

    t_fast, t_slow = median(step(info_nce)), median(step(loop_info_nce))
    print(f'InfoNCE fwd+bwd  B={args.batch} D={args.dim} on {dev}: '
          f'mmfg {t_fast * 1e3:.3f} ms, loop {t_slow * 1e3:.3f} ms, '
          f'ratio {t_slow / t_fast:.1f}x')

    views = [
        torch.randn(args.batch, n, args.dim, generator=g).to(dev)
        for n in (args.ground_tokens, args.sat_tokens)
    ]
    for v in views:
        kept, mask = vectorised_masking(v, args.mask_ratio)
        kept2, mask2 = loop_masking(v, args.mask_ratio)
        assert kept.shape == kept2.shape
        assert torch.equal(mask.sum(1), mask2.sum(1))

    def joint(fn):
        return lambda: [fn(v, args.mask_ratio) for v in views]

    t_fast = median(joint(vectorised_masking))
    t_slow = median(joint(loop_masking))
    print(f'Joint masking (ground {args.ground_tokens} + sat '
          f'{args.sat_tokens} tokens, ratio {args.mask_ratio}) on {dev}: '
          f'mmfg {t_fast * 1e3:.3f} ms, loop {t_slow * 1e3:.3f} ms, '
          f'ratio {t_slow / t_fast:.1f}x')


if __name__ == '__main__':
    main()
