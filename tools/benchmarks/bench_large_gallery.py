"""Benchmark nearest-neighbour search over a gallery of >= 1M embeddings:
the faiss IVF index against exact search, with recall vs exact.

One run, same machine, ratios printed against the exact faiss search:

- ``exact faiss (flat)``: the reference (mmfg's default index);
- ``exact torch (tiled)``: :func:`~mmfg.evaluation.metrics.knn_search`
  with ``backend='torch'``, memory-bounded (query chunks x gallery tiles,
  running top-k merged); on the GPU with ``--device cuda``;
- ``ivf nprobe=...``: ``index='ivf'``. Its one-off build (k-means training
  of the coarse quantizer + assigning the gallery) is timed apart from the
  search: the build is paid once per gallery, the search per query batch.

Recall is :func:`~mmfg.evaluation.metrics.ann_recall` of the top-k against
the exact top-k of the same queries. Synthetic clustered embeddings
(Gaussian centres, unit noise), float32.

Example::

    python tools/benchmarks/bench_large_gallery.py            # 1M x 64, CPU
    python tools/benchmarks/bench_large_gallery.py --device cuda --nlist 0 \\
        --gallery 10000000 --queries 100000
"""
import argparse

import numpy as np
import torch

from mmfg.evaluation.metrics.retrieval import (ann_recall, build_faiss_index,
                                               default_nlist, knn_search)
from mmfg.utils.benchmark import timed_call


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--gallery', type=int, default=1_000_000)
    p.add_argument('--dim', type=int, default=64)
    p.add_argument('--queries', type=int, default=200)
    p.add_argument('--k', type=int, default=10)
    p.add_argument('--clusters', type=int, default=1000)
    p.add_argument(
        '--spread',
        type=float,
        default=1.0,
        help='scale of the cluster centres (noise has std 1)')
    p.add_argument(
        '--nlist',
        type=int,
        default=256,
        help='IVF lists; 0: mmfg\'s default sqrt(gallery) (its '
        'k-means takes minutes on one CPU core, seconds on a GPU)')
    p.add_argument('--nprobe', type=int, nargs='+', default=(4, 16))
    p.add_argument(
        '--skip-torch',
        action='store_true',
        help='leave out the exact torch search')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args()


def main():
    args = parse_args()
    g = torch.Generator().manual_seed(args.seed)
    centres = args.spread * torch.randn(args.clusters, args.dim, generator=g)
    assign = torch.randint(
        args.clusters, (args.gallery + args.queries, ), generator=g)
    x = centres[assign]
    x += torch.randn(x.shape, generator=g)
    gallery, query = x[:args.gallery], x[args.gallery:]
    g_np, q_np = gallery.numpy(), np.ascontiguousarray(query.numpy())
    gpu = args.device == 'cuda'
    nlist = args.nlist or default_nlist(args.gallery)
    print(f'gallery {args.gallery:,} x {args.dim} float32 '
          f'({gallery.numel() * 4 / 2**20:.0f} MiB), {args.queries:,} '
          f'queries, k={args.k}, device={args.device}, torch '
          f'{torch.__version__}, threads {torch.get_num_threads()}')

    flat, t_build = timed_call(lambda: build_faiss_index(g_np, gpu=gpu),
                               args.device)
    (_, exact), t_ref = timed_call(lambda: flat.search(q_np, args.k),
                                   args.device)
    exact = torch.from_numpy(exact)
    rows = [('exact faiss (flat)', t_build, t_ref, 1.0)]
    if not args.skip_torch:
        idx, t = timed_call(
            lambda: torch.cat([
                i for _, _, i in knn_search(
                    query,
                    gallery,
                    args.k,
                    backend='torch',
                    device=args.device)
            ]), args.device)
        rows.append(('exact torch (tiled)', 0.0, t, ann_recall(idx, exact)))
    ivf, t_build = timed_call(
        lambda: build_faiss_index(g_np, 'ivf', nlist, 1, gpu), args.device)
    for nprobe in args.nprobe:
        ivf.nprobe = min(nprobe, nlist)
        (_, idx), t = timed_call(lambda: ivf.search(q_np, args.k), args.device)
        rows.append((f'ivf nlist={nlist} nprobe={ivf.nprobe}', t_build, t,
                     ann_recall(torch.from_numpy(idx), exact)))
    print(f'{"method":<30}{"build s":>9}{"search s":>10}'
          f'{"speed-up":>10}{"recall@k":>10}')
    for name, tb, t, rec in rows:
        print(f'{name:<30}{tb:>9.2f}{t:>10.3f}{t_ref / t:>9.1f}x'
              f'{rec:>10.4f}')


if __name__ == '__main__':
    main()
