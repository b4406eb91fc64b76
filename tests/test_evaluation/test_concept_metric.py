"""ConceptAttributeMetric against hand-computed precision."""
import pytest
import torch

from mmfg.registry import METRICS
from mmfg.utils.errors import ConfigError


def _sample(scores, attrs, spatial=None):
    d = dict(concept_scores=torch.tensor(scores),
             attributes=torch.tensor(attrs))
    if spatial is not None:
        d['spatial_concept_scores'] = torch.tensor(spatial)
    return d


def test_concept_metric_values():
    mapping = dict(num_attributes=4, global_attributes=[0, 1, 2, 3],
                   spatial_attributes=[1, 2], spatial_parts=[[0], [0]])
    metric = METRICS.build(
        dict(type='ConceptAttributeMetric', concept_mapping=mapping))
    metric.process(None, [
        _sample([.4, .3, .2, .1], [1., 1., 0., 0.], [.9, .1]),  # 1.0 / 1.0
        _sample([.1, .2, .3, .4], [1., 0., 0., 0.], [.9, .1]),  # 0.0 / n.a.
    ])
    res = metric.evaluate(2)
    assert res['concept/global_precision'] == pytest.approx(50.)
    assert res['concept/global_chance'] == pytest.approx(37.5)
    assert res['concept/spatial_precision'] == pytest.approx(100.)
    assert res['concept/spatial_chance'] == pytest.approx(50.)


def test_concept_metric_checks_attributes():
    metric = METRICS.build(
        dict(type='ConceptAttributeMetric', concept_mapping='synthbirds'))
    with pytest.raises(ConfigError, match='312 attributes'):
        metric.process(None, [_sample([.5] * 28, [0.] * 312)])
    with pytest.raises(ConfigError, match='with_attributes'):
        metric.process(None, [dict(concept_scores=torch.zeros(28))])
