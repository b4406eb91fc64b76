"""Benchmark BAS's hot paths against straightforward references.

Two comparisons, on the same machine and in one run, ratios printed:

1. The background branch of one training step: mmfg's functional call with
   detached parameters (:func:`mmfg.models.classifiers.bas.detached_call`,
   no copy) against the official code's ``copy.deepcopy`` of the last stage
   and the classifier every step; forward + backward of the AMC term.
2. Test-time top-k map fusion: one batched matmul with ``1/k`` weights
   (:func:`mmfg.models.heads.bas_head.topk_fused_map`) against a Python loop
   over the images (``M[i][p_label[i]].mean(0)``, as the official code
   builds ``M_fg``).

Example::

    python tools/benchmarks/bench_bas.py                     # CPU sizes
    python tools/benchmarks/bench_bas.py --device cuda --depth 50 \\
        --img-size 224 --batch 32 --num-classes 200
"""
import argparse
import copy

import torch
from mmengine.registry import DefaultScope

from mmfg.utils.benchmark import time_fn


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--depth', type=int, default=18, help='ResNet depth')
    p.add_argument('--base-channels', type=int, default=32)
    p.add_argument('--img-size', type=int, default=112)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--num-classes', type=int, default=200)
    p.add_argument('--hidden', type=int, default=256)
    p.add_argument('--topk', type=int, default=80)
    p.add_argument('--repeat', type=int, default=5)
    return p.parse_args()


def main():
    args = parse_args()
    import mmfg.models  # noqa: F401
    from mmfg.models.heads.bas_head import select_class_maps, topk_fused_map
    from mmfg.models.losses.wsol_losses import activation_map_constraint
    from mmfg.registry import MODELS
    dev = args.device
    c = args.base_channels
    with DefaultScope.overwrite_default_scope('mmfg'):
        model = MODELS.build(
            dict(
                type='BAS',
                backbone=dict(
                    type='ResNet',
                    depth=args.depth,
                    base_channels=c,
                    strides=(1, 2, 1, 1)),
                tail_pool=2,
                head=dict(
                    type='BASHead',
                    num_classes=args.num_classes,
                    in_channels=c * 8 * (4 if args.depth >= 50 else 1),
                    gen_in_channels=c * 4 * (4 if args.depth >= 50 else 1),
                    hidden_channels=args.hidden))).to(dev).train()
    x = torch.randn(args.batch, 3, args.img_size, args.img_size, device=dev)
    target = torch.randint(args.num_classes, (args.batch, ), device=dev)
    with torch.no_grad():
        f3, f4 = model.extract_feat(x)
        s = model.head.score_map(f4).mean((2, 3))[torch.arange(args.batch),
                                                  target]
    gen = model.head.generator
    pool = torch.nn.MaxPool2d(2)

    def background(ours: bool):
        fg = select_class_maps(gen(f3), target)
        erased = f3 * (1 - fg)
        if ours:
            bg = model.head.score_map(model.bg_tail(erased), detached=True)
        else:
            layer4 = copy.deepcopy(model.backbone.layer4)
            cls = copy.deepcopy(model.head.classifier)
            bg = cls(layer4(pool(erased)))
        s_bg = bg.mean((2, 3))[torch.arange(args.batch), target]
        activation_map_constraint(s_bg, s, overflow='none').mean().backward()

    t_ours = time_fn(lambda: background(True), dev, args.repeat)
    t_copy = time_fn(lambda: background(False), dev, args.repeat)
    print(f'background branch fwd+bwd, batch {args.batch}, '
          f'{args.img_size}px, ResNet-{args.depth}:')
    print(f'  functional call (mmfg) {t_ours * 1e3:8.1f} ms')
    print(f'  deep copy (official)   {t_copy * 1e3:8.1f} ms')
    print(f'  speed-up x{t_copy / t_ours:.2f}')

    maps = torch.rand(args.batch, args.num_classes, 28, 28, device=dev)
    scores = torch.randn(args.batch, args.num_classes, device=dev)

    def loop():
        out = torch.zeros(args.batch, 28, 28, device=dev)
        idx = scores.topk(args.topk, 1).indices
        for i in range(args.batch):
            out[i] = maps[i][idx[i]].mean(0)
        return out

    assert torch.allclose(
        loop(), topk_fused_map(maps, scores, args.topk), atol=1e-5)
    t_gather = time_fn(lambda: topk_fused_map(maps, scores, args.topk), dev,
                       args.repeat)
    t_loop = time_fn(loop, dev, args.repeat)
    print(f'top-{args.topk} fusion of {args.num_classes} 28x28 maps, '
          f'batch {args.batch}:')
    print(f'  batched matmul (mmfg)  {t_gather * 1e3:8.2f} ms')
    print(f'  Python loop            {t_loop * 1e3:8.2f} ms')
    print(f'  speed-up x{t_loop / t_gather:.1f}')


if __name__ == '__main__':
    main()
