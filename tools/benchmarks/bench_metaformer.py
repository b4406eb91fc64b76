"""Benchmark MetaFormer: the cost of meta tokens, and the attention kernel.

Two comparisons, on the same machine and in one run, ratios printed:

1. Meta overhead: forward and forward + backward of the backbone with meta
   (``time`` 4-d and ``location`` 3-d inputs: two meta encoders and two
   extra tokens per attention stage) against the same architecture without
   meta (``meta_dims=None``).
2. Relative-position attention: mmfg's :class:`RelPosAttention` (cached
   pair index, one gather, fused ``scaled_dot_product_attention``) against a
   straightforward version (index rebuilt every call, explicit
   ``softmax(q k^T / sqrt(d) + bias) v``), same weights, checked equal.

Example::

    python tools/benchmarks/bench_metaformer.py                  # CPU, tiny
    python tools/benchmarks/bench_metaformer.py --device cuda --arch 0 \\
        --img-size 224 --batch 64
"""
import argparse

import torch

from mmfg.models.backbones.metaformer import (MetaFormer, RelPosAttention,
                                              relative_position_index)
from mmfg.utils.benchmark import time_fns


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--arch', default='tiny', help="'tiny', '0', '1', '2'")
    p.add_argument('--img-size', type=int, default=112)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--repeat', type=int, default=10)
    return p.parse_args()


def naive_attention(attn: RelPosAttention, x: torch.Tensor, grid,
                    num_extra: int) -> torch.Tensor:
    """Straightforward relative-position attention (same parameters)."""
    b, n, c = x.shape
    heads = attn.num_heads
    index = relative_position_index(grid, num_extra).to(x.device)
    bias = attn.rel_pos_bias_table[index].permute(2, 0, 1)
    q, k, v = attn.qkv(x).view(b, n, 3, heads, c // heads).permute(
        2, 0, 3, 1, 4)
    logits = q @ k.transpose(-1, -2) * (c // heads)**-0.5 + bias
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
    return attn.proj(out)


def main() -> None:
    args = parse_args()
    dev = args.device
    torch.manual_seed(0)
    b, s = args.batch, args.img_size
    x = torch.randn(b, 3, s, s, device=dev)
    meta = dict(
        time=torch.randn(b, 4, device=dev),
        location=torch.randn(b, 3, device=dev))
    with_meta = MetaFormer(
        arch=args.arch, img_size=s, meta_dims=dict(time=4,
                                                   location=3)).to(dev)
    no_meta = MetaFormer(arch=args.arch, img_size=s).to(dev)

    def fwd(model, m):
        def run():
            with torch.no_grad():
                model(x, m)
        return run

    def fwd_bwd(model, m):
        def run():
            model(x, m)[0].sum().backward()
            model.zero_grad(set_to_none=True)
        return run

    print(f'MetaFormer-{args.arch}, {s} px, batch {b}, device {dev}')
    for name, make in (('forward', fwd), ('forward+backward', fwd_bwd)):
        t_meta, t_plain = time_fns(
            [make(with_meta, meta), make(no_meta, None)], dev, args.repeat)
        print(f'{name:17s} no meta {t_plain * 1e3:8.1f} ms | with meta '
              f'{t_meta * 1e3:8.1f} ms | ratio meta/no-meta '
              f'{t_meta / t_plain:.3f}')

    stage = with_meta.stages[2]
    attn = stage.blocks[0].attn
    grid, e = attn.grid, 3
    tokens = torch.randn(b, e + grid[0] * grid[1], stage.blocks[0].norm1
                         .normalized_shape[0], device=dev)
    with torch.no_grad():
        err = (attn(tokens, grid, e) -
               naive_attention(attn, tokens, grid, e)).abs().max().item()
    for name, make in (('forward', True), ('forward+backward', False)):
        def ours():
            if make:
                with torch.no_grad():
                    attn(tokens, grid, e)
            else:
                attn(tokens, grid, e).sum().backward()

        def naive():
            if make:
                with torch.no_grad():
                    naive_attention(attn, tokens, grid, e)
            else:
                naive_attention(attn, tokens, grid, e).sum().backward()

        t_ours, t_naive = time_fns([ours, naive], dev, args.repeat)
        print(f'stage-3 attention {name:17s} naive {t_naive * 1e3:7.2f} ms |'
              f' mmfg {t_ours * 1e3:7.2f} ms | speed-up '
              f'{t_naive / t_ours:.2f}x (max |diff| {err:.1e})')


if __name__ == '__main__':
    main()
