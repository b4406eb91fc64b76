import math
import os
import os.path as osp

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmfg.evaluation.metrics import RetrievalMetric, retrieval_metrics
from mmfg.evaluation.metrics.retrieval import (kmeans, knn_search,
                                               normalized_mutual_info)
from mmfg.models.utils import pairwise_distance
from mmfg.registry import METRICS
from mmfg.utils.errors import ConfigError

BACKENDS = ('faiss', 'torch')


def _line(xs):
    """Points on the x axis (exact integer distances in float32)."""
    return torch.tensor([[float(x), 0.] for x in xs])


# A A A B B C   (C has one image: it cannot be answered)
LINE_X = [0, 1, 5, 2, 6, 10]
LINE_Y = torch.tensor([0, 0, 0, 1, 1, 2])


@pytest.mark.parametrize('backend', BACKENDS)
def test_hand_checked_same_source(backend):
    """Neighbour lists (ties by lower index):
    q0: 1 3 2 4 5 -> A B A, R=2        q1: 0 3 (tie at 1) 2 -> A B A, R=2
    q2: 4 3 1 0 -> B B A A, R=2        q3: 1 0 2 4 -> A A A B, R=1
    q4: 2 3 5 (3, 5 tie at 4) -> A B, R=1; q5 (class C, R=0) left out.
    """
    x = _line(LINE_X)
    out = retrieval_metrics(x, x, LINE_Y, LINE_Y, topk=(1, 2, 4, 8),
                            metric_names=('recall', 'precision_at_1',
                                          'r_precision', 'map_at_r'),
                            backend=backend, self_index=torch.arange(6))
    assert out['num_queries'] == 5
    assert out['Recall@1'] == pytest.approx(40)
    assert out['Recall@2'] == pytest.approx(60)
    assert out['Recall@4'] == pytest.approx(100)
    assert out['Recall@8'] == pytest.approx(100)
    assert out['Precision@1'] == pytest.approx(40)
    assert out['R_Precision'] == pytest.approx(20)
    assert out['MAP@R'] == pytest.approx(20)


@pytest.mark.parametrize('backend', BACKENDS)
def test_hand_checked_query_gallery_split(backend):
    query = _line([0, 10])
    q_lab = torch.tensor([0, 1])
    gallery = _line([1, 2, 3, 4, 5])
    g_lab = torch.tensor([0, 1, 0, 0, 1])
    out = retrieval_metrics(query, gallery, q_lab, g_lab, topk=(1, ),
                            metric_names=('recall', 'r_precision', 'map_at_r'),
                            backend=backend)
    # q0 hits 1 0 1 1 0, R=3: RP 2/3, MAP (1 + 2/3) / 3
    # q1 neighbours 5(B) 4(A), R=2: RP 1/2, MAP 1/2
    assert out['Recall@1'] == pytest.approx(100)
    assert out['R_Precision'] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert out['MAP@R'] == pytest.approx(100 * (5 / 9 + 1 / 2) / 2)


@pytest.mark.parametrize('backend', BACKENDS)
def test_self_exclusion(backend):
    # item 1 (class B) duplicates the query; item 2 (class A) is farther
    x = _line([0, 0, 3, 3])
    y = torch.tensor([0, 1, 0, 1])
    kw = dict(topk=(1, ), metric_names=('recall', ), backend=backend)
    excl = retrieval_metrics(x, x, y, y, self_index=torch.arange(4), **kw)
    # q0 -> 1 (B): miss; q1 -> 0 (A): miss; q2 -> 3 (B); q3 -> 2 (A)
    assert excl['Recall@1'] == 0
    # without exclusion every query finds itself (the lowest tied index)
    # or its duplicate first
    incl = retrieval_metrics(x, x, y, y, **kw)
    assert incl['Recall@1'] == pytest.approx(50)


