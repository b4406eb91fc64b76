"""Benchmark the prototype layer and push against straightforward references.

Two comparisons, on the same machine and in one run, ratios printed:

1. Prototype distances: the matmul form used by mmfg
   (``||x||^2 - 2 x.p + ||p||^2``, :func:`mmfg.models.utils.squared_l2_map`)
   against the official ProtoPNet computation (``||x||^2`` by a convolution
   with a ones tensor of the prototypes' shape, ``x.p`` by a convolution),
   forward and forward + backward.
2. Push: :func:`mmfg.engine.hooks.push_prototypes` (batched, on the device)
   against a per-prototype loop in the style of the official code (host
   copies, a Python loop over prototypes per batch), and both against one
   plain forward pass (backbone + add-on) over the same push set.

Example::

    python tools/benchmarks/bench_prototype_layer.py            # CPU sizes
    python tools/benchmarks/bench_prototype_layer.py --device cuda \\
        --num-images 1000 --img-size 224 --depth 34 --num-classes 200
"""
import argparse
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from mmfg.utils.benchmark import time_fn


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--batch', type=int, default=80, help='layer batch')
    p.add_argument('--num-classes', type=int, default=200)
    p.add_argument('--protos-per-class', type=int, default=10)
    p.add_argument('--dim', type=int, default=128, help='prototype depth')
    p.add_argument('--map', type=int, default=7, help='latent map side')
    p.add_argument('--depth', type=int, default=18, help='ResNet depth')
    p.add_argument('--img-size', type=int, default=112)
    p.add_argument('--num-images', type=int, default=160)
    p.add_argument('--push-batch', type=int, default=40)
    p.add_argument('--repeat', type=int, default=5)
    return p.parse_args()


def ones_conv_distances(x: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """Official ProtoPNet squared L2: ones-convolution for ||x||^2."""
    P, D = protos.shape
    w = protos.view(P, D, 1, 1)
    ones = torch.ones_like(w)
    x2 = F.conv2d(x**2, ones)  # (B, P, H, W): ||x||^2 repeated P times
    xp = F.conv2d(x, w)
    p2 = (w**2).sum((1, 2, 3)).view(-1, 1, 1)
    return F.relu(x2 - 2 * xp + p2)


def bench_layer(args) -> Dict[str, float]:
    from mmfg.models.utils.distances import squared_l2_map
    dev = args.device
    P = args.num_classes * args.protos_per_class
    x = torch.rand(
        args.batch,
        args.dim,
        args.map,
        args.map,
        device=dev,
        requires_grad=True)
    protos = torch.rand(P, args.dim, device=dev, requires_grad=True)
    with torch.no_grad():
        err = (squared_l2_map(x, protos) -
               ones_conv_distances(x, protos)).abs().max().item()

    def fwd(fn):

        def run():
            with torch.no_grad():
                fn(x, protos).min()

        return run

    def fwd_bwd(fn):

        def run():
            d = fn(x, protos)
            d.flatten(2).min(-1).values.sum().backward()
            x.grad = protos.grad = None

        return run

    r = {}
    r['ones_conv_fwd'] = time_fn(fwd(ones_conv_distances), dev, args.repeat)
    r['matmul_fwd'] = time_fn(fwd(squared_l2_map), dev, args.repeat)
    r['ones_conv_fwd_bwd'] = time_fn(
        fwd_bwd(ones_conv_distances), dev, args.repeat)
    r['matmul_fwd_bwd'] = time_fn(fwd_bwd(squared_l2_map), dev, args.repeat)
    r['max_abs_diff'] = err
    return r


class _Images(torch.utils.data.Dataset):
    """In-memory random images (I/O kept out of the timings)."""

    def __init__(self, n: int, size: int, num_classes: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.imgs = torch.randint(
            0, 255, (n, 3, size, size), generator=g, dtype=torch.uint8)
        self.labels = torch.arange(n) % num_classes
        self.size = size

    def __len__(self) -> int:
        return len(self.imgs)

    def __getitem__(self, i: int) -> dict:
        ds = DataSample(
            metainfo=dict(sample_idx=i, img_shape=(self.size, self.size)))
        ds.set_gt_label(int(self.labels[i]))
        return dict(inputs=self.imgs[i], data_samples=ds)


def reference_push(model,
                   loader,
                   with_records: bool = True,
                   percentile: float = 95.) -> torch.Tensor:
    """Push in the style of the official code.

    Per batch: distances by the ones-convolution, copied to the host, then a
    Python loop over prototypes (class-specific image lists, ``np.amin``,
    ``np.unravel_index``) that keeps the best distance map of every
    prototype; with ``with_records``, per prototype the upsampling of that
    map and its 95th-percentile box (the official ``cv2.resize`` +
    ``find_high_activation_crop`` step).

    Returns:
        Tensor: ``(P, D)`` pushed vectors (rows of prototypes without an
        image of their class are NaN).
    """
    layer = model.head.layer
    protos = layer.prototypes.detach()
    P, D = protos.shape
    cls = layer.prototype_class.cpu().numpy()
    best = np.full(P, np.inf)
    best_vec = np.full((P, D), np.nan, np.float32)
    best_map = [None] * P
    img_hw = None
    with torch.no_grad():
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            img_hw = data['inputs'].shape[-2:]
            z = layer.latent(model.extract_feat(data['inputs']))
            dist = ones_conv_distances(z, protos).cpu().numpy()
            feats = z.cpu().numpy()
            labels = [int(ds.gt_label) for ds in data['data_samples']]
            by_class: Dict[int, list] = {}
            for i, c in enumerate(labels):
                by_class.setdefault(c, []).append(i)
            for j in range(P):
                idx = by_class.get(int(cls[j]))
                if not idx:
                    continue
                dj = dist[idx][:, j]
                m = np.amin(dj)
                if m < best[j]:
                    b, h, w = np.unravel_index(np.argmin(dj), dj.shape)
                    best[j] = m
                    best_vec[j] = feats[idx[b], :, h, w]
                    best_map[j] = dj[b]
    if with_records:
        for j in range(P):
            if best_map[j] is None:
                continue
            act = np.log((best_map[j] + 1) / (best_map[j] + 1e-4))
            up = F.interpolate(
                torch.from_numpy(act)[None, None],
                size=tuple(img_hw),
                mode='bicubic',
                align_corners=False)[0, 0].numpy()
            mask = up >= np.percentile(up, percentile)
            rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
            _ = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return torch.from_numpy(best_vec)


def bench_push(args) -> Dict[str, float]:
    import mmfg.models  # noqa: F401
    from mmfg.engine.hooks.push_hook import push_prototypes
    from mmfg.registry import MODELS
    dev = args.device
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmfg'):
        model = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(
                    type='ResNet',
                    depth=args.depth,
                    strides=(1, 2, 2, 1) if args.img_size < 200 else
                    (1, 2, 2, 2),
                    out_indices=(3, )),
                head=dict(
                    type='ProtoPNetHead',
                    num_classes=args.num_classes,
                    in_channels=512 if args.depth < 50 else 2048,
                    prototypes_per_class=args.protos_per_class,
                    prototype_dim=args.dim),
                data_preprocessor=dict(
                    type='ClsDataPreprocessor',
                    num_classes=args.num_classes,
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375])))
    model = model.to(dev).eval()
    ds = _Images(args.num_images, args.img_size, args.num_classes)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=args.push_batch, collate_fn=pseudo_collate)
    layer = model.head.layer
    init = layer.prototypes.detach().clone()

    def forward_only():
        with torch.no_grad():
            for batch in loader:
                data = model.data_preprocessor(batch, False)
                layer.latent(model.extract_feat(data['inputs'])).sum()

    def ours(records):

        def run():
            layer.prototypes.data.copy_(init)
            push_prototypes(model, loader, update=True, with_records=records)

        return run

    def ref(records):

        def run():
            layer.prototypes.data.copy_(init)
            reference_push(model, loader, with_records=records)

        return run

    r = {}
    r['forward'] = time_fn(forward_only, dev, args.repeat)
    r['search_batched'] = time_fn(ours(False), dev, args.repeat)
    r['search_per_prototype'] = time_fn(ref(False), dev, args.repeat)
    r['push_batched'] = time_fn(ours(True), dev, args.repeat)
    r['push_per_prototype'] = time_fn(ref(True), dev, args.repeat)
    layer.prototypes.data.copy_(init)
    ref_vec = reference_push(model, loader, with_records=False)
    push_prototypes(model, loader, update=True, with_records=False)
    found = ~torch.isnan(ref_vec).any(1)
    r['max_abs_diff'] = (layer.prototypes.detach().cpu()[found] -
                         ref_vec[found]).abs().max().item()
    r['pushed'] = int(found.sum())
    return r


