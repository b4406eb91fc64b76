"""Retrieval evaluation of embeddings (deep metric learning protocol).

Signatures (stable)::

    RetrievalMetric(topk=(1, 2, 4, 8),
                    metric_names=('recall', 'precision_at_1',
                                  'r_precision', 'map_at_r', 'nmi'),
                    embedding_key='embedding', query_key=None,
                    exclude_self=True, distance='l2', backend='faiss',
                    device='cpu', chunk_size=4096, nmi_seed=0,
                    index='flat', nlist=None, nprobe=None,
                    recall_check=1000, collect_device='cpu',
                    prefix='retrieval')
    knn_search(query (Q, D), gallery (M, D), k, distance='l2',
               backend='faiss', self_index=None (Q,), chunk_size=4096,
               device='cpu', index='flat', nlist=None, nprobe=None)
        -> iterator of (start, dist (q, k), idx (q, k))
    retrieval_metrics(query, gallery, query_labels, gallery_labels,
                      topk=(1, 2, 4, 8), metric_names=..., distance='l2',
                      backend='faiss', self_index=None, chunk_size=4096,
                      device='cpu', nmi_seed=0, index='flat', nlist=None,
                      nprobe=None, recall_check=1000) -> dict[str, float]
    ann_recall(approx (Q, k), exact (Q, k)) -> float

Definitions (Musgrave et al., "A Metric Learning Reality Check", ECCV
2020), every value in percent. For a query ``q`` with ``R_q`` gallery items
of its class (itself excluded) and hits ``h_i`` (1 when its i-th neighbour
shares its class):

- ``Recall@K``: fraction of queries with a hit among the first ``K``;
- ``Precision@1``: fraction whose first neighbour is a hit;
- ``R_Precision``: mean of ``sum_{i <= R_q} h_i / R_q``;
- ``MAP@R``: mean of ``(1 / R_q) sum_{i <= R_q} h_i * P@i``;
- ``mAP@100`` (``'map_at_100'``, not computed by default; the CMD /
  re-identification protocol): mean of
  ``sum_{i <= 100} h_i * P@i / sum_{i <= 100} h_i`` (0 for a query with no
  hit in its first 100);
- ``NMI``: normalised mutual information (arithmetic mean of the
  entropies, as scikit-learn) between the labels and a k-means clustering of
  the query embeddings into as many clusters as classes (deterministic
  seed).

Queries whose class has no other gallery item (``R_q = 0``, e.g. a class
with one image in same-source retrieval) cannot be answered and are left out
of the retrieval metrics (``num_queries`` reports how many count). Ties in
distance are broken by the lower gallery index in both backends.

Neighbours are found by faiss (exact flat index; on the GPU when
``device='cuda'`` or ``'auto'`` and faiss-gpu and CUDA are there) or by an
exact torch search (``backend='torch'``), query chunk by query chunk (and,
for galleries of millions, gallery tile by gallery tile) so memory stays
bounded. For large galleries ``index='ivf'`` searches a faiss inverted file
(approximate; ``nprobe = nlist`` is exact) and reports ``IVF_Recall``, the
share of the exact neighbours it found on a sample of queries. The
``'snr'`` distance ``|q~ - g~|^2 / |q~|^2``
(:func:`mmfg.models.utils.snr_distance`) ranks a query's gallery as the L2
distance between mean-centred rows does (the denominator depends on the
query only), which is how faiss computes it; ``'cosine'`` is an L2
search on L2-normalised rows.

Under DDP the per-sample embeddings are gathered once by MMEngine's
``collect_results`` (the :class:`~mmengine.evaluator.BaseMetric`
machinery, which drops the distributed sampler's padding) and the search
runs on rank 0.
"""
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from torch import Tensor

from mmfg.models.utils.distances import DISTANCES, pairwise_distance
from mmfg.registry import METRICS
from mmfg.utils.errors import ConfigError

try:
    import faiss
except ImportError:  # pragma: no cover - faiss is a requirement
    faiss = None

__all__ = [
    'RetrievalMetric', 'knn_search', 'retrieval_metrics', 'kmeans',
    'normalized_mutual_info', 'ann_recall', 'default_nlist',
    'build_faiss_index'
]

