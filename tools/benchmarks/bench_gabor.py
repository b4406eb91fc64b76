"""Benchmark: overhead of the Gabor texture branch over the plain backbone.

Times forward + backward (cross-entropy) of

- the plain classifier (``ImageClassifier``: backbone, global average
  pooling, linear head), and
- the same backbone with :class:`~mmfg.models.necks.GaborTextureNeck`
  (``ImageNeckClassifier``; gate, zoom, Gabor bank, statistics, fusion),

and prints the ratio. The Gabor kernel generation (vectorised over the bank
vs one filter at a time, the straightforward reference) is timed too and
checked equal. Best of ``--repeats`` (robust to other load).

Example::

    OMP_NUM_THREADS=1 python tools/benchmarks/bench_gabor.py
    python tools/benchmarks/bench_gabor.py --device cuda --depth 50 \\
        --size 448 --zoom-size 112 --batch 16
"""
import argparse

import torch
import torch.nn.functional as F

from mmfg.models.utils.gabor import GaborFilterBank, gabor_kernels
from mmfg.registry import MODELS
from mmfg.utils import register_all_modules
from mmfg.utils.benchmark import time_fn, time_fns


def base_parser(doc: str) -> argparse.ArgumentParser:
    """Arguments shared by the neck-overhead benchmarks."""
    parser = argparse.ArgumentParser(description=doc.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--depth', type=int, default=18)
    parser.add_argument('--base-channels', type=int, default=64)
    parser.add_argument('--size', type=int, default=112)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=5)
    return parser


def neck_overhead(args: argparse.Namespace, neck: dict, name: str) -> None:
    """Time forward + backward + CE of a ResNet classifier with global
    average pooling and with ``neck`` (its ``in_channels`` filled in),
    interleaved, and print both and the ratio."""
    register_all_modules()
    torch.manual_seed(0)
    dev = args.device
    x = torch.randn(args.batch, 3, args.size, args.size, device=dev)
    y = torch.randint(0, 10, (args.batch, ), device=dev)
    channels = args.base_channels * 8 * (4 if args.depth >= 50 else 1)
    steps = []
    for neck_cfg in (None, dict(neck, in_channels=channels)):
        model = MODELS.build(dict(
            type='ImageNeckClassifier' if neck_cfg else 'ImageClassifier',
            backbone=dict(type='ResNet', depth=args.depth,
                          base_channels=args.base_channels,
                          out_indices=(3, )),
            neck=neck_cfg or dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10,
                      in_channels=channels))).to(dev).train()

        def step(model=model):
            loss = F.cross_entropy(model.head(model.extract_feat(x)), y)
            loss.backward()

        steps.append(step)
    plain, module = time_fns(steps, dev, args.repeats, reduce='min')
    print(f'ResNet-{args.depth} (base {args.base_channels}), '
          f'{args.batch}x3x{args.size}x{args.size}, {dev}, fwd+bwd')
    print(f'  plain backbone : {plain * 1e3:9.1f} ms')
    print(f'  + {name:<13}: {module * 1e3:9.1f} ms')
    print(f'  overhead ratio : {module / plain:.2f}x')


def loop_kernels(p: dict, k: int) -> torch.Tensor:
    """Reference: one kernel per call."""
    return torch.stack([
        gabor_kernels(p['theta'][i:i + 1], p['sigma_x'][i:i + 1],
                      p['sigma_y'][i:i + 1], p['freq'][i:i + 1], k)[0]
        for i in range(p['theta'].numel())
    ])


def main() -> None:
    parser = base_parser(__doc__)
    # defaults: configs/gabor/gabor_r18_synthbirds.py; the 448 configs use
    # --size 448 --zoom-size 112 --gabor-stride 2
    parser.add_argument('--zoom-size', type=int, default=56)
    parser.add_argument('--gabor-stride', type=int, default=2)
    args = parser.parse_args()
    dev = args.device
    neck_overhead(
        args,
        dict(type='GaborTextureNeck', zoom_size=args.zoom_size,
             gabor_stride=args.gabor_stride), 'Gabor neck')
    bank = GaborFilterBank(num_filters=32, kernel_size=11).to(dev)
    p = {k: v.detach() for k, v in bank.parameters_dict().items()}
    vec = bank.kernels().detach()
    torch.testing.assert_close(vec, loop_kernels(p, bank.kernel_size))
    t_vec = time_fn(bank.kernels, dev, args.repeats, reduce='min')
    t_loop = time_fn(lambda: loop_kernels(p, bank.kernel_size), dev,
                     args.repeats, reduce='min')
    print(f'  kernel generation ({bank.num_filters} filters): vectorised '
          f'{t_vec * 1e6:.0f} us, per-filter loop {t_loop * 1e6:.0f} us, '
          f'speed-up {t_loop / t_vec:.1f}x')


if __name__ == '__main__':
    main()