def main():
    args = parse_args()
    torch.set_grad_enabled(True)
    print(f'device: {args.device}  threads: {torch.get_num_threads()}')
    P = args.num_classes * args.protos_per_class
    print(f'[layer] B={args.batch} D={args.dim} map={args.map}x{args.map} '
          f'P={P}')
    r = bench_layer(args)
    print(f'  forward        ones-conv {r["ones_conv_fwd"] * 1e3:9.2f} ms  '
          f'matmul {r["matmul_fwd"] * 1e3:9.2f} ms  ratio '
          f'{r["ones_conv_fwd"] / r["matmul_fwd"]:.2f}x')
    print(f'  fwd+backward   ones-conv {r["ones_conv_fwd_bwd"] * 1e3:9.2f} ms'
          f'  matmul {r["matmul_fwd_bwd"] * 1e3:9.2f} ms  ratio '
          f'{r["ones_conv_fwd_bwd"] / r["matmul_fwd_bwd"]:.2f}x')
    print(f'  max |difference| {r["max_abs_diff"]:.2e}')
    print(f'[push] ResNet-{args.depth} {args.img_size}px, '
          f'{args.num_images} images, batch {args.push_batch}, P={P}')
    r = bench_push(args)
    f = r['forward']
    print(f'  plain forward (backbone + add-on)      {f:8.3f} s')
    for key, name in (('search', 'search only'), ('push',
                                                  'push + records (boxes)')):
        ours, ref = r[f'{key}_batched'], r[f'{key}_per_prototype']
        print(f'  {name:23s} batched {ours:8.3f} s ({ours / f:.2f}x fwd)'
              f'  per-prototype {ref:8.3f} s ({ref / f:.2f}x fwd)  '
              f'speed-up {ref / ours:.2f}x')
    print(f'  max |difference| of the {r["pushed"]} pushed prototypes '
          f'{r["max_abs_diff"]:.2e}')


if __name__ == '__main__':
    main()