METRIC_NAMES = ('recall', 'precision_at_1', 'r_precision', 'map_at_r', 'nmi')
#: Metrics that may be asked for but are not in the default set.
ALL_METRIC_NAMES = METRIC_NAMES + ('map_at_100', )
#: Elements of one chunk's ``(q, M)`` distance block in the torch backend.
_TORCH_BLOCK = 1 << 24
#: Elements of one chunk's ``(q, k)`` neighbour block.
_KNN_BLOCK = 1 << 24
#: Largest k a faiss GPU index accepts.
_GPU_MAX_K = 2048


# --------------------------------------------------------------------- search
def _use_faiss_gpu(device: str) -> bool:
    if device == 'cpu':
        return False
    ok = faiss is not None and hasattr(faiss, 'StandardGpuResources') \
        and torch.cuda.is_available()
    if device == 'cuda' and not ok:
        raise ConfigError('RetrievalMetric: device="cuda" needs faiss-gpu and '
                          'CUDA; install faiss-gpu or use device="auto" / '
                          '"cpu".')
    return ok


def _l2_rows(x: Tensor, distance: str) -> np.ndarray:
    """float32 numpy rows whose L2 ranking is the ``distance`` ranking.

    Cosine: L2-normalised rows (``|x - y|^2 = 2 - 2 cos``); SNR: mean-centred
    rows. An L2 index (not an inner-product one) keeps faiss' tie order
    (lower index first) the same as the torch backend's.
    """
    x = x.float()
    if distance == 'cosine':
        x = F.normalize(x, dim=1)
    elif distance == 'snr':
        x = x - x.mean(1, keepdim=True)
    return np.ascontiguousarray(x.cpu().numpy())


def _drop_self(dist: Tensor, idx: Tensor, self_idx: Tensor) -> tuple:
    """Remove each row's own gallery index (or its last column when absent)
    from ``(q, k + 1)`` results, keeping the order."""
    drop = idx == self_idx.view(-1, 1)
    drop[:, -1] |= ~drop.any(1)
    keep = ~drop
    q, k1 = idx.shape
    return dist[keep].view(q, k1 - 1), idx[keep].view(q, k1 - 1)


