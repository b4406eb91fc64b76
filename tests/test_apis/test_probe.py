import math

import pytest
import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.structures import DataSample
from torch import nn

from mmfg.apis.probe import (extract_features, knn_classify, linear_probe,
                             pool_features, retrieval_eval)


def test_knn_hand_computed():
    # train: 3 unit vectors; test: one query at angle 0
    xtr = torch.tensor([[1., 0.], [0., 1.], [math.sqrt(.5), math.sqrt(.5)]])
    ytr = torch.tensor([0, 1, 1])
    xte = torch.tensor([[2., 0.]])
    # k=2 neighbours: sims 1 (class 0) and 0.7071 (class 1)
    out = knn_classify(xtr, ytr, xte, torch.tensor([0]), k=2,
                       temperature=1.0, topk=(1, 2))
    assert out == {'top1': 100.0, 'top2': 100.0}
    # a query nearer the class-1 pair: votes e^0.98 + e^0.3 (class 1) vs
    # e^0.2 (class 0) -> class 1
    xq = torch.tensor([[0.2, 0.98]])
    assert knn_classify(xtr, ytr, xq, torch.tensor([1]), k=3,
                        temperature=1.0, topk=(1, ))['top1'] == 100.0
    # temperature does not change the top-1 of a single-neighbour vote
    assert knn_classify(xtr, ytr, xq, torch.tensor([0]), k=1,
                        topk=(1, ))['top1'] == 0.0


def test_knn_chunked_equals_unchunked_reference():
    g = torch.Generator().manual_seed(0)
    xtr = torch.randn(50, 6, generator=g)
    xte = torch.randn(23, 6, generator=g)
    ytr, yte = torch.randint(0, 4, (50, ), generator=g), torch.randint(
        0, 4, (23, ), generator=g)
    # loop reference
    correct = 0
    for q, y in zip(xte, yte):
        sims = torch.stack([torch.cosine_similarity(q, t, 0) for t in xtr])
        s, i = sims.topk(5)
        votes = torch.zeros(4)
        for sv, iv in zip(s, i):
            votes[ytr[iv]] += math.exp(float(sv) / 0.07)
        correct += int(votes.argmax() == y)
    got = knn_classify(xtr, ytr, xte, yte, k=5, chunk_size=4, topk=(1, ))
    assert got['top1'] == pytest.approx(100 * correct / 23)


def _blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, 8, generator=torch.Generator().manual_seed(9))
    y = torch.arange(n) % 4
    return 3 * centres[y] + torch.randn(n, 8, generator=g), y


def test_linear_probe_separable_and_deterministic():
    xtr, ytr = _blobs(80, 1)
    xte, yte = _blobs(40, 2)
    a = linear_probe(xtr, ytr, xte, yte, epochs=50, batch_size=16)
    b = linear_probe(xtr, ytr, xte, yte, epochs=50, batch_size=16)
    assert a == b and a['top1'] == 100.0 and a['top5'] == 100.0
    # random labels cannot be predicted on fresh data
    chance = linear_probe(xtr, ytr, xte, torch.roll(yte, 1), epochs=50)
    assert chance['top1'] < 50
    with pytest.raises(ValueError, match='no label'):
        linear_probe(xtr, torch.full_like(ytr, -1), xte, yte)


def test_retrieval_eval_equals_official_loop():
    xtr, ytr = _blobs(60, 3)
    xte, yte = _blobs(45, 4)
    xtr, xte = xtr + 2 * torch.randn(60, 8), xte + 2 * torch.randn(45, 8)
    out = retrieval_eval(xtr, ytr, xte, yte, query_every=9)
    xn = torch.nn.functional.normalize
    qi = list(range(0, 45, 9))
    rest = [i for i in range(45) if i not in qi]
    gal = xn(torch.cat([xtr, xte[rest]]), dim=1)
    glab = torch.cat([ytr, yte[rest]])
    r1 = r5 = ap_sum = 0.
    for i in qi:
        order = torch.argsort(gal @ xn(xte[i], dim=0), descending=True,
                              stable=True)
        hits = (glab[order] == yte[i]).tolist()
        r1 += hits[0]
        r5 += any(hits[:5])
        pos, prec = 0, 0.
        for j, h in enumerate(hits[:100]):
            if h:
                pos += 1
                prec += pos / (j + 1)
        ap_sum += prec / pos if pos else 0.
    n = len(qi)
    assert out['num_queries'] == n
    assert out['Rank-1'] == pytest.approx(100 * r1 / n)
    assert out['Rank-5'] == pytest.approx(100 * r5 / n)
    assert out['mAP@100'] == pytest.approx(100 * ap_sum / n, abs=1e-6)


class _MeanModel(nn.Module):

    def __init__(self):
        super().__init__()
        self.data_preprocessor = ClsDataPreprocessor()

    def extract_feat(self, x):
        return (x, x.mean((2, 3)))


def test_extract_features_from_dataset_order_and_labels():
    data = []
    for i in range(5):
        img = torch.full((3, 4, 4), i, dtype=torch.uint8)
        data.append(dict(inputs=img,
                         data_samples=DataSample().set_gt_label(i % 2)))
    feats, labels = extract_features(_MeanModel(), data, batch_size=2)
    assert feats.shape == (5, 3)
    torch.testing.assert_close(feats[:, 0], torch.arange(5.))
    assert labels.tolist() == [0, 1, 0, 1, 0]
    assert pool_features(torch.ones(2, 4, 3, 3)).shape == (2, 4)
    assert torch.equal(pool_features(torch.arange(6.).view(1, 2, 3)),
                       torch.tensor([[0., 1., 2.]]))


def test_retrieval_metric_accepts_map_at_100():
    from mmfg.evaluation.metrics import RetrievalMetric
    metric = RetrievalMetric(topk=(1, ), metric_names=('recall',
                                                       'map_at_100'))
    emb = torch.tensor([[0., 0.], [0., 1.], [5., 5.], [5., 6.]])
    res = metric.compute_metrics([
        dict(embedding=e, label=int(i >= 2)) for i, e in enumerate(emb)
    ])
    assert res['Recall@1'] == 100.0 and res['mAP@100'] == 100.0