def _random_case(n=240, dim=12, classes=12, seed=0, grid=False):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (n, ), generator=g)
    x = torch.randn(n, dim, generator=g) + 1.5 * torch.nn.functional.one_hot(
        y % dim, dim)
    if grid == 'int':  # coarse integer grid: exact ties in L2
        x = torch.randint(-2, 3, (n, dim), generator=g).float()
    elif grid == 'dup':  # 40 distinct rows: exact ties for every distance
        x = x[torch.randint(40, (n, ), generator=g)]
    return x, y


@pytest.mark.parametrize('distance', ['l2', 'squared_l2', 'cosine', 'snr'])
@pytest.mark.parametrize('grid', [None, 'int', 'dup'])
def test_faiss_and_torch_agree(distance, grid):
    if grid == 'int' and distance in ('cosine', 'snr'):
        pytest.skip('parallel integer rows tie only up to rounding')
    x, y = _random_case(grid=grid)
    metrics = ('recall', 'precision_at_1', 'r_precision', 'map_at_r')
    kw = dict(topk=(1, 2, 4, 8, 16), metric_names=metrics, distance=distance,
              self_index=torch.arange(len(x)))
    a = retrieval_metrics(x, x, y, y, backend='faiss', chunk_size=37, **kw)
    b = retrieval_metrics(x, x, y, y, backend='torch', chunk_size=1000,
                          **kw)
    assert a == pytest.approx(b, abs=1e-9)
    # the neighbour lists themselves (and their distances) agree
    own = torch.arange(5)
    (_, da, ia), = knn_search(x[:5], x, 6, distance, 'faiss', own)
    (_, db, ib), = knn_search(x[:5], x, 6, distance, 'torch', own)
    # sqrt turns the rounding of a zero squared distance into ~1e-3
    atol = 3e-3 if distance == 'l2' else 1e-4
    torch.testing.assert_close(da, db, atol=atol, rtol=1e-4)
    assert torch.equal(ia, ib)


def test_smallest_k_equals_stable_sort():
    from mmfg.evaluation.metrics.retrieval import _smallest_k
    g = torch.Generator().manual_seed(0)
    d = torch.randint(0, 4, (50, 30), generator=g).float()  # many ties
    full = torch.sort(d, dim=1, stable=True)
    for k in (1, 3, 7, 29, 30):
        v, i = _smallest_k(d, k)
        assert torch.equal(v, full.values[:, :k])
        assert torch.equal(i, full.indices[:, :k])


def test_knn_distances_are_the_named_distance():
    x, _ = _random_case(n=30, seed=3)
    for distance in ('l2', 'cosine', 'snr'):
        for backend in BACKENDS:
            (_, d, i), = knn_search(x, x, 4, distance, backend,
                                    self_index=torch.arange(30))
            full = pairwise_distance(x, x, distance)
            torch.testing.assert_close(d, full.gather(1, i), atol=1e-4,
                                       rtol=1e-4)
            assert not (i == torch.arange(30)[:, None]).any()


def test_nmi_hand_values():
    labels = torch.tensor([0, 0, 1, 1])
    assert normalized_mutual_info(labels, torch.tensor([5, 5, 7, 7])) == 1
    assert normalized_mutual_info(labels, torch.tensor([0, 1, 0, 1])) == \
        pytest.approx(0, abs=1e-12)
    # joint 2/4, 1/4, 1/4; marginals (1/2, 1/2) and (3/4, 1/4)
    mi = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    ha = math.log(2)
    hb = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert normalized_mutual_info(labels, torch.tensor([0, 0, 0, 1])) == \
        pytest.approx(mi / ((ha + hb) / 2))


@pytest.mark.parametrize('backend', BACKENDS)
def test_nmi_of_separated_clusters(backend):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(5).repeat_interleave(8)
    x = 20 * torch.nn.functional.one_hot(y, 6).float() + torch.randn(
        40, 6, generator=g)
    out = retrieval_metrics(x, x, y, y, metric_names=('nmi', ),
                            backend=backend, self_index=torch.arange(40))
    assert out['NMI'] == pytest.approx(100)
    # deterministic seed
    assert torch.equal(kmeans(x, 5, backend, seed=1),
                       kmeans(x, 5, backend, seed=1))