def default_nlist(num_gallery: int) -> int:
    """IVF lists for a gallery of ``num_gallery`` items: ``sqrt(M)`` (the
    low end of faiss' guidance, cheap to train on a CPU), at most ``M / 39``
    so that each list's k-means centre has the 39 training points faiss asks
    for."""
    return int(max(1, min(round(num_gallery**0.5), num_gallery // 39)))


def build_faiss_index(gallery: np.ndarray,
                      index: str = 'flat',
                      nlist: Optional[int] = None,
                      nprobe: Optional[int] = None,
                      gpu: bool = False) -> Any:
    """A faiss L2 index holding ``gallery (M, D)``: exact (``'flat'``) or an
    inverted file of ``nlist`` k-means lists of which ``nprobe`` are scanned
    per query (``'ivf'``; ``nprobe = nlist`` scans them all: exact).

    Args:
        gallery (np.ndarray): ``(M, D)`` float32, C-contiguous (rows whose
            L2 ranking is the wanted one; see :func:`knn_search`).
        index (str): ``'flat'`` or ``'ivf'``.
        nlist (int, optional): IVF lists; None: :func:`default_nlist`.
        nprobe (int, optional): IVF lists scanned per query; None:
            ``nlist // 16``.
        gpu (bool): build it on GPU 0 (faiss-gpu).

    Returns:
        faiss.Index: trained, gallery added; ``index.search(q, k)``.
    """
    num, dim = gallery.shape
    if index == 'flat':
        out = faiss.IndexFlatL2(dim)
    else:
        nlist = default_nlist(num) if nlist is None else int(nlist)
        if not 1 <= nlist <= num:
            raise ConfigError(f'knn_search: nlist must be in [1, {num}] (the '
                              f'gallery size), got {nlist}.')
        nprobe = max(1, nlist // 16) if nprobe is None else int(nprobe)
        if nprobe < 1:
            raise ConfigError(f'knn_search: nprobe must be >= 1, got '
                              f'{nprobe}.')
        out = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist,
                                 faiss.METRIC_L2)
        out.cp.seed = 0  # deterministic k-means of the coarse quantizer
        out.cp.max_points_per_centroid = 64  # train on <= 64 nlist points
        out.nprobe = min(nprobe, nlist)
    if gpu:
        out = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, out)
    if index == 'ivf':
        out.train(gallery)
    out.add(gallery)
    return out


def _merge_smallest_k(vals: Tensor, idx: Tensor, new_vals: Tensor,
                      new_idx: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """The ``k`` best of two ascending candidate lists whose gallery indices
    all rank ``idx`` before ``new_idx`` (ties stay by lower index)."""
    v, order = _smallest_k(torch.cat([vals, new_vals], 1), k)
    return v, torch.cat([idx, new_idx], 1).gather(1, order)


def ann_recall(approx: Tensor, exact: Tensor) -> float:
    """Fraction of the exact neighbours an approximate search returned.

    Args:
        approx (Tensor): ``(Q, k)`` gallery indices of the approximate search
            (``-1``: none).
        exact (Tensor): ``(Q, k)`` gallery indices of the exact search.

    Returns:
        float: ``mean_q |approx_q & exact_q| / k`` in ``[0, 1]`` (1: every
        exact neighbour was found).
    """
    if approx.shape != exact.shape:
        raise ValueError(f'ann_recall: shapes differ: {tuple(approx.shape)} '
                         f'vs {tuple(exact.shape)}.')
    found = (approx[:, :, None] == exact[:, None, :]).any(1)
    return float(found.float().mean()) if found.numel() else 1.0


def _smallest_k(d: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """The ``k`` smallest entries of each row of ``d (q, M)``, ascending,
    ties by lower column: exactly ``torch.sort(d, stable=True)[:, :k]``.

    ``topk`` of ``k + 1`` (linear time) is re-ordered by (value, column);
    a row whose ``k``-th and ``k + 1``-th values tie may have lost a lower
    tied column to ``topk`` and is fully sorted instead (rare).
    """
    num = d.shape[1]
    if k >= num:
        return torch.sort(d, dim=1, stable=True)
    vals, idx = d.topk(k + 1, dim=1, largest=False, sorted=True)
    by_col = idx.argsort(1)
    vals, idx = vals.gather(1, by_col), idx.gather(1, by_col)
    by_val = vals.argsort(dim=1, stable=True)
    vals, idx = vals.gather(1, by_val), idx.gather(1, by_val)
    amb = (vals[:, k] == vals[:, k - 1]).nonzero().view(-1)
    if len(amb):
        v, i = torch.sort(d[amb], dim=1, stable=True)
        vals[amb], idx[amb] = v[:, :k + 1], i[:, :k + 1]
    return vals[:, :k], idx[:, :k]


def knn_search(query: Tensor,
               gallery: Tensor,
               k: int,
               distance: str = 'l2',
               backend: str = 'faiss',
               self_index: Optional[Tensor] = None,
               chunk_size: int = 4096,
               device: str = 'cpu',
               index: str = 'flat',
               nlist: Optional[int] = None,
               nprobe: Optional[int] = None
               ) -> Iterator[Tuple[int, Tensor, Tensor]]:
    """k nearest gallery items of each query, chunk by chunk.

    Exact (the default), or approximate through a faiss inverted-file index
    (``index='ivf'``) for galleries of millions. The exact torch search is
    memory-bounded on any device: a ``(q, m)`` distance block never exceeds
    ~16M elements; a gallery too long for a useful query chunk is tiled too,
    the running ``k`` best merged tile by tile.

    Args:
        query (Tensor): ``(Q, D)``.
        gallery (Tensor): ``(M, D)``.
        k (int): neighbours per query (at most ``M``, or ``M - 1`` with
            ``self_index``).
        distance (str): ``'l2'``, ``'squared_l2'``, ``'cosine'`` or
            ``'snr'``.
        backend (str): ``'faiss'`` or ``'torch'``.
        self_index (Tensor, optional): ``(Q,)`` gallery index of each query
            itself (``-1``: not in the gallery), excluded from its results.
        chunk_size (int): queries per search call (reduced so that a chunk's
            blocks stay under ~16M elements).
        device (str): ``'cpu'``, ``'cuda'`` or ``'auto'``; the faiss index
            (or the torch computation) runs there.
        index (str): faiss index, ``'flat'`` (exact) or ``'ivf'``
            (``IndexIVFFlat``: approximate, much faster on large galleries;
            see :func:`ann_recall` to check it against the exact search).
        nlist (int, optional): IVF lists; None: :func:`default_nlist`.
        nprobe (int, optional): IVF lists scanned per query (``nlist``:
            every list, i.e. exact); None: ``nlist // 16``.

    Yields:
        tuple[int, Tensor, Tensor]: first query of the chunk, distances
        ``(q, k)`` (as :func:`pairwise_distance` gives them, up to float
        rounding) and gallery indices ``(q, k)`` (int64, CPU), nearest
        first, ties by lower index (exact searches; an IVF search pads with
        index ``-1`` and distance ``inf`` when its lists hold fewer than
        ``k`` items).
    """
    if distance not in DISTANCES:
        raise ConfigError(f'distance must be one of {DISTANCES}, got '
                          f'{distance!r}.')
    if backend not in ('faiss', 'torch'):
        raise ConfigError(
            f'backend must be "faiss" or "torch", got {backend!r}.')
    if index not in ('flat', 'ivf'):
        raise ConfigError(f'index must be "flat" or "ivf", got {index!r}.')
    if index == 'ivf' and backend != 'faiss':
        raise ConfigError('index="ivf" is a faiss index: use backend="faiss" '
                          '(the torch backend is exact).')
    num_q, num_g = query.shape[0], gallery.shape[0]
    k = min(int(k), num_g - (self_index is not None))
    if k < 1:
        raise ValueError(f'knn_search: the gallery ({num_g} items) leaves no '
                         'neighbour to retrieve.')
    extra = int(self_index is not None)
    if backend == 'torch':
        dev = torch.device('cuda' if device in ('cuda', 'auto')
                           and torch.cuda.is_available() else 'cpu')
        gal = gallery.to(dev, torch.float32)
        step = max(1, min(chunk_size, _TORCH_BLOCK // max(num_g, 1)))
        g_step = num_g
        if step < min(chunk_size, num_q, 256):  # long gallery: tile it too
            step = min(chunk_size, num_q, 1024)
            g_step = max(2 * k, _TORCH_BLOCK // step)
        cols = torch.arange(num_g, device=dev)
        for s in range(0, num_q, step):
            q = query[s:s + step].to(dev, torch.float32)
            own_idx = None if self_index is None else \
                self_index[s:s + step].to(dev).view(-1, 1)
            best = None
            for g in range(0, num_g, g_step):
                d = pairwise_distance(q, gal[g:g + g_step], distance)
                if own_idx is not None:
                    d = d.masked_fill(own_idx == cols[g:g + g_step],
                                      float('inf'))
                d, order = _smallest_k(d, k)
                best = (d, order + g) if best is None else \
                    _merge_smallest_k(*best, d, order + g, k)
            yield s, best[0].cpu(), best[1].cpu()
        return
    if faiss is None:  # pragma: no cover
        raise ConfigError('faiss is not installed: pip install faiss-cpu, or '
                          'use backend="torch".')
    q_np, g_np = _l2_rows(query, distance), _l2_rows(gallery, distance)
    index = build_faiss_index(
        g_np, index, nlist, nprobe,
        _use_faiss_gpu(device) and k + extra <= _GPU_MAX_K)
    q_sq = np.maximum((q_np**2).sum(1), 1e-12)  # |q~|^2 of SNR's ratio
    step = max(1, min(chunk_size, _KNN_BLOCK // (k + extra)))
    for s in range(0, num_q, step):
        d, i = index.search(q_np[s:s + step], k + extra)
        d, i = torch.from_numpy(d).clamp_min(0), torch.from_numpy(i)
        d[i < 0] = float('inf')  # IVF: fewer than k items in the lists
        if distance == 'l2':
            d = (d + 1e-14).sqrt()
        elif distance == 'cosine':
            d = d / 2  # |x - y|^2 = 2 - 2 cos of unit rows
        elif distance == 'snr':
            d = d / torch.from_numpy(q_sq[s:s + step]).view(-1, 1)
        if self_index is not None:
            d, i = _drop_self(d, i, self_index[s:s + step])
        yield s, d, i


# --------------------------------------------------------------- clustering
def kmeans(x: Tensor,
           num_clusters: int,
           backend: str = 'faiss',
           seed: int = 0,
           niter: int = 50) -> Tensor:
    """Cluster assignments of ``x (N, D)`` by k-means: ``(N,)`` int64.

    faiss' k-means, or (``backend='torch'``) Lloyd iterations from a seeded
    k-means++ initialisation.
    """
    x = x.float()
    num_clusters = min(int(num_clusters), x.shape[0])
    if backend == 'faiss':
        km = faiss.Kmeans(
            x.shape[1], num_clusters, niter=niter, seed=seed, verbose=False,
            min_points_per_centroid=1,
            max_points_per_centroid=1 << 20)
        xn = np.ascontiguousarray(x.cpu().numpy())
        km.train(xn)
        return torch.from_numpy(km.index.search(xn, 1)[1][:, 0]).long()
    g = torch.Generator().manual_seed(seed)
    x = x.cpu()
    centers = x[torch.randint(x.shape[0], (1, ), generator=g)]
    for _ in range(1, num_clusters):  # k-means++ seeding, one draw a centre
        d = torch.cdist(x, centers).pow(2).amin(1)
        p = d / d.sum() if d.sum() > 0 else torch.ones_like(d) / len(d)
        centers = torch.cat([centers, x[torch.multinomial(p, 1, generator=g)]])
    assign = torch.cdist(x, centers).argmin(1)
    for _ in range(niter):
        counts = torch.bincount(assign, minlength=num_clusters)
        sums = torch.zeros_like(centers).index_add_(0, assign, x)
        centers = torch.where(counts[:, None] > 0,
                              sums / counts.clamp_min(1)[:, None], centers)
        new = torch.cdist(x, centers).argmin(1)
        if torch.equal(new, assign):
            break
        assign = new
    return assign


def normalized_mutual_info(labels: Tensor, clusters: Tensor) -> float:
    """NMI with the arithmetic-mean normaliser (scikit-learn's default).

    Args:
        labels (Tensor): ``(N,)`` int.
        clusters (Tensor): ``(N,)`` int.

    Returns:
        float: in ``[0, 1]``; 1 when both partitions are trivial.
    """
    _, a = torch.unique(labels, return_inverse=True)
    _, b = torch.unique(clusters, return_inverse=True)
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    joint = torch.bincount(a * nb + b, minlength=na * nb).view(na, nb)
    p = joint.double() / joint.sum()
    pa, pb = p.sum(1), p.sum(0)

    def _h(q: Tensor) -> Tensor:
        q = q[q > 0]
        return -(q * q.log()).sum()

    ha, hb = _h(pa), _h(pb)
    nz = p > 0
    mi = (p[nz] * (p[nz] / (pa[:, None] * pb[None])[nz]).log()).sum()
    denom = (ha + hb) / 2
    if denom <= 0:
        return 1.0
    return float((mi / denom).clamp(0, 1))


# ------------------------------------------------------------------ metrics
def retrieval_metrics(query: Tensor,
                      gallery: Tensor,
                      query_labels: Tensor,
                      gallery_labels: Tensor,
                      topk: Sequence[int] = (1, 2, 4, 8),
                      metric_names: Sequence[str] = METRIC_NAMES,
                      distance: str = 'l2',
                      backend: str = 'faiss',
                      self_index: Optional[Tensor] = None,
                      chunk_size: int = 4096,
                      device: str = 'cpu',
                      nmi_seed: int = 0,
                      index: str = 'flat',
                      nlist: Optional[int] = None,
                      nprobe: Optional[int] = None,
                      recall_check: int = 1000) -> Dict[str, float]:
    """Recall@K, Precision@1, R-Precision, MAP@R and NMI (percent).

    Args:
        query (Tensor): ``(Q, D)``.
        gallery (Tensor): ``(M, D)``.
        query_labels (Tensor): ``(Q,)`` int.
        gallery_labels (Tensor): ``(M,)`` int.
        topk (Sequence[int]): the K of Recall@K.
        metric_names (Sequence[str]): subset of ``('recall', 'precision_at_1',
            'r_precision', 'map_at_r', 'nmi', 'map_at_100')``.
        distance, backend, self_index, chunk_size, device: see
            :func:`knn_search`.
        nmi_seed (int): k-means seed.
        index, nlist, nprobe: faiss index (``'flat'``: exact, ``'ivf'``:
            approximate) and its IVF settings; see :func:`knn_search`.
        recall_check (int): with ``index='ivf'``, that many evenly spaced
            queries are also searched exactly and ``IVF_Recall`` reports
            the percentage of their exact neighbours the IVF index found
            (:func:`ann_recall`); 0: no check.

    Returns:
        dict[str, float]: ``Recall@K``, ``Precision@1``, ``R_Precision``,
        ``MAP@R``, ``NMI`` (as requested) and ``num_queries`` (queries with
        ``R_q > 0``).
    """
    unknown = set(metric_names) - set(ALL_METRIC_NAMES)
    if unknown:
        raise ConfigError(f'RetrievalMetric: unknown metrics '
                          f'{sorted(unknown)}; choose from '
                          f'{ALL_METRIC_NAMES}.')
    topk = sorted({int(k) for k in topk})
    if 'recall' in metric_names and (not topk or topk[0] < 1):
        raise ConfigError(f'RetrievalMetric: topk must be positive, got '
                          f'{topk}.')
    query_labels = query_labels.view(-1).long().cpu()
    gallery_labels = gallery_labels.view(-1).long().cpu()
    if self_index is not None:
        self_index = self_index.view(-1).long().cpu()
    # R_q: same-class gallery items, the query itself excluded
    classes, inv = torch.unique(
        torch.cat([query_labels, gallery_labels]), return_inverse=True)
    q_cls, g_cls = inv[:len(query_labels)], inv[len(query_labels):]
    counts = torch.bincount(g_cls, minlength=len(classes))
    r = counts[q_cls]
    if self_index is not None:
        r = r - (self_index >= 0).long()
    valid = r > 0
    out: Dict[str, float] = {}
    need_r = bool({'r_precision', 'map_at_r'} & set(metric_names))
    k = max([1] + (topk if 'recall' in metric_names else []) +
            ([int(r.max())] if need_r and len(r) else []) +
            ([100] if 'map_at_100' in metric_names else []))
    sums = dict(recall=torch.zeros(len(topk), dtype=torch.float64),
                p1=torch.zeros((), dtype=torch.float64),
                rp=torch.zeros((), dtype=torch.float64),
                map=torch.zeros((), dtype=torch.float64),
                map100=torch.zeros((), dtype=torch.float64))
    retrieval = [m for m in metric_names if m != 'nmi']
    if retrieval and bool(valid.any()):
        check = torch.zeros(0, dtype=torch.long)
        if index == 'ivf' and recall_check > 0:
            check = torch.linspace(0, len(query) - 1,
                                   min(int(recall_check), len(query)))
            check = check.round().long().unique()
        approx = []
        for s, _, idx in knn_search(query, gallery, k, distance, backend,
                                    self_index, chunk_size, device, index,
                                    nlist, nprobe):
            n = idx.shape[0]
            mine = check[(check >= s) & (check < s + n)]
            approx.append(idx[mine - s])
            ok = valid[s:s + n]
            hits = (g_cls[idx.clamp_min(0)] == q_cls[s:s + n, None]) \
                & (idx >= 0)
            hits = hits[ok]
            rq = r[s:s + n][ok]
            kk = hits.shape[1]
            first = torch.where(hits.any(1), hits.float().argmax(1),
                                torch.full_like(rq, kk))
            sums['recall'] += (first[:, None] < torch.tensor(topk)).sum(0)
            sums['p1'] += hits[:, 0].sum()
            if need_r:
                in_r = torch.arange(kk) < rq[:, None]
                hr = (hits & in_r).double()
                sums['rp'] += (hr.sum(1) / rq).sum()
                prec = hr.cumsum(1) / torch.arange(1, kk + 1)
                sums['map'] += ((prec * hr).sum(1) / rq).sum()
            if 'map_at_100' in metric_names:
                h = hits[:, :100].double()
                prec = h.cumsum(1) / torch.arange(1, h.shape[1] + 1)
                sums['map100'] += ((prec * h).sum(1) /
                                   h.sum(1).clamp_min(1)).sum()
    nv = max(int(valid.sum()), 1)
    if 'recall' in metric_names:
        for i, kq in enumerate(topk):
            out[f'Recall@{kq}'] = float(100 * sums['recall'][i] / nv)
    if 'precision_at_1' in metric_names:
        out['Precision@1'] = float(100 * sums['p1'] / nv)
    if 'r_precision' in metric_names:
        out['R_Precision'] = float(100 * sums['rp'] / nv)
    if 'map_at_r' in metric_names:
        out['MAP@R'] = float(100 * sums['map'] / nv)
    if 'map_at_100' in metric_names:
        out['mAP@100'] = float(100 * sums['map100'] / nv)
    if 'nmi' in metric_names:
        # cluster in the geometry of the distance (normalised / centred rows)
        rows = torch.from_numpy(_l2_rows(query, distance))
        clusters = kmeans(rows, len(torch.unique(query_labels)), backend,
                          nmi_seed)
        out['NMI'] = 100 * normalized_mutual_info(query_labels, clusters)
    if retrieval and bool(valid.any()) and len(check):
        own = None if self_index is None else self_index[check]
        exact = torch.cat([
            i for _, _, i in knn_search(query[check], gallery, k, distance,
                                        backend, own, chunk_size, device)
        ])
        out['IVF_Recall'] = 100 * ann_recall(torch.cat(approx), exact)
    out['num_queries'] = int(valid.sum())
    return out


@METRICS.register_module()
class RetrievalMetric(BaseMetric):
    """Retrieval metrics of the embeddings a model predicts.

    Args:
        topk (Sequence[int]): K of Recall@K. Defaults to (1, 2, 4, 8).
        metric_names (Sequence[str]): which of ``'recall'``,
            ``'precision_at_1'``, ``'r_precision'``, ``'map_at_r'`` and
            ``'nmi'`` to compute (and ``'map_at_100'``, not in the
            default). Defaults to all of the first five. (Not ``metrics``:
            MMEngine reads an evaluator config with a ``metrics`` key as an
            ``Evaluator``.)
        embedding_key (str): data-sample field holding the ``(D,)``
            embedding (several instances with different keys and prefixes
            evaluate several embeddings). Defaults to ``'embedding'``.
        query_key (str, optional): boolean data-sample field; when set,
            samples where it is true are the queries and the others the
            gallery. None: same-source retrieval (every sample queries all
            the others). Defaults to None.
        exclude_self (bool): leave each query out of its own gallery in
            same-source retrieval. Defaults to True.
        distance (str): ``'l2'``, ``'squared_l2'``, ``'cosine'`` or
            ``'snr'``. Defaults to ``'l2'``.
        backend (str): ``'faiss'`` or ``'torch'`` (exact, slower).
            Defaults to ``'faiss'``.
        device (str): ``'cpu'``, ``'cuda'`` or ``'auto'`` (GPU faiss index
            when faiss-gpu and CUDA are there). Defaults to ``'cpu'``.
        chunk_size (int): queries per search call. Defaults to 4096.
        nmi_seed (int): k-means seed of NMI. Defaults to 0.
        index (str): faiss index, ``'flat'`` (exact) or ``'ivf'``
            (approximate, for galleries of millions; reports
            ``IVF_Recall``, see :func:`retrieval_metrics`).
            Defaults to ``'flat'``.
        nlist (int, optional): IVF lists (None: ``sqrt(M)``).
        nprobe (int, optional): IVF lists scanned per query (None:
            ``nlist // 16``).
        recall_check (int): queries also searched exactly to report
            ``IVF_Recall`` (0: none). Defaults to 1000.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): prefix of the metric names.
            Defaults to ``'retrieval'``.
    """

    default_prefix = 'retrieval'

    def __init__(self,
                 topk: Sequence[int] = (1, 2, 4, 8),
                 metric_names: Sequence[str] = METRIC_NAMES,
                 embedding_key: str = 'embedding',
                 query_key: Optional[str] = None,
                 exclude_self: bool = True,
                 distance: str = 'l2',
                 backend: str = 'faiss',
                 device: str = 'cpu',
                 chunk_size: int = 4096,
                 nmi_seed: int = 0,
                 index: str = 'flat',
                 nlist: Optional[int] = None,
                 nprobe: Optional[int] = None,
                 recall_check: int = 1000,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metric_names = (metric_names, ) if isinstance(
            metric_names, str) else tuple(metric_names)
        unknown = set(metric_names) - set(ALL_METRIC_NAMES)
        if unknown:
            raise ConfigError(
                f'RetrievalMetric: unknown metrics {sorted(unknown)}; choose '
                f'from {ALL_METRIC_NAMES}.')
        if distance not in DISTANCES:
            raise ConfigError(f'RetrievalMetric: distance must be one of '
                              f'{DISTANCES}, got {distance!r}.')
        if backend not in ('faiss', 'torch'):
            raise ConfigError('RetrievalMetric: backend must be "faiss" or '
                              f'"torch", got {backend!r}.')
        if device not in ('cpu', 'cuda', 'auto'):
            raise ConfigError('RetrievalMetric: device must be "cpu", "cuda" '
                              f'or "auto", got {device!r}.')
        if index not in ('flat', 'ivf') or (index == 'ivf'
                                            and backend != 'faiss'):
            raise ConfigError('RetrievalMetric: index must be "flat" or "ivf" '
                              f'(with backend="faiss"), got {index!r} with '
                              f'backend={backend!r}.')
        self.index, self.nlist, self.nprobe = index, nlist, nprobe
        self.recall_check = int(recall_check)
        self.topk = tuple(int(k) for k in topk)
        self.metric_names = metric_names
        self.embedding_key = embedding_key
        self.query_key = query_key
        self.exclude_self = bool(exclude_self)
        self.distance = distance
        self.backend = backend
        self.device = device
        self.chunk_size = int(chunk_size)
        self.nmi_seed = int(nmi_seed)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's embedding, label and query flag."""
        for ds in data_samples:
            if self.embedding_key not in ds:
                raise KeyError(
                    f'RetrievalMetric: the data samples have no '
                    f'"{self.embedding_key}". Use a head that sets it (e.g. '
                    'EmbeddingHead) or set embedding_key to the field that '
                    f'holds the embedding (fields: {sorted(ds)}).')
            emb = torch.as_tensor(ds[self.embedding_key])
            if emb.dim() != 1:
                raise ValueError(
                    f'RetrievalMetric: "{self.embedding_key}" must be a 1-D '
                    f'embedding per sample, got shape {tuple(emb.shape)}.')
            if 'gt_label' not in ds:
                raise KeyError('RetrievalMetric: the data samples have no '
                               '"gt_label"; evaluate on a labelled split.')
            item = dict(
                embedding=emb.detach().float().cpu(),
                label=int(torch.as_tensor(ds['gt_label']).view(-1)[0]))
            if self.query_key is not None:
                if self.query_key not in ds:
                    raise KeyError(
                        f'RetrievalMetric: query_key="{self.query_key}" is '
                        'not a field of the data samples; pack it (e.g. in '
                        'PackFGInputs meta_keys) or set query_key=None for '
                        'same-source retrieval.')
                item['query'] = bool(
                    torch.as_tensor(ds[self.query_key]).view(-1)[0])
            self.results.append(item)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Stack the gathered samples and compute the metrics."""
        emb = torch.stack([r['embedding'] for r in results])
        labels = torch.tensor([r['label'] for r in results])
        if self.query_key is None:
            query = gallery = emb
            q_lab = g_lab = labels
            self_index = torch.arange(len(emb)) if self.exclude_self \
                else None
        else:
            is_q = torch.tensor([r['query'] for r in results])
            if not bool(is_q.any()) or bool(is_q.all()):
                raise ValueError(
                    f'RetrievalMetric: "{self.query_key}" must mark some '
                    'samples as queries and leave others in the gallery.')
            query, q_lab = emb[is_q], labels[is_q]
            gallery, g_lab = emb[~is_q], labels[~is_q]
            self_index = None
        return retrieval_metrics(
            query, gallery, q_lab, g_lab, self.topk, self.metric_names,
            self.distance, self.backend, self_index, self.chunk_size,
            self.device, self.nmi_seed, self.index, self.nlist, self.nprobe,
            self.recall_check)
