import pytest
import torch

from mmfg.registry import METRICS
from mmfg.utils.errors import ConfigError


def _run(metric, ground, sat):
    metric.process(None, [
        dict(ground_embedding=g, overhead_embedding=s)
        for g, s in zip(ground, sat)
    ])
    return metric.compute_metrics(metric.results)


def test_recall_at_k_hand_computed():
    # cosine similarities (rows: ground queries, cols: overhead tiles):
    # q0: own tile first; q1: own tile second; q2: own tile third.
    ground = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                           [0.0, 0.0, 1.0]])
    sat = torch.tensor([[1.0, 0.1, 0.3], [0.5, 1.0, 0.2],
                        [0.28, 0.05, 0.08]])
    # cos(q_i, s_j) = [[.954*, .440, .948],
    #                    [.095, .881*, .169],
    #                    [.286, .176, .271*]]
    # q0, q1: own tile ranked 1; q2: ranked 2 (s0 first)
    metric = METRICS.build(
        dict(type='CrossViewRetrievalMetric', topk=(1, 2, 3)))
    out = _run(metric, ground, sat)
    assert out['Recall@1'] == pytest.approx(200 / 3)
    assert out['Recall@2'] == pytest.approx(100.0)
    assert out['Recall@3'] == pytest.approx(100.0)
    # the other direction: overhead tiles query the ground photos
    back = METRICS.build(
        dict(type='CrossViewRetrievalMetric', topk=(1, 2),
             direction='overhead_to_ground'))
    # columns: s0 -> rank 1, s1 -> rank 1, s2 (.948, .169, .271*) -> rank 2
    back_out = _run(back, ground, sat)
    assert back_out['Recall@1'] == pytest.approx(200 / 3)
    assert back_out['Recall@2'] == pytest.approx(100.0)


def test_errors():
    with pytest.raises(ConfigError, match='direction'):
        METRICS.build(dict(type='CrossViewRetrievalMetric', direction='up'))
    metric = METRICS.build(dict(type='CrossViewRetrievalMetric'))
    with pytest.raises(KeyError, match='overhead_embedding'):
        metric.process(None, [dict(ground_embedding=torch.ones(2))])
