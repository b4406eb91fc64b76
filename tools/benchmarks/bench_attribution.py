"""Benchmark batched attribution against straightforward references.

1. Insertion + deletion curves of one image, all steps in chunked batches
   (:func:`mmfg.explain.attribution.insertion_deletion`) against the
   per-step loop (:func:`~mmfg.explain.attribution.reference_curve`, one
   forward pass per step).
2. SMDL of one image, the batched greedy
   (:func:`~mmfg.explain.attribution.smdl_attribution`: one forward pass
   per step for all candidate subsets and complements, element angles once)
   against the plain per-candidate greedy
   (:func:`~mmfg.explain.attribution.reference_greedy` over
   :func:`~mmfg.explain.attribution.reference_smdl_score`: two
   single-image passes per candidate), and the lazy greedy (approximate).

Prints the times, the ratios and whether the results agree, in one run.
The model is a randomly initialised MMPretrain ResNet classifier.

Example::

    python tools/benchmarks/bench_attribution.py              # CPU, small
    python tools/benchmarks/bench_attribution.py --device cuda --size 224 \
        --base-channels 64 --patch 32 --steps 64
"""
import argparse

import torch
from mmpretrain.models import ImageClassifier

from mmfg.explain.attribution import (grid_partition, insertion_deletion,
                                      labels_to_masks, logits_features_fn,
                                      logits_fn, make_baseline, pixel_ranks,
                                      reference_curve, reference_greedy,
                                      reference_smdl_score, smdl_attribution)
from mmfg.utils.benchmark import timed_call


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--size', type=int, default=64, help='input side')
    p.add_argument('--base-channels', type=int, default=16)
    p.add_argument('--patch', type=int, default=16,
                   help='SMDL grid patch (m = (size / patch)^2 regions)')
    p.add_argument('--steps', type=int, default=32)
    p.add_argument('--chunk-size', type=int, default=128)
    p.add_argument('--lazy-batch', type=int, default=4)
    return p.parse_args()


def main():
    args = parse_args()
    dev = args.device
    torch.manual_seed(0)
    model = ImageClassifier(
        backbone=dict(type='ResNet', depth=18,
                      base_channels=args.base_channels, out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10,
                  in_channels=8 * args.base_channels)).to(dev).eval()
    x = torch.randn(1, 3, args.size, args.size, device=dev)
    tgt = torch.tensor([3], device=dev)
    fn, ffn = logits_fn(model), logits_features_fn(model)
    with torch.no_grad():
        fn(x)  # warm-up

    # ---- insertion / deletion --------------------------------------
    maps = torch.rand(1, args.size, args.size, device=dev)
    fast, t_fast = timed_call(
        lambda: insertion_deletion(fn, x, tgt, maps=maps, steps=args.steps,
                                   chunk_size=args.chunk_size), dev)
    base = make_baseline(x, 'zeros')
    order = torch.argsort(pixel_ranks(maps)[0].flatten())

    def loop():
        return [
            reference_curve(fn, x[0], base[0], order, 3, args.steps, mode)
            for mode in ('insertion', 'deletion')
        ]

    ref, t_ref = timed_call(loop, dev)
    diff = max(float((fast['insertion'][0] - ref[0]).abs().max()),
               float((fast['deletion'][0] - ref[1]).abs().max()))
    print(f'insertion+deletion, {args.steps} steps, {args.size} px on {dev}:'
          f' batched {t_fast * 1e3:.1f} ms, per-step loop '
          f'{t_ref * 1e3:.1f} ms, ratio {t_ref / t_fast:.1f}x '
          f'(max |diff| {diff:.2e})')

    # ---- SMDL ----------------------------------------------------------
    masks = labels_to_masks(grid_partition(args.size, args.size,
                                           args.patch)).to(dev)
    m = masks.shape[0]
    res, t_smdl = timed_call(
        lambda: smdl_attribution(ffn, x[0], masks, 3, base[0],
                                 chunk_size=args.chunk_size), dev)
    lazy, t_lazy = timed_call(
        lambda: smdl_attribution(ffn, x[0], masks, 3, base[0], lazy=True,
                                 lazy_batch=args.lazy_batch,
                                 chunk_size=args.chunk_size), dev)

    def plain():
        return reference_greedy(
            reference_smdl_score(ffn, x[0], base[0], masks, 3), m)

    (order_ref, _), t_plain = timed_call(plain, dev)
    same = res['order'].tolist() == order_ref
    agree = sum(a == b for a, b in zip(lazy['order'].tolist(), order_ref))
    print(f'SMDL greedy, m={m} regions ({m * (m + 1) // 2} subsets): '
          f'batched {t_smdl:.2f} s, plain per-candidate {t_plain:.2f} s, '
          f'ratio {t_plain / t_smdl:.1f}x (same order: {same}); lazy '
          f'(batch {args.lazy_batch}, approximate) {t_lazy:.2f} s, '
          f'{lazy["evaluations"]} subsets, ratio {t_plain / t_lazy:.1f}x, '
          f'{agree}/{m} positions equal to the greedy')


if __name__ == '__main__':
    main()
