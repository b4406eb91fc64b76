"""Large-gallery search: the faiss IVF index option, the tiled exact torch
search and the recall-vs-exact check."""
import pytest
import torch

import mmfg.evaluation.metrics.retrieval as retrieval
from mmfg.evaluation.metrics.retrieval import (ann_recall, default_nlist,
                                               knn_search, retrieval_metrics)
from mmfg.registry import METRICS
from mmfg.utils.errors import ConfigError


def _clustered(n, dim=16, classes=20, seed=0, spread=4.0):
    g = torch.Generator().manual_seed(seed)
    centres = spread * torch.randn(classes, dim, generator=g)
    labels = torch.randint(classes, (n, ), generator=g)
    return centres[labels] + torch.randn(n, dim, generator=g), labels


def _all(it):
    parts = list(it)
    return torch.cat([d for _, d, _ in parts]), torch.cat(
        [i for _, _, i in parts])


def test_ann_recall_hand_checked():
    exact = torch.tensor([[0, 1, 2], [3, 4, 5]])
    approx = torch.tensor([[2, 0, 7], [3, 4, 5]])
    assert ann_recall(approx, exact) == pytest.approx(5 / 6)
    assert ann_recall(exact, exact) == 1.0
    with pytest.raises(ValueError, match='shapes'):
        ann_recall(approx[:, :2], exact)


@pytest.mark.parametrize('distance', ['l2', 'cosine', 'snr'])
def test_ivf_scanning_every_list_equals_exact(distance):
    x, _ = _clustered(600, seed=1)
    q = x[:50]
    kw = dict(k=10, distance=distance, self_index=torch.arange(50))
    d_ref, i_ref = _all(knn_search(q, x, **kw))
    d, i = _all(knn_search(q, x, index='ivf', nlist=12, nprobe=12,
                           chunk_size=17, **kw))
    assert torch.equal(i, i_ref)
    torch.testing.assert_close(d, d_ref, rtol=1e-4, atol=1e-4)
    assert not (i == torch.arange(50)[:, None]).any()  # self excluded


def test_ivf_recall_on_clustered_data_and_metric_reports_it():
    x, y = _clustered(4000, classes=40, seed=2)
    q, gallery = x[:300], x[300:]
    _, exact = _all(knn_search(q, gallery, 10))
    _, approx = _all(knn_search(q, gallery, 10, index='ivf', nlist=64,
                                nprobe=2))
    rec = ann_recall(approx, exact)
    assert 0.9 <= rec < 1.0  # approximate, yet finds most neighbours
    # the metric's own check on a sample of queries says the same
    out = retrieval_metrics(q, gallery, y[:300], y[300:], topk=(1, 10),
                            metric_names=('recall', ), index='ivf',
                            nlist=64, nprobe=2, recall_check=300)
    assert out['IVF_Recall'] == pytest.approx(100 * rec)
    flat = retrieval_metrics(q, gallery, y[:300], y[300:], topk=(1, 10),
                             metric_names=('recall', ))
    assert 'IVF_Recall' not in flat
    assert abs(out['Recall@1'] - flat['Recall@1']) <= 2.0


def test_metric_with_full_probe_ivf_equals_flat():
    x, y = _clustered(500, seed=3)
    kw = dict(type='RetrievalMetric', topk=(1, 4), metric_names=(
        'recall', 'precision_at_1', 'r_precision', 'map_at_r'))
    flat = METRICS.build(kw)
    ivf = METRICS.build(dict(kw, index='ivf', nlist=8, nprobe=8))
    results = [dict(embedding=e, label=int(c)) for e, c in zip(x, y)]
    a, b = flat.compute_metrics(results), ivf.compute_metrics(results)
    assert b.pop('IVF_Recall') == pytest.approx(100)
    assert a == pytest.approx(b)


def test_tiled_torch_search_equals_single_block(monkeypatch):
    """Gallery tiling (forced by a tiny block) keeps values, order and the
    lower-index tie rule of the one-block search."""
    x, _ = _clustered(700, dim=8, seed=4)
    x[350:400] = x[0:50]  # exact duplicates: ties across tiles
    q = x[:300]
    kw = dict(k=6, backend='torch', self_index=torch.arange(300))
    d_ref, i_ref = _all(knn_search(q, x, **kw))
    monkeypatch.setattr(retrieval, '_TORCH_BLOCK', 4096)
    d, i = _all(knn_search(q, x, **kw))
    assert torch.equal(i, i_ref)
    torch.testing.assert_close(d, d_ref)
    # duplicate of query r (r < 50) is gallery item 350 + r, at distance 0
    assert torch.equal(i[:50, 0], torch.arange(350, 400))


def test_retrieve_api_passes_the_ivf_index(monkeypatch):
    import mmfg.apis.retrieval as api
    gallery, _ = _clustered(300, seed=5)
    monkeypatch.setattr(api, 'embed_images', lambda m, imgs, key: gallery[7:8])
    flat = api.retrieve(None, 'q.jpg', gallery, topk=3, distance='l2')
    ivf = api.retrieve(None, 'q.jpg', gallery, topk=3, distance='l2',
                       index='ivf', nlist=6, nprobe=6)
    assert [h['index'] for h in ivf] == [h['index'] for h in flat]
    assert flat[0]['index'] == 7 and flat[0]['distance'] < 1e-3


def test_default_nlist_and_bad_settings():
    assert default_nlist(1_000_000) == 1000
    assert default_nlist(100) == 2  # >= 39 training points per list
    assert default_nlist(10) == 1
    x = torch.randn(50, 4)
    with pytest.raises(ConfigError, match='backend="faiss"'):
        list(knn_search(x, x, 3, backend='torch', index='ivf'))
    with pytest.raises(ConfigError, match='nlist'):
        list(knn_search(x, x, 3, index='ivf', nlist=51))
    with pytest.raises(ConfigError, match='"flat" or "ivf"'):
        list(knn_search(x, x, 3, index='hnsw'))
    with pytest.raises(ConfigError, match='index'):
        METRICS.build(dict(type='RetrievalMetric', backend='torch',
                           index='ivf'))
