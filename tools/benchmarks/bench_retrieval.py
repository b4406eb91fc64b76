"""Benchmark Recall@K (mmfg's chunked faiss / torch search) against a dense
sort reference.

Two sizes, on the same machine and in one run, ratios printed:

1. ``--small`` (6,000 x 512, the size of CUB's test half): every embedding
   queries all the others. mmfg's :func:`retrieval_metrics` with the faiss
   backend and with the exact torch backend against the straightforward
   evaluation (the full ``N x N`` distance matrix, a full argsort of every
   row, the labels of the first K).
2. ``--large`` (1,000,000 x 128 gallery): a dense sort of 1M-long rows for
   every query is out of reach, so ``--large-queries`` queries (default
   2,000) are timed with mmfg and the reference runs on the first
   ``--ref-queries`` of them (default 100); the ratio compares the time per
   query, and the Recall@K of those common queries must agree.

Synthetic embeddings: Gaussian class centres plus noise (``--classes``).

Example::

    python tools/benchmarks/bench_retrieval.py
    python tools/benchmarks/bench_retrieval.py --device cuda \\
        --large-queries 100000 --ref-queries 1000
"""
import argparse
from typing import Tuple

import torch

from mmfg.evaluation.metrics.retrieval import retrieval_metrics
from mmfg.models.utils import pairwise_distance
from mmfg.utils.benchmark import timed_call

TOPK = (1, 2, 4, 8)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--small', type=int, nargs=2, default=(6000, 512),
                   metavar=('N', 'D'))
    p.add_argument('--large', type=int, nargs=2, default=(1000000, 128),
                   metavar=('N', 'D'))
    p.add_argument('--large-queries', type=int, default=2000)
    p.add_argument('--ref-queries', type=int, default=100)
    p.add_argument('--classes', type=int, default=100)
    p.add_argument('--separation', type=float, nargs=2, default=(0.35, 1.0),
                   metavar=('SMALL', 'LARGE'),
                   help='scale of the class centres (noise has std 1)')
    p.add_argument('--distance', default='l2')
    p.add_argument('--skip-large', action='store_true')
    return p.parse_args()


def make_data(n: int, dim: int, classes: int, separation: float,
              seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(classes, (n, ), generator=g)
    centres = separation * torch.randn(classes, dim, generator=g)
    x = centres[labels] + torch.randn(n, dim, generator=g)
    return x, labels


def dense_sort_recall(query, gallery, q_lab, g_lab, distance, device,
                      chunk=256) -> torch.Tensor:
    """Reference: full distance rows, full stable argsort, first K labels.
    Query ``i`` is gallery item ``i`` (excluded). Returns hits per K."""
    gallery = gallery.to(device)
    g_lab = g_lab.to(device)
    hits = torch.zeros(len(TOPK), dtype=torch.long)
    for s in range(0, len(query), chunk):
        q = query[s:s + chunk].to(device)
        d = pairwise_distance(q, gallery, distance)
        rows = torch.arange(len(q), device=device)
        d[rows, rows + s] = float('inf')
        order = torch.sort(d, dim=1, stable=True).indices
        match = g_lab[order[:, :max(TOPK)]] == q_lab[s:s + chunk].to(
            device)[:, None]
        for i, k in enumerate(TOPK):
            hits[i] += int(match[:, :k].any(1).sum())
    return hits


def run(name, x, y, num_q, num_ref, args):
    print(f'\n== {name}: gallery {tuple(x.shape)}, {num_q} queries '
          f'(reference on {num_ref}), distance {args.distance}, '
          f'device {args.device}')
    dev = 'cuda' if args.device.startswith('cuda') else 'cpu'
    query, q_lab = x[:num_q], y[:num_q]
    kw = dict(topk=TOPK, metric_names=('recall', ), distance=args.distance,
              self_index=torch.arange(num_q), device=dev)
    res = {}
    for backend in ('faiss', 'torch'):
        out, t = timed_call(lambda: retrieval_metrics(
            query, x, q_lab, y, backend=backend, **kw), args.device)
        res[backend] = (out, t)
        print(f'mmfg {backend:5s}: {t:8.3f} s  ({1e3 * t / num_q:.3f} ms '
              f'/ query)  ' + '  '.join(f'R@{k} {out[f"Recall@{k}"]:.2f}'
                                        for k in TOPK))
    hits, t_ref = timed_call(lambda: dense_sort_recall(
        x[:num_ref], x, y[:num_ref], y, args.distance, dev), args.device)
    ref = {f'Recall@{k}': 100 * float(h) / num_ref
           for k, h in zip(TOPK, hits)}
    print(f'dense sort: {t_ref:8.3f} s  ({1e3 * t_ref / num_ref:.3f} ms '
          '/ query)  ' + '  '.join(f'R@{k} {ref[f"Recall@{k}"]:.2f}'
                                   for k in TOPK))
    if num_ref < num_q:  # mmfg on the reference's queries
        sub = retrieval_metrics(
            x[:num_ref], x, y[:num_ref], y, topk=TOPK,
            metric_names=('recall', ),
            distance=args.distance, self_index=torch.arange(num_ref),
            device=dev)
    else:
        sub = res['faiss'][0]
    agree = all(abs(sub[k] - ref[k]) < 1e-9 for k in ref)
    print(f'Recall@K of the common queries agree: {agree}')
    for backend, (_, t) in res.items():
        ratio = (t_ref / num_ref) / (t / num_q)
        print(f'ratio dense sort / mmfg {backend} (time per query): '
              f'{ratio:.1f}x')


def main():
    args = parse_args()
    torch.manual_seed(0)
    n, d = args.small
    x, y = make_data(n, d, args.classes, args.separation[0])
    run('small', x, y, n, n, args)
    if not args.skip_large:
        n, d = args.large
        x, y = make_data(n, d, args.classes * 10, args.separation[1],
                         seed=1)
        run('large', x, y, min(args.large_queries, n),
            min(args.ref_queries, n), args)


if __name__ == '__main__':
    main()
