"""Benchmark CMD's region-level distillation and MIL pooling.

1. Region loss over all (teacher view, other student view) pairs:
   :class:`~mmfg.models.losses.MultiCropDistillLoss` (``region=True``: one
   batched similarity + argmax, one ``einsum`` of cross-terms, one gather)
   against a per-pair loop that gathers the matched teacher distribution
   ``(B, N_s, K)`` of every pair (the EsViT / CMD code), and, at the
   ``--tiny`` size, against the fully looped reference
   (:func:`~mmfg.models.losses.distillation_losses.loop_region_loss_reference`).
2. Inter-level MIL loss: :func:`mil_log_probs` + KL, batched, against a loop
   over samples.

Prints times, ratios and the largest difference of each pair in one run.

Example::

    python tools/benchmarks/bench_cmd.py
    python tools/benchmarks/bench_cmd.py --device cuda --batch 64 --k 65536
"""
import argparse

import torch
import torch.nn.functional as F

from mmfg.models.losses.distillation_losses import (MultiCropDistillLoss,
                                                    kl_divergence,
                                                    loop_region_loss_reference,
                                                    mil_log_probs)
from mmfg.utils.benchmark import time_fn


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--k', type=int, default=4096, help='output width K')
    p.add_argument('--dim', type=int, default=384, help='feature width D')
    p.add_argument('--global-regions', type=int, default=49)
    p.add_argument('--local-regions', type=int, default=9)
    p.add_argument('--locals', type=int, default=8)
    p.add_argument('--repeat', type=int, default=3)
    return p.parse_args()


def per_pair_region_loss(s_logits, t_probs, s_feats, t_feats, tau):
    """Reference: loop over view pairs, gather the matched teacher
    distributions ``(B, N_s, K)`` of each pair."""
    total, n = 0., 0
    for t in range(len(t_probs)):
        for v in range(len(s_logits)):
            if v == t:
                continue
            sim = F.normalize(
                s_feats[v], dim=-1) @ F.normalize(
                    t_feats[t], dim=-1).transpose(1, 2)
            idx = sim.argmax(-1)  # (B, N_s)
            matched = t_probs[t].gather(
                1, idx[..., None].expand(-1, -1, t_probs[t].shape[-1]))
            logp = F.log_softmax(s_logits[v] / tau, -1)
            total = total + (-(matched * logp).sum(-1).mean(-1)).sum()
            n += s_logits[v].shape[0]
    return total / n


def _data(args, B, K, D, Ng, Nl, L, device):
    g = torch.Generator().manual_seed(0)

    def r(*s):
        return torch.randn(*s, generator=g).to(device)

    sg, sl = r(2, B, Ng, K), r(L, B, Nl, K)
    fg, fl = r(2, B, Ng, D), r(L, B, Nl, D)
    pt, ft = r(2, B, Ng, K).softmax(-1), r(2, B, Ng, D)
    return sg, sl, fg, fl, pt, ft


def main():
    args = parse_args()
    dev = args.device
    loss = MultiCropDistillLoss(args.k, student_temp=0.1, region=True).to(dev)
    print(f'device {dev}; B={args.batch} K={args.k} D={args.dim} '
          f'regions {args.global_regions}/{args.local_regions}, 2 global + '
          f'{args.locals} local views')
    sg, sl, fg, fl, pt, ft = _data(args, args.batch, args.k, args.dim,
                                   args.global_regions, args.local_regions,
                                   args.locals, dev)
    views = list(sg) + list(sl)
    feats = list(fg) + list(fl)
    with torch.no_grad():
        a = loss([sg, sl], pt, [fg, fl], ft)
        b = per_pair_region_loss(views, list(pt), feats, list(ft), 0.1)
        t_vec = time_fn(lambda: loss([sg, sl], pt, [fg, fl], ft), dev,
                        args.repeat)
        t_pair = time_fn(
            lambda: per_pair_region_loss(views, list(pt), feats, list(ft), 0.1
                                         ), dev, args.repeat)
    print(f'region loss  batched {t_vec * 1e3:9.2f} ms | per-pair loop '
          f'{t_pair * 1e3:9.2f} ms | ratio {t_pair / t_vec:6.2f}x | '
          f'max |diff| {abs(float(a) - float(b)):.2e}')

    # fully looped reference at a tiny size
    sg, sl, fg, fl, pt, ft = _data(args, 2, 64, 16, 9, 4, 2, dev)
    with torch.no_grad():
        a = loss.__class__(
            64, 0.1, region=True).to(dev)([sg, sl], pt, [fg, fl], ft)
        t_vec = time_fn(
            lambda: loss.__class__(64, 0.1, region=True).to(dev)
            ([sg, sl], pt, [fg, fl], ft), dev, args.repeat)
        ref = loop_region_loss_reference(
            list(sg) + list(sl), list(pt),
            list(fg) + list(fl), list(ft), 0.1)
        t_loop = time_fn(
            lambda: loop_region_loss_reference(
                list(sg) + list(sl), list(pt),
                list(fg) + list(fl), list(ft), 0.1), dev, 1)
    print(f'tiny (B=2, K=64, 9/4 regions, 2+2 views): batched '
          f'{t_vec * 1e3:.2f} ms | full loop {t_loop * 1e3:.2f} ms | ratio '
          f'{t_loop / t_vec:.1f}x | max |diff| {abs(float(a - ref)):.2e}')

    # MIL inter-level loss
    B, N, K = args.batch * (2 + args.locals), args.global_regions, args.k
    g = torch.Generator().manual_seed(1)
    img = F.log_softmax(torch.randn(B, K, generator=g), -1).to(dev)
    reg = F.log_softmax(torch.randn(B, N, K, generator=g), -1).to(dev)
    w = torch.randn(B, N, generator=g).softmax(-1).to(dev)

    def batched():
        return kl_divergence(img, mil_log_probs(reg, w)).mean()

    def looped():
        out = 0.
        for i in range(B):
            pooled = (w[i, :, None] * reg[i].exp()).sum(0)
            out = out + (img[i].exp() * (img[i] - pooled.log())).sum()
        return out / B

    with torch.no_grad():
        a, b = batched(), looped()
        t_b, t_l = time_fn(batched, dev, args.repeat), time_fn(looped, dev, 1)
    print(f'MIL KL ({B} bags x {N} regions x K={K}): batched '
          f'{t_b * 1e3:.2f} ms | loop {t_l * 1e3:.2f} ms | ratio '
          f'{t_l / t_b:.1f}x | max |diff| {abs(float(a - b)):.2e}')


if __name__ == '__main__':
    main()