def _samples(x, y, key='embedding', query=None):
    out = []
    for i in range(len(x)):
        ds = {key: x[i], 'gt_label': y[i:i + 1], 'sample_idx': i}
        if query is not None:
            ds['is_query'] = bool(query[i])
        out.append(ds)
    return out


def test_metric_from_config_with_prefix_and_key():
    x = _line(LINE_X)
    metric = METRICS.build(dict(type='RetrievalMetric', topk=(1, 2),
                                metric_names=('recall', 'map_at_r'),
                                embedding_key='emb_b', prefix='member1'))
    metric.process({}, _samples(x, LINE_Y, key='emb_b'))
    res = metric.evaluate(6)
    assert res == pytest.approx({'member1/Recall@1': 40,
                                 'member1/Recall@2': 60,
                                 'member1/MAP@R': 20,
                                 'member1/num_queries': 5})


def test_metric_query_key_split():
    query, gallery = _line([0, 10]), _line([1, 2, 3, 4, 5])
    x = torch.cat([gallery[:2], query[:1], gallery[2:], query[1:]])
    y = torch.tensor([0, 1, 0, 0, 0, 1, 1])
    is_q = [0, 0, 1, 0, 0, 0, 1]
    metric = RetrievalMetric(topk=(1, ),
                             metric_names=('r_precision', 'map_at_r'),
                             query_key='is_query', backend='torch')
    metric.process({}, _samples(x, y, query=is_q))
    res = metric.evaluate(7)
    assert res['retrieval/MAP@R'] == pytest.approx(100 * (5 / 9 + .5) / 2)


def test_metric_errors():
    with pytest.raises(ConfigError, match='unknown metrics'):
        RetrievalMetric(metric_names=('recall', 'ndcg'))
    with pytest.raises(ConfigError, match='distance must be one of'):
        RetrievalMetric(distance='dot')
    with pytest.raises(ConfigError, match='backend'):
        RetrievalMetric(backend='annoy')
    metric = RetrievalMetric()
    with pytest.raises(KeyError, match='no "embedding".*EmbeddingHead'):
        metric.process({}, [{'gt_label': torch.tensor([0])}])
    with pytest.raises(ValueError, match='1-D'):
        metric.process({}, [{'embedding': torch.zeros(2, 3),
                             'gt_label': torch.tensor([0])}])
    metric = RetrievalMetric(query_key='is_query')
    with pytest.raises(KeyError, match='query_key="is_query"'):
        metric.process({}, _samples(torch.zeros(2, 3), torch.zeros(2)))


# ---------------------------------------------------------------- DDP
DDP_N = 13  # odd: the distributed sampler pads rank 1 with sample 0


def _ddp_data():
    return _random_case(n=DDP_N, dim=4, classes=3, seed=5)


def _worker(rank: int, world: int, tmp: str) -> None:
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'file://{osp.join(tmp, "pg")}', rank=rank,
        world_size=world)
    try:
        from mmengine.dataset import DefaultSampler
        x, y = _ddp_data()
        samples = _samples(x, y)
        sampler = DefaultSampler(list(range(DDP_N)), shuffle=False)
        metric = RetrievalMetric(
            topk=(1, 2), metric_names=('recall', 'map_at_r'))
        idx = list(sampler)
        for s in range(0, len(idx), 3):  # batches of 3
            metric.process({}, [samples[i] for i in idx[s:s + 3]])
        torch.save(metric.evaluate(DDP_N), osp.join(tmp, f'r{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_equals_single_process(tmp_path):
    x, y = _ddp_data()
    single = RetrievalMetric(
        topk=(1, 2), metric_names=('recall', 'map_at_r'))
    single.process({}, _samples(x, y))
    expected = single.evaluate(DDP_N)
    # fork: the children inherit the imported modules (spawn re-imports)
    mp.start_processes(_worker, args=(2, str(tmp_path)), nprocs=2,
                       join=True, start_method='fork')
    for rank in range(2):
        assert torch.load(tmp_path / f'r{rank}.pth') == expected
